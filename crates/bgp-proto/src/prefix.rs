//! IP prefixes and NLRI encoding (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3 path identifiers).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use bytes::{BufMut, BytesMut};
use thiserror::Error;

use crate::family::Afi;

/// An IPv4 prefix whose host bits are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Prefix {
    addr: Ipv4Addr,
    len: u8,
}

/// An IPv6 prefix whose host bits are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

/// Why a prefix could not be built or parsed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PrefixError {
    /// The length is longer than the address.
    #[error("prefix length {len} is longer than {max}")]
    LengthTooLong {
        /// The length given.
        len: u8,
        /// The address width.
        max: u8,
    },
    /// The text is not `ADDRESS/LENGTH`.
    #[error("'{0}' is not a prefix of the form ADDRESS/LENGTH")]
    Syntax(String),
}

impl Ipv4Prefix {
    /// The prefix of `len` bits of `addr`; host bits are cleared (RFC 4271 §4.3: trailing bits are
    /// irrelevant).
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::LengthTooLong { len, max: 32 });
        }
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        Ok(Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            len,
        })
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `other` lies inside this prefix (or is equal to it).
    pub fn contains(&self, other: &Ipv4Prefix) -> bool {
        other.len >= self.len
            && Ipv4Prefix::new(other.addr, self.len).is_ok_and(|p| p.addr == self.addr)
    }
}

impl Ipv6Prefix {
    /// The prefix of `len` bits of `addr`; host bits are cleared.
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 128 {
            return Err(PrefixError::LengthTooLong { len, max: 128 });
        }
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        Ok(Self {
            addr: Ipv6Addr::from(u128::from(addr) & mask),
            len,
        })
    }

    /// The network address.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `other` lies inside this prefix (or is equal to it).
    pub fn contains(&self, other: &Ipv6Prefix) -> bool {
        other.len >= self.len
            && Ipv6Prefix::new(other.addr, self.len).is_ok_and(|p| p.addr == self.addr)
    }
}

/// An IPv4 or IPv6 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prefix {
    /// An IPv4 prefix.
    V4(Ipv4Prefix),
    /// An IPv6 prefix.
    V6(Ipv6Prefix),
}

impl Prefix {
    /// The prefix of `len` bits of `addr`, host bits cleared.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        match addr {
            IpAddr::V4(a) => Ipv4Prefix::new(a, len).map(Prefix::V4),
            IpAddr::V6(a) => Ipv6Prefix::new(a, len).map(Prefix::V6),
        }
    }

    /// The address family of the prefix.
    pub fn afi(&self) -> Afi {
        match self {
            Prefix::V4(_) => Afi::IPV4,
            Prefix::V6(_) => Afi::IPV6,
        }
    }

    /// The unicast family of the prefix.
    pub fn unicast_family(&self) -> crate::family::Family {
        match self {
            Prefix::V4(_) => crate::family::Family::IPV4_UNICAST,
            Prefix::V6(_) => crate::family::Family::IPV6_UNICAST,
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        match self {
            Prefix::V4(p) => IpAddr::V4(p.addr),
            Prefix::V6(p) => IpAddr::V6(p.addr),
        }
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        match self {
            Prefix::V4(p) => p.len,
            Prefix::V6(p) => p.len,
        }
    }

    /// Whether `other` lies inside this prefix; prefixes of different families never do.
    pub fn contains(&self, other: &Prefix) -> bool {
        match (self, other) {
            (Prefix::V4(a), Prefix::V4(b)) => a.contains(b),
            (Prefix::V6(a), Prefix::V6(b)) => a.contains(b),
            _ => false,
        }
    }

    /// Appends the RFC 4271 §4.3 encoding: one length octet and the significant octets.
    pub fn encode(&self, out: &mut BytesMut) {
        let len = self.prefix_len();
        out.put_u8(len);
        let octets = usize::from(len).div_ceil(8);
        match self {
            Prefix::V4(p) => out.put_slice(&p.addr.octets()[..octets]),
            Prefix::V6(p) => out.put_slice(&p.addr.octets()[..octets]),
        }
    }

    /// Bytes of [`Prefix::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        1 + usize::from(self.prefix_len()).div_ceil(8)
    }
}

impl From<Ipv4Prefix> for Prefix {
    fn from(p: Ipv4Prefix) -> Self {
        Prefix::V4(p)
    }
}

