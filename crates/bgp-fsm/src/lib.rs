//! A sans-IO BGP-4 session state machine (RFC 4271 §8).
//!
//! A [`Session`] owns no socket and reads no clock: the driver feeds it [`Event`]s with the
//! current time, calls [`Session::handle_timeout`] at [`Session::poll_timeout`], and carries out
//! the [`Action`]s from [`Session::poll_action`]. A [`Peer`] holds the connections of one
//! neighbour and resolves connection collisions (RFC 4271 §6.8). Timer jitter (RFC 4271 §10)
//! comes from a seed in the configuration, so every run can be replayed exactly.

pub mod config;
pub mod negotiate;
pub mod peer;
pub mod session;
pub mod timer;

pub use config::{DampingConfig, GracefulRestartConfig, SessionConfig};
pub use negotiate::Negotiated;
pub use peer::{ConnectionId, Peer, PeerAction};
pub use session::{
    Action, Down, DownReason, Event, MessageCounters, NotEstablished, RetainStale, Session, State,
    StopReason,
};
pub use timer::Timer;
