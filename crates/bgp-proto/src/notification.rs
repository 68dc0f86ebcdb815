//! NOTIFICATION message (RFC 4271 §4.5, §6) and the RFC 9003 shutdown communication.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313 §5, RFC 9687 §3).
pub mod code {
    /// Message Header Error.
    pub const MESSAGE_HEADER: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN_MESSAGE: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE_MESSAGE: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM: u8 = 5;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313 §5).
    pub const ROUTE_REFRESH: u8 = 7;
    /// Send Hold Timer Expired (RFC 9687 §3).
    pub const SEND_HOLD_TIMER_EXPIRED: u8 = 8;
}

/// Message Header Error subcodes (RFC 4271 §6.1).
pub mod header_subcode {
    /// Connection Not Synchronized.
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    /// Bad Message Length.
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    /// Bad Message Type.
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492 §5, RFC 9234 §4.2).
pub mod open_subcode {
    /// Unspecific (used for malformed optional parameters).
    pub const UNSPECIFIC: u8 = 0;
    /// Unsupported Version Number.
    pub const UNSUPPORTED_VERSION: u8 = 1;
    /// Bad Peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// Bad BGP Identifier.
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    /// Unsupported Optional Parameter.
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    /// Unacceptable Hold Time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// Unsupported Capability (RFC 5492).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    /// Role Mismatch (RFC 9234).
    pub const ROLE_MISMATCH: u8 = 11;
}

/// UPDATE Message Error subcodes (RFC 4271 §6.3).
pub mod update_subcode {
    /// Malformed Attribute List.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    /// Unrecognized Well-known Attribute.
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    /// Missing Well-known Attribute.
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    /// Attribute Flags Error.
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    /// Attribute Length Error.
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    /// Invalid ORIGIN Attribute.
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    /// Invalid NEXT_HOP Attribute.
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    /// Optional Attribute Error.
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    /// Invalid Network Field.
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    /// Malformed AS_PATH.
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Finite State Machine Error subcodes (RFC 6608 §3).
pub mod fsm_subcode {
    /// Unspecified Error.
    pub const UNSPECIFIED: u8 = 0;
    /// Receive Unexpected Message in OpenSent State.
    pub const UNEXPECTED_IN_OPEN_SENT: u8 = 1;
    /// Receive Unexpected Message in OpenConfirm State.
    pub const UNEXPECTED_IN_OPEN_CONFIRM: u8 = 2;
    /// Receive Unexpected Message in Established State.
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

/// Cease subcodes (RFC 4486 §4, RFC 8538 §3).
pub mod cease_subcode {
    /// Maximum Number of Prefixes Reached.
    pub const MAX_PREFIXES: u8 = 1;
    /// Administrative Shutdown.
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    /// Peer De-configured.
    pub const PEER_DECONFIGURED: u8 = 3;
    /// Administrative Reset.
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    /// Connection Rejected.
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Other Configuration Change.
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    /// Connection Collision Resolution.
    pub const CONNECTION_COLLISION: u8 = 7;
    /// Out of Resources.
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// Hard Reset (RFC 8538).
    pub const HARD_RESET: u8 = 9;
    /// BFD Down (RFC 9384): a BFD session the BGP session depends on went down.
    pub const BFD_DOWN: u8 = 10;
}

/// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
pub mod route_refresh_subcode {
    /// Invalid Message Length.
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// The longest RFC 9003 shutdown communication, in octets.
pub const MAX_SHUTDOWN_MESSAGE_LEN: usize = 255;

/// A NOTIFICATION: error code, subcode and data (RFC 4271 §4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The error code (see [`code`]).
    pub code: u8,
    /// The error subcode, meaningful per code.
    pub subcode: u8,
    /// The data field, as the error's section of RFC 4271 prescribes.
    pub data: Bytes,
}

impl Notification {
    /// A NOTIFICATION with this code, subcode and data.
    pub fn new(code: u8, subcode: u8, data: impl Into<Bytes>) -> Self {
        Self {
            code,
            subcode,
            data: data.into(),
        }
    }

