//! [`InsertError`]: why [`Arena::try_insert`](crate::Arena::try_insert) gave a value back.

use crate::sync::alloc::NoMemory;
use core::fmt;
use std::alloc::Layout;

/// Why an insertion failed, with the value it gives back ([`into_inner`](Self::into_inner)).
///
/// Returned by [`Arena::try_insert`](crate::Arena::try_insert) and
/// [`Handle::try_insert`](crate::Handle::try_insert). Either way the arena is unchanged.
///
/// ```
/// use epoch_arena::{Arena, InsertErrorKind};
///
/// let arena = Arena::builder().max_slots(1).build();
/// arena.insert("first");
/// let err = arena.try_insert("second").unwrap_err();
/// assert_eq!(err.kind(), InsertErrorKind::Full);
/// assert_eq!(err.to_string(), "the arena's key space is full");
/// assert_eq!(err.into_inner(), "second");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct InsertError<T> {
    value: T,
    why: Why,
}

/// What [`InsertError::kind`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InsertErrorKind {
    /// Every slot index below [`max_slots`](crate::Arena::max_slots) is in use: live,
    /// waiting for reclamation, retired, or cached by another thread (see
    /// [`try_insert`](crate::Arena::try_insert)). Removals make room again.
    Full,
    /// The memory for a new chunk of slots could not be allocated. The slot stays free
    /// and a later insertion tries again.
    AllocFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Full,
    AllocFailed(Layout),
}

impl<T> InsertError<T> {
    pub(crate) fn full(value: T) -> Self {
        InsertError {
            value,
            why: Why::Full,
        }
    }

    pub(crate) fn no_memory(value: T, no_memory: NoMemory) -> Self {
        let why = match no_memory {
            NoMemory::TooLarge => Why::Full,
            NoMemory::Failed(layout) => Why::AllocFailed(layout),
        };
        InsertError { value, why }
    }

    /// What went wrong.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::builder().max_slots(0).build();
    /// let err = arena.try_insert(1).unwrap_err();
    /// assert_eq!(err.kind(), epoch_arena::InsertErrorKind::Full);
    /// ```
    pub fn kind(&self) -> InsertErrorKind {
        match self.why {
            Why::Full => InsertErrorKind::Full,
            Why::AllocFailed(_) => InsertErrorKind::AllocFailed,
        }
    }

    /// The value that was not inserted.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::builder().max_slots(0).build();
    /// let value = arena.try_insert(String::from("kept")).unwrap_err().into_inner();
    /// assert_eq!(value, "kept");
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Turns a failed `insert` into its panic (a full key space) or its abort (a failed
    /// allocation, through [`handle_alloc_error`](std::alloc::handle_alloc_error), as for
    /// `Vec`).
    #[cold]
    #[inline(never)]
    #[track_caller]
    pub(crate) fn fail(self, max_slots: u32) -> ! {
        match self.why {
            Why::Full => super::panic_key_space_full(max_slots),
            Why::AllocFailed(layout) => std::alloc::handle_alloc_error(layout),
        }
    }
}

/// `InsertError { kind: Full, .. }`: the value is not printed, so `T` needs no `Debug`
/// (`unwrap` works for every `T`).
impl<T> fmt::Debug for InsertError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsertError")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for InsertError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.why {
            Why::Full => f.write_str("the arena's key space is full"),
            Why::AllocFailed(layout) => write!(
                f,
                "allocating {} bytes for a chunk of the arena's slots failed",
                layout.size()
            ),
        }
    }
}

impl<T> std::error::Error for InsertError<T> {}
