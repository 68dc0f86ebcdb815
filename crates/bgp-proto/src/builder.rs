//! Packing many prefixes into as few UPDATEs as fit the session's maximum message size
//! (RFC 4271 §4.3, RFC 8654), for one attribute set at a time.

use bytes::{BufMut, BytesMut};
use thiserror::Error;

use crate::attrs::{
    encode_mp_reach_parts, encode_mp_unreach_parts, next_hop_encoded_len, NextHop, PathAttributes,
};
use crate::context::SessionContext;
use crate::family::Family;
use crate::message::{begin_message, finish_message, message_type, HEADER_LEN};
use crate::prefix::Nlri;

/// Why UPDATEs could not be packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum PackError {
    /// The attributes alone leave no room for a single prefix.
    #[error("path attributes of {0} octets leave no room for NLRI in one message")]
    AttributesTooLarge(usize),
}

/// Fixed part of every UPDATE: header, withdrawn routes length, total path attribute length.
const UPDATE_FIXED: usize = HEADER_LEN + 2 + 2;

/// MP_REACH/MP_UNREACH value bytes before the NLRI: AFI, SAFI (and for reach the next hop and
/// the reserved octet).
const MP_FAMILY_LEN: usize = 3;

/// Attribute header size for a value of `len` octets.
fn attr_header_len(len: usize) -> usize {
    if len > 255 {
        4
    } else {
        3
    }
}

/// Encodes UPDATEs for a session, reusing one scratch buffer for the attributes.
#[derive(Debug)]
pub struct UpdatePacker {
    ctx: SessionContext,
    scratch: BytesMut,
}

impl UpdatePacker {
    /// A packer for a session with this negotiated context.
    pub fn new(ctx: SessionContext) -> Self {
        Self {
            ctx,
            scratch: BytesMut::new(),
        }
    }

    /// Appends UPDATEs announcing IPv4 unicast `nlri` in the message body, with NEXT_HOP and
    /// the other attributes from `attrs`. Returns how many messages were written.
    pub fn announce_ipv4(
        &mut self,
        attrs: &PathAttributes,
        nlri: &[Nlri],
        out: &mut BytesMut,
    ) -> Result<usize, PackError> {
        self.scratch.clear();
        attrs.encode_with(&self.ctx, &mut self.scratch, |_| {});
        let add_path = self.ctx.sends_path_ids(Family::IPV4_UNICAST);
        let max = self.ctx.max_message_len();
        let fixed = UPDATE_FIXED + self.scratch.len();
        let chunks = chunk_by_size(nlri, add_path, max.saturating_sub(fixed), |_| 0);
        if chunks.first().is_some_and(|c| c.is_empty()) {
            return Err(PackError::AttributesTooLarge(self.scratch.len()));
        }
        for chunk in &chunks {
            let start = begin_message(out, message_type::UPDATE);
            out.put_u16(0);
            out.put_u16(self.scratch.len() as u16);
            out.put_slice(&self.scratch);
            chunk.iter().for_each(|n| n.encode(add_path, out));
            finish_message(out, start);
        }
        Ok(chunks.len())
    }

    /// Appends UPDATEs announcing `nlri` of `family` through MP_REACH_NLRI with `next_hop` (RFC
    /// 4760; IPv4 with an IPv6 next hop per RFC 8950). Returns how many messages were written.
    pub fn announce_mp(
        &mut self,
        attrs: &PathAttributes,
        family: Family,
        next_hop: &NextHop,
        nlri: &[Nlri],
        out: &mut BytesMut,
    ) -> Result<usize, PackError> {
        self.scratch.clear();
        let mut split = 0;
        attrs.encode_with(&self.ctx, &mut self.scratch, |o| split = o.len());
        let add_path = self.ctx.sends_path_ids(family);
        let max = self.ctx.max_message_len();
        let value_fixed = MP_FAMILY_LEN + next_hop_encoded_len(next_hop) + 1;
        let fixed = UPDATE_FIXED + self.scratch.len() + value_fixed;
        let chunks = chunk_by_size(nlri, add_path, max.saturating_sub(fixed), |value| {
            attr_header_len(value_fixed + value)
        });
        if chunks.first().is_some_and(|c| c.is_empty()) {
            return Err(PackError::AttributesTooLarge(self.scratch.len()));
        }
        for chunk in &chunks {
            let start = begin_message(out, message_type::UPDATE);
            out.put_u16(0);
            let attrs_at = out.len();
            out.put_u16(0);
            out.put_slice(&self.scratch[..split]);
            encode_mp_reach_parts(family, next_hop, chunk, &self.ctx, out);
            out.put_slice(&self.scratch[split..]);
            let attrs_len = out.len() - attrs_at - 2;
            out[attrs_at..attrs_at + 2].copy_from_slice(&(attrs_len as u16).to_be_bytes());
            finish_message(out, start);
        }
        Ok(chunks.len())
    }

    /// Appends UPDATEs withdrawing `nlri` of `family`: in the body for IPv4 unicast, in
    /// MP_UNREACH_NLRI otherwise. Returns how many messages were written.
    pub fn withdraw(&mut self, family: Family, nlri: &[Nlri], out: &mut BytesMut) -> usize {
        let add_path = self.ctx.sends_path_ids(family);
        let max = self.ctx.max_message_len();
        if family == Family::IPV4_UNICAST {
            let chunks = chunk_by_size(nlri, add_path, max - UPDATE_FIXED, |_| 0);
            for chunk in &chunks {
                let start = begin_message(out, message_type::UPDATE);
                let len: usize = chunk.iter().map(|n| n.encoded_len(add_path)).sum();
                out.put_u16(len as u16);
                chunk.iter().for_each(|n| n.encode(add_path, out));
                out.put_u16(0);
                finish_message(out, start);
            }
            return chunks.len();
        }
        let chunks = chunk_by_size(
            nlri,
            add_path,
            max - UPDATE_FIXED - MP_FAMILY_LEN,
            |value| attr_header_len(MP_FAMILY_LEN + value),
        );
        for chunk in &chunks {
            let start = begin_message(out, message_type::UPDATE);
            out.put_u16(0);
            let attrs_at = out.len();
            out.put_u16(0);
            encode_mp_unreach_parts(family, chunk, &self.ctx, out);
            let attrs_len = out.len() - attrs_at - 2;
            out[attrs_at..attrs_at + 2].copy_from_slice(&(attrs_len as u16).to_be_bytes());
            finish_message(out, start);
        }
        chunks.len()
    }
}

/// Cuts `nlri` into runs whose encoded size plus `overhead(size)` stays within `room`. An empty
/// input gives no runs; a first run that is empty means not even one NLRI fits.
fn chunk_by_size(
    nlri: &[Nlri],
    add_path: bool,
    room: usize,
    overhead: impl Fn(usize) -> usize,
) -> Vec<&[Nlri]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, n) in nlri.iter().enumerate() {
        let len = n.encoded_len(add_path);
        if size + len + overhead(size + len) > room {
            if i == start {
                return vec![&nlri[..0]];
            }
            chunks.push(&nlri[start..i]);
            start = i;
            size = 0;
            if len + overhead(len) > room {
                return vec![&nlri[..0]];
            }
        }
        size += len;
    }
    if start < nlri.len() {
        chunks.push(&nlri[start..]);
    }
    chunks
}
