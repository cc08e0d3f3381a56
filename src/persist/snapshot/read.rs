//! [`Arena::read_snapshot`]: checks the header, then decodes verified blocks of records
//! straight into a new arena.

use super::blocks::{BlockReader, TRAILER};
use super::error::SnapshotError;
use super::header::{Header, ENCODING_POSTCARD, FIXED, MAGIC, MAX_NAME, SNAPSHOT_VERSION};
use crate::arena::{Arena, Builder};
use crate::key_type::ArenaKey;
use crate::raw::persist::Restorer;
use crate::raw::slot;
use serde::de::DeserializeOwned;
use std::io::Read;

impl<T: DeserializeOwned + Send + Sync, K: ArenaKey> Arena<T, K> {
    /// Loads an arena from a snapshot made by [`write_snapshot`](Arena::write_snapshot).
    ///
    /// Every key that was live in the written arena finds the same value; every key that was
    /// dead stays dead, also after the loaded arena reuses its slot. The key space limit and
    /// the generation floor come back too; the arena gets the default
    /// [`Pacing`](crate::Pacing).
    ///
    /// It streams and checks as it goes: each block's checksum is verified before any of its
    /// bytes is decoded, and memory grows with the bytes actually read (one block, one
    /// value, and the arena itself), never with a length the input declares. It reads
    /// exactly the snapshot's bytes, so `input` may go on with other data.
    ///
    /// # Errors
    ///
    /// Never a panic, whatever the bytes: each kind of bad input has its own
    /// [`SnapshotError`] variant, with the byte offset where it was found. Not a snapshot
    /// ([`BadMagic`](SnapshotError::BadMagic)); a later format version
    /// ([`UnsupportedVersion`](SnapshotError::UnsupportedVersion)); another value type
    /// ([`TypeMismatch`](SnapshotError::TypeMismatch), by the type's
    /// `core::any::type_name`, so renaming or moving the type makes old snapshots
    /// unreadable); damaged bytes ([`Checksum`](SnapshotError::Checksum)); cut short
    /// ([`Truncated`](SnapshotError::Truncated)); well-formed but impossible
    /// ([`Corrupt`](SnapshotError::Corrupt)); a value the codec rejects
    /// ([`Value`](SnapshotError::Value)); the input failing
    /// ([`Io`](SnapshotError::Io)).
    ///
    /// ```
    /// use epoch_arena::{Arena, SnapshotError};
    ///
    /// let arena = Arena::builder().max_slots(100).build();
    /// let keys: Vec<_> = (0..10u64).map(|i| arena.insert(i * i)).collect();
    /// let mut bytes = Vec::new();
    /// arena.write_snapshot(&mut bytes).unwrap();
    ///
    /// let loaded: Arena<u64> = Arena::read_snapshot(bytes.as_slice()).unwrap();
    /// assert_eq!(loaded.len(), 10);
    /// assert_eq!(loaded.max_slots(), 100);
    /// let guard = epoch_arena::pin();
    /// assert_eq!(loaded.get(keys[3], &guard), Some(&9));
    ///
    /// let err = Arena::<u64>::read_snapshot(&b"GIF89a.."[..]).unwrap_err();
    /// assert!(matches!(err, SnapshotError::BadMagic { .. }));
    /// ```
    pub fn read_snapshot(input: impl Read) -> Result<Arena<T, K>, SnapshotError> {
        let mut r = BlockReader::new(input);
        let header = read_header::<T, _>(&mut r)?;
        let corrupt = |offset: u64, slot: Option<u32>, reason: String| SnapshotError::Corrupt {
            offset,
            slot,
            reason,
        };
        let arena: Arena<T, K> = Builder::new().max_slots(header.max_slots).build();
        let mut restorer = Restorer::new(arena.inner(), header.floor)
            .map_err(|why| corrupt(20, None, why.into()))?;
        for index in 0..header.slots {
            let at = r.next_record_offset()?;
            let state = read_varint(&mut r, at, index, header.slots)?;
            let state = u32::try_from(state).map_err(|_| {
                corrupt(at, Some(index), format!("slot state {state} is not a u32"))
            })?;
            let restored = if slot::is_occupied(state) {
                let len = read_varint(&mut r, at, index, header.slots)?;
                let bytes = usize::try_from(len)
                    .ok()
                    .map(|len| r.bytes(len))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| {
                        corrupt(
                            at,
                            Some(index),
                            format!("a value of {len} bytes runs past the records"),
                        )
                    })?;
                let value = match postcard::take_from_bytes::<T>(bytes) {
                    Ok((value, [])) => value,
                    Ok((_, rest)) => {
                        return Err(SnapshotError::Value {
                            offset: at,
                            slot: index,
                            source: format!(
                                "{} of the value's {len} bytes are left over after decoding it",
                                rest.len()
                            )
                            .into(),
                        })
                    }
                    Err(source) => {
                        return Err(SnapshotError::Value {
                            offset: at,
                            slot: index,
                            source: Box::new(source),
                        })
                    }
                };
                restorer.live_slot(state, value)
            } else if state == slot::RETIRED {
                restorer.retired_slot()
            } else if slot::is_free(state) {
                restorer.free_slot(state)
            } else {
                Err("a slot state that is neither live, free nor retired")
            };
            restored.map_err(|why| corrupt(at, Some(index), format!("state {state}: {why}")))?;
        }
        let trailer = r
            .end()?
            .map_err(|offset| corrupt(offset, None, "bytes after the last slot record".into()))?;
        let live = u64::from_le_bytes(trailer[..8].try_into().unwrap_or_default());
        let slots = u32::from_le_bytes(trailer[8..12].try_into().unwrap_or_default());
        let end = r.offset() - TRAILER as u64 - 4;
        if slots != header.slots || live != restorer.live() || trailer[12..] != [0; 4] {
            return Err(corrupt(
                end,
                None,
                format!(
                    "the trailer counts {slots} slots and {live} live values; the records \
                     hold {} and {}",
                    header.slots,
                    restorer.live()
                ),
            ));
        }
        restorer.finish();
        Ok(arena)
    }
}

