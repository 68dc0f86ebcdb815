//! Message framing and the message header (RFC 4271 §4.1), and decode/encode of whole messages.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                           Marker (16 octets of ones)          +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::context::{SessionContext, MAX_MESSAGE_LEN};
use crate::error::{DecodeError, HeaderError};
use crate::notification::Notification;
use crate::open::Open;
use crate::route_refresh::RouteRefresh;
use crate::update::Update;

/// Length of the message header.
pub const HEADER_LEN: usize = 19;

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
pub mod message_type {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
    /// ROUTE-REFRESH.
    pub const ROUTE_REFRESH: u8 = 5;
}

/// What [`frame_len`] found at the start of a receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// At least this many more bytes are needed before a message can be cut.
    NeedMore(usize),
    /// A whole message of this many bytes is at the start of the buffer.
    Complete(usize),
}

/// Looks at the start of a receive buffer: a complete message of N bytes, more bytes needed,
/// or a header error (RFC 4271 §6.1) as soon as the bytes at hand prove one.
pub fn frame_len(buf: &[u8], max_message_len: usize) -> Result<Frame, HeaderError> {
    let marker = &buf[..buf.len().min(16)];
    if marker.iter().any(|&b| b != 0xff) {
        return Err(HeaderError::ConnectionNotSynchronized);
    }
    if buf.len() < HEADER_LEN {
        return Ok(Frame::NeedMore(HEADER_LEN - buf.len()));
    }
    let len = u16::from_be_bytes([buf[16], buf[17]]);
    if usize::from(len) < HEADER_LEN || usize::from(len) > max_message_len {
        return Err(HeaderError::BadMessageLength(len));
    }
    let len = usize::from(len);
    Ok(if buf.len() >= len {
        Frame::Complete(len)
    } else {
        Frame::NeedMore(len - buf.len())
    })
}

/// A BGP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// OPEN (RFC 4271 §4.2).
    Open(Open),
    /// UPDATE (RFC 4271 §4.3).
    Update(Update),
    /// NOTIFICATION (RFC 4271 §4.5).
    Notification(Notification),
    /// KEEPALIVE (RFC 4271 §4.4).
    Keepalive,
    /// ROUTE-REFRESH (RFC 2918, RFC 7313).
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The type code.
    pub fn message_type(&self) -> u8 {
        match self {
            Message::Open(_) => message_type::OPEN,
            Message::Update(_) => message_type::UPDATE,
            Message::Notification(_) => message_type::NOTIFICATION,
            Message::Keepalive => message_type::KEEPALIVE,
            Message::RouteRefresh(_) => message_type::ROUTE_REFRESH,
        }
    }

    /// Decodes one whole message (header included), as cut by [`frame_len`]. The frame is shared,
    /// not copied: unknown attributes and capabilities point into it.
    pub fn decode(frame: Bytes, ctx: &SessionContext) -> Result<Message, DecodeError> {
        let marker = &frame[..frame.len().min(16)];
        if marker.iter().any(|&b| b != 0xff) {
            return Err(HeaderError::ConnectionNotSynchronized.into());
        }
        if frame.len() < HEADER_LEN {
            return Err(HeaderError::BadMessageLength(frame.len() as u16).into());
        }
        let len = u16::from_be_bytes([frame[16], frame[17]]);
        let ty = frame[18];
        let bad_len = HeaderError::BadMessageLength(len);
        if usize::from(len) != frame.len() {
            return Err(bad_len.into());
        }
        let len_ok = |min: usize, max: usize| {
            let l = usize::from(len);
            if l < min || l > max {
                Err(bad_len)
            } else {
                Ok(())
            }
        };
        let max = ctx.max_message_len();
        // The body shares the frame; advancing it costs no reference count traffic.
        let body = |mut frame: Bytes| {
            frame.advance(HEADER_LEN);
            frame
        };
        match ty {
            message_type::OPEN => {
                // RFC 8654 §4: OPEN is never larger than 4096.
                len_ok(29, MAX_MESSAGE_LEN)?;
                Ok(Message::Open(Open::decode_body(body(frame))?))
            }
            message_type::UPDATE => {
                len_ok(23, max)?;
                Ok(Message::Update(Update::decode_body(body(frame), ctx)?))
            }
            message_type::NOTIFICATION => {
                len_ok(21, max)?;
                Ok(Message::Notification(Notification::decode_body(body(
                    frame,
                ))))
            }
            message_type::KEEPALIVE => {
                len_ok(HEADER_LEN, HEADER_LEN)?;
                Ok(Message::Keepalive)
            }
            message_type::ROUTE_REFRESH => {
                if frame.len() != HEADER_LEN + 4 {
                    return Err(DecodeError::RouteRefreshLength {
                        length: len,
                        message: frame,
                    });
                }
                Ok(Message::RouteRefresh(RouteRefresh::decode_body(&body(
                    frame,
                ))))
            }
            other => Err(HeaderError::BadMessageType(other).into()),
        }
    }

    /// Appends the whole message (header included) to `out`.
    pub fn encode(&self, ctx: &SessionContext, out: &mut BytesMut) {
        let start = begin_message(out, self.message_type());
        match self {
            Message::Open(open) => open.encode_body(out),
            Message::Update(update) => update.encode_body(ctx, out),
            Message::Notification(n) => n.encode_body(out),
            Message::Keepalive => {}
            Message::RouteRefresh(rr) => rr.encode_body(out),
        }
        finish_message(out, start);
    }

    /// The message encoded into a fresh buffer.
    pub fn to_bytes(&self, ctx: &SessionContext) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(ctx, &mut out);
        out.freeze()
    }
}

/// Writes a header with a placeholder length; returns where the message starts.
pub(crate) fn begin_message(out: &mut BytesMut, ty: u8) -> usize {
    let start = out.len();
    out.put_bytes(0xff, 16);
    out.put_u16(0);
    out.put_u8(ty);
    start
}

/// Patches the length of the message that starts at `start`.
pub(crate) fn finish_message(out: &mut BytesMut, start: usize) {
    let len = (out.len() - start) as u16;
    out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
}
