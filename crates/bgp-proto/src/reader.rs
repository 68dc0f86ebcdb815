//! A bounds-checked cursor over a received frame.
//!
//! Every read either succeeds inside the buffer or returns `None`; nothing here can panic or read
//! past a length. The primitive reads are nom's big-endian parsers, kept private to this module so
//! that no nom type reaches a public signature.

use bytes::Bytes;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::IResult;

/// A cursor over `Bytes` that hands out zero-copy sub-slices.
#[derive(Clone, Debug)]
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

fn run<'a, T>(input: &'a [u8], parser: fn(&'a [u8]) -> IResult<&'a [u8], T>) -> Option<T> {
    parser(input).ok().map(|(_, value)| value)
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread part, without consuming it.
    pub(crate) fn rest(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let value = run(self.rest(), be_u8)?;
        self.pos += 1;
        Some(value)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        let value = run(self.rest(), be_u16)?;
        self.pos += 2;
        Some(value)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let value = run(self.rest(), be_u32)?;
        self.pos += 4;
        Some(value)
    }

    /// The next `len` bytes as a shared slice of the frame (no copy).
    pub(crate) fn bytes(&mut self, len: usize) -> Option<Bytes> {
        if len > self.remaining() {
            return None;
        }
        let out = self.buf.slice(self.pos..self.pos + len);
        self.pos += len;
        Some(out)
    }

    /// A sub-reader over the next `len` bytes.
    pub(crate) fn sub(&mut self, len: usize) -> Option<Reader> {
        self.bytes(len).map(Reader::new)
    }
}
