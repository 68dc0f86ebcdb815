//! Path attributes (RFC 4271 §4.3, §5) and their extensions, with RFC 7606 error handling.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attr. Flags  |Attr. Type Code|  then 1 octet of length, or 2 with Extended Length
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::context::SessionContext;
use crate::error::{Rfc7606Action, UpdateError, UpdateErrorKind};
use crate::family::{Afi, Family, Safi};
use crate::open::AS_TRANS;
use crate::prefix::{decode_nlri, Nlri};

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flag {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive (1) or non-transitive (0).
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute some speaker on the path did not recognise.
    pub const PARTIAL: u8 = 0x20;
    /// The length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Attribute type codes (IANA "BGP Path Attributes").
pub mod type_code {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271, RFC 6793).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: u8 = 32;
    /// ONLY_TO_CUSTOMER (RFC 9234).
    pub const ONLY_TO_CUSTOMER: u8 = 35;
}

/// ORIGIN (RFC 4271 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// Learned from an interior protocol.
    Igp = 0,
    /// Learned by EGP.
    Egp = 1,
    /// Learned some other way.
    Incomplete = 2,
}

/// The kind of an AS_PATH segment (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentType {
    /// AS_SET: unordered, counts as one hop.
    Set = 1,
    /// AS_SEQUENCE: ordered.
    Sequence = 2,
    /// AS_CONFED_SEQUENCE: inside a confederation, not counted.
    ConfedSequence = 3,
    /// AS_CONFED_SET: inside a confederation, not counted.
    ConfedSet = 4,
}

impl SegmentType {
    fn from_wire(value: u8) -> Option<Self> {
        match value {
            1 => Some(SegmentType::Set),
            2 => Some(SegmentType::Sequence),
            3 => Some(SegmentType::ConfedSequence),
            4 => Some(SegmentType::ConfedSet),
            _ => None,
        }
    }

    fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One AS_PATH segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsSegment {
    /// Set or sequence, plain or confederation.
    pub kind: SegmentType,
    /// The AS numbers, never empty on the wire.
    pub asns: Vec<u32>,
}

/// AS_PATH or AS4_PATH (RFC 4271 §5.1.2, RFC 6793).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsPath {
    /// The segments, first is the most recent.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE.
    pub fn from_sequence(asns: impl Into<Vec<u32>>) -> Self {
        let asns = asns.into();
        if asns.is_empty() {
            return Self::default();
        }
        Self {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// The length the decision process compares (RFC 4271 §9.1.2.2 a): an AS_SET counts as one,
    /// confederation segments count zero (RFC 5065 §5.3).
    pub fn path_length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                _ => 0,
            })
            .sum()
    }

    /// The AS that originated the route: the last AS of a trailing AS_SEQUENCE.
    pub fn origin_as(&self) -> Option<u32> {
        let last = self.segments.last()?;
        (last.kind == SegmentType::Sequence)
            .then(|| last.asns.last().copied())
            .flatten()
    }

    /// The neighbouring AS the route came from: the first AS of a leading AS_SEQUENCE (RFC 4271
    /// §9.1.2.2 c).
    pub fn first_as(&self) -> Option<u32> {
        let first = self.segments.iter().find(|s| !s.kind.is_confed())?;
        (first.kind == SegmentType::Sequence)
            .then(|| first.asns.first().copied())
            .flatten()
    }

    /// Whether `asn` appears anywhere in the path.
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// Prepends `asn` `count` times to the leading AS_SEQUENCE, opening a new one when the
    /// path starts with another kind of segment or the leading one is full (RFC 4271 §5.1.2).
    pub fn prepend(&mut self, asn: u32, count: usize) {
        for _ in 0..count {
            match self.segments.first_mut() {
                Some(seg) if seg.kind == SegmentType::Sequence && seg.asns.len() < 255 => {
                    seg.asns.insert(0, asn)
                }
                _ => self.segments.insert(
                    0,
                    AsSegment {
                        kind: SegmentType::Sequence,
                        asns: vec![asn],
                    },
                ),
            }
        }
    }

    /// Whether any AS number needs four octets.
    pub fn needs_four_octets(&self) -> bool {
        self.segments
            .iter()
            .flat_map(|s| &s.asns)
            .any(|&asn| asn > u32::from(u16::MAX))
    }

    fn has_confed(&self) -> bool {
        self.segments.iter().any(|s| s.kind.is_confed())
    }

    /// Decodes the value of AS_PATH or AS4_PATH (`code`) with 2- or 4-octet AS numbers.
    /// Errors: `MalformedAsPath` for an unknown segment type, an empty segment or an overrun
    /// (RFC 7606 §7.2, RFC 6793 §6); then `ZeroAsInPath` when AS 0 appears in any segment
    /// (RFC 7607 §2).
    fn decode(value: &[u8], four_octet: bool, code: u8) -> Result<Self, UpdateErrorKind> {
        const MALFORMED: UpdateErrorKind = UpdateErrorKind::MalformedAsPath;
        let width = if four_octet { 4 } else { 2 };
        let mut segments = Vec::new();
        let mut has_zero = false;
        let mut rest = value;
        while let [kind, count, tail @ ..] = rest {
            let kind = SegmentType::from_wire(*kind).ok_or(MALFORMED)?;
            let count = usize::from(*count);
            if count == 0 || tail.len() < count * width {
                return Err(MALFORMED);
            }
            let (body, tail) = tail.split_at(count * width);
            let asns: Vec<u32> = if four_octet {
                body.chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            } else {
                body.chunks_exact(2)
                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                    .collect()
            };
            has_zero |= asns.contains(&0);
            segments.push(AsSegment { kind, asns });
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(MALFORMED);
        }
        if has_zero {
            return Err(UpdateErrorKind::ZeroAsInPath(code));
        }
        Ok(Self { segments })
    }

    /// Appends the value; with 2-octet AS numbers, each one that does not fit is written as
    /// AS_TRANS (RFC 6793 §4.2.2). Segments longer than 255 are split.
    fn encode(&self, four_octet: bool, out: &mut BytesMut) {
        for seg in &self.segments {
            for chunk in seg.asns.chunks(255) {
                out.put_u8(seg.kind as u8);
                out.put_u8(chunk.len() as u8);
                for &asn in chunk {
                    if four_octet {
                        out.put_u32(asn);
                    } else {
                        out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
                    }
                }
            }
        }
    }

    /// The AS4_PATH a NEW speaker sends to an OLD one: the path without confederation segments
    /// (RFC 6793 §4.2.2).
    fn without_confed(&self) -> AsPath {
        AsPath {
            segments: self
                .segments
                .iter()
                .filter(|s| !s.kind.is_confed())
                .cloned()
                .collect(),
        }
    }

    /// Rebuilds the real path from an AS_PATH of 2-octet numbers and an AS4_PATH (RFC 6793
    /// §4.2.3): the AS4_PATH is ignored when it is longer than the AS_PATH; otherwise the leading
    /// AS_PATH numbers that the AS4_PATH lacks are kept in front of it.
    pub fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let as_len = self.path_length();
        let as4_len = as4.path_length();
        if as4_len > as_len {
            return self.clone();
        }
        let mut keep = as_len - as4_len;
        let mut segments = Vec::new();
        for seg in &self.segments {
            if keep == 0 {
                if seg.kind.is_confed() {
                    segments.push(seg.clone());
                    continue;
                }
                break;
            }
            match seg.kind {
                SegmentType::Sequence if seg.asns.len() > keep => {
                    segments.push(AsSegment {
                        kind: seg.kind,
                        asns: seg.asns[..keep].to_vec(),
                    });
                    keep = 0;
                }
                SegmentType::Sequence => {
                    keep -= seg.asns.len();
                    segments.push(seg.clone());
                }
                SegmentType::Set => {
                    keep -= 1;
                    segments.push(seg.clone());
                }
                _ => segments.push(seg.clone()),
            }
        }
        let mut as4_segments = as4.segments.iter().cloned();
        // Join the kept AS_SEQUENCE and a leading AS4_PATH sequence, so that the rebuilt path
        // equals the one the NEW speaker sent rather than having two adjacent sequences.
        if let (Some(last), Some(first)) = (segments.last_mut(), as4.segments.first()) {
            if last.kind == SegmentType::Sequence
                && first.kind == SegmentType::Sequence
                && last.asns.len() + first.asns.len() <= 255
            {
                last.asns.extend_from_slice(&first.asns);
                as4_segments.next();
            }
        }
        segments.extend(as4_segments);
        AsPath { segments }
    }
}

