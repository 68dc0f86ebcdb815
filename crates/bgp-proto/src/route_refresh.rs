//! ROUTE-REFRESH message (RFC 2918 §3) with the RFC 7313 §3.2 message subtypes.
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtype | SAFI |
//! +-------+-------+-------+-------+
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::family::{Afi, Family, Safi};

/// The subtype octet (RFC 7313 §3.2; "Reserved" in RFC 2918).
pub mod subtype {
    /// A normal route refresh request.
    pub const NORMAL: u8 = 0;
    /// Beginning of Route Refresh (BoRR).
    pub const BEGIN: u8 = 1;
    /// End of Route Refresh (EoRR).
    pub const END: u8 = 2;
}

/// A ROUTE-REFRESH message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: Family,
    /// Request, BoRR or EoRR (see [`subtype`]); other values are kept and ignored by the session
    /// (RFC 7313 §5).
    pub subtype: u8,
}

impl RouteRefresh {
    /// A plain request to re-advertise `family`.
    pub fn request(family: Family) -> Self {
        Self {
            family,
            subtype: subtype::NORMAL,
        }
    }

    /// Appends the message body.
    pub fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.family.afi.0);
        out.put_u8(self.subtype);
        out.put_u8(self.family.safi.0);
    }

    /// Decodes a body already known to be four octets.
    pub(crate) fn decode_body(body: &Bytes) -> Self {
        Self {
            family: Family::new(Afi(u16::from_be_bytes([body[0], body[1]])), Safi(body[3])),
            subtype: body[2],
        }
    }
}
