//! [`Root`]: a persistent root, the handle to one entry of the collector's root registry
//! (`gc/roots.rs`).

use super::Arena;
use crate::gc::Trace;
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::sync::AtomicU64;
use core::fmt;

/// A persistent root: its key, and everything reachable from it, survives every collection
/// until the `Root` is dropped.
///
/// Made by [`Arena::root`]. A `Root` borrows its arena, so it cannot outlive it. It is `Send`
/// and `Sync`: a root made on one thread may be kept, cloned or dropped on another.
///
/// ```
/// use epoch_arena::{Arena, Trace, Tracer};
///
/// struct Leaf;
/// impl Trace for Leaf {
///     fn trace(&self, _: &mut Tracer<'_>) {}
/// }
///
/// let arena = Arena::new();
/// let kept = arena.insert(Leaf);
/// let lost = arena.insert(Leaf);
/// let root = arena.root(kept);
/// arena.collect([]);
/// assert!(arena.contains(kept) && !arena.contains(lost));
/// drop(root);
/// arena.collect([]);
/// assert!(!arena.contains(kept));
/// ```
pub struct Root<'a, T: Trace + Send + Sync, K: ArenaKey = Key> {
    arena: &'a Arena<T, K>,
    cell: &'a AtomicU64,
    key: K,
}

impl<'a, T: Trace + Send + Sync, K: ArenaKey> Root<'a, T, K> {
    /// A root of `key` if its value is live (see [`Arena::try_root`]).
    pub(crate) fn try_new(arena: &'a Arena<T, K>, key: K) -> Option<Self> {
        let cell = arena.inner().try_root(key.to_key())?;
        Some(Root { arena, cell, key })
    }

    pub(crate) fn new(arena: &'a Arena<T, K>, key: K) -> Self {
        let cell = arena.inner().root(key.to_key());
        Root { arena, cell, key }
    }

    /// The rooted key.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let key = arena.insert(epoch_arena::Key::from_bits(1).unwrap());
    /// assert_eq!(arena.root(key).key(), key);
    /// ```
    pub fn key(&self) -> K {
        self.key
    }

    /// The arena this root belongs to.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let root = arena.root(arena.insert(1u8));
    /// assert!(std::ptr::eq(root.arena(), &arena));
    /// ```
    pub fn arena(&self) -> &'a Arena<T, K> {
        self.arena
    }
}

impl<T: Trace + Send + Sync, K: ArenaKey> Clone for Root<'_, T, K> {
    /// Roots the same key again; each `Root` keeps it alive until it is dropped.
    fn clone(&self) -> Self {
        Root::new(self.arena, self.key)
    }
}

impl<T: Trace + Send + Sync, K: ArenaKey> Drop for Root<'_, T, K> {
    fn drop(&mut self) {
        self.arena.inner().unroot(self.cell);
    }
}

impl<T: Trace + Send + Sync, K: ArenaKey> fmt::Debug for Root<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Root").field(&self.key).finish()
    }
}
