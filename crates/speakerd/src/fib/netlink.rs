//! The FIB's netlink sockets and messages. Route messages come from netlink-packet-route; the
//! nexthop object messages of linux/nexthop.h (`RTM_NEWNEXTHOP`, `RTM_DELNEXTHOP`,
//! `RTM_GETNEXTHOP`), which it does not have, are encoded here. Changes go to the kernel in
//! batches: many requests in one datagram, their acknowledgements collected before the next
//! batch, so that a full table costs one round trip per batch instead of one per route.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use netlink_packet_core::{
    DecodeError, NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NetlinkSerializable, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_proto::sys::{protocols::NETLINK_ROUTE, AsyncSocket, SocketAddr};
use netlink_proto::ConnectionHandle;
use thiserror::Error;
use tracing::warn;

use crate::sockopt;

const RTM_NEWNEXTHOP: u16 = 104;
const RTM_DELNEXTHOP: u16 = 105;
const RTM_GETNEXTHOP: u16 = 106;
const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
/// `struct nhmsg`: family, scope, protocol, reserved, flags.
const NHMSG_LEN: usize = 8;
/// `struct nexthop_grp`: id, weight, two reserved fields.
const GROUP_ENTRY_LEN: usize = 8;

/// The multicast group of nexthop object notifications (`RTNLGRP_NEXTHOP`).
const RTNLGRP_NEXTHOP: u32 = 32;
/// The multicast groups of route notifications (`RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE`).
const RTMGRP_ROUTES: u32 = 0x40 | 0x400;

/// The receive buffer asked for on both sockets (the kernel doubles it): room for the
/// acknowledgements of a whole batch and for the notifications of a full table's install.
const RECEIVE_BUFFER: usize = 8 << 20;
/// What one queued acknowledgement costs in the receive buffer, counted generously (the
/// kernel charges the socket buffer's true size, several hundred bytes, not the 36 bytes sent).
const ACK_COST: usize = 2048;
/// The most requests in one datagram.
const MAX_BATCH: usize = 1024;
/// How long the kernel may take to answer one batch before the FIB gives up on it.
const BATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A kernel request that failed.
#[derive(Debug, Error)]
pub enum KernelError {
    /// The kernel answered with an error.
    #[error("{}", io::Error::from_raw_os_error(*.0))]
    Refused(i32),
    /// The netlink connection is gone.
    #[error("netlink connection closed")]
    Closed,
    /// No answer within [`BATCH_TIMEOUT`].
    #[error("no answer from the kernel within {BATCH_TIMEOUT:?}")]
    Timeout,
}

impl KernelError {
    /// Whether the kernel said that what the request names does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Refused(e) if *e == libc::ESRCH || *e == libc::ENOENT)
    }
}

/// What a nexthop object forwards to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NexthopKind {
    /// A gateway reached through an interface.
    Gateway { address: IpAddr, oif: u32 },
    /// A multipath group of other objects, by id, equal weights.
    Group(Vec<u32>),
    /// Anything else (blackhole, device only, FDB), and requests that name only the id.
    Other,
}

/// A kernel nexthop object (`RTM_NEWNEXTHOP`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Nexthop {
    /// `NHA_ID`; 0 in a dump request.
    pub id: u32,
    /// `nh_protocol`: who owns it.
    pub protocol: u8,
    /// What it forwards to.
    pub kind: NexthopKind,
}

impl Nexthop {
    fn family(&self) -> u8 {
        match &self.kind {
            NexthopKind::Gateway {
                address: IpAddr::V4(_),
                ..
            } => AF_INET,
            NexthopKind::Gateway {
                address: IpAddr::V6(_),
                ..
            } => AF_INET6,
            NexthopKind::Group(_) | NexthopKind::Other => AF_UNSPEC,
        }
    }

    /// The attributes: (type, value) pairs.
    fn attributes(&self) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        if self.id != 0 {
            out.push((NHA_ID, self.id.to_ne_bytes().to_vec()));
        }
        match &self.kind {
            NexthopKind::Gateway { address, oif } => {
                out.push((NHA_OIF, oif.to_ne_bytes().to_vec()));
                let gateway = match address {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                out.push((NHA_GATEWAY, gateway));
            }
            NexthopKind::Group(members) => {
                let mut value = Vec::with_capacity(members.len() * GROUP_ENTRY_LEN);
                for id in members {
                    value.extend_from_slice(&id.to_ne_bytes());
                    // Weight 1 (stored as weight - 1) and the reserved fields.
                    value.extend_from_slice(&[0; GROUP_ENTRY_LEN - 4]);
                }
                out.push((NHA_GROUP, value));
            }
            NexthopKind::Other => {}
        }
        out
    }

