//! [`Arena::write_snapshot`]: the header, one record per slot in blocks, the end block.

use super::blocks::{put_varint, BlockWriter, BLOCK, TRAILER};
use super::error::SnapshotError;
use super::header::{Header, ENCODING_POSTCARD};
use super::SnapshotInfo;
use crate::arena::Arena;
use crate::key_type::ArenaKey;
use crate::raw::persist::SlotImage;
use crate::raw::slot;
use serde::Serialize;
use std::io::Write;

impl<T: Serialize + Send + Sync, K: ArenaKey> Arena<T, K> {
    /// Writes a checked binary snapshot of the arena to `out`; [`read_snapshot`] loads it
    /// back with every key keeping its promise. The format is in the
    /// [design guide](crate::implementation#the-snapshot-format).
    ///
    /// It streams: besides one block of records (64 KiB) and one value's encoding, it holds
    /// nothing, however large the arena. `out` is written in block-sized pieces, so wrapping
    /// it in a `BufWriter` gains little.
    ///
    /// # While other threads work
    ///
    /// It takes `&self` and may run while other threads insert, remove, collect and trim.
    /// It reads each slot once, in index order, as [`iter`](Arena::iter) does: a value is
    /// written with the key that names it, and a key written as dead is dead. A value
    /// inserted or removed while the write runs may or may not be in the snapshot, and the
    /// header's live count (the [`len`](Arena::len) when the write began) may then differ
    /// from the values written (the returned [`SnapshotInfo::live`] and the trailer count
    /// those exactly). Keys issued after the write began are not covered: the loaded arena
    /// may issue them again, as any arena loaded from an older snapshot may. On an arena
    /// nobody else uses meanwhile the snapshot is exact.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::Io`] if writing fails, [`SnapshotError::Value`] if a value cannot be
    /// encoded (a map or sequence of unknown length, or a value's `Serialize` failing). The
    /// bytes written so far are then not a valid snapshot.
    ///
    /// ```
    /// use epoch_arena::Arena;
    ///
    /// let arena = Arena::new();
    /// let a = arena.insert("a".to_string());
    /// let b = arena.insert("b".to_string());
    /// assert!(arena.remove(a));
    ///
    /// let mut file = Vec::new(); // or a std::fs::File
    /// let info = arena.write_snapshot(&mut file).unwrap();
    /// assert_eq!((info.slots, info.live, info.bytes), (2, 1, file.len() as u64));
    ///
    /// let loaded = Arena::<String>::read_snapshot(&file[..]).unwrap();
    /// let guard = epoch_arena::pin();
    /// assert_eq!(loaded.get(b, &guard).map(String::as_str), Some("b"));
    /// assert_eq!(loaded.get(a, &guard), None); // dead before, dead after
    /// let c = loaded.insert("c".to_string());
    /// assert_ne!(c, a); // ... even after the slot is reused
    /// ```
    ///
    /// [`read_snapshot`]: Arena::read_snapshot
    pub fn write_snapshot(&self, out: impl Write) -> Result<SnapshotInfo, SnapshotError> {
        let head = self.image_head();
        let header = Header {
            flags: 0,
            encoding: ENCODING_POSTCARD,
            reserved: 0,
            max_slots: head.max_slots,
            floor: head.floor,
            slots: head.slots,
            live: self.len() as u64,
            type_name: core::any::type_name::<T>().to_owned(),
        };
        let (bytes, crc) = header.encode();
        let mut w = BlockWriter::new(out, crc, 0);
        w.write_raw(&bytes)?;
        let mut live = 0u64;
        // One postcard serializer for every value, writing into the block buffer.
        let mut ser = postcard::Serializer {
            output: Records(Vec::with_capacity(BLOCK + 1024)),
        };
        let mut len_bytes = Vec::new();
        self.walk_image(head.slots, |index, image| {
            let records = &mut ser.output.0;
            match image {
                SlotImage::Live(generation, value) => {
                    put_varint(records, u64::from(generation));
                    // The value goes straight into the buffer behind a one-byte length (right
                    // for encodings up to 127 bytes), widened afterwards if it is longer.
                    let at = records.len();
                    records.push(0);
                    value
                        .serialize(&mut ser)
                        .map_err(|source| SnapshotError::Value {
                            offset: w.offset + at as u64,
                            slot: index,
                            source: Box::new(source),
                        })?;
                    let records = &mut ser.output.0;
                    let len = records.len() - at - 1;
                    if len < 0x80 {
                        records[at] = len as u8;
                    } else {
                        len_bytes.clear();
                        put_varint(&mut len_bytes, len as u64);
                        records.splice(at..at + 1, len_bytes.iter().copied());
                    }
                    live += 1;
                }
                SlotImage::Free(state) => put_varint(records, u64::from(state)),
                SlotImage::Retired => put_varint(records, u64::from(slot::RETIRED)),
            }
            w.record_done(&mut ser.output.0)
        })?;
        let mut trailer = [0; TRAILER];
        trailer[..8].copy_from_slice(&live.to_le_bytes());
        trailer[8..12].copy_from_slice(&head.slots.to_le_bytes());
        let (checksum, bytes) = w.finish(&mut ser.output.0, trailer)?;
        Ok(SnapshotInfo {
            bytes,
            slots: head.slots,
            live,
            checksum,
        })
    }
}

/// The postcard flavor the values are encoded with: appends to the block buffer.
struct Records(Vec<u8>);

impl postcard::ser_flavors::Flavor for Records {
    type Output = ();

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        // Mostly a varint of a few bytes: copied inline, not by a call to `memcpy` each (a
        // `TrustedLen` iterator, which `Vec` writes in a loop).
        self.0.extend(bytes.iter().copied());
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}
