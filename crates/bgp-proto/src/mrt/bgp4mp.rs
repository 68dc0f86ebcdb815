//! BGP4MP and BGP4MP_ET records (RFC 6396 §4.4, RFC 8050 §3): the BGP messages and state
//! changes of a session as a speaker saw them.

use std::net::IpAddr;

use bytes::Bytes;

use super::{context_for, read_ip, rest, MrtError};
use crate::context::SessionContext;
use crate::error::DecodeError;
use crate::family::Afi;
use crate::message::Message;
use crate::reader::Reader;

/// BGP4MP and BGP4MP_ET subtypes (RFC 6396 §4.4, RFC 8050 §3).
pub mod bgp4mp_subtype {
    /// BGP4MP_STATE_CHANGE: 2-octet AS numbers.
    pub const STATE_CHANGE: u16 = 0;
    /// BGP4MP_MESSAGE: a received message, 2-octet AS numbers.
    pub const MESSAGE: u16 = 1;
    /// BGP4MP_MESSAGE_AS4: a received message, 4-octet AS numbers.
    pub const MESSAGE_AS4: u16 = 4;
    /// BGP4MP_STATE_CHANGE_AS4: 4-octet AS numbers.
    pub const STATE_CHANGE_AS4: u16 = 5;
    /// BGP4MP_MESSAGE_LOCAL: a sent message, 2-octet AS numbers.
    pub const MESSAGE_LOCAL: u16 = 6;
    /// BGP4MP_MESSAGE_AS4_LOCAL: a sent message, 4-octet AS numbers.
    pub const MESSAGE_AS4_LOCAL: u16 = 7;
    /// BGP4MP_MESSAGE_ADDPATH (RFC 8050 §3).
    pub const MESSAGE_ADDPATH: u16 = 8;
    /// BGP4MP_MESSAGE_AS4_ADDPATH (RFC 8050 §3).
    pub const MESSAGE_AS4_ADDPATH: u16 = 9;
    /// BGP4MP_MESSAGE_LOCAL_ADDPATH (RFC 8050 §3).
    pub const MESSAGE_LOCAL_ADDPATH: u16 = 10;
    /// BGP4MP_MESSAGE_AS4_LOCAL_ADDPATH (RFC 8050 §3).
    pub const MESSAGE_AS4_LOCAL_ADDPATH: u16 = 11;
}

/// The peer and local end of a BGP4MP record (RFC 6396 §4.4.1, §4.4.2).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer AS Number        |        Local AS Number        |   (4 octets each
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    in the AS4 subtypes)
/// |        Interface Index        |        Address Family         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                Peer IP Address (variable: 4 or 16)            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                Local IP Address (variable: 4 or 16)           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bgp4mpPeers {
    /// The peer's AS.
    pub peer_as: u32,
    /// The local AS.
    pub local_as: u32,
    /// The interface index of the session.
    pub interface_index: u16,
    /// The peer's address.
    pub peer_ip: IpAddr,
    /// The local address.
    pub local_ip: IpAddr,
}

impl Bgp4mpPeers {
    fn decode(r: &mut Reader, four_octet_as: bool) -> Result<Self, MrtError> {
        let what = "BGP4MP peer header";
        let asn = |r: &mut Reader| {
            if four_octet_as {
                r.u32()
            } else {
                r.u16().map(u32::from)
            }
            .ok_or(MrtError::Truncated(what))
        };
        let peer_as = asn(r)?;
        let local_as = asn(r)?;
        let interface_index = r.u16().ok_or(MrtError::Truncated(what))?;
        let afi = r.u16().ok_or(MrtError::Truncated(what))?;
        let peer_ip = read_ip(r, Afi(afi), what)?;
        let local_ip = read_ip(r, Afi(afi), what)?;
        Ok(Self {
            peer_as,
            local_as,
            interface_index,
            peer_ip,
            local_ip,
        })
    }
}

/// A BGP4MP or BGP4MP_ET record body (RFC 6396 §4.4, RFC 8050 §3).
#[derive(Debug)]
pub enum Bgp4mp {
    /// BGP4MP_STATE_CHANGE or BGP4MP_STATE_CHANGE_AS4 (RFC 6396 §4.4.1, §4.4.5): the session's
    /// FSM moved between the RFC 4271 §8.2.2 states (1 Idle … 6 Established).
    ///
    /// ```text
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |  peer header (see Bgp4mpPeers)                                |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |            Old State          |          New State            |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// ```
    StateChange {
        /// The two ends of the session.
        peers: Bgp4mpPeers,
        /// The state left.
        old_state: u16,
        /// The state entered.
        new_state: u16,
    },
    /// One of the BGP4MP_MESSAGE subtypes (RFC 6396 §4.4.2 to §4.4.6, RFC 8050 §3).
    Message(Box<Bgp4mpMessage>),
}