impl fmt::Display for AsPath {
    /// The usual text form: numbers separated by spaces, `{a,b}` for sets, `(a b)` for
    /// confederation sequences, `[a,b]` for confederation sets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let (open, sep, close) = match seg.kind {
                SegmentType::Sequence => ("", " ", ""),
                SegmentType::Set => ("{", ",", "}"),
                SegmentType::ConfedSequence => ("(", " ", ")"),
                SegmentType::ConfedSet => ("[", ",", "]"),
            };
            f.write_str(open)?;
            for (j, asn) in seg.asns.iter().enumerate() {
                if j > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{asn}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

/// AGGREGATOR or AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aggregator {
    /// The AS that formed the aggregate.
    pub asn: u32,
    /// The BGP Identifier of the speaker that formed it.
    pub address: Ipv4Addr,
}

/// A standard community (RFC 1997).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997): not advertised outside the AS or confederation.
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997): not advertised to any peer.
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997): not advertised to eBGP peers, even confederation ones.
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// NOPEER (RFC 3765).
    pub const NOPEER: Community = Community(0xFFFF_FF04);
    /// GRACEFUL_SHUTDOWN (RFC 8326): the path is about to go away; lower its preference.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// ACCEPT_OWN (RFC 7611).
    pub const ACCEPT_OWN: Community = Community(0xFFFF_0001);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);

    /// A community from its two halves, `asn:value`.
    pub const fn new(asn: u16, value: u16) -> Self {
        Community(((asn as u32) << 16) | value as u32)
    }

    /// The well-known name, if this is a well-known community.
    pub fn well_known_name(self) -> Option<&'static str> {
        Some(match self {
            Community::NO_EXPORT => "no-export",
            Community::NO_ADVERTISE => "no-advertise",
            Community::NO_EXPORT_SUBCONFED => "no-export-subconfed",
            Community::NOPEER => "no-peer",
            Community::GRACEFUL_SHUTDOWN => "graceful-shutdown",
            Community::ACCEPT_OWN => "accept-own",
            Community::LLGR_STALE => "llgr-stale",
            Community::NO_LLGR => "no-llgr",
            Community::BLACKHOLE => "blackhole",
            _ => return None,
        })
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// An extended community (RFC 4360), kept as its eight octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

/// A large community (RFC 8092).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an AS number).
    pub global_admin: u32,
    /// First local data part.
    pub local_data1: u32,
    /// Second local data part.
    pub local_data2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data1, self.local_data2
        )
    }
}

/// The next hop of MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3, RFC 8950 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHop {
    /// An IPv4 next hop.
    V4(Ipv4Addr),
    /// An IPv6 global next hop and, optionally, the link-local one.
    V6 {
        /// The global address.
        global: Ipv6Addr,
        /// The link-local address, when the peer shares the link.
        link_local: Option<Ipv6Addr>,
    },
}

