//! The Adj-RIB-In dump a collector gets when it connects (RFC 7854 §5): each Established
//! neighbour's routes from a RIB snapshot, packed into UPDATEs as that neighbour's session
//! encodes them and wrapped in Route Monitoring messages, then an End-of-RIB per family. It
//! is encoded in chunks, so that a large table is never held encoded as a whole.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgp_proto::bmp::{encode_route_monitoring, peer_flags, PeerHeader};
use bgp_proto::{Family, Message, NextHop, Nlri, Update, UpdatePacker};
use bytes::{Bytes, BytesMut};
use rib::{PeerId, RibSnapshot, RouteAttrs};
use tracing::warn;

use super::UpPeer;

/// Chunks of about this many octets are handed out.
const CHUNK: usize = 64 * 1024;

/// The paths of one neighbour, one family and one attribute set.
#[derive(Debug)]
struct Group {
    peer: PeerId,
    family: Family,
    attrs: u32,
    nlri: Vec<Nlri>,
}

/// Encodes a snapshot's paths of the neighbours in `peers`, chunk by chunk.
pub(super) struct DumpEncoder {
    peers: BTreeMap<PeerId, UpPeer>,
    attrs: Vec<std::sync::Arc<RouteAttrs>>,
    /// In reverse order of sending.
    groups: Vec<Group>,
    /// Neighbours whose End-of-RIBs are still to go, in reverse order.
    ends: Vec<PeerId>,
    seconds: u32,
    scratch: BytesMut,
}

impl DumpEncoder {
    /// The dump of `snapshot` (taken at `seconds`) for the neighbours of `peers`; paths of
    /// other neighbours (a session that is down, stale routes) are left out: they have no Peer
    /// Up.
    pub(super) fn new(
        snapshot: RibSnapshot,
        peers: BTreeMap<PeerId, UpPeer>,
        seconds: u32,
    ) -> Self {
        let RibSnapshot { mut paths, attrs } = snapshot;
        paths.retain(|p| peers.contains_key(&p.peer));
        paths.sort_unstable_by_key(|p| (p.peer, p.prefix.unicast_family(), p.attrs, p.prefix));
        let mut groups: Vec<Group> = Vec::new();
        for p in paths {
            let family = p.prefix.unicast_family();
            let add_path = peers[&p.peer].ctx.sends_path_ids(family);
            let nlri = Nlri {
                path_id: add_path.then_some(p.path_id),
                prefix: p.prefix,
            };
            match groups.last_mut() {
                Some(g) if g.peer == p.peer && g.family == family && g.attrs == p.attrs => {
                    g.nlri.push(nlri)
                }
                _ => groups.push(Group {
                    peer: p.peer,
                    family,
                    attrs: p.attrs,
                    nlri: vec![nlri],
                }),
            }
        }
        groups.reverse();
        let ends = peers.keys().rev().copied().collect();
        Self {
            peers,
            attrs,
            groups,
            ends,
            seconds,
            scratch: BytesMut::new(),
        }
    }

    fn header(&self, peer: PeerId) -> PeerHeader {
        let up = &self.peers[&peer];
        let mut header = up.header.clone();
        header.seconds = self.seconds;
        header.micros = 0;
        if !up.pre_policy {
            header.flags |= peer_flags::L;
        }
        header
    }

    /// The next chunk of Route Monitoring messages and how many it holds; `None` at the end
    /// (after the End-of-RIBs of every neighbour, in order).
    pub(super) fn next_chunk(&mut self) -> Option<(Bytes, u64)> {
        let mut out = BytesMut::new();
        let mut count = 0;
        while out.len() < CHUNK {
            if let Some(group) = self.groups.pop() {
                count += self.encode_group(&group, &mut out);
                continue;
            }
            // Every group of a neighbour comes before its End-of-RIBs (the groups are sorted
            // by neighbour, and `ends` is only reached when no group is left).
            let Some(peer) = self.ends.pop() else { break };
            let header = self.header(peer);
            let up = &self.peers[&peer];
            for family in &up.families {
                let eor = Message::Update(Update::end_of_rib(*family)).to_bytes(&up.ctx);
                encode_route_monitoring(&header, &eor, &mut out);
                count += 1;
            }
        }
        (count > 0).then(|| (out.freeze(), count))
    }

    /// Appends the Route Monitoring messages of one group; returns how many.
    fn encode_group(&mut self, group: &Group, out: &mut BytesMut) -> u64 {
        let up = &self.peers[&group.peer];
        let route = &self.attrs[group.attrs as usize];
        let mut packer = UpdatePacker::new(up.ctx);
        self.scratch.clear();
        let ipv4 = group.family == Family::IPV4_UNICAST;
        let result = match route.next_hop {
            IpAddr::V4(a) if ipv4 => {
                let mut attrs = route.attrs.clone();
                attrs.next_hop = Some(a);
                packer.announce_ipv4(&attrs, &group.nlri, &mut self.scratch)
            }
            next_hop => {
                let mp = match next_hop {
                    IpAddr::V4(a) => NextHop::V4(a),
                    IpAddr::V6(global) => NextHop::V6 {
                        global,
                        link_local: route.link_local,
                    },
                };
                let mut attrs = route.attrs.clone();
                attrs.next_hop = None;
                packer.announce_mp(&attrs, group.family, &mp, &group.nlri, &mut self.scratch)
            }
        };
        if let Err(error) = result {
            warn!(%error, "BMP dump: paths left out");
            return 0;
        }
        let header = self.header(group.peer);
        let mut count = 0;
        let mut rest = &self.scratch[..];
        // The packer wrote whole BGP messages back to back: one Route Monitoring each.
        while rest.len() >= bgp_proto::message::HEADER_LEN {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]])).min(rest.len());
            encode_route_monitoring(&header, &rest[..len], out);
            rest = &rest[len..];
            count += 1;
        }
        count
    }
}
