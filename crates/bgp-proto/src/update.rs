//! UPDATE message (RFC 4271 §4.3) with multiprotocol NLRI (RFC 4760), ADD-PATH (RFC 7911),
//! End-of-RIB (RFC 4724 §2) and RFC 7606 revised error handling.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::attrs::{
    decode_attributes, encode_mp_reach, encode_mp_unreach, split_attribute, type_code, MpReach,
    MpUnreach, NextHop, PathAttributes,
};
use crate::context::SessionContext;
use crate::error::{Rfc7606Action, UpdateError, UpdateErrorKind};
use crate::family::{Afi, Family, Safi};
use crate::prefix::{decode_nlri, Nlri};

/// An UPDATE message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Withdrawn IPv4 unicast routes of the message body.
    pub withdrawn: Vec<Nlri>,
    /// The path attributes other than the MP ones.
    pub attributes: PathAttributes,
    /// MP_REACH_NLRI, when present and of an IP family.
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI, when present and of an IP family.
    pub mp_unreach: Option<MpUnreach>,
    /// IPv4 unicast NLRI of the message body.
    pub nlri: Vec<Nlri>,
    /// Set when RFC 7606 says to treat every announced NLRI as withdrawn; the first such error.
    pub treat_as_withdraw: Option<UpdateError>,
    /// Attributes dropped under RFC 7606 attribute-discard.
    pub discarded: Vec<UpdateError>,
}