impl NextHop {
    fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes.len() {
            4 => Some(NextHop::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(bytes).ok()?,
            ))),
            16 => Some(NextHop::V6 {
                global: Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?),
                link_local: None,
            }),
            32 => Some(NextHop::V6 {
                global: Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[..16]).ok()?),
                link_local: Some(Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[16..]).ok()?)),
            }),
            _ => None,
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        match self {
            NextHop::V4(a) => {
                out.put_u8(4);
                out.put_slice(&a.octets());
            }
            NextHop::V6 {
                global,
                link_local: None,
            } => {
                out.put_u8(16);
                out.put_slice(&global.octets());
            }
            NextHop::V6 {
                global,
                link_local: Some(ll),
            } => {
                out.put_u8(32);
                out.put_slice(&global.octets());
                out.put_slice(&ll.octets());
            }
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 §3) for an IP family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpReach {
    /// The family of the NLRI.
    pub family: Family,
    /// The next hop for all of them.
    pub next_hop: NextHop,
    /// The reachable prefixes.
    pub nlri: Vec<Nlri>,
}

/// MP_UNREACH_NLRI (RFC 4760 §4) for an IP family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    /// The family of the withdrawn NLRI.
    pub family: Family,
    /// The withdrawn prefixes (empty: End-of-RIB for the family, RFC 4724 §2).
    pub withdrawn: Vec<Nlri>,
}

/// An attribute kept as received: unknown optional transitive ones, and MP attributes of
/// families this codec does not decode.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawAttribute {
    /// Flags as received, without Extended Length (recomputed on encode).
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// Value.
    pub value: Bytes,
}

/// The path attributes of an UPDATE other than MP_REACH_NLRI and MP_UNREACH_NLRI, which carry
/// NLRI and live in [`crate::update::Update`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    /// ORIGIN.
    pub origin: Option<Origin>,
    /// AS_PATH, as on the wire for this session's AS number width.
    pub as_path: Option<AsPath>,
    /// NEXT_HOP (IPv4 unicast NLRI in the UPDATE body).
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (iBGP only).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES; empty means absent.
    pub communities: Vec<Community>,
    /// ORIGINATOR_ID (RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456); empty means absent.
    pub cluster_list: Vec<Ipv4Addr>,
    /// EXTENDED COMMUNITIES; empty means absent.
    pub extended_communities: Vec<ExtendedCommunity>,
    /// AS4_PATH, from a 2-octet session (RFC 6793).
    pub as4_path: Option<AsPath>,
    /// AS4_AGGREGATOR, from a 2-octet session (RFC 6793).
    pub as4_aggregator: Option<Aggregator>,
    /// LARGE_COMMUNITY; empty means absent.
    pub large_communities: Vec<LargeCommunity>,
    /// ONLY_TO_CUSTOMER (RFC 9234).
    pub only_to_customer: Option<u32>,
    /// Attributes kept as raw bytes, sorted by type code.
    pub raw: Vec<RawAttribute>,
}

/// The expected Optional and Transitive bits of each attribute this codec interprets.
fn expected_flags(code: u8) -> Option<u8> {
    use type_code::*;
    const WELL_KNOWN: u8 = flag::TRANSITIVE;
    const OPT_TRANS: u8 = flag::OPTIONAL | flag::TRANSITIVE;
    const OPT_NON_TRANS: u8 = flag::OPTIONAL;
    Some(match code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => WELL_KNOWN,
        MULTI_EXIT_DISC | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI => {
            OPT_NON_TRANS
        }
        AGGREGATOR | COMMUNITIES | EXTENDED_COMMUNITIES | AS4_PATH | AS4_AGGREGATOR
        | LARGE_COMMUNITY | ONLY_TO_CUSTOMER => OPT_TRANS,
        _ => return None,
    })
}

/// RFC 7606 §7: what a malformed attribute of this type costs. AS 0 (RFC 7607 §2) makes the
/// attribute malformed at the same cost: treat-as-withdraw in AS_PATH (RFC 7606 §7.2),
/// attribute discard in AGGREGATOR (RFC 7606 §7.7), AS4_PATH and AS4_AGGREGATOR (RFC 6793 §6).
fn malformed_action(code: u8, ctx: &SessionContext) -> Rfc7606Action {
    use type_code::*;
    match code {
        // RFC 7606 §7.5: LOCAL_PREF from an external peer is discarded, malformed or not.
        LOCAL_PREF if !ctx.ibgp => Rfc7606Action::AttributeDiscard,
        ATOMIC_AGGREGATE | AGGREGATOR | AS4_PATH | AS4_AGGREGATOR => {
            Rfc7606Action::AttributeDiscard
        }
        MP_REACH_NLRI | MP_UNREACH_NLRI => Rfc7606Action::SessionReset,
        _ => Rfc7606Action::TreatAsWithdraw,
    }
}

/// Everything one path attributes block decoded to (RFC 4271 §4.3, RFC 7606).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodedAttributes {
    /// The attributes other than MP_REACH_NLRI and MP_UNREACH_NLRI.
    pub attributes: PathAttributes,
    /// MP_REACH_NLRI, when present and of an IP family (RFC 4760 §3).
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI, when present and of an IP family (RFC 4760 §4).
    pub mp_unreach: Option<MpUnreach>,
    /// The first error that makes RFC 7606 treat the NLRI as withdrawn.
    pub treat_as_withdraw: Option<UpdateError>,
    /// Attributes dropped under RFC 7606 attribute-discard.
    pub discarded: Vec<UpdateError>,
}