    fn encoded_len(&self) -> usize {
        NHMSG_LEN
            + self
                .attributes()
                .iter()
                .map(|(_, v)| 4 + v.len().next_multiple_of(4))
                .sum::<usize>()
    }

    fn encode(&self, buffer: &mut [u8]) {
        buffer.fill(0);
        buffer[0] = self.family();
        buffer[2] = self.protocol;
        let mut at = NHMSG_LEN;
        for (kind, value) in self.attributes() {
            let len = 4 + value.len();
            buffer[at..at + 2].copy_from_slice(&(len as u16).to_ne_bytes());
            buffer[at + 2..at + 4].copy_from_slice(&kind.to_ne_bytes());
            buffer[at + 4..at + len].copy_from_slice(&value);
            at += len.next_multiple_of(4);
        }
    }

    fn decode(buffer: &[u8]) -> Result<Self, DecodeError> {
        if buffer.len() < NHMSG_LEN {
            return Err("nexthop message shorter than struct nhmsg".into());
        }
        let protocol = buffer[2];
        let (mut id, mut oif, mut gateway, mut group) = (0, None, None, None);
        let mut rest = &buffer[NHMSG_LEN..];
        while rest.len() >= 4 {
            let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
            let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
            if len < 4 || len > rest.len() {
                return Err(format!("nexthop attribute {kind} of bad length {len}").into());
            }
            let value = &rest[4..len];
            let u32_of = |v: &[u8]| {
                v.try_into()
                    .map(u32::from_ne_bytes)
                    .map_err(|_| DecodeError::from(format!("nexthop attribute {kind}: not a u32")))
            };
            match kind {
                NHA_ID => id = u32_of(value)?,
                NHA_OIF => oif = Some(u32_of(value)?),
                NHA_GATEWAY => {
                    gateway = Some(if let Ok(v4) = <[u8; 4]>::try_from(value) {
                        IpAddr::V4(Ipv4Addr::from(v4))
                    } else if let Ok(v6) = <[u8; 16]>::try_from(value) {
                        IpAddr::V6(Ipv6Addr::from(v6))
                    } else {
                        return Err(format!("nexthop gateway of {} octets", value.len()).into());
                    })
                }
                NHA_GROUP => {
                    group = Some(
                        value
                            .chunks_exact(GROUP_ENTRY_LEN)
                            .map(|entry| u32_of(&entry[..4]))
                            .collect::<Result<Vec<u32>, _>>()?,
                    )
                }
                _ => {}
            }
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
        let kind = match (gateway, oif, group) {
            (Some(address), Some(oif), _) => NexthopKind::Gateway { address, oif },
            (_, _, Some(members)) => NexthopKind::Group(members),
            _ => NexthopKind::Other,
        };
        Ok(Self { id, protocol, kind })
    }
}

/// Every message the FIB sends or receives on NETLINK_ROUTE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KernelMessage {
    /// Routes (and everything else netlink-packet-route knows).
    Route(RouteNetlinkMessage),
    /// `RTM_NEWNEXTHOP`.
    NewNexthop(Nexthop),
    /// `RTM_DELNEXTHOP`.
    DelNexthop(Nexthop),
    /// `RTM_GETNEXTHOP`.
    GetNexthop(Nexthop),
}

impl NetlinkSerializable for KernelMessage {
    fn message_type(&self) -> u16 {
        match self {
            Self::Route(m) => NetlinkSerializable::message_type(m),
            Self::NewNexthop(_) => RTM_NEWNEXTHOP,
            Self::DelNexthop(_) => RTM_DELNEXTHOP,
            Self::GetNexthop(_) => RTM_GETNEXTHOP,
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            Self::Route(m) => NetlinkSerializable::buffer_len(m),
            Self::NewNexthop(n) | Self::DelNexthop(n) | Self::GetNexthop(n) => n.encoded_len(),
        }
    }

