//! The checked block stream under the slot records, and the byte-level codecs (LEB128
//! varints) the records use.
//!
//! After the header, the records are cut into blocks: `len: u32 LE` (1 to [`MAX_BLOCK`]),
//! `len` payload bytes, then `crc: u32 LE`. Each block's CRC32C covers its length field and
//! payload and is *chained*: it continues from the previous block's CRC (the first from the
//! header's), so a block dropped, repeated or moved is caught as well as a flipped bit. A
//! length of 0 marks the end block, whose payload is the fixed-size trailer; its CRC is the
//! checksum of the whole snapshot.
//!
//! The reader checks each block's CRC before it decodes a byte of it, so damage anywhere is
//! reported as [`Checksum`](SnapshotError::Checksum), not as whatever the damaged bytes
//! would decode to. Both sides hold one block at a time (the writer [`BLOCK`] bytes plus one
//! record), so memory does not grow with the snapshot.

use super::error::SnapshotError;
use std::io::{self, Read, Write};

/// The payload size the writer aims for.
pub(crate) const BLOCK: usize = 64 << 10;
/// The largest payload a block may have.
pub(crate) const MAX_BLOCK: usize = 1 << 20;
/// Bytes of the end block's trailer.
pub(crate) const TRAILER: usize = 16;

/// Appends `value` as a LEB128 varint (at most 10 bytes).
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Writes blocks of records to `out`. The records are built in a buffer the caller owns
/// (a postcard serializer's output, so values are encoded straight into it) and handed over
/// between records.
pub(crate) struct BlockWriter<W> {
    out: W,
    crc: u32,
    /// Bytes written to `out` so far.
    pub(crate) offset: u64,
}

impl<W: Write> BlockWriter<W> {
    /// A writer whose first block's CRC continues from `crc` (the header's), `offset` bytes
    /// into the snapshot.
    pub(crate) fn new(out: W, crc: u32, offset: u64) -> Self {
        BlockWriter { out, crc, offset }
    }

    /// Writes bytes that are not part of a block (the header), without a CRC.
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.out
            .write_all(bytes)
            .map_err(|source| SnapshotError::Io {
                offset: self.offset,
                source,
            })?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Emits full blocks once enough records are in `records`. Called between records, so
    /// blocks end on record boundaries (except inside a value larger than a block).
    #[inline]
    pub(crate) fn record_done(&mut self, records: &mut Vec<u8>) -> Result<(), SnapshotError> {
        if records.len() >= BLOCK {
            self.flush_records(records)?;
        }
        Ok(())
    }

    /// Emits every byte of `records` as blocks of at most [`MAX_BLOCK`] bytes, and empties it.
    fn flush_records(&mut self, records: &mut Vec<u8>) -> Result<(), SnapshotError> {
        for payload in records.chunks(MAX_BLOCK) {
            self.framed(payload.len() as u32, payload)?;
        }
        records.clear();
        Ok(())
    }

    /// A block with length field `len`: the payload's length, or 0 for the end block.
    fn framed(&mut self, len: u32, payload: &[u8]) -> Result<(), SnapshotError> {
        let len = len.to_le_bytes();
        self.crc = crc32c::crc32c_append(crc32c::crc32c_append(self.crc, &len), payload);
        let crc = self.crc.to_le_bytes();
        self.write_raw(&len)?;
        self.write_raw(payload)?;
        self.write_raw(&crc)
    }

    /// Emits the rest of `records` and the end block with `trailer`, and flushes `out`;
    /// returns the final checksum and the bytes written in all.
    pub(crate) fn finish(
        mut self,
        records: &mut Vec<u8>,
        trailer: [u8; TRAILER],
    ) -> Result<(u32, u64), SnapshotError> {
        if !records.is_empty() {
            self.flush_records(records)?;
        }
        self.framed(0, &trailer)?;
        self.out.flush().map_err(|source| SnapshotError::Io {
            offset: self.offset,
            source,
        })?;
        Ok((self.crc, self.offset))
    }
}

/// Reads a snapshot's bytes, counting them, and verifies its blocks.
pub(crate) struct BlockReader<R> {
    input: R,
    /// The current block's payload, verified.
    buf: Vec<u8>,
    pos: usize,
    /// Snapshot offset of `buf[0]`.
    buf_offset: u64,
    /// Bytes read from `input` so far.
    offset: u64,
    crc: u32,
    /// The end block's trailer, once met.
    trailer: Option<[u8; TRAILER]>,
    /// Bytes of a value that spans blocks.
    scratch: Vec<u8>,
}

impl<R: Read> BlockReader<R> {
    pub(crate) fn new(input: R) -> Self {
        BlockReader {
            input,
            buf: Vec::new(),
            pos: 0,
            buf_offset: 0,
            offset: 0,
            crc: 0,
            trailer: None,
            scratch: Vec::new(),
        }
    }

    /// Bytes read from the input so far.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The snapshot offset of the next record byte.
    pub(crate) fn record_offset(&self) -> u64 {
        self.buf_offset + self.pos as u64
    }

    /// The snapshot offset where the next record starts: loads the next block first if the
    /// current one is used up (at the end block, where the end block starts).
    pub(crate) fn next_record_offset(&mut self) -> Result<u64, SnapshotError> {
        self.available()?;
        Ok(self.record_offset())
    }