/// A BGP message recorded by a BGP4MP_MESSAGE subtype (RFC 6396 §4.4.2, §4.4.3, §4.4.6,
/// §4.4.7; RFC 8050 §3).
///
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  peer header (see Bgp4mpPeers)                                |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    BGP Message... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug)]
pub struct Bgp4mpMessage {
    /// The two ends of the session.
    pub peers: Bgp4mpPeers,
    /// AS numbers are four octets, in the record and in the message (the AS4 subtypes).
    pub four_octet_as: bool,
    /// The message was sent by the local end (the LOCAL subtypes).
    pub local: bool,
    /// NLRI carry ADD-PATH path identifiers (the RFC 8050 ADDPATH subtypes).
    pub add_path: bool,
    /// The whole BGP message as recorded, header included.
    pub raw: Bytes,
    /// The message decoded with [`Bgp4mpMessage::context`].
    pub message: Result<Message, DecodeError>,
}

impl Bgp4mpMessage {
    /// The session context the recorded message is decoded with: 4-octet AS for the AS4
    /// subtypes, ADD-PATH on receipt for every IP family for the ADDPATH subtypes, extended
    /// messages allowed, and iBGP so that no attribute is dropped.
    pub fn context(&self) -> SessionContext {
        context_for(self.four_octet_as, self.add_path)
    }
}