    fn serialize(&self, buffer: &mut [u8]) {
        match self {
            Self::Route(m) => NetlinkSerializable::serialize(m, buffer),
            Self::NewNexthop(n) | Self::DelNexthop(n) | Self::GetNexthop(n) => n.encode(buffer),
        }
    }
}

impl From<KernelMessage> for NetlinkPayload<KernelMessage> {
    fn from(message: KernelMessage) -> Self {
        NetlinkPayload::InnerMessage(message)
    }
}

impl NetlinkDeserializable for KernelMessage {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        Ok(match header.message_type {
            RTM_NEWNEXTHOP => Self::NewNexthop(Nexthop::decode(payload)?),
            RTM_DELNEXTHOP => Self::DelNexthop(Nexthop::decode(payload)?),
            RTM_GETNEXTHOP => Self::GetNexthop(Nexthop::decode(payload)?),
            _ => Self::Route(RouteNetlinkMessage::deserialize(header, payload)?),
        })
    }
}

/// Kernel notifications: routes and nexthop objects.
pub(crate) type KernelEvents = UnboundedReceiver<(NetlinkMessage<KernelMessage>, SocketAddr)>;

/// Asks for a large receive buffer (beyond `rmem_max`, which needs CAP_NET_ADMIN, as installing
/// routes does); returns the size the socket ended up with.
fn enlarge_receive_buffer(socket: &netlink_sys::Socket) -> usize {
    if let Err(e) = sockopt::set_receive_buffer_force(socket, RECEIVE_BUFFER) {
        warn!(error = %e, "cannot enlarge the netlink receive buffer");
        let _ = socket.set_rx_buf_sz(RECEIVE_BUFFER);
    }
    socket.get_rx_buf_sz().unwrap_or(0)
}

/// The request socket.
#[derive(Clone)]
pub(crate) struct Kernel {
    handle: ConnectionHandle<KernelMessage>,
    /// Requests per datagram: as many as the receive buffer has room to acknowledge.
    batch: usize,
}

impl Kernel {
    /// Opens the request socket.
    pub(crate) fn open() -> io::Result<Self> {
        let (mut connection, handle, _) = netlink_proto::new_connection(NETLINK_ROUTE)?;
        // Every acknowledgement is passed on, so that each request of a batch gets its answer.
        connection.set_forward_ack(true);
        let socket = connection.socket_mut().socket_mut();
        socket.set_cap_ack(true)?;
        let batch = (enlarge_receive_buffer(socket) / ACK_COST).clamp(16, MAX_BATCH);
        tokio::spawn(connection);
        Ok(Self { handle, batch })
    }

    /// Opens a second socket subscribed to route and nexthop notifications, so that they never
    /// mix with the answers to our requests.
    pub(crate) fn events() -> io::Result<KernelEvents> {
        let (mut connection, _, events) = netlink_proto::new_connection(NETLINK_ROUTE)?;
        let socket = connection.socket_mut().socket_mut();
        socket.bind(&SocketAddr::new(0, RTMGRP_ROUTES))?;
        // Kernels without nexthop objects have no such group; route notifications still work.
        if let Err(e) = socket.add_membership(RTNLGRP_NEXTHOP) {
            warn!(error = %e, "no nexthop notifications");
        }
        enlarge_receive_buffer(socket);
        tokio::spawn(connection);
        Ok(events)
    }

