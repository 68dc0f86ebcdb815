//! The BFD Control packet (RFC 5880 §4.1) and its reception checks (§6.8.6, the ones that do
//! not need a session).

use std::time::Duration;

use thiserror::Error;

use crate::State;

/// The length of a Control packet without an authentication section.
pub const CONTROL_PACKET_LEN: usize = 24;

/// The protocol version this crate speaks (RFC 5880 §4.1).
pub const VERSION: u8 = 1;

/// Why a session's local system last changed state (RFC 5880 §4.1, the Diag field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    /// 0: no diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledSessionDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdministrativelyDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9-31: reserved values, kept as received.
    Reserved(u8),
}

impl Diagnostic {
    /// The 5-bit code.
    pub fn code(self) -> u8 {
        match self {
            Diagnostic::None => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Reserved(code) => code & 0x1f,
        }
    }

    /// The diagnostic of a 5-bit code.
    pub fn from_code(code: u8) -> Diagnostic {
        match code & 0x1f {
            0 => Diagnostic::None,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            other => Diagnostic::Reserved(other),
        }
    }
}

impl State {
    fn code(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    fn from_code(code: u8) -> State {
        match code & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

/// A BFD Control packet (RFC 5880 §4.1), without authentication (this crate supports none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    /// Diag: why the sender last changed state.
    pub diagnostic: Diagnostic,
    /// Sta: the sender's session state.
    pub state: State,
    /// P: the sender is running a Poll Sequence.
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD runs independently of its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wants Demand mode.
    pub demand: bool,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator: the sender's, never 0.
    pub my_discriminator: u32,
    /// Your Discriminator: the receiver's as the sender knows it, 0 when unknown.
    pub your_discriminator: u32,
    /// Desired Min TX Interval.
    pub desired_min_tx: Duration,
    /// Required Min RX Interval (0: send me nothing).
    pub required_min_rx: Duration,
    /// Required Min Echo RX Interval (0: no Echo packets; this crate sends none).
    pub required_min_echo_rx: Duration,
}

/// Why a received Control packet is discarded (RFC 5880 §6.8.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum PacketError {
    /// Fewer octets than the minimum length, or than the Length field says.
    #[error("packet too short: {got} octets, at least {want} needed")]
    Short {
        /// Octets received.
        got: usize,
        /// Octets required.
        want: usize,
    },
    /// The version is not 1.
    #[error("unsupported BFD version {0}")]
    Version(u8),
    /// The Length field is below 24 (26 with authentication), or above the packet.
    #[error("bad length field {0}")]
    Length(u8),
    /// Detect Mult is zero.
    #[error("detect multiplier is zero")]
    ZeroDetectMult,
    /// The Multipoint bit is set.
    #[error("multipoint bit set")]
    Multipoint,
    /// My Discriminator is zero.
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while the sender's state is neither Down nor AdminDown.
    #[error("your discriminator is zero in state {0:?}")]
    ZeroYourDiscriminator(State),
    /// The A bit is set: this crate has no authentication configured (§6.8.6).
    #[error("authentication present but not configured")]
    Authentication,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl ControlPacket {
    /// Encodes the packet (24 octets, no authentication section).
    pub fn encode(&self) -> [u8; CONTROL_PACKET_LEN] {
        let mut out = [0u8; CONTROL_PACKET_LEN];
        out[0] = (VERSION << 5) | self.diagnostic.code();
        let flags = u8::from(self.poll) << 5
            | u8::from(self.final_) << 4
            | u8::from(self.control_plane_independent) << 3
            | u8::from(self.demand) << 1;
        out[1] = (self.state.code() << 6) | flags;
        out[2] = self.detect_mult;
        out[3] = CONTROL_PACKET_LEN as u8;
        out[4..8].copy_from_slice(&self.my_discriminator.to_be_bytes());
        out[8..12].copy_from_slice(&self.your_discriminator.to_be_bytes());
        out[12..16].copy_from_slice(&micros(self.desired_min_tx).to_be_bytes());
        out[16..20].copy_from_slice(&micros(self.required_min_rx).to_be_bytes());
        out[20..24].copy_from_slice(&micros(self.required_min_echo_rx).to_be_bytes());
        out
    }

    /// Decodes a received packet and applies the checks of RFC 5880 §6.8.6 that need no session
    /// (version, length, Detect Mult, Multipoint, the discriminators, authentication).
    pub fn decode(bytes: &[u8]) -> Result<ControlPacket, PacketError> {
        if bytes.len() < CONTROL_PACKET_LEN {
            return Err(PacketError::Short {
                got: bytes.len(),
                want: CONTROL_PACKET_LEN,
            });
        }
        let version = bytes[0] >> 5;
        if version != VERSION {
            return Err(PacketError::Version(version));
        }
        let authentication = bytes[1] & 0x04 != 0;
        let length = bytes[3];
        let minimum = if authentication { 26 } else { 24 };
        if usize::from(length) < minimum {
            return Err(PacketError::Length(length));
        }
        if usize::from(length) > bytes.len() {
            return Err(PacketError::Short {
                got: bytes.len(),
                want: usize::from(length),
            });
        }
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let interval = |at: usize| Duration::from_micros(u64::from(word(at)));
        let packet = ControlPacket {
            diagnostic: Diagnostic::from_code(bytes[0]),
            state: State::from_code(bytes[1] >> 6),
            poll: bytes[1] & 0x20 != 0,
            final_: bytes[1] & 0x10 != 0,
            control_plane_independent: bytes[1] & 0x08 != 0,
            demand: bytes[1] & 0x02 != 0,
            detect_mult: bytes[2],
            my_discriminator: word(4),
            your_discriminator: word(8),
            desired_min_tx: interval(12),
            required_min_rx: interval(16),
            required_min_echo_rx: interval(20),
        };
        if packet.detect_mult == 0 {
            return Err(PacketError::ZeroDetectMult);
        }
        if bytes[1] & 0x01 != 0 {
            return Err(PacketError::Multipoint);
        }
        if packet.my_discriminator == 0 {
            return Err(PacketError::ZeroMyDiscriminator);
        }
        if packet.your_discriminator == 0 && !matches!(packet.state, State::Down | State::AdminDown)
        {
            return Err(PacketError::ZeroYourDiscriminator(packet.state));
        }
        if authentication {
            return Err(PacketError::Authentication);
        }
        Ok(packet)
    }
}