impl From<Ipv6Prefix> for Prefix {
    fn from(p: Ipv6Prefix) -> Self {
        Prefix::V6(p)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::V4(p) => p.fmt(f),
            Prefix::V6(p) => p.fmt(f),
        }
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PrefixError::Syntax(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(syntax)?;
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let len: u8 = len.parse().map_err(|_| syntax())?;
        Prefix::new(addr, len)
    }
}

/// One NLRI entry: a prefix and, when ADD-PATH is in use for its family and direction, the path
/// identifier that precedes it on the wire (RFC 7911 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    /// The ADD-PATH path identifier, present exactly when ADD-PATH applies.
    pub path_id: Option<u32>,
    /// The prefix.
    pub prefix: Prefix,
}

impl Nlri {
    /// An NLRI without a path identifier.
    pub fn new(prefix: Prefix) -> Self {
        Self {
            path_id: None,
            prefix,
        }
    }

    /// Appends the wire form; `add_path` says whether the path identifier is written (a missing one
    /// is written as 0).
    pub fn encode(&self, add_path: bool, out: &mut BytesMut) {
        if add_path {
            out.put_u32(self.path_id.unwrap_or(0));
        }
        self.prefix.encode(out);
    }

    /// Bytes of [`Nlri::encode`]'s output.
    pub fn encoded_len(&self, add_path: bool) -> usize {
        self.prefix.encoded_len() + if add_path { 4 } else { 0 }
    }
}

impl fmt::Display for Nlri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path_id {
            Some(id) => write!(f, "{} path-id {id}", self.prefix),
            None => self.prefix.fmt(f),
        }
    }
}

/// Why an NLRI field could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum NlriError {
    /// A prefix length longer than the address family allows.
    #[error("prefix length {0} too long for the address family")]
    LengthTooLong(u8),
    /// The field ended inside a prefix or path identifier.
    #[error("NLRI field truncated")]
    Truncated,
    /// The AFI has no prefix format in this codec.
    #[error("no NLRI format for AFI {0}")]
    UnsupportedAfi(u16),
}

/// Decodes a whole NLRI field (RFC 4271 §4.3, RFC 4760 §5.1.3) of prefixes of `afi`, appending to
/// `out`; `add_path` says whether each prefix is preceded by a path identifier (RFC 7911 §3).
///
/// `out` grows once, by the number of entries the field holds, so no prefix costs an allocation.
pub fn decode_nlri(
    mut buf: &[u8],
    afi: Afi,
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), NlriError> {
    let max_len: u8 = match afi {
        Afi::IPV4 => 32,
        Afi::IPV6 => 128,
        Afi(other) => return Err(NlriError::UnsupportedAfi(other)),
    };
    out.reserve(count_nlri(buf, add_path));
    while !buf.is_empty() {
        let path_id = if add_path {
            let (id, rest) = buf.split_first_chunk::<4>().ok_or(NlriError::Truncated)?;
            buf = rest;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let (&len, rest) = buf.split_first().ok_or(NlriError::Truncated)?;
        if len > max_len {
            return Err(NlriError::LengthTooLong(len));
        }
        let octets = usize::from(len).div_ceil(8);
        if rest.len() < octets {
            return Err(NlriError::Truncated);
        }
        let (significant, rest) = rest.split_at(octets);
        buf = rest;
        // The significant octets are the leading ones of the address (at most 4 or 16 here);
        // folding them into an integer avoids a variable-length copy per prefix.
        let unused_bits = 8 * (usize::from(max_len / 8) - octets) as u32;
        let prefix = if max_len == 32 {
            let value = significant
                .iter()
                .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
            let addr = Ipv4Addr::from(value.checked_shl(unused_bits).unwrap_or_default());
            Prefix::V4(Ipv4Prefix::new(addr, len).map_err(|_| NlriError::LengthTooLong(len))?)
        } else {
            let value = significant
                .iter()
                .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
            let addr = Ipv6Addr::from(value.checked_shl(unused_bits).unwrap_or_default());
            Prefix::V6(Ipv6Prefix::new(addr, len).map_err(|_| NlriError::LengthTooLong(len))?)
        };
        out.push(Nlri { path_id, prefix });
    }
    Ok(())
}

/// How many entries an NLRI field holds, counting up to the first one that is cut short (the
/// decoding pass reports it): only the length octets are read.
fn count_nlri(mut buf: &[u8], add_path: bool) -> usize {
    let id_len = if add_path { 4 } else { 0 };
    let mut count = 0;
    while let Some(&len) = buf.get(id_len) {
        let Some(rest) = buf.get(id_len + 1 + usize::from(len).div_ceil(8)..) else {
            break;
        };
        buf = rest;
        count += 1;
    }
    count
}