impl Bgp4mp {
    /// Decodes the body of subtype `subtype`; `None` for subtypes this reader does not know.
    pub(super) fn decode(subtype: u16, r: &mut Reader) -> Result<Option<Self>, MrtError> {
        use bgp4mp_subtype::*;
        let (four_octet_as, local, add_path) = match subtype {
            STATE_CHANGE | STATE_CHANGE_AS4 => {
                let peers = Bgp4mpPeers::decode(r, subtype == STATE_CHANGE_AS4)?;
                let what = "BGP4MP state change";
                let old_state = r.u16().ok_or(MrtError::Truncated(what))?;
                let new_state = r.u16().ok_or(MrtError::Truncated(what))?;
                if !r.is_empty() {
                    return Err(MrtError::TrailingOctets(what));
                }
                return Ok(Some(Bgp4mp::StateChange {
                    peers,
                    old_state,
                    new_state,
                }));
            }
            MESSAGE => (false, false, false),
            MESSAGE_AS4 => (true, false, false),
            MESSAGE_LOCAL => (false, true, false),
            MESSAGE_AS4_LOCAL => (true, true, false),
            MESSAGE_ADDPATH => (false, false, true),
            MESSAGE_AS4_ADDPATH => (true, false, true),
            MESSAGE_LOCAL_ADDPATH => (false, true, true),
            MESSAGE_AS4_LOCAL_ADDPATH => (true, true, true),
            _ => return Ok(None),
        };
        let peers = Bgp4mpPeers::decode(r, four_octet_as)?;
        let raw = rest(r);
        let message = Message::decode(raw.clone(), &context_for(four_octet_as, add_path));
        Ok(Some(Bgp4mp::Message(Box::new(Bgp4mpMessage {
            peers,
            four_octet_as,
            local,
            add_path,
            raw,
            message,
        }))))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::test_support::{only, peers, record};
    use super::super::{mrt_type, MrtBody, MrtReader};
    use super::*;
    use crate::attrs::AsPath;
    use crate::family::Family;
    use crate::prefix::{Nlri, Prefix};

    /// An UPDATE announcing 192.0.2.0/24 (with path id 7 when `add_path`), ORIGIN IGP, AS_PATH
    /// 65001 in 2- or 4-octet form, NEXT_HOP 10.0.0.1.
    fn update(as4: bool, add_path: bool) -> Vec<u8> {
        let mut attrs = vec![0x40, 1, 1, 0];
        if as4 {
            attrs.extend_from_slice(&[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9]);
        } else {
            attrs.extend_from_slice(&[0x40, 2, 4, 2, 1, 0xfd, 0xe9]);
        }
        attrs.extend_from_slice(&[0x40, 3, 4, 10, 0, 0, 1]);
        let mut nlri = Vec::new();
        if add_path {
            nlri.extend_from_slice(&7u32.to_be_bytes());
        }
        nlri.extend_from_slice(&[24, 192, 0, 2]);
        let len = 19 + 2 + 2 + attrs.len() + nlri.len();
        let mut out = vec![0xff; 16];
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push(2);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        out.extend_from_slice(&attrs);
        out.extend_from_slice(&nlri);
        out
    }

    #[test]
    fn state_change_both_widths() {
        for (subtype, as4) in [
            (bgp4mp_subtype::STATE_CHANGE, false),
            (bgp4mp_subtype::STATE_CHANGE_AS4, true),
        ] {
            let mut body = peers(as4);
            body.extend_from_slice(&[0, 5, 0, 6]);
            let rec = only(record(mrt_type::BGP4MP, subtype, &body));
            let MrtBody::Bgp4mp(Bgp4mp::StateChange {
                peers,
                old_state,
                new_state,
            }) = rec.body
            else {
                panic!("not a state change: {:?}", rec.body);
            };
            assert_eq!((old_state, new_state), (5, 6));
            assert_eq!((peers.peer_as, peers.local_as), (65001, 65002));
            assert_eq!(peers.interface_index, 3);
            assert_eq!(peers.peer_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
            assert_eq!(peers.local_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        }
    }

    #[test]
    fn every_message_subtype() {
        use bgp4mp_subtype::*;
        for (subtype, as4, local, add_path) in [
            (MESSAGE, false, false, false),
            (MESSAGE_AS4, true, false, false),
            (MESSAGE_LOCAL, false, true, false),
            (MESSAGE_AS4_LOCAL, true, true, false),
            (MESSAGE_ADDPATH, false, false, true),
            (MESSAGE_AS4_ADDPATH, true, false, true),
            (MESSAGE_LOCAL_ADDPATH, false, true, true),
            (MESSAGE_AS4_LOCAL_ADDPATH, true, true, true),
        ] {
            let mut body = peers(as4);
            body.extend(update(as4, add_path));
            let rec = only(record(mrt_type::BGP4MP, subtype, &body));
            let MrtBody::Bgp4mp(Bgp4mp::Message(msg)) = rec.body else {
                panic!("subtype {subtype}: not a message");
            };
            assert_eq!(
                (msg.four_octet_as, msg.local, msg.add_path),
                (as4, local, add_path)
            );
            assert_eq!(msg.peers.peer_as, 65001);
            let ctx = msg.context();
            assert!(ctx.ibgp);
            assert_eq!(ctx.four_octet_as, as4);
            assert_eq!(ctx.receives_path_ids(Family::IPV6_UNICAST), add_path);
            let Ok(Message::Update(u)) = &msg.message else {
                panic!("subtype {subtype}: {:?}", msg.message);
            };
            let prefix: Prefix = "192.0.2.0/24".parse().expect("prefix");
            let expected = Nlri {
                path_id: add_path.then_some(7),
                prefix,
            };
            assert_eq!(u.nlri, vec![expected], "subtype {subtype}");
            assert_eq!(u.attributes.as_path, Some(AsPath::from_sequence([65001])));
        }
    }

    #[test]
    fn extended_timestamp() {
        let mut body = 123_456u32.to_be_bytes().to_vec();
        body.extend(peers(true));
        body.extend_from_slice(&[0, 1, 0, 2]);
        let rec = only(record(
            mrt_type::BGP4MP_ET,
            bgp4mp_subtype::STATE_CHANGE_AS4,
            &body,
        ));
        assert_eq!(rec.header.microseconds, Some(123_456));
        assert!(matches!(
            rec.body,
            MrtBody::Bgp4mp(Bgp4mp::StateChange { .. })
        ));

        let mut reader = MrtReader::new(Bytes::from(record(mrt_type::BGP4MP_ET, 5, &[0, 0])));
        assert!(matches!(
            reader.next(),
            Some(Err(MrtError::MissingMicroseconds(2)))
        ));
    }

    #[test]
    fn undecodable_message_is_kept_raw() {
        let mut body = peers(true);
        body.extend_from_slice(&[0xff; 16]);
        body.extend_from_slice(&[0, 19, 9]);
        let rec = only(record(mrt_type::BGP4MP, bgp4mp_subtype::MESSAGE_AS4, &body));
        let MrtBody::Bgp4mp(Bgp4mp::Message(msg)) = rec.body else {
            panic!("not a message");
        };
        assert!(msg.message.is_err());
        assert_eq!(msg.raw.len(), 19);
    }
}