    /// A Cease with an RFC 9003 shutdown communication (for Administrative Shutdown or Reset);
    /// the text is cut at a character boundary to fit 255 octets.
    pub fn cease_with_message(subcode: u8, message: &str) -> Self {
        let mut end = message.len().min(MAX_SHUTDOWN_MESSAGE_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let mut data = BytesMut::with_capacity(1 + text.len());
        data.put_u8(text.len() as u8);
        data.put_slice(text);
        Self::new(code::CEASE, subcode, data.freeze())
    }

    /// The RFC 9003 shutdown communication, when this is a Cease 2 or 4 carrying a well-formed
    /// one (a malformed one is ignored, as RFC 9003 §2 asks).
    pub fn shutdown_message(&self) -> Option<&str> {
        let is_shutdown = self.code == code::CEASE
            && matches!(
                self.subcode,
                cease_subcode::ADMINISTRATIVE_SHUTDOWN | cease_subcode::ADMINISTRATIVE_RESET
            );
        let (&len, text) = self.data.split_first()?;
        if !is_shutdown || usize::from(len) > text.len() || len == 0 {
            return None;
        }
        std::str::from_utf8(&text[..usize::from(len)]).ok()
    }

    /// Whether the peer asked for a hard reset (RFC 8538 §3), which ends graceful restart.
    pub fn is_hard_reset(&self) -> bool {
        self.code == code::CEASE && self.subcode == cease_subcode::HARD_RESET
    }

    /// Appends the message body (after the header).
    pub fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.code);
        out.put_u8(self.subcode);
        out.put_slice(&self.data);
    }

    /// The body of a received NOTIFICATION; the header already guaranteed two octets.
    pub(crate) fn decode_body(body: Bytes) -> Self {
        let code = body[0];
        let subcode = body[1];
        Self {
            code,
            subcode,
            data: body.slice(2..),
        }
    }

    /// The RFC's name of the code and subcode, for logs.
    pub fn describe(&self) -> String {
        let (code_name, sub_name) = names(self.code, self.subcode);
        match sub_name {
            Some(sub) => format!("{code_name} / {sub}"),
            None => format!("{code_name} / subcode {}", self.subcode),
        }
    }
}

fn names(code: u8, subcode: u8) -> (&'static str, Option<&'static str>) {
    match code {
        code::MESSAGE_HEADER => (
            "Message Header Error",
            match subcode {
                1 => Some("Connection Not Synchronized"),
                2 => Some("Bad Message Length"),
                3 => Some("Bad Message Type"),
                _ => None,
            },
        ),
        code::OPEN_MESSAGE => (
            "OPEN Message Error",
            match subcode {
                0 => Some("Unspecific"),
                1 => Some("Unsupported Version Number"),
                2 => Some("Bad Peer AS"),
                3 => Some("Bad BGP Identifier"),
                4 => Some("Unsupported Optional Parameter"),
                6 => Some("Unacceptable Hold Time"),
                7 => Some("Unsupported Capability"),
                11 => Some("Role Mismatch"),
                _ => None,
            },
        ),
        code::UPDATE_MESSAGE => (
            "UPDATE Message Error",
            match subcode {
                1 => Some("Malformed Attribute List"),
                2 => Some("Unrecognized Well-known Attribute"),
                3 => Some("Missing Well-known Attribute"),
                4 => Some("Attribute Flags Error"),
                5 => Some("Attribute Length Error"),
                6 => Some("Invalid ORIGIN Attribute"),
                8 => Some("Invalid NEXT_HOP Attribute"),
                9 => Some("Optional Attribute Error"),
                10 => Some("Invalid Network Field"),
                11 => Some("Malformed AS_PATH"),
                _ => None,
            },
        ),
        code::HOLD_TIMER_EXPIRED => ("Hold Timer Expired", Some("Unspecific")),
        code::FSM => (
            "Finite State Machine Error",
            match subcode {
                0 => Some("Unspecified Error"),
                1 => Some("Receive Unexpected Message in OpenSent State"),
                2 => Some("Receive Unexpected Message in OpenConfirm State"),
                3 => Some("Receive Unexpected Message in Established State"),
                _ => None,
            },
        ),
        code::CEASE => (
            "Cease",
            match subcode {
                1 => Some("Maximum Number of Prefixes Reached"),
                2 => Some("Administrative Shutdown"),
                3 => Some("Peer De-configured"),
                4 => Some("Administrative Reset"),
                5 => Some("Connection Rejected"),
                6 => Some("Other Configuration Change"),
                7 => Some("Connection Collision Resolution"),
                8 => Some("Out of Resources"),
                9 => Some("Hard Reset"),
                _ => None,
            },
        ),
        code::ROUTE_REFRESH => (
            "ROUTE-REFRESH Message Error",
            match subcode {
                1 => Some("Invalid Message Length"),
                _ => None,
            },
        ),
        code::SEND_HOLD_TIMER_EXPIRED => ("Send Hold Timer Expired", Some("Unspecific")),
        _ => ("Unknown error code", None),
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}/{})", self.describe(), self.code, self.subcode)?;
        if let Some(message) = self.shutdown_message() {
            write!(f, ": \"{}\"", message.escape_debug())?;
        }
        Ok(())
    }
}