    /// Sends `message` with `flags` and collects every message of the answer.
    async fn ask(
        &self,
        message: KernelMessage,
        flags: u16,
    ) -> Result<Vec<KernelMessage>, KernelError> {
        let mut request = NetlinkMessage::from(message);
        request.header.flags = NLM_F_REQUEST | flags;
        let mut answers = self
            .handle
            .request(request, SocketAddr::new(0, 0))
            .map_err(|_| KernelError::Closed)?;
        let mut out = Vec::new();
        let collect = async {
            while let Some(answer) = answers.next().await {
                match answer.payload {
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    NetlinkPayload::Error(e) => {
                        if let Some(code) = e.code {
                            return Err(KernelError::Refused(-code.get()));
                        }
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        tokio::time::timeout(BATCH_TIMEOUT, collect)
            .await
            .map_err(|_| KernelError::Timeout)??;
        Ok(out)
    }

    /// Every object or route `request` (a GET message) matches.
    pub(crate) async fn dump(
        &self,
        request: KernelMessage,
    ) -> Result<Vec<KernelMessage>, KernelError> {
        self.ask(request, NLM_F_DUMP).await
    }

    /// The answer to one GET request (e.g. the route the kernel would use to a destination).
    pub(crate) async fn get(
        &self,
        request: KernelMessage,
    ) -> Result<Vec<KernelMessage>, KernelError> {
        self.ask(request, 0).await
    }

    /// Sends `requests` (each with its `NLM_F_*` flags besides REQUEST and ACK) in order, in
    /// batches of up to `self.batch` per datagram, and returns each one's result, in order. The
    /// kernel applies the requests of a socket in the order sent, so a later request may depend
    /// on an earlier one of the same call.
    pub(crate) async fn apply(
        &self,
        requests: Vec<(KernelMessage, u16)>,
    ) -> Vec<Result<(), KernelError>> {
        let mut results = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let batch: Vec<NetlinkMessage<KernelMessage>> = requests
                .by_ref()
                .take(self.batch)
                .map(|(message, flags)| {
                    let mut m = NetlinkMessage::from(message);
                    m.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
                    m
                })
                .collect();
            results.extend(self.apply_batch(batch).await);
        }
        results
    }

    /// One datagram of requests; one result per request.
    async fn apply_batch(
        &self,
        batch: Vec<NetlinkMessage<KernelMessage>>,
    ) -> Vec<Result<(), KernelError>> {
        let count = batch.len();
        let mut results: Vec<Option<Result<(), KernelError>>> = (0..count).map(|_| None).collect();
        match self.handle.request_batch(batch, SocketAddr::new(0, 0)) {
            Err(_) => {}
            Ok(mut answers) => {
                // Sequence numbers of one batch are consecutive; the kernel answers in order.
                let mut first = None;
                let collect = async {
                    while let Some(answer) = answers.next().await {
                        let NetlinkPayload::Error(e) = answer.payload else {
                            continue;
                        };
                        let seq = answer.header.sequence_number;
                        let index = seq.wrapping_sub(*first.get_or_insert(seq)) as usize;
                        if let Some(slot) = results.get_mut(index) {
                            *slot = Some(match e.code {
                                None => Ok(()),
                                Some(code) => Err(KernelError::Refused(-code.get())),
                            });
                        }
                    }
                };
                let _ = tokio::time::timeout(BATCH_TIMEOUT, collect).await;
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(KernelError::Timeout)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nexthop_messages_round_trip() {
        for n in [
            Nexthop {
                id: 7,
                protocol: 201,
                kind: NexthopKind::Gateway {
                    address: "198.18.1.2".parse().unwrap(),
                    oif: 3,
                },
            },
            Nexthop {
                id: 9,
                protocol: 201,
                kind: NexthopKind::Gateway {
                    address: "2001:db8::2".parse().unwrap(),
                    oif: 4,
                },
            },
            Nexthop {
                id: 8,
                protocol: 201,
                kind: NexthopKind::Group(vec![7, 10, 11]),
            },
            Nexthop {
                id: 8,
                protocol: 0,
                kind: NexthopKind::Other,
            },
        ] {
            let mut buffer = vec![0xff; n.encoded_len()];
            n.encode(&mut buffer);
            assert_eq!(Nexthop::decode(&buffer).unwrap(), n);
        }
    }

    #[test]
    fn group_members_are_eight_octet_entries() {
        let n = Nexthop {
            id: 1,
            protocol: 201,
            kind: NexthopKind::Group(vec![2, 3]),
        };
        let mut buffer = vec![0; n.encoded_len()];
        n.encode(&mut buffer);
        // nhmsg, NHA_ID (8 octets), NHA_GROUP header and two entries.
        assert_eq!(buffer.len(), 8 + 8 + 4 + 16);
        assert_eq!(&buffer[16..20], &[20, 0, 2, 0]);
        assert_eq!(&buffer[20..24], &2u32.to_ne_bytes());
        assert_eq!(&buffer[28..32], &3u32.to_ne_bytes());
        assert_eq!(buffer[0], AF_UNSPEC);
    }
}
