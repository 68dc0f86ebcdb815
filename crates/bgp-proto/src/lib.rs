//! The BGP-4 wire codec: framing, every message, capability and path attribute this speaker
//! needs, RFC 7606 error classes, an UPDATE packer, an MRT reader and writer, and BMP (RFC 7854).
//!
//! Decoding takes the session's negotiated [`SessionContext`] explicitly, works on shared
//! [`bytes::Bytes`] frames without copying them, and never panics on any input: every
//! malformation becomes a typed [`DecodeError`] that converts to the NOTIFICATION it deserves,
//! or, for UPDATE attributes, an RFC 7606 action recorded on the [`Update`].

pub mod attrs;
pub mod bmp;
pub mod builder;
pub mod capability;
pub mod context;
pub mod error;
pub mod family;
pub mod message;
pub mod mrt;
pub mod notification;
pub mod open;
pub mod prefix;
mod reader;
pub mod route_refresh;
pub mod update;

pub use attrs::{
    Aggregator, AsPath, AsSegment, Community, ExtendedCommunity, LargeCommunity, MpReach,
    MpUnreach, NextHop, Origin, PathAttributes, RawAttribute, SegmentType,
};
pub use builder::{PackError, UpdatePacker};
pub use capability::Capability;
pub use context::SessionContext;
pub use error::{DecodeError, HeaderError, OpenError, Rfc7606Action, UpdateError, UpdateErrorKind};
pub use family::{Afi, Family, FamilySet, Safi};
pub use message::{frame_len, Frame, Message};
pub use notification::Notification;
pub use open::Open;
pub use prefix::{Ipv4Prefix, Ipv6Prefix, Nlri, Prefix};
pub use route_refresh::RouteRefresh;
pub use update::Update;