impl Update {
    /// The End-of-RIB marker of a family (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an
    /// UPDATE with only an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib(family: Family) -> Self {
        if family == Family::IPV4_UNICAST {
            Self::default()
        } else {
            Self {
                mp_unreach: Some(MpUnreach {
                    family,
                    withdrawn: Vec::new(),
                }),
                ..Self::default()
            }
        }
    }

    /// The family of an encoded UPDATE's `body` (after the header), without decoding it: the
    /// AFI/SAFI of its first MP_REACH_NLRI or MP_UNREACH_NLRI (RFC 4760 §3, §4), else IPv4
    /// unicast (RFC 4271 §4.3); `None` when its lengths do not hold together.
    pub fn family_of_body(body: &[u8]) -> Option<Family> {
        let (_, rest) = split_u16_prefixed(body)?;
        let (mut attrs, _) = split_u16_prefixed(rest)?;
        while !attrs.is_empty() {
            let (_, code, value, rest) = split_attribute(attrs)?;
            if matches!(code, type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI) {
                let (afi, rest) = value.split_first_chunk::<2>()?;
                return Some(Family::new(
                    Afi(u16::from_be_bytes(*afi)),
                    Safi(*rest.first()?),
                ));
            }
            attrs = rest;
        }
        Some(Family::IPV4_UNICAST)
    }

    /// The family this UPDATE marks End-of-RIB for, if it is such a marker.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn.is_empty()
            || !self.nlri.is_empty()
            || self.mp_reach.is_some()
            || !self.attributes.is_empty()
        {
            return None;
        }
        match &self.mp_unreach {
            None => Some(Family::IPV4_UNICAST),
            Some(u) if u.withdrawn.is_empty() => Some(u.family),
            Some(_) => None,
        }
    }

    /// Every NLRI this UPDATE announces, with its family; none when RFC 7606 treat-as-withdraw
    /// applies.
    pub fn announced(&self) -> impl Iterator<Item = (Family, &Nlri)> + '_ {
        let live = self.treat_as_withdraw.is_none();
        let body = self.nlri.iter().map(|n| (Family::IPV4_UNICAST, n));
        let mp = self
            .mp_reach
            .iter()
            .flat_map(|r| r.nlri.iter().map(move |n| (r.family, n)));
        body.chain(mp).filter(move |_| live)
    }

    /// Every NLRI this UPDATE withdraws, with its family, including the announced ones when RFC
    /// 7606 treat-as-withdraw applies.
    pub fn withdrawals(&self) -> impl Iterator<Item = (Family, &Nlri)> + '_ {
        let body = self.withdrawn.iter().map(|n| (Family::IPV4_UNICAST, n));
        let mp = self
            .mp_unreach
            .iter()
            .flat_map(|u| u.withdrawn.iter().map(move |n| (u.family, n)));
        let demoted = self.treat_as_withdraw.is_some();
        let reach_body = self.nlri.iter().map(|n| (Family::IPV4_UNICAST, n));
        let reach_mp = self
            .mp_reach
            .iter()
            .flat_map(|r| r.nlri.iter().map(move |n| (r.family, n)));
        body.chain(mp)
            .chain(reach_body.chain(reach_mp).filter(move |_| demoted))
    }

    /// Appends the message body (after the header). The caller keeps it within the session's
    /// maximum message size; [`crate::builder::UpdatePacker`] does that for many prefixes.
    pub fn encode_body(&self, ctx: &SessionContext, out: &mut BytesMut) {
        let v4_add_path = ctx.sends_path_ids(Family::IPV4_UNICAST);
        let len_at = out.len();
        out.put_u16(0);
        self.withdrawn
            .iter()
            .for_each(|n| n.encode(v4_add_path, out));
        let withdrawn_len = out.len() - len_at - 2;
        out[len_at..len_at + 2].copy_from_slice(&(withdrawn_len as u16).to_be_bytes());

        let attrs_at = out.len();
        out.put_u16(0);
        self.attributes.encode_with(ctx, out, |o| {
            if let Some(reach) = &self.mp_reach {
                encode_mp_reach(reach, ctx, o);
            }
            if let Some(unreach) = &self.mp_unreach {
                encode_mp_unreach(unreach, ctx, o);
            }
        });
        let attrs_len = out.len() - attrs_at - 2;
        out[attrs_at..attrs_at + 2].copy_from_slice(&(attrs_len as u16).to_be_bytes());
        self.nlri.iter().for_each(|n| n.encode(v4_add_path, out));
    }

    /// Decodes an UPDATE body. `Err` means RFC 7606 session reset; the lesser errors are
    /// reported in `treat_as_withdraw` and `discarded`.
    pub(crate) fn decode_body(body: Bytes, ctx: &SessionContext) -> Result<Self, UpdateError> {
        let framing = || {
            UpdateError::new(
                UpdateErrorKind::MalformedAttributeList,
                Rfc7606Action::SessionReset,
            )
        };
        let network = || {
            UpdateError::new(
                UpdateErrorKind::InvalidNetworkField,
                Rfc7606Action::SessionReset,
            )
        };
        let v4_add_path = ctx.receives_path_ids(Family::IPV4_UNICAST);

        // Fields are parsed from borrowed slices of the body: no reference count traffic.
        let (withdrawn_field, rest) = split_u16_prefixed(&body).ok_or_else(framing)?;
        let mut withdrawn = Vec::new();
        decode_nlri(withdrawn_field, Afi::IPV4, v4_add_path, &mut withdrawn)
            .map_err(|_| network())?;

        let (attrs_block, nlri_field) = split_u16_prefixed(rest).ok_or_else(framing)?;
        let decoded = decode_attributes(&body, attrs_block, ctx)?;

        let mut nlri = Vec::new();
        decode_nlri(nlri_field, Afi::IPV4, v4_add_path, &mut nlri).map_err(|_| network())?;

        let mut update = Update {
            withdrawn,
            attributes: decoded.attributes,
            mp_reach: decoded.mp_reach,
            mp_unreach: decoded.mp_unreach,
            nlri,
            treat_as_withdraw: decoded.treat_as_withdraw,
            discarded: decoded.discarded,
        };
        update.check_mandatory();
        Ok(update)
    }

    /// RFC 4271 §6.3: a next hop that is the receiving speaker's own address is semantically
    /// incorrect, and the route is not used; no NOTIFICATION is sent and the session stays up.
    /// The codec does not know that address, the session does: it calls this with the local
    /// address of the connection. When NEXT_HOP (for the NLRI field) or the MP_REACH_NLRI next
    /// hop (global or link-local, for its NLRI) is `own`, the UPDATE is treat-as-withdraw
    /// (RFC 7606 §2), so that an earlier route of the same prefix does not linger either.
    /// Returns whether it was.
    pub fn reject_own_next_hop(&mut self, own: IpAddr) -> bool {
        if self.treat_as_withdraw.is_some() {
            return false;
        }
        let body = !self.nlri.is_empty() && self.attributes.next_hop.map(IpAddr::V4) == Some(own);
        let mp = self.mp_reach.as_ref().is_some_and(|reach| {
            !reach.nlri.is_empty()
                && match reach.next_hop {
                    NextHop::V4(address) => IpAddr::V4(address) == own,
                    NextHop::V6 { global, link_local } => {
                        IpAddr::V6(global) == own || link_local.map(IpAddr::V6) == Some(own)
                    }
                }
        });
        if body || mp {
            self.treat_as_withdraw = Some(UpdateError::new(
                UpdateErrorKind::InvalidNextHop,
                Rfc7606Action::TreatAsWithdraw,
            ));
        }
        body || mp
    }

    /// RFC 4271 §6.3 and RFC 7606 §3 d: an UPDATE that announces something must carry ORIGIN and
    /// AS_PATH, and NEXT_HOP for body NLRI; a missing one means treat-as-withdraw.
    /// LOCAL_PREF on iBGP is not demanded (the decision process defaults it, as BIRD does).
    fn check_mandatory(&mut self) {
        if self.treat_as_withdraw.is_some() || (self.nlri.is_empty() && self.mp_reach.is_none()) {
            return;
        }
        let a = &self.attributes;
        let missing = if a.origin.is_none() {
            Some(type_code::ORIGIN)
        } else if a.as_path.is_none() {
            Some(type_code::AS_PATH)
        } else if a.next_hop.is_none() && !self.nlri.is_empty() {
            Some(type_code::NEXT_HOP)
        } else {
            None
        };
        if let Some(code) = missing {
            self.treat_as_withdraw = Some(UpdateError::new(
                UpdateErrorKind::MissingWellKnownAttribute(code),
                Rfc7606Action::TreatAsWithdraw,
            ));
        }
    }
}

/// Splits a field preceded by its two-octet length off the front of `buf`: the field and the
/// rest.
fn split_u16_prefixed(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = buf.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (rest.len() >= len).then(|| rest.split_at(len))
}
