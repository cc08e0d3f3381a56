//! The checked binary snapshot: [`Arena::write_snapshot`](crate::Arena::write_snapshot)
//! and [`Arena::read_snapshot`](crate::Arena::read_snapshot).
//!
//! A snapshot is a header, the slot records in checksummed blocks, and an end block. The
//! layout, field by field, is in the design guide,
//! [The snapshot format](crate::implementation#the-snapshot-format); in short:
//!
//! * `header.rs`: magic, version, flags, value encoding, type name, key space limit,
//!   floor, slot and live counts, and a CRC32C of the header. The reader checks the magic
//!   and the version first (a later version may lay out the rest differently), then the
//!   CRC, and only then believes a field.
//! * `blocks.rs`: the records cut into blocks of at most 1 MiB, each with a CRC32C chained
//!   from the previous one, checked before a byte of the block is decoded.
//! * `write.rs` / `read.rs`: one record per slot below the high water, in index order: the
//!   slot's state as a LEB128 varint (its low two bits say live, free or retired), and for
//!   a live slot the value's encoded length and its `postcard` bytes.
//!
//! Reading builds the arena as the records arrive (`raw/persist.rs`), so neither side holds
//! more than a block and a value.

mod blocks;
mod error;
mod header;
mod read;
mod write;

pub use self::error::SnapshotError;
pub use self::header::SNAPSHOT_VERSION;

/// What [`Arena::write_snapshot`](crate::Arena::write_snapshot) wrote.
///
/// ```
/// let arena = epoch_arena::Arena::new();
/// arena.insert(1u8);
/// let info = arena.write_snapshot(std::io::sink()).unwrap();
/// assert_eq!(info.live, 1);
/// assert!(info.bytes > 40);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// Bytes written.
    pub bytes: u64,
    /// Slots described (the arena's high water when the write began).
    pub slots: u32,
    /// Live values written.
    pub live: u64,
    /// The snapshot's checksum: the CRC32C that ends it, chained over every byte before.
    pub checksum: u32,
}