/// Reads and checks the header: magic, version, checksum, then the fields.
fn read_header<T, R: Read>(r: &mut BlockReader<R>) -> Result<Header, SnapshotError> {
    let mut fixed = [0u8; FIXED];
    let got = r.read_some(&mut fixed[..MAGIC.len()])?;
    if fixed[..got] != MAGIC[..got] {
        return Err(SnapshotError::BadMagic {
            found: fixed[..got].to_vec(),
        });
    }
    if got < MAGIC.len() {
        return Err(SnapshotError::Truncated {
            offset: got as u64,
            reading: "the magic number",
        });
    }
    r.read_raw(&mut fixed[8..10], "the format version")?;
    let version = u16::from_le_bytes([fixed[8], fixed[9]]);
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::UnsupportedVersion {
            found: version,
            supported: SNAPSHOT_VERSION,
        });
    }
    r.read_raw(&mut fixed[10..], "the header")?;
    let name_len = Header::name_len(&fixed);
    if name_len > MAX_NAME {
        return Err(SnapshotError::Corrupt {
            offset: 14,
            slot: None,
            reason: format!("a value type name of {name_len} bytes (at most {MAX_NAME})"),
        });
    }
    let mut name = vec![0; name_len];
    r.read_raw(&mut name, "the value type name")?;
    let mut stored = [0; 4];
    r.read_raw(&mut stored, "the header checksum")?;
    let stored = u32::from_le_bytes(stored);
    let computed = crc32c::crc32c_append(crc32c::crc32c(&fixed), &name);
    if stored != computed {
        return Err(SnapshotError::Checksum {
            offset: 0,
            stored,
            computed,
        });
    }
    r.chain_from(computed);
    let header = Header::decode(&fixed, &name)?;
    let unsupported = |offset, what, found| SnapshotError::Unsupported {
        offset,
        what,
        found,
    };
    if header.flags != 0 {
        return Err(unsupported(10, "set of flags", u64::from(header.flags)));
    }
    if header.encoding != ENCODING_POSTCARD {
        return Err(unsupported(
            12,
            "value encoding",
            u64::from(header.encoding),
        ));
    }
    if header.reserved != 0 {
        return Err(unsupported(
            13,
            "reserved header byte",
            u64::from(header.reserved),
        ));
    }
    let expected = super::header::truncate(core::any::type_name::<T>(), MAX_NAME);
    if header.type_name != expected {
        return Err(SnapshotError::TypeMismatch {
            expected: expected.to_owned(),
            found: header.type_name,
        });
    }
    if u64::from(header.slots) > u64::from(header.max_slots) {
        return Err(SnapshotError::Corrupt {
            offset: 24,
            slot: None,
            reason: format!(
                "{} slots, more than the key space limit of {}",
                header.slots, header.max_slots
            ),
        });
    }
    Ok(header)
}

/// A LEB128 varint of at most 64 bits from the records, for slot `index` whose record starts
/// at `at`.
fn read_varint<R: Read>(
    r: &mut BlockReader<R>,
    at: u64,
    index: u32,
    slots: u32,
) -> Result<u64, SnapshotError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(byte) = r.byte()? else {
            return Err(SnapshotError::Corrupt {
                offset: at,
                slot: Some(index),
                reason: format!(
                    "the records end at slot {index}; the header declares {slots} slots"
                ),
            });
        };
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            if shift == 63 && byte > 1 {
                break;
            }
            return Ok(value);
        }
    }
    Err(SnapshotError::Corrupt {
        offset: at,
        slot: Some(index),
        reason: "a varint longer than 64 bits".into(),
    })
}
