//! OPEN message (RFC 4271 §4.2) with capabilities (RFC 5492) and extended optional parameters
//! length (RFC 9072).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::capability::{AddPathFamily, Capability};
use crate::error::OpenError;
use crate::family::Family;
use crate::reader::Reader;

/// The BGP version this speaker implements.
pub const BGP_VERSION: u8 = 4;

/// AS_TRANS (RFC 6793 §9): the 2-octet stand-in for a 4-octet AS number.
pub const AS_TRANS: u16 = 23456;

/// Optional parameter type for capabilities (RFC 5492 §4).
const PARAM_CAPABILITIES: u8 = 2;

/// RFC 9072 §2: the Non-Ext OP Type that announces extended optional parameters.
const PARAM_EXTENDED_LENGTH: u8 = 255;

/// An OPEN message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// Protocol version; 4.
    pub version: u8,
    /// My Autonomous System: the 2-octet AS, or AS_TRANS when the real one needs 4 octets.
    pub my_as: u16,
    /// Proposed hold time in seconds (0, or at least 3).
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// The capabilities, in the order received.
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// An OPEN for `asn` (AS_TRANS in the 2-octet field when it does not fit, RFC 6793 §4.1) with
    /// the 4-octet AS capability added first.
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_id: Ipv4Addr,
        mut capabilities: Vec<Capability>,
    ) -> Self {
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS);
        if !capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.insert(0, Capability::FourOctetAs(asn));
        }
        Self {
            version: BGP_VERSION,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// The sender's AS: from the 4-octet AS capability when present, otherwise My AS.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Whether the sender supports 4-octet AS numbers.
    pub fn four_octet_as(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
    }

    /// The ADD-PATH families and directions advertised (RFC 7911 §4).
    pub fn add_path_families(&self) -> Vec<AddPathFamily> {
        self.capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::AddPath(families) => Some(families.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Whether the Extended Message capability is advertised (RFC 8654 §3).
    pub fn extended_message(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::ExtendedMessage))
    }

    /// The multiprotocol families advertised; RFC 4760 §8: a speaker that advertises none
    /// supports IPv4 unicast only.
    pub fn families(&self) -> Vec<Family> {
        let families: Vec<Family> = self
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        if families.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            families
        }
    }

    /// Appends the message body (after the header). Optional parameters longer than 255 octets
    /// use the RFC 9072 extended encoding.
    pub fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_u32(u32::from(self.bgp_id));
        let mut caps = BytesMut::new();
        for cap in &self.capabilities {
            cap.encode(&mut caps);
        }
        if caps.is_empty() {
            out.put_u8(0);
        } else if caps.len() + 2 <= 255 {
            out.put_u8((caps.len() + 2) as u8);
            out.put_u8(PARAM_CAPABILITIES);
            out.put_u8(caps.len() as u8);
            out.put_slice(&caps);
        } else {
            out.put_u8(255);
            out.put_u8(PARAM_EXTENDED_LENGTH);
            out.put_u16((caps.len() + 3) as u16);
            out.put_u8(PARAM_CAPABILITIES);
            out.put_u16(caps.len() as u16);
            out.put_slice(&caps);
        }
    }

    /// Decodes an OPEN body. Only structural checks happen here; the session checks peer AS,
    /// hold time and identifier against its configuration (RFC 4271 §6.2).
    pub(crate) fn decode_body(body: Bytes) -> Result<Self, OpenError> {
        let mut r = Reader::new(body);
        let short = OpenError::Malformed("OPEN shorter than its fixed fields");
        let version = r.u8().ok_or(short.clone())?;
        if version != BGP_VERSION {
            return Err(OpenError::UnsupportedVersion(version));
        }
        let my_as = r.u16().ok_or(short.clone())?;
        let hold_time = r.u16().ok_or(short.clone())?;
        let bgp_id = Ipv4Addr::from(r.u32().ok_or(short.clone())?);
        let params_len = r.u8().ok_or(short)?;
        let extended = params_len == 255 && r.rest().first() == Some(&PARAM_EXTENDED_LENGTH);
        let params_len = if extended {
            r.u8();
            usize::from(
                r.u16()
                    .ok_or(OpenError::Malformed("extended parameters length"))?,
            )
        } else {
            usize::from(params_len)
        };
        if params_len != r.remaining() {
            return Err(OpenError::Malformed("optional parameters length"));
        }
        let mut capabilities = Vec::new();
        while !r.is_empty() {
            let param_type = r.u8().ok_or(OpenError::Malformed("optional parameter"))?;
            let len = if extended {
                r.u16()
            } else {
                r.u8().map(u16::from)
            }
            .ok_or(OpenError::Malformed("optional parameter length"))?;
            let mut param = r.sub(usize::from(len)).ok_or(OpenError::Malformed(
                "optional parameter overruns the message",
            ))?;
            if param_type != PARAM_CAPABILITIES {
                return Err(OpenError::UnsupportedOptionalParameter(param_type));
            }
            while !param.is_empty() {
                let cap_code = param.u8().ok_or(OpenError::Malformed("capability"))?;
                let cap_len = param
                    .u8()
                    .ok_or(OpenError::Malformed("capability length"))?;
                let value = param
                    .bytes(usize::from(cap_len))
                    .ok_or(OpenError::Malformed("capability overruns its parameter"))?;
                capabilities.push(Capability::decode(cap_code, value)?);
            }
        }
        Ok(Self {
            version,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        })
    }
}
