//! Reads arbitrary bytes as an MRT file (RFC 6396): every record, through both the buffer
//! reader and the streaming reader, and the path attributes of every TABLE_DUMP_V2 RIB entry
//! and TABLE_DUMP record.
//! Nothing may panic, hang or allocate beyond the input; the two readers must agree.
#![no_main]

use bgp_proto::mrt::{MrtBody, MrtHeader, MrtReader, MrtStream, TableDumpV2};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut from_buffer = Vec::new();
    for record in MrtReader::new(Bytes::copy_from_slice(data)) {
        let Ok(record) = record else {
            from_buffer.push(None);
            continue;
        };
        match &record.body {
            MrtBody::TableDumpV2(TableDumpV2::Rib(rib)) => {
                for entry in &rib.entries {
                    let _ = entry.decode_attributes(rib.family);
                }
            }
            MrtBody::TableDump(entry) => {
                let _ = entry.decode_attributes();
            }
            _ => {}
        }
        from_buffer.push(Some(record.header));
    }
    let from_stream: Vec<_> = MrtStream::new(data)
        .map(|r| r.ok().map(|record| record.header))
        .collect();
    // Both readers must find the same records: the buffer reader goes on after a record whose
    // body does not decode, and so must the stream reader.
    let ok = |v: &[Option<MrtHeader>]| v.iter().flatten().copied().collect::<Vec<_>>();
    assert_eq!(
        ok(&from_buffer),
        ok(&from_stream),
        "the two MRT readers disagree"
    );
});
