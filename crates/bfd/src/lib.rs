//! A sans-IO Bidirectional Forwarding Detection session (RFC 5880 asynchronous mode, for the
//! single-hop use of RFC 5881), in the shape of `bgp-fsm`: a [`Session`] owns no socket and
//! reads no clock. The driver decodes each received datagram with [`ControlPacket::decode`]
//! (checking the RFC 5881 §5 TTL of 255 itself), hands it to [`Session::handle_packet`] with the
//! time, calls [`Session::handle_timeout`] at [`Session::poll_timeout`], and after every call
//! sends what [`Session::poll_transmit`] yields (UDP to port [`CONTROL_PORT`] from a port in
//! [`SOURCE_PORTS`], TTL 255) and reads [`Session::poll_event`]. The transmit jitter comes from
//! a seed, so a run replays exactly on a virtual clock.
//!
//! Not implemented: Demand mode and the Echo function (never requested; a remote system's
//! Demand mode is honoured by not transmitting periodically, RFC 5880 §6.8.7), and
//! authentication (a packet with the A bit is discarded, as §6.8.6 requires without it
//! configured).

pub mod packet;
pub mod session;

pub use packet::{ControlPacket, Diagnostic, PacketError};
pub use session::{Event, ReceiveError, Session, SessionConfig};

use std::ops::RangeInclusive;

/// The UDP destination port of single-hop BFD Control packets (RFC 5881 §4).
pub const CONTROL_PORT: u16 = 3784;

/// The UDP source ports a single-hop BFD session may send from (RFC 5881 §4).
pub const SOURCE_PORTS: RangeInclusive<u16> = 49152..=65535;

/// The IP TTL (hop limit) of single-hop BFD packets, sent and required on receipt (RFC 5881
/// §5).
pub const TTL: u8 = 255;

/// A session's state (RFC 5880 §4.1, the Sta field; §6.2 the state machine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// AdminDown: held down by configuration.
    AdminDown,
    /// Down: the path is not known to work (the initial state).
    Down,
    /// Init: the remote system is heard, but it has not yet heard us.
    Init,
    /// Up: both systems hear each other.
    Up,
}