    /// Sets the CRC the first block continues from (the header's).
    pub(crate) fn chain_from(&mut self, crc: u32) {
        self.crc = crc;
    }

    /// Reads exactly `into.len()` raw bytes. The input ending first is `Truncated`.
    pub(crate) fn read_raw(
        &mut self,
        into: &mut [u8],
        reading: &'static str,
    ) -> Result<(), SnapshotError> {
        let mut filled = 0;
        while filled < into.len() {
            match self.input.read(&mut into[filled..]) {
                Ok(0) => {
                    return Err(SnapshotError::Truncated {
                        offset: self.offset + filled as u64,
                        reading,
                    })
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(SnapshotError::Io {
                        offset: self.offset + filled as u64,
                        source,
                    })
                }
            }
        }
        self.offset += filled as u64;
        Ok(())
    }

    /// Reads up to `into.len()` raw bytes, stopping early only at the end of the input;
    /// returns how many were read.
    pub(crate) fn read_some(&mut self, into: &mut [u8]) -> Result<usize, SnapshotError> {
        let mut filled = 0;
        while filled < into.len() {
            match self.input.read(&mut into[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(SnapshotError::Io {
                        offset: self.offset + filled as u64,
                        source,
                    })
                }
            }
        }
        self.offset += filled as u64;
        Ok(filled)
    }

    /// Loads and verifies the next block. Returns `false` if it is the end block (its
    /// trailer is then kept for [`trailer`](BlockReader::trailer)).
    fn next_block(&mut self) -> Result<bool, SnapshotError> {
        let start = self.offset;
        let mut len = [0; 4];
        self.read_raw(&mut len, "a block length")?;
        let n = u32::from_le_bytes(len) as usize;
        if n > MAX_BLOCK {
            return Err(SnapshotError::Corrupt {
                offset: start,
                slot: None,
                reason: format!("a block length of {n} bytes (at most {MAX_BLOCK})"),
            });
        }
        let payload_len = if n == 0 { TRAILER } else { n };
        // Grows with the bytes actually read: a declared length is never allocated up front.
        self.buf.clear();
        let got = (&mut self.input)
            .take(payload_len as u64)
            .read_to_end(&mut self.buf)
            .map_err(|source| SnapshotError::Io {
                // `read_to_end` keeps the bytes it read before the error.
                offset: self.offset + self.buf.len() as u64,
                source,
            })?;
        self.offset += got as u64;
        if got < payload_len {
            return Err(SnapshotError::Truncated {
                offset: self.offset,
                reading: "a block",
            });
        }
        let mut stored = [0; 4];
        self.read_raw(&mut stored, "a block checksum")?;
        let stored = u32::from_le_bytes(stored);
        let computed = crc32c::crc32c_append(crc32c::crc32c_append(self.crc, &len), &self.buf);
        if stored != computed {
            return Err(SnapshotError::Checksum {
                offset: start,
                stored,
                computed,
            });
        }
        self.crc = computed;
        // The end block holds no records: a record looked for there is reported where the
        // end block starts.
        self.buf_offset = if n == 0 { start } else { start + 4 };
        self.pos = 0;
        if n == 0 {
            let mut trailer = [0; TRAILER];
            trailer.copy_from_slice(&self.buf);
            self.trailer = Some(trailer);
            self.buf.clear();
            return Ok(false);
        }
        Ok(true)
    }

    /// Makes at least one record byte available, loading blocks as needed; `false` at the
    /// end block.
    #[inline]
    fn available(&mut self) -> Result<bool, SnapshotError> {
        while self.pos == self.buf.len() {
            if self.trailer.is_some() || !self.next_block()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next record byte; `None` at the end of the records.
    #[inline]
    pub(crate) fn byte(&mut self) -> Result<Option<u8>, SnapshotError> {
        if self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            self.pos += 1;
            return Ok(Some(b));
        }
        if !self.available()? {
            return Ok(None);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(Some(b))
    }

    /// The next `n` record bytes, from the current block if they lie in it, else gathered
    /// across blocks (memory grows with the bytes actually read). `None` if the records end
    /// first.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<Option<&[u8]>, SnapshotError> {
        if self.buf.len() - self.pos >= n {
            let start = self.pos;
            self.pos += n;
            return Ok(Some(&self.buf[start..start + n]));
        }
        self.scratch.clear();
        while self.scratch.len() < n {
            if !self.available()? {
                return Ok(None);
            }
            let take = (n - self.scratch.len()).min(self.buf.len() - self.pos);
            self.scratch
                .extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
        }
        Ok(Some(&self.scratch))
    }

    /// After the last record: the trailer, if the next block is the end block and no record
    /// byte is left over. `Err(offset)` of the first extra byte otherwise.
    pub(crate) fn end(&mut self) -> Result<Result<[u8; TRAILER], u64>, SnapshotError> {
        if self.available()? {
            return Ok(Err(self.record_offset()));
        }
        // `available` is false only once the end block was read, which sets the trailer.
        Ok(self.trailer.ok_or(self.record_offset()))
    }
}
