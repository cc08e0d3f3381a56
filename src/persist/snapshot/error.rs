//! [`SnapshotError`]: what went wrong, and at which byte.

use std::error::Error;
use std::fmt;
use std::io;

/// Why [`Arena::write_snapshot`](crate::Arena::write_snapshot) or
/// [`Arena::read_snapshot`](crate::Arena::read_snapshot) failed.
///
/// Every variant that concerns the input says where: `offset` is a byte offset from the
/// start of the snapshot. Reading never panics and never allocates more than a bounded
/// multiple of the bytes it has actually read, whatever the input declares.
///
/// ```
/// use epoch_arena::{Arena, SnapshotError};
///
/// let arena = Arena::new();
/// arena.insert(7u32);
/// let mut bytes = Vec::new();
/// arena.write_snapshot(&mut bytes).unwrap();
///
/// let cut = &bytes[..bytes.len() - 3];
/// assert!(matches!(Arena::<u32>::read_snapshot(cut), Err(SnapshotError::Truncated { .. })));
///
/// let mut flipped = bytes.clone();
/// let last = flipped.len() - 10;
/// flipped[last] ^= 0x10;
/// let err = Arena::<u32>::read_snapshot(&flipped[..]).unwrap_err();
/// assert!(matches!(err, SnapshotError::Checksum { .. }), "{err}");
///
/// let err = Arena::<String>::read_snapshot(&bytes[..]).unwrap_err();
/// assert!(matches!(err, SnapshotError::TypeMismatch { .. }));
/// println!("{err}"); // says which type the snapshot holds
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Reading or writing the underlying stream failed (other than by ending early, which
    /// is [`Truncated`](SnapshotError::Truncated)).
    Io {
        /// Bytes of the snapshot read or written before the failure.
        offset: u64,
        /// The I/O error.
        source: io::Error,
    },
    /// The input does not start with the snapshot magic number: it is not a snapshot.
    BadMagic {
        /// The first bytes of the input (fewer if it is shorter than the magic).
        found: Vec<u8>,
    },
    /// The snapshot's format version is not one this build reads.
    UnsupportedVersion {
        /// The version the snapshot declares.
        found: u16,
        /// The version this build writes and reads ([`SNAPSHOT_VERSION`](crate::SNAPSHOT_VERSION)).
        supported: u16,
    },
    /// The snapshot uses a feature this build does not know: flags or a value encoding
    /// reserved for later versions.
    Unsupported {
        /// Byte offset of the field.
        offset: u64,
        /// Which feature.
        what: &'static str,
        /// The value found.
        found: u64,
    },
    /// The snapshot holds values of another type.
    TypeMismatch {
        /// The value type this call reads, as `core::any::type_name` gives it.
        expected: String,
        /// The value type the snapshot was written with.
        found: String,
    },
    /// Bytes do not match their checksum: the snapshot was damaged after it was written.
    Checksum {
        /// Byte offset of the damaged part (the header, or a block of slot records).
        offset: u64,
        /// The checksum stored in the snapshot.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// The input ended before the snapshot did.
    Truncated {
        /// Where the input ended.
        offset: u64,
        /// What was being read there.
        reading: &'static str,
    },
    /// The bytes pass their checksums but describe no arena a writer could have produced:
    /// an impossible slot state, more slots than the key space, counts that disagree.
    Corrupt {
        /// Byte offset of the offending field or record.
        offset: u64,
        /// The slot concerned, if any.
        slot: Option<u32>,
        /// What is wrong.
        reason: String,
    },
    /// A value could not be encoded (writing) or decoded (reading) by the value codec.
    Value {
        /// Byte offset of the value's record (when reading; bytes written so far when
        /// writing).
        offset: u64,
        /// The slot whose value it is.
        slot: u32,
        /// The codec's error.
        source: Box<dyn Error + Send + Sync>,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Io { offset, source } => {
                write!(f, "snapshot I/O failed at byte {offset}: {source}")
            }
            SnapshotError::BadMagic { found } => write!(
                f,
                "not an epoch-arena snapshot: it starts with {found:02x?}, not the magic number"
            ),
            SnapshotError::UnsupportedVersion { found, supported } => write!(
                f,
                "snapshot format version {found} is not supported (this build reads version \
                 {supported})"
            ),
            SnapshotError::Unsupported {
                offset,
                what,
                found,
            } => write!(
                f,
                "snapshot uses an unsupported {what} ({found:#x}) at byte {offset}"
            ),
            SnapshotError::TypeMismatch { expected, found } => write!(
                f,
                "snapshot holds values of type `{found}`, not `{expected}`"
            ),
            SnapshotError::Checksum {
                offset,
                stored,
                computed,
            } => write!(
                f,
                "snapshot damaged: checksum mismatch in the bytes at {offset} (stored \
                 {stored:#010x}, computed {computed:#010x})"
            ),
            SnapshotError::Truncated { offset, reading } => write!(
                f,
                "snapshot truncated: the input ends at byte {offset}, while reading {reading}"
            ),
            SnapshotError::Corrupt {
                offset,
                slot,
                reason,
            } => match slot {
                Some(slot) => write!(
                    f,
                    "corrupt snapshot at byte {offset}, slot {slot}: {reason}"
                ),
                None => write!(f, "corrupt snapshot at byte {offset}: {reason}"),
            },
            SnapshotError::Value {
                offset,
                slot,
                source,
            } => write!(f, "value of slot {slot} at byte {offset}: {source}"),
        }
    }
}

impl Error for SnapshotError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            SnapshotError::Io { source, .. } => Some(source),
            SnapshotError::Value { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

impl From<SnapshotError> for io::Error {
    /// An [`io::Error`] of the matching kind (`InvalidData` for damaged or foreign input,
    /// `UnexpectedEof` for a truncated one), with the snapshot error as its source.
    fn from(err: SnapshotError) -> io::Error {
        let kind = match &err {
            SnapshotError::Io { source, .. } => source.kind(),
            SnapshotError::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            SnapshotError::Unsupported { .. } | SnapshotError::UnsupportedVersion { .. } => {
                io::ErrorKind::Unsupported
            }
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}
