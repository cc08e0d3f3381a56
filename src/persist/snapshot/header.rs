//! The snapshot header: what a reader checks before it trusts a byte of the records.

use super::error::SnapshotError;

/// The first bytes of every snapshot (PNG-style: a non-ASCII byte, the name, and line-end
/// bytes that a text-mode transfer would mangle).
pub(crate) const MAGIC: [u8; 8] = *b"\x89EPA\r\n\x1a\n";
/// The format version this build writes, and the only one it reads.
pub const SNAPSHOT_VERSION: u16 = 1;
/// Value encoding 1: each value in the `postcard` format.
pub(crate) const ENCODING_POSTCARD: u8 = 1;
/// Bytes of the header before the type name.
pub(crate) const FIXED: usize = 36;
/// The longest value type name a header may hold.
pub(crate) const MAX_NAME: usize = 4096;

/// The header's fields (see the table in the [module docs](super)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) flags: u16,
    pub(crate) encoding: u8,
    /// Byte 13: 0.
    pub(crate) reserved: u8,
    pub(crate) max_slots: u32,
    pub(crate) floor: u32,
    pub(crate) slots: u32,
    pub(crate) live: u64,
    pub(crate) type_name: String,
}

impl Header {
    /// The header's bytes, its CRC32C last; and that CRC, which the first block continues.
    pub(crate) fn encode(&self) -> (Vec<u8>, u32) {
        // Longer names are cut (on a character boundary); the reader compares what fits.
        let name = truncate(&self.type_name, MAX_NAME);
        let mut out = Vec::with_capacity(FIXED + name.len() + 4);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.push(self.encoding);
        out.push(self.reserved);
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.max_slots.to_le_bytes());
        out.extend_from_slice(&self.floor.to_le_bytes());
        out.extend_from_slice(&self.slots.to_le_bytes());
        out.extend_from_slice(&self.live.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        (out, crc)
    }

    /// Parses the fixed part (bytes `0..FIXED`, magic and version already checked) and the
    /// name; the caller has checked the CRC.
    pub(crate) fn decode(fixed: &[u8; FIXED], name: &[u8]) -> Result<Header, SnapshotError> {
        let u16_at = |i: usize| u16::from_le_bytes([fixed[i], fixed[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let mut live = [0; 8];
        live.copy_from_slice(&fixed[28..36]);
        let type_name = String::from_utf8(name.to_vec()).map_err(|_| SnapshotError::Corrupt {
            offset: FIXED as u64,
            slot: None,
            reason: "the value type name is not UTF-8".into(),
        })?;
        Ok(Header {
            flags: u16_at(10),
            encoding: fixed[12],
            reserved: fixed[13],
            max_slots: u32_at(16),
            floor: u32_at(20),
            slots: u32_at(24),
            live: u64::from_le_bytes(live),
            type_name,
        })
    }

    /// The type name length field of a fixed part.
    pub(crate) fn name_len(fixed: &[u8; FIXED]) -> usize {
        usize::from(u16::from_le_bytes([fixed[14], fixed[15]]))
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
