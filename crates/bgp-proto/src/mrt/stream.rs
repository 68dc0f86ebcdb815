//! Iterating over the records of an MRT buffer or stream (RFC 6396 §2).

use std::io::Read;

use bytes::Bytes;

use super::{MrtError, MrtHeader, MrtRecord, HEADER_LEN};

/// Splits one record off the front of `buf`: its header and body, or why it cannot be cut.
fn cut_record(buf: &Bytes) -> Result<(MrtHeader, Bytes), MrtError> {
    let header_bytes: &[u8; HEADER_LEN] = buf
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(MrtError::TruncatedHeader {
            available: buf.len(),
        })?;
    let header = MrtHeader::decode(header_bytes);
    let available = buf.len() - HEADER_LEN;
    let len = usize::try_from(header.length)
        .ok()
        .filter(|&l| l <= available)
        .ok_or(MrtError::LengthOverrun {
            length: header.length,
            available,
        })?;
    Ok((header, buf.slice(HEADER_LEN..HEADER_LEN + len)))
}

/// An iterator over the records of an MRT buffer (RFC 6396 §2).
///
/// A record whose body does not decode yields an `Err` and the iteration goes on with the next
/// record; a header that is cut short or a length that overruns the buffer yields an `Err` and
/// ends the iteration, since the records after it cannot be found.
/// [`MrtReader::record_offset`] says where the record last yielded, or its error, begins.
#[derive(Clone, Debug)]
pub struct MrtReader {
    buf: Bytes,
    done: bool,
    next_offset: u64,
    record_offset: u64,
}

impl MrtReader {
    /// A reader over the records in `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self {
            buf,
            done: false,
            next_offset: 0,
            record_offset: 0,
        }
    }

    /// The offset in the input of the common header (RFC 6396 §2) of the record last yielded,
    /// whether it decoded or not: where a corrupt record lies.
    pub fn record_offset(&self) -> u64 {
        self.record_offset
    }
}

impl Iterator for MrtReader {
    type Item = Result<MrtRecord, MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.buf.is_empty() {
            return None;
        }
        self.record_offset = self.next_offset;
        match cut_record(&self.buf) {
            Ok((header, body)) => {
                let consumed = HEADER_LEN + body.len();
                self.buf = self.buf.slice(consumed..);
                self.next_offset += consumed as u64;
                Some(MrtRecord::decode(header, body))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// An iterator over the records read from any [`std::io::Read`] (RFC 6396 §2), one record in
/// memory at a time. Errors behave as in [`MrtReader`]; an I/O error ends the iteration.
#[derive(Debug)]
pub struct MrtStream<R> {
    source: R,
    done: bool,
    next_offset: u64,
    record_offset: u64,
}

impl<R: Read> MrtStream<R> {
    /// A reader over the records of `source`.
    pub fn new(source: R) -> Self {
        Self {
            source,
            done: false,
            next_offset: 0,
            record_offset: 0,
        }
    }

    /// The offset in the input of the common header (RFC 6396 §2) of the record last yielded,
    /// whether it decoded or not.
    pub fn record_offset(&self) -> u64 {
        self.record_offset
    }

    fn read_record(&mut self) -> Result<Option<MrtRecord>, MrtError> {
        self.record_offset = self.next_offset;
        let mut header_bytes = [0u8; HEADER_LEN];
        let got = read_full(&mut self.source, &mut header_bytes)?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER_LEN {
            return Err(MrtError::TruncatedHeader { available: got });
        }
        let header = MrtHeader::decode(&header_bytes);
        // `take` + `read_to_end` grows the buffer with the data actually read, so a huge Length
        // in a short input allocates no more than the input holds.
        let mut body = Vec::new();
        (&mut self.source)
            .take(u64::from(header.length))
            .read_to_end(&mut body)?;
        self.next_offset += (HEADER_LEN + body.len()) as u64;
        if body.len() as u64 != u64::from(header.length) {
            return Err(MrtError::LengthOverrun {
                length: header.length,
                available: body.len(),
            });
        }
        MrtRecord::decode(header, Bytes::from(body)).map(Some)
    }
}

/// Reads until `buf` is full or the source ends; returns the octets read.
fn read_full(source: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: Read> Iterator for MrtStream<R> {
    type Item = Result<MrtRecord, MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                if !matches!(
                    e,
                    MrtError::MissingMicroseconds(_)
                        | MrtError::Truncated(_)
                        | MrtError::UnknownAfi { .. }
                        | MrtError::Prefix(_)
                        | MrtError::TableDumpPrefix(_)
                        | MrtError::TrailingOctets(_)
                ) {
                    self.done = true;
                }
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::mrt_type;
    use super::super::test_support::{peer_index_table, record};
    use super::*;

    #[test]
    fn truncated_header_ends_iteration() {
        let mut reader = MrtReader::new(Bytes::from_static(&[0, 0, 0, 1, 0, 16, 0]));
        assert!(matches!(
            reader.next(),
            Some(Err(MrtError::TruncatedHeader { available: 7 }))
        ));
        assert!(reader.next().is_none());
    }

    #[test]
    fn length_overrun_ends_iteration() {
        let mut data = record(mrt_type::BGP4MP, 0, &[1, 2, 3]);
        data[11] = 200;
        let mut reader = MrtReader::new(Bytes::from(data));
        assert!(matches!(
            reader.next(),
            Some(Err(MrtError::LengthOverrun {
                length: 200,
                available: 3
            }))
        ));
        assert!(reader.next().is_none());
    }

    #[test]
    fn stream_reads_the_same_records() {
        let mut data = record(mrt_type::TABLE_DUMP_V2, 1, &peer_index_table());
        data.extend(record(7, 7, b"raw"));
        let from_buf: Vec<_> = MrtReader::new(Bytes::from(data.clone()))
            .map(|r| r.expect("decodes").header)
            .collect();
        let from_stream: Vec<_> = MrtStream::new(data.as_slice())
            .map(|r| r.expect("decodes").header)
            .collect();
        assert_eq!(from_buf, from_stream);
        assert_eq!(from_stream.len(), 2);
    }

    #[test]
    fn stream_with_huge_length_reports_overrun() {
        let mut data = record(mrt_type::BGP4MP, 0, &[1, 2]);
        data[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut stream = MrtStream::new(data.as_slice());
        assert!(matches!(
            stream.next(),
            Some(Err(MrtError::LengthOverrun { available: 2, .. }))
        ));
        assert!(stream.next().is_none());
        let mut stream = MrtStream::new(&data[..5]);
        assert!(matches!(
            stream.next(),
            Some(Err(MrtError::TruncatedHeader { available: 5 }))
        ));
        assert!(stream.next().is_none());
    }
}