/// How MP_REACH_NLRI is laid out in the block being decoded.
#[derive(Clone, Copy, Debug)]
enum MpReachForm {
    /// As in an UPDATE (RFC 4760 §3): AFI, SAFI, next hop, reserved octet, NLRI.
    Update,
    /// As in a TABLE_DUMP_V2 RIB entry (RFC 6396 §4.3.4), also accepted in TABLE_DUMP (§4.2):
    /// only the next-hop length and next hop; the family comes from the record subtype and the
    /// prefix from the record.
    TableDumpV2(Family),
}

impl DecodedAttributes {
    fn record(&mut self, err: UpdateError) -> Result<(), UpdateError> {
        match err.action {
            Rfc7606Action::SessionReset => return Err(err),
            Rfc7606Action::TreatAsWithdraw if self.treat_as_withdraw.is_none() => {
                self.treat_as_withdraw = Some(err)
            }
            Rfc7606Action::TreatAsWithdraw => {}
            Rfc7606Action::AttributeDiscard => self.discarded.push(err),
        }
        Ok(())
    }
}

fn u32_value(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(<[u8; 4]>::try_from(v).ok()?))
}

/// A non-zero multiple of `n` octets: the length rule of the list attributes (RFC 7606 §7).
fn list_len_ok(v: &[u8], n: usize) -> bool {
    !v.is_empty() && v.len() % n == 0
}

fn valid_ipv4_next_hop(addr: Ipv4Addr) -> bool {
    !(addr.is_unspecified() || addr.is_multicast() || u32::from(addr) >= 0xF000_0000)
}

/// Decodes a bare path attributes block laid out as in an UPDATE (RFC 4271 §4.3), e.g. one cut
/// out of a message by hand, with RFC 7606 handling. Only the errors that reset the session end
/// in `Err`: malformed or repeated MP attributes, an unrecognized well-known attribute, and an
/// MP attribute cut off by the end of the block (RFC 7606 §4).
pub fn decode_path_attributes(
    bytes: Bytes,
    ctx: &SessionContext,
) -> Result<DecodedAttributes, UpdateError> {
    decode_attributes(&bytes, &bytes, ctx)
}

/// Decodes the attributes of an MRT TABLE_DUMP_V2 RIB entry (RFC 6396 §4.3.4) whose prefix is of
/// `family`. There MP_REACH_NLRI holds only the next-hop length and next hop; the returned
/// [`MpReach`] has `family` and no NLRI. A full RFC 4760 MP_REACH_NLRI, which some writers
/// emit, is accepted too. AS numbers are four octets wide there whatever `ctx` says.
pub fn decode_table_dump_attributes(
    bytes: Bytes,
    family: Family,
    ctx: &SessionContext,
) -> Result<DecodedAttributes, UpdateError> {
    let ctx = SessionContext {
        four_octet_as: true,
        ..*ctx
    };
    decode_attributes_in(&bytes, &bytes, &ctx, MpReachForm::TableDumpV2(family))
}

/// Decodes the attributes of an MRT TABLE_DUMP record (RFC 6396 §4.2) whose prefix is of
/// `family`. AS numbers are two octets wide there (4-octet ones travel in AS4_PATH and
/// AS4_AGGREGATOR, RFC 6793 §4.2.2); MP_REACH_NLRI, in IPv6 records, is accepted in the short
/// form of TABLE_DUMP_V2 (RFC 6396 §4.3.4) or the full form of RFC 4760 §3.
pub fn decode_table_dump_v1_attributes(
    bytes: Bytes,
    family: Family,
    ctx: &SessionContext,
) -> Result<DecodedAttributes, UpdateError> {
    let ctx = SessionContext {
        four_octet_as: false,
        ..*ctx
    };
    decode_attributes_in(&bytes, &bytes, &ctx, MpReachForm::TableDumpV2(family))
}

/// Decodes the path attributes block of an UPDATE (RFC 4271 §4.3) with RFC 7606 handling.
/// Only the errors that reset the session end in `Err` (see [`decode_path_attributes`]); the
/// block is delimited by the Total Path Attribute Length, so an attribute that does not fit in
/// it is treat-as-withdraw (RFC 7606 §4) and leaves the NLRI field that follows intact.
///
/// `block` lies inside `frame`. Values are parsed from borrowed slices; only the ones that are
/// kept (unknown attributes) become shared slices of `frame`, so decoding costs no reference
/// count traffic per attribute.
pub(crate) fn decode_attributes(
    frame: &Bytes,
    block: &[u8],
    ctx: &SessionContext,
) -> Result<DecodedAttributes, UpdateError> {
    decode_attributes_in(frame, block, ctx, MpReachForm::Update)
}

/// Splits the first attribute off `buf`: flags, type code, value and the rest.
pub(crate) fn split_attribute(buf: &[u8]) -> Option<(u8, u8, &[u8], &[u8])> {
    let (&[flags, code], rest) = buf.split_first_chunk::<2>()?;
    let (len, rest) = if flags & flag::EXTENDED_LENGTH != 0 {
        let (len, rest) = rest.split_first_chunk::<2>()?;
        (usize::from(u16::from_be_bytes(*len)), rest)
    } else {
        let (len, rest) = rest.split_first()?;
        (usize::from(*len), rest)
    };
    (rest.len() >= len).then(|| {
        let (value, rest) = rest.split_at(len);
        (flags, code, value, rest)
    })
}

