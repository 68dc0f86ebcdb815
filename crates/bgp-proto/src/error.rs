//! Decode errors, each converting to the NOTIFICATION it deserves (RFC 4271 §6) and, for UPDATE
//! attributes, carrying the RFC 7606 action decided where the error was found.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::notification::{
    code, header_subcode, open_subcode, route_refresh_subcode, update_subcode, Notification,
};

/// A message that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The 19-octet header is wrong (RFC 4271 §6.1).
    #[error("message header: {0}")]
    Header(#[from] HeaderError),
    /// The OPEN is malformed or unacceptable (RFC 4271 §6.2).
    #[error("OPEN: {0}")]
    Open(#[from] OpenError),
    /// The UPDATE must reset the session (RFC 7606 §2 "session reset").
    #[error("UPDATE: {0}")]
    Update(#[from] UpdateError),
    /// The ROUTE-REFRESH has the wrong length (RFC 7313 §5).
    #[error("ROUTE-REFRESH: invalid message length {length}")]
    RouteRefreshLength {
        /// The whole message length.
        length: u16,
        /// The whole message, as RFC 7313 §5 puts it in the NOTIFICATION data.
        message: Bytes,
    },
}

/// Message header errors (RFC 4271 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// The marker is not all ones.
    #[error("connection not synchronized (marker is not all ones)")]
    ConnectionNotSynchronized,
    /// The length is out of range for the session or the message type.
    #[error("bad message length {0}")]
    BadMessageLength(u16),
    /// The type is not one this speaker knows.
    #[error("bad message type {0}")]
    BadMessageType(u8),
}

/// OPEN message errors (RFC 4271 §6.2, RFC 5492 §5). The codec raises the structural ones; the
/// session raises the ones that depend on configuration (peer AS, hold time, identifier).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum OpenError {
    /// The version is not 4.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    /// The AS is not the one configured for the peer.
    #[error("bad peer AS {0}")]
    BadPeerAs(u32),
    /// The BGP Identifier is not acceptable (zero, or equal to ours on an iBGP session).
    #[error("bad BGP identifier {0}")]
    BadBgpIdentifier(std::net::Ipv4Addr),
    /// An optional parameter of an unknown type.
    #[error("unsupported optional parameter type {0}")]
    UnsupportedOptionalParameter(u8),
    /// The hold time is 1 or 2 seconds, or refused by local policy.
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    /// A capability we require is missing; the data lists the capabilities (RFC 5492 §5).
    #[error("unsupported capability")]
    UnsupportedCapability(Bytes),
    /// The BGP role of the peer does not fit ours (RFC 9234 §4.2).
    #[error("role mismatch")]
    RoleMismatch,
    /// Lengths inside the message do not add up.
    #[error("malformed: {0}")]
    Malformed(&'static str),
}

/// What to do about a malformed UPDATE (RFC 7606 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rfc7606Action {
    /// Drop the attribute and use the rest of the UPDATE.
    AttributeDiscard,
    /// Treat every NLRI of the UPDATE as withdrawn.
    TreatAsWithdraw,
    /// Send the NOTIFICATION and close the session.
    SessionReset,
}

/// The RFC 4271 §6.3 UPDATE error kinds, with the attribute type where one is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum UpdateErrorKind {
    /// Lengths of the withdrawn routes or path attributes do not add up, or an attribute repeats.
    #[error("malformed attribute list")]
    MalformedAttributeList,
    /// A well-known attribute of an unknown type.
    #[error("unrecognized well-known attribute {0}")]
    UnrecognizedWellKnownAttribute(u8),
    /// A mandatory well-known attribute is absent.
    #[error("missing well-known attribute {0}")]
    MissingWellKnownAttribute(u8),
    /// The flags contradict the attribute type.
    #[error("attribute flags error in attribute {0}")]
    AttributeFlags(u8),
    /// The length does not fit the attribute type.
    #[error("attribute length error in attribute {0}")]
    AttributeLength(u8),
    /// ORIGIN is not IGP, EGP or INCOMPLETE.
    #[error("invalid ORIGIN")]
    InvalidOrigin,
    /// NEXT_HOP is not a usable address.
    #[error("invalid NEXT_HOP")]
    InvalidNextHop,
    /// An optional attribute's content is malformed.
    #[error("optional attribute error in attribute {0}")]
    OptionalAttribute(u8),
    /// An NLRI or withdrawn routes field does not decode.
    #[error("invalid network field")]
    InvalidNetworkField,
    /// AS_PATH segments are malformed.
    #[error("malformed AS_PATH")]
    MalformedAsPath,
    /// AS 0 appears in an AS_PATH or AS4_PATH segment of any kind (RFC 7607 §2); the type code
    /// of the attribute. The attribute is malformed: treat-as-withdraw for AS_PATH (RFC 7606
    /// §7.2), attribute discard for AS4_PATH (RFC 6793 §6).
    #[error("AS 0 in the AS path of attribute {0}")]
    ZeroAsInPath(u8),
    /// AGGREGATOR or AS4_AGGREGATOR names AS 0 (RFC 7607 §2); the type code of the attribute.
    /// The attribute is discarded (RFC 7606 §7.7, RFC 6793 §6).
    #[error("AS 0 in aggregator attribute {0}")]
    ZeroAsInAggregator(u8),
}

/// One UPDATE error: its RFC 4271 kind, the RFC 7606 action, and the NOTIFICATION data.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{kind} ({action:?})")]
pub struct UpdateError {
    /// What is wrong.
    pub kind: UpdateErrorKind,
    /// What RFC 7606 says to do about it.
    pub action: Rfc7606Action,
    /// The NOTIFICATION data RFC 4271 §6.3 prescribes (usually the whole attribute).
    pub data: Bytes,
}

