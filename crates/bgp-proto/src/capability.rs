//! Capabilities advertised in OPEN (RFC 5492) and the ones this speaker understands.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::OpenError;
use crate::family::{Afi, Family, Safi};
use crate::reader::Reader;

/// Capability codes (IANA "Capability Codes").
pub mod code {
    /// Multiprotocol Extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended Next Hop Encoding (RFC 8950).
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// Extended Message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// BGP Role (RFC 9234).
    pub const ROLE: u8 = 9;
    /// Graceful Restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// Support for 4-octet AS numbers (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH (RFC 7911).
    pub const ADD_PATH: u8 = 69;
    /// Enhanced Route Refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    /// Long-Lived Graceful Restart (RFC 9494).
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    /// FQDN (draft-walton-bgp-hostname-capability).
    pub const FQDN: u8 = 73;
    /// Pre-standard route refresh, still sent by some routers.
    pub const ROUTE_REFRESH_LEGACY: u8 = 128;
}

/// Per-family graceful restart state (RFC 4724 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// The family.
    pub family: Family,
    /// F bit: forwarding state for the family was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// The graceful restart capability (RFC 4724 §3, N bit from RFC 8538 §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// R bit: the sender has restarted.
    pub restart_state: bool,
    /// N bit: the sender supports graceful restart for NOTIFICATION messages (RFC 8538).
    pub notification: bool,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// The families whose routes are preserved.
    pub families: Vec<GracefulRestartFamily>,
}

/// Per-family long-lived graceful restart state (RFC 9494 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LongLivedGracefulRestartFamily {
    /// The family.
    pub family: Family,
    /// F bit: forwarding state preserved.
    pub forwarding_preserved: bool,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// ADD-PATH direction for one family (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddPathFamily {
    /// The family.
    pub family: Family,
    /// The sender can receive multiple paths.
    pub receive: bool,
    /// The sender can send multiple paths.
    pub send: bool,
}

/// One extended next hop entry (RFC 8950 §3): NLRI of this family may carry a next hop of
/// `next_hop_afi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtendedNextHopFamily {
    /// AFI of the NLRI.
    pub nlri_afi: Afi,
    /// SAFI of the NLRI (16 bits on the wire).
    pub nlri_safi: u16,
    /// AFI of the next hop.
    pub next_hop_afi: Afi,
}

/// A capability (RFC 5492 §4). Unknown ones are kept as raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol Extensions for one family (RFC 4760 §8).
    Multiprotocol(Family),
    /// Route Refresh (RFC 2918 §3).
    RouteRefresh,
    /// Pre-standard route refresh (code 128).
    RouteRefreshLegacy,
    /// Enhanced Route Refresh (RFC 7313 §3).
    EnhancedRouteRefresh,
    /// Extended Next Hop Encoding (RFC 8950 §3).
    ExtendedNextHop(Vec<ExtendedNextHopFamily>),
    /// Extended Message (RFC 8654 §3).
    ExtendedMessage,
    /// BGP Role (RFC 9234 §4.1).
    Role(u8),
    /// Graceful Restart (RFC 4724 §3).
    GracefulRestart(GracefulRestart),
    /// 4-octet AS number (RFC 6793 §3).
    FourOctetAs(u32),
    /// ADD-PATH (RFC 7911 §4).
    AddPath(Vec<AddPathFamily>),
    /// Long-Lived Graceful Restart (RFC 9494 §3).
    LongLivedGracefulRestart(Vec<LongLivedGracefulRestartFamily>),
    /// Host and domain name (draft-walton-bgp-hostname-capability).
    Fqdn {
        /// Host name, raw octets.
        hostname: Bytes,
        /// Domain name, raw octets.
        domain: Bytes,
    },
    /// A capability this codec does not interpret.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Bytes,
    },
}