/// RFC 7606 §4: the error for the attribute at the front of `rest`, the end of the block, that
/// does not fit in it (its length runs past the Total Path Attribute Length, or fewer octets
/// than a header are left). Treat-as-withdraw, since the NLRI field is delimited by the Total
/// Path Attribute Length, unless a more severe error shows. The cut attribute is MP_REACH_NLRI
/// or MP_UNREACH_NLRI: treat-as-withdraw needs their NLRI parsed (RFC 7606 §4, §5), so the
/// session is reset with 3/1. The cut attribute is an unrecognized well-known one: reset with
/// 3/2 as for any (RFC 4271 §6.3). Only the cut attribute can be lost, and its type code is
/// known unless a lone flags octet is left, which holds no attribute at all.
#[cold]
fn overrun_error(frame: &Bytes, rest: &[u8]) -> UpdateError {
    match *rest {
        [_, type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI, ..] => UpdateError::new(
            UpdateErrorKind::MalformedAttributeList,
            Rfc7606Action::SessionReset,
        ),
        [flags, code, ..] if flags & flag::OPTIONAL == 0 && expected_flags(code).is_none() => {
            UpdateError {
                kind: UpdateErrorKind::UnrecognizedWellKnownAttribute(code),
                action: Rfc7606Action::SessionReset,
                // The attribute as received, as far as the block goes.
                data: frame.slice_ref(rest),
            }
        }
        _ => UpdateError::new(
            UpdateErrorKind::MalformedAttributeList,
            Rfc7606Action::TreatAsWithdraw,
        ),
    }
}

fn decode_attributes_in(
    frame: &Bytes,
    block: &[u8],
    ctx: &SessionContext,
    form: MpReachForm,
) -> Result<DecodedAttributes, UpdateError> {
    let mut out = DecodedAttributes::default();
    let mut seen = [0u64; 4];
    let framing = || {
        UpdateError::new(
            UpdateErrorKind::MalformedAttributeList,
            Rfc7606Action::SessionReset,
        )
    };
    let mut rest = block;
    while !rest.is_empty() {
        let Some((flags, code, value, tail)) = split_attribute(rest) else {
            // Nothing follows in the block: the last attribute is the one that does not fit.
            out.record(overrun_error(frame, rest))?;
            break;
        };
        rest = tail;

        let (word, bit) = (usize::from(code / 64), 1u64 << (code % 64));
        if seen[word] & bit != 0 {
            // RFC 7606 §3 g: a repeated MP attribute resets the session, any other repeat is
            // dropped after the first.
            if code == type_code::MP_REACH_NLRI || code == type_code::MP_UNREACH_NLRI {
                return Err(framing());
            }
            continue;
        }
        seen[word] |= bit;

        let Some(expected) = expected_flags(code) else {
            if flags & flag::OPTIONAL == 0 {
                return Err(UpdateError::attribute(
                    UpdateErrorKind::UnrecognizedWellKnownAttribute(code),
                    Rfc7606Action::SessionReset,
                    flags,
                    code,
                    value,
                ));
            }
            if flags & flag::TRANSITIVE != 0 {
                // Extended Length is framing, not part of the attribute: keeping it would make
                // equal attributes compare unequal depending on how they were sent.
                out.attributes.raw.push(RawAttribute {
                    flags: flags & !flag::EXTENDED_LENGTH,
                    type_code: code,
                    value: frame.slice_ref(value),
                });
            }
            continue;
        };
        if flags & (flag::OPTIONAL | flag::TRANSITIVE) != expected {
            let err = UpdateError::attribute(
                UpdateErrorKind::AttributeFlags(code),
                malformed_action(code, ctx),
                flags,
                code,
                value,
            );
            out.record(err)?;
            continue;
        }
        if let Err(kind) = decode_one(&mut out, code, value, frame, ctx, form) {
            out.record(UpdateError::attribute(
                kind,
                malformed_action(code, ctx),
                flags,
                code,
                value,
            ))?;
        }
    }
    out.attributes.raw.sort_by_key(|a| a.type_code);
    Ok(out)
}