impl UpdateError {
    /// An error with no NOTIFICATION data.
    pub(crate) fn new(kind: UpdateErrorKind, action: Rfc7606Action) -> Self {
        Self {
            kind,
            action,
            data: Bytes::new(),
        }
    }

    /// An error about one attribute; the data is the attribute as received (flags, type, length,
    /// value).
    pub(crate) fn attribute(
        kind: UpdateErrorKind,
        action: Rfc7606Action,
        flags: u8,
        type_code: u8,
        value: &[u8],
    ) -> Self {
        let mut data = BytesMut::with_capacity(4 + value.len());
        data.put_u8(flags);
        data.put_u8(type_code);
        if flags & crate::attrs::flag::EXTENDED_LENGTH != 0 {
            data.put_u16(value.len() as u16);
        } else {
            data.put_u8(value.len() as u8);
        }
        data.put_slice(value);
        Self {
            kind,
            action,
            data: data.freeze(),
        }
    }

    /// The NOTIFICATION for this error.
    pub fn to_notification(&self) -> Notification {
        let subcode = match self.kind {
            UpdateErrorKind::MalformedAttributeList => update_subcode::MALFORMED_ATTRIBUTE_LIST,
            UpdateErrorKind::UnrecognizedWellKnownAttribute(_) => {
                update_subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE
            }
            UpdateErrorKind::MissingWellKnownAttribute(_) => {
                update_subcode::MISSING_WELL_KNOWN_ATTRIBUTE
            }
            UpdateErrorKind::AttributeFlags(_) => update_subcode::ATTRIBUTE_FLAGS_ERROR,
            UpdateErrorKind::AttributeLength(_) => update_subcode::ATTRIBUTE_LENGTH_ERROR,
            UpdateErrorKind::InvalidOrigin => update_subcode::INVALID_ORIGIN_ATTRIBUTE,
            UpdateErrorKind::InvalidNextHop => update_subcode::INVALID_NEXT_HOP_ATTRIBUTE,
            UpdateErrorKind::OptionalAttribute(_) => update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
            UpdateErrorKind::InvalidNetworkField => update_subcode::INVALID_NETWORK_FIELD,
            UpdateErrorKind::MalformedAsPath | UpdateErrorKind::ZeroAsInPath(_) => {
                update_subcode::MALFORMED_AS_PATH
            }
            UpdateErrorKind::ZeroAsInAggregator(_) => update_subcode::OPTIONAL_ATTRIBUTE_ERROR,
        };
        let data = match self.kind {
            UpdateErrorKind::MissingWellKnownAttribute(type_code) => Bytes::from(vec![type_code]),
            _ => self.data.clone(),
        };
        Notification::new(code::UPDATE_MESSAGE, subcode, data)
    }
}

impl OpenError {
    /// The NOTIFICATION for this error.
    pub fn to_notification(&self) -> Notification {
        match self {
            // RFC 4271 §6.2: the data is the largest supported version, as two octets.
            OpenError::UnsupportedVersion(_) => Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::UNSUPPORTED_VERSION,
                &[0u8, 4][..],
            ),
            OpenError::BadPeerAs(_) => notify_open(open_subcode::BAD_PEER_AS),
            OpenError::BadBgpIdentifier(_) => notify_open(open_subcode::BAD_BGP_IDENTIFIER),
            OpenError::UnsupportedOptionalParameter(_) => {
                notify_open(open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER)
            }
            OpenError::UnacceptableHoldTime(_) => notify_open(open_subcode::UNACCEPTABLE_HOLD_TIME),
            OpenError::UnsupportedCapability(caps) => Notification::new(
                code::OPEN_MESSAGE,
                open_subcode::UNSUPPORTED_CAPABILITY,
                caps.clone(),
            ),
            OpenError::RoleMismatch => notify_open(open_subcode::ROLE_MISMATCH),
            OpenError::Malformed(_) => notify_open(open_subcode::UNSPECIFIC),
        }
    }
}

fn notify_open(subcode: u8) -> Notification {
    Notification::new(code::OPEN_MESSAGE, subcode, Bytes::new())
}

impl HeaderError {
    /// The NOTIFICATION for this error, with the data RFC 4271 §6.1 prescribes.
    pub fn to_notification(&self) -> Notification {
        match *self {
            HeaderError::ConnectionNotSynchronized => Notification::new(
                code::MESSAGE_HEADER,
                header_subcode::CONNECTION_NOT_SYNCHRONIZED,
                Bytes::new(),
            ),
            HeaderError::BadMessageLength(len) => Notification::new(
                code::MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_LENGTH,
                Bytes::copy_from_slice(&len.to_be_bytes()),
            ),
            HeaderError::BadMessageType(ty) => Notification::new(
                code::MESSAGE_HEADER,
                header_subcode::BAD_MESSAGE_TYPE,
                Bytes::copy_from_slice(&[ty]),
            ),
        }
    }
}

impl DecodeError {
    /// The NOTIFICATION to send before closing the session.
    pub fn to_notification(&self) -> Notification {
        match self {
            DecodeError::Header(e) => e.to_notification(),
            DecodeError::Open(e) => e.to_notification(),
            DecodeError::Update(e) => e.to_notification(),
            DecodeError::RouteRefreshLength { message, .. } => Notification::new(
                code::ROUTE_REFRESH,
                route_refresh_subcode::INVALID_MESSAGE_LENGTH,
                message.clone(),
            ),
        }
    }
}

impl From<&DecodeError> for Notification {
    fn from(e: &DecodeError) -> Self {
        e.to_notification()
    }
}