fn malformed(what: &'static str) -> OpenError {
    OpenError::Malformed(what)
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::RouteRefreshLegacy => code::ROUTE_REFRESH_LEGACY,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::Role(_) => code::ROLE,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::LongLivedGracefulRestart(_) => code::LONG_LIVED_GRACEFUL_RESTART,
            Capability::Fqdn { .. } => code::FQDN,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability value of the given code.
    pub(crate) fn decode(cap_code: u8, value: Bytes) -> Result<Self, OpenError> {
        let len = value.len();
        let mut r = Reader::new(value.clone());
        let cap = match cap_code {
            code::MULTIPROTOCOL => {
                if len != 4 {
                    return Err(malformed("multiprotocol capability length"));
                }
                let afi = Afi(r.u16().ok_or(malformed("multiprotocol"))?);
                r.u8();
                let safi = Safi(r.u8().ok_or(malformed("multiprotocol"))?);
                Capability::Multiprotocol(Family::new(afi, safi))
            }
            code::ROUTE_REFRESH
            | code::ROUTE_REFRESH_LEGACY
            | code::ENHANCED_ROUTE_REFRESH
            | code::EXTENDED_MESSAGE => {
                if len != 0 {
                    return Err(malformed("capability that carries no value has a value"));
                }
                match cap_code {
                    code::ROUTE_REFRESH => Capability::RouteRefresh,
                    code::ROUTE_REFRESH_LEGACY => Capability::RouteRefreshLegacy,
                    code::ENHANCED_ROUTE_REFRESH => Capability::EnhancedRouteRefresh,
                    _ => Capability::ExtendedMessage,
                }
            }
            code::EXTENDED_NEXT_HOP => {
                if len % 6 != 0 {
                    return Err(malformed("extended next hop capability length"));
                }
                let mut entries = Vec::with_capacity(len / 6);
                while let (Some(afi), Some(safi), Some(nh)) = (r.u16(), r.u16(), r.u16()) {
                    entries.push(ExtendedNextHopFamily {
                        nlri_afi: Afi(afi),
                        nlri_safi: safi,
                        next_hop_afi: Afi(nh),
                    });
                }
                Capability::ExtendedNextHop(entries)
            }
            code::ROLE => {
                if len != 1 {
                    return Err(malformed("role capability length"));
                }
                Capability::Role(value[0])
            }
            code::GRACEFUL_RESTART => {
                if len < 2 || (len - 2) % 4 != 0 {
                    return Err(malformed("graceful restart capability length"));
                }
                let head = r.u16().ok_or(malformed("graceful restart"))?;
                let mut families = Vec::with_capacity((len - 2) / 4);
                while let (Some(afi), Some(safi), Some(flags)) = (r.u16(), r.u8(), r.u8()) {
                    families.push(GracefulRestartFamily {
                        family: Family::new(Afi(afi), Safi(safi)),
                        forwarding_preserved: flags & 0x80 != 0,
                    });
                }
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                })
            }
            code::FOUR_OCTET_AS => {
                if len != 4 {
                    return Err(malformed("4-octet AS capability length"));
                }
                Capability::FourOctetAs(r.u32().ok_or(malformed("4-octet AS"))?)
            }
            code::ADD_PATH => {
                if len % 4 != 0 {
                    return Err(malformed("ADD-PATH capability length"));
                }
                let mut families = Vec::with_capacity(len / 4);
                while let (Some(afi), Some(safi), Some(dir)) = (r.u16(), r.u8(), r.u8()) {
                    families.push(AddPathFamily {
                        family: Family::new(Afi(afi), Safi(safi)),
                        receive: dir & 1 != 0,
                        send: dir & 2 != 0,
                    });
                }
                Capability::AddPath(families)
            }
            code::LONG_LIVED_GRACEFUL_RESTART => {
                if len % 7 != 0 {
                    return Err(malformed("long-lived graceful restart capability length"));
                }
                let mut families = Vec::with_capacity(len / 7);
                while let (Some(afi), Some(safi), Some(flags), Some(hi), Some(lo)) =
                    (r.u16(), r.u8(), r.u8(), r.u8(), r.u16())
                {
                    families.push(LongLivedGracefulRestartFamily {
                        family: Family::new(Afi(afi), Safi(safi)),
                        forwarding_preserved: flags & 0x80 != 0,
                        stale_time: (u32::from(hi) << 16) | u32::from(lo),
                    });
                }
                Capability::LongLivedGracefulRestart(families)
            }
            code::FQDN => {
                let host_len = usize::from(r.u8().ok_or(malformed("FQDN capability"))?);
                let hostname = r.bytes(host_len).ok_or(malformed("FQDN host name"))?;
                let domain_len = usize::from(r.u8().ok_or(malformed("FQDN capability"))?);
                let domain = r.bytes(domain_len).ok_or(malformed("FQDN domain name"))?;
                if !r.is_empty() {
                    return Err(malformed("FQDN capability length"));
                }
                Capability::Fqdn { hostname, domain }
            }
            _ => Capability::Unknown {
                code: cap_code,
                value,
            },
        };
        Ok(cap)
    }

    /// Appends code, length and value.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.code());
        let len_at = out.len();
        out.put_u8(0);
        match self {
            Capability::Multiprotocol(family) => {
                out.put_u16(family.afi.0);
                out.put_u8(0);
                out.put_u8(family.safi.0);
            }
            Capability::RouteRefresh
            | Capability::RouteRefreshLegacy
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::ExtendedNextHop(entries) => {
                for e in entries {
                    out.put_u16(e.nlri_afi.0);
                    out.put_u16(e.nlri_safi);
                    out.put_u16(e.next_hop_afi.0);
                }
            }
            Capability::Role(role) => out.put_u8(*role),
            Capability::GracefulRestart(gr) => {
                let mut head = gr.restart_time & 0x0fff;
                if gr.restart_state {
                    head |= 0x8000;
                }
                if gr.notification {
                    head |= 0x4000;
                }
                out.put_u16(head);
                for f in &gr.families {
                    out.put_u16(f.family.afi.0);
                    out.put_u8(f.family.safi.0);
                    out.put_u8(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::AddPath(families) => {
                for f in families {
                    out.put_u16(f.family.afi.0);
                    out.put_u8(f.family.safi.0);
                    out.put_u8(u8::from(f.receive) | (u8::from(f.send) << 1));
                }
            }
            Capability::LongLivedGracefulRestart(families) => {
                for f in families {
                    out.put_u16(f.family.afi.0);
                    out.put_u8(f.family.safi.0);
                    out.put_u8(if f.forwarding_preserved { 0x80 } else { 0 });
                    out.put_u8((f.stale_time >> 16) as u8);
                    out.put_u16(f.stale_time as u16);
                }
            }
            Capability::Fqdn { hostname, domain } => {
                out.put_u8(hostname.len() as u8);
                out.put_slice(hostname);
                out.put_u8(domain.len() as u8);
                out.put_slice(domain);
            }
            Capability::Unknown { value, .. } => out.put_slice(value),
        }
        let len = out.len() - len_at - 1;
        out[len_at] = len as u8;
    }
}