/// Decodes one attribute value whose flags are right, storing it in `out`; `v` lies inside
/// `frame`.
fn decode_one(
    out: &mut DecodedAttributes,
    code: u8,
    v: &[u8],
    frame: &Bytes,
    ctx: &SessionContext,
    form: MpReachForm,
) -> Result<(), UpdateErrorKind> {
    use type_code::*;
    let attrs = &mut out.attributes;
    let length_error = UpdateErrorKind::AttributeLength(code);
    match code {
        ORIGIN => {
            let [value] = v[..] else {
                return Err(length_error);
            };
            attrs.origin = Some(match value {
                0 => Origin::Igp,
                1 => Origin::Egp,
                2 => Origin::Incomplete,
                _ => return Err(UpdateErrorKind::InvalidOrigin),
            });
        }
        AS_PATH => {
            let path = AsPath::decode(v, ctx.four_octet_as, code)?;
            // RFC 7606 §7.2: confederation segments from an external peer make it malformed.
            if !ctx.ibgp && path.has_confed() {
                return Err(UpdateErrorKind::MalformedAsPath);
            }
            attrs.as_path = Some(path);
        }
        NEXT_HOP => {
            let addr = Ipv4Addr::from(u32_value(v).ok_or(length_error)?);
            if !valid_ipv4_next_hop(addr) {
                return Err(UpdateErrorKind::InvalidNextHop);
            }
            attrs.next_hop = Some(addr);
        }
        MULTI_EXIT_DISC => attrs.med = Some(u32_value(v).ok_or(length_error)?),
        LOCAL_PREF => {
            // RFC 4271 §5.1.5, RFC 7606 §7.5: ignored when received from an external peer,
            // whatever its length.
            if ctx.ibgp {
                attrs.local_pref = Some(u32_value(v).ok_or(length_error)?);
            }
        }
        ATOMIC_AGGREGATE => {
            if !v.is_empty() {
                return Err(length_error);
            }
            attrs.atomic_aggregate = true;
        }
        AGGREGATOR => attrs.aggregator = Some(decode_aggregator(v, ctx.four_octet_as, code)?),
        AS4_AGGREGATOR => attrs.as4_aggregator = Some(decode_aggregator(v, true, code)?),
        COMMUNITIES => {
            if !list_len_ok(v, 4) {
                return Err(length_error);
            }
            attrs.communities = v
                .chunks_exact(4)
                .map(|c| Community(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
        }
        ORIGINATOR_ID => {
            let id = Ipv4Addr::from(u32_value(v).ok_or(length_error)?);
            // RFC 7606 §7.9: only meaningful inside the AS.
            if ctx.ibgp {
                attrs.originator_id = Some(id);
            }
        }
        CLUSTER_LIST => {
            if !list_len_ok(v, 4) {
                return Err(length_error);
            }
            if ctx.ibgp {
                attrs.cluster_list = v
                    .chunks_exact(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                    .collect();
            }
        }
        EXTENDED_COMMUNITIES => {
            if !list_len_ok(v, 8) {
                return Err(length_error);
            }
            attrs.extended_communities = v
                .chunks_exact(8)
                .map(|c| ExtendedCommunity(<[u8; 8]>::try_from(c).unwrap_or_default()))
                .collect();
        }
        AS4_PATH => {
            let path = AsPath::decode(v, true, code)?;
            // RFC 6793 §6: confederation segments are invalid in AS4_PATH; they are discarded
            // and the rest of the attribute is used.
            attrs.as4_path = Some(path.without_confed());
        }
        LARGE_COMMUNITY => {
            if !list_len_ok(v, 12) {
                return Err(length_error);
            }
            attrs.large_communities = v
                .chunks_exact(12)
                .map(|c| LargeCommunity {
                    global_admin: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                    local_data1: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                    local_data2: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
                })
                .collect();
        }
        ONLY_TO_CUSTOMER => attrs.only_to_customer = Some(u32_value(v).ok_or(length_error)?),
        MP_REACH_NLRI => match form {
            MpReachForm::TableDumpV2(family)
                if v.first().map(|&n| usize::from(n) + 1) == Some(v.len()) =>
            {
                let next_hop =
                    NextHop::decode(&v[1..]).ok_or(UpdateErrorKind::OptionalAttribute(code))?;
                out.mp_reach = Some(MpReach {
                    family,
                    next_hop,
                    nlri: Vec::new(),
                });
            }
            _ => decode_mp_reach(out, v, frame, ctx)?,
        },
        MP_UNREACH_NLRI => decode_mp_unreach(out, v, frame, ctx)?,
        // `expected_flags` admits only the codes above.
        _ => return Err(UpdateErrorKind::OptionalAttribute(code)),
    }
    Ok(())
}

/// Decodes the value of AGGREGATOR or AS4_AGGREGATOR (`code`): a length error unless it has
/// 6 or 8 octets as the AS width says (RFC 4271 §5.1.7, RFC 6793 §6), `ZeroAsInAggregator` for
/// AS 0 (RFC 7607 §2).
fn decode_aggregator(v: &[u8], four_octet: bool, code: u8) -> Result<Aggregator, UpdateErrorKind> {
    let length_error = UpdateErrorKind::AttributeLength(code);
    let (asn, address) = match (four_octet, v.len()) {
        (true, 8) => v.split_at(4),
        (false, 6) => v.split_at(2),
        _ => return Err(length_error),
    };
    let asn = asn.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b));
    if asn == 0 {
        return Err(UpdateErrorKind::ZeroAsInAggregator(code));
    }
    Ok(Aggregator {
        asn,
        address: Ipv4Addr::from(u32_value(address).ok_or(length_error)?),
    })
}

/// Splits AFI and SAFI off the front of an MP attribute value.
fn split_mp_family(v: &[u8]) -> Option<(Family, &[u8])> {
    let (&[afi0, afi1, safi], rest) = v.split_first_chunk::<3>()?;
    let family = Family::new(Afi(u16::from_be_bytes([afi0, afi1])), Safi(safi));
    Some((family, rest))
}

fn decode_mp_reach(
    out: &mut DecodedAttributes,
    v: &[u8],
    frame: &Bytes,
    ctx: &SessionContext,
) -> Result<(), UpdateErrorKind> {
    let err = UpdateErrorKind::OptionalAttribute(type_code::MP_REACH_NLRI);
    let (family, rest) = split_mp_family(v).ok_or(err)?;
    if !family.has_ip_prefixes() {
        keep_raw(out, type_code::MP_REACH_NLRI, frame.slice_ref(v));
        return Ok(());
    }
    let (&nh_len, rest) = rest.split_first().ok_or(err)?;
    let nh_len = usize::from(nh_len);
    // The next hop, then the reserved octet (RFC 4760 §3: ignored on receipt).
    if rest.len() <= nh_len {
        return Err(err);
    }
    let (nh_bytes, rest) = rest.split_at(nh_len);
    let next_hop = NextHop::decode(nh_bytes).ok_or(err)?;
    let mut nlri = Vec::new();
    decode_nlri(
        &rest[1..],
        family.afi,
        ctx.receives_path_ids(family),
        &mut nlri,
    )
    .map_err(|_| err)?;
    out.mp_reach = Some(MpReach {
        family,
        next_hop,
        nlri,
    });
    Ok(())
}

fn decode_mp_unreach(
    out: &mut DecodedAttributes,
    v: &[u8],
    frame: &Bytes,
    ctx: &SessionContext,
) -> Result<(), UpdateErrorKind> {
    let err = UpdateErrorKind::OptionalAttribute(type_code::MP_UNREACH_NLRI);
    let (family, rest) = split_mp_family(v).ok_or(err)?;
    if !family.has_ip_prefixes() {
        keep_raw(out, type_code::MP_UNREACH_NLRI, frame.slice_ref(v));
        return Ok(());
    }
    let mut withdrawn = Vec::new();
    decode_nlri(
        rest,
        family.afi,
        ctx.receives_path_ids(family),
        &mut withdrawn,
    )
    .map_err(|_| err)?;
    out.mp_unreach = Some(MpUnreach { family, withdrawn });
    Ok(())
}

fn keep_raw(out: &mut DecodedAttributes, code: u8, value: Bytes) {
    out.attributes.raw.push(RawAttribute {
        flags: flag::OPTIONAL,
        type_code: code,
        value,
    });
}

/// Writes one attribute: flags (Extended Length only when the value needs it), type, length,
/// value produced by `write`.
fn put_attribute(out: &mut BytesMut, flags: u8, code: u8, write: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_u8(flags & !flag::EXTENDED_LENGTH);
    out.put_u8(code);
    out.put_u8(0);
    let value_at = out.len();
    write(out);
    let len = out.len() - value_at;
    if len > 255 {
        // Make room for the second length octet and set the flag.
        out.put_u8(0);
        out.copy_within(value_at..value_at + len, value_at + 1);
        out[start] |= flag::EXTENDED_LENGTH;
        out[value_at - 1..value_at + 1].copy_from_slice(&(len as u16).to_be_bytes());
    } else {
        out[value_at - 1] = len as u8;
    }
}

impl PathAttributes {
    /// Whether any attribute is present.
    pub fn is_empty(&self) -> bool {
        *self == PathAttributes::default()
    }

    /// Sets the Partial bit on the unknown optional transitive attributes, as RFC 4271 §5 asks
    /// of a speaker that passes them on.
    pub fn mark_unknown_partial(&mut self) {
        for a in &mut self.raw {
            if a.flags & (flag::OPTIONAL | flag::TRANSITIVE) == flag::OPTIONAL | flag::TRANSITIVE {
                a.flags |= flag::PARTIAL;
            }
        }
    }

    /// For a route learned over a 2-octet session: replaces AS_PATH and AGGREGATOR with what
    /// AS4_PATH and AS4_AGGREGATOR say (RFC 6793 §4.2.3) and removes the AS4 attributes.
    pub fn reconstruct_as4(&mut self) {
        let as4_path = self.as4_path.take();
        let as4_aggregator = self.as4_aggregator.take();
        // RFC 6793 §4.2.3: an AGGREGATOR of a real 2-octet AS means a later OLD speaker
        // aggregated, so the AS4 attributes are stale.
        if let Some(agg) = self.aggregator {
            if agg.asn != u32::from(AS_TRANS) {
                return;
            }
            if let Some(as4) = as4_aggregator {
                self.aggregator = Some(as4);
            }
        }
        if let (Some(path), Some(as4)) = (&self.as_path, &as4_path) {
            self.as_path = Some(path.merge_as4(as4));
        }
    }

    /// Appends the encoded attributes in type-code order; `mp` writes MP_REACH_NLRI and
    /// MP_UNREACH_NLRI at their place. On a 2-octet session, AS4_PATH and AS4_AGGREGATOR are
    /// added when AS numbers do not fit (RFC 6793 §4.2.2).
    pub(crate) fn encode_with(
        &self,
        ctx: &SessionContext,
        out: &mut BytesMut,
        mut mp: impl FnMut(&mut BytesMut),
    ) {
        use type_code::*;
        let two_octet = !ctx.four_octet_as;
        let mut raw = self.raw.iter().peekable();
        let mut flush_raw_below = |out: &mut BytesMut, limit: u16| {
            while let Some(a) = raw.next_if(|a| u16::from(a.type_code) < limit) {
                put_attribute(out, a.flags, a.type_code, |o| o.put_slice(&a.value));
            }
        };
        let wk = flag::TRANSITIVE;
        let ot = flag::OPTIONAL | flag::TRANSITIVE;
        let on = flag::OPTIONAL;
        if let Some(origin) = self.origin {
            put_attribute(out, wk, ORIGIN, |o| o.put_u8(origin as u8));
        }
        if let Some(path) = &self.as_path {
            put_attribute(out, wk, AS_PATH, |o| path.encode(ctx.four_octet_as, o));
        }
        if let Some(nh) = self.next_hop {
            put_attribute(out, wk, NEXT_HOP, |o| o.put_slice(&nh.octets()));
        }
        if let Some(med) = self.med {
            put_attribute(out, on, MULTI_EXIT_DISC, |o| o.put_u32(med));
        }
        if let Some(lp) = self.local_pref {
            put_attribute(out, wk, LOCAL_PREF, |o| o.put_u32(lp));
        }
        if self.atomic_aggregate {
            put_attribute(out, wk, ATOMIC_AGGREGATE, |_| {});
        }
        if let Some(agg) = self.aggregator {
            put_attribute(out, ot, AGGREGATOR, |o| {
                if two_octet {
                    o.put_u16(u16::try_from(agg.asn).unwrap_or(AS_TRANS));
                } else {
                    o.put_u32(agg.asn);
                }
                o.put_slice(&agg.address.octets());
            });
        }
        if !self.communities.is_empty() {
            put_attribute(out, ot, COMMUNITIES, |o| {
                self.communities.iter().for_each(|c| o.put_u32(c.0))
            });
        }
        if let Some(id) = self.originator_id {
            put_attribute(out, on, ORIGINATOR_ID, |o| o.put_slice(&id.octets()));
        }
        if !self.cluster_list.is_empty() {
            put_attribute(out, on, CLUSTER_LIST, |o| {
                self.cluster_list
                    .iter()
                    .for_each(|id| o.put_slice(&id.octets()))
            });
        }
        flush_raw_below(out, u16::from(MP_REACH_NLRI));
        mp(out);
        flush_raw_below(out, u16::from(EXTENDED_COMMUNITIES));
        if !self.extended_communities.is_empty() {
            put_attribute(out, ot, EXTENDED_COMMUNITIES, |o| {
                self.extended_communities
                    .iter()
                    .for_each(|c| o.put_slice(&c.0))
            });
        }
        flush_raw_below(out, u16::from(AS4_PATH));
        let synthesized_as4_path = match (&self.as4_path, &self.as_path) {
            (None, Some(path)) if two_octet && path.needs_four_octets() => {
                Some(path.without_confed())
            }
            _ => None,
        };
        if let Some(as4) = self.as4_path.as_ref().or(synthesized_as4_path.as_ref()) {
            put_attribute(out, ot, AS4_PATH, |o| as4.encode(true, o));
        }
        let synthesized_as4_aggregator = match (self.as4_aggregator, self.aggregator) {
            (None, Some(agg)) if two_octet && agg.asn > u32::from(u16::MAX) => Some(agg),
            _ => None,
        };
        if let Some(agg) = self.as4_aggregator.or(synthesized_as4_aggregator) {
            put_attribute(out, ot, AS4_AGGREGATOR, |o| {
                o.put_u32(agg.asn);
                o.put_slice(&agg.address.octets());
            });
        }
        flush_raw_below(out, u16::from(LARGE_COMMUNITY));
        if !self.large_communities.is_empty() {
            put_attribute(out, ot, LARGE_COMMUNITY, |o| {
                for c in &self.large_communities {
                    o.put_u32(c.global_admin);
                    o.put_u32(c.local_data1);
                    o.put_u32(c.local_data2);
                }
            });
        }
        flush_raw_below(out, u16::from(ONLY_TO_CUSTOMER));
        if let Some(otc) = self.only_to_customer {
            put_attribute(out, ot, ONLY_TO_CUSTOMER, |o| o.put_u32(otc));
        }
        flush_raw_below(out, 256);
    }
}

/// Appends the attribute block of an MRT RIB entry: TABLE_DUMP_V2 (RFC 6396 §4.3.4) with
/// `four_octet_as`, TABLE_DUMP (§4.2) without, where AS numbers that do not fit travel in
/// AS4_PATH and AS4_AGGREGATOR (RFC 6793 §4.2.2). `mp_next_hop`, for a prefix that is not IPv4
/// unicast with an IPv4 next hop, becomes an MP_REACH_NLRI holding only the next-hop length and
/// next hop, as §4.3.4 prescribes; an IPv4 next hop otherwise belongs in `attrs.next_hop`.
pub fn encode_table_dump_attributes(
    attrs: &PathAttributes,
    mp_next_hop: Option<&NextHop>,
    four_octet_as: bool,
    out: &mut BytesMut,
) {
    let ctx = SessionContext {
        four_octet_as,
        ibgp: true,
        ..SessionContext::modern_ebgp()
    };
    attrs.encode_with(&ctx, out, |o| {
        if let Some(next_hop) = mp_next_hop {
            put_attribute(o, flag::OPTIONAL, type_code::MP_REACH_NLRI, |o| {
                next_hop.encode(o)
            });
        }
    });
}

/// Appends MP_REACH_NLRI for `reach` (RFC 4760 §3).
pub(crate) fn encode_mp_reach(reach: &MpReach, ctx: &SessionContext, out: &mut BytesMut) {
    encode_mp_reach_parts(reach.family, &reach.next_hop, &reach.nlri, ctx, out);
}

/// Appends MP_REACH_NLRI from its parts, so that a packer can cut NLRI slices without building
/// an [`MpReach`] per message.
pub(crate) fn encode_mp_reach_parts(
    family: Family,
    next_hop: &NextHop,
    nlri: &[Nlri],
    ctx: &SessionContext,
    out: &mut BytesMut,
) {
    let add_path = ctx.sends_path_ids(family);
    put_attribute(out, flag::OPTIONAL, type_code::MP_REACH_NLRI, |o| {
        o.put_u16(family.afi.0);
        o.put_u8(family.safi.0);
        next_hop.encode(o);
        o.put_u8(0);
        nlri.iter().for_each(|n| n.encode(add_path, o));
    });
}

/// Appends MP_UNREACH_NLRI for `unreach` (RFC 4760 §4).
pub(crate) fn encode_mp_unreach(unreach: &MpUnreach, ctx: &SessionContext, out: &mut BytesMut) {
    encode_mp_unreach_parts(unreach.family, &unreach.withdrawn, ctx, out);
}

/// Appends MP_UNREACH_NLRI from its parts.
pub(crate) fn encode_mp_unreach_parts(
    family: Family,
    withdrawn: &[Nlri],
    ctx: &SessionContext,
    out: &mut BytesMut,
) {
    let add_path = ctx.sends_path_ids(family);
    put_attribute(out, flag::OPTIONAL, type_code::MP_UNREACH_NLRI, |o| {
        o.put_u16(family.afi.0);
        o.put_u8(family.safi.0);
        withdrawn.iter().for_each(|n| n.encode(add_path, o));
    });
}

/// Encoded size of a next hop inside MP_REACH_NLRI, length octet included.
pub(crate) fn next_hop_encoded_len(next_hop: &NextHop) -> usize {
    1 + match next_hop {
        NextHop::V4(_) => 4,
        NextHop::V6 {
            link_local: None, ..
        } => 16,
        NextHop::V6 {
            link_local: Some(_),
            ..
        } => 32,
    }
}
