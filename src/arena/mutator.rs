//! [`Mutator`]: a [`Handle`] whose fresh keys stay alive until its next safepoint (the
//! registry is `gc/mutators.rs`).

use super::{Arena, Handle};
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::sync::AtomicU64;
use core::fmt;
use core::ops::{Deref, DerefMut};

/// A [`Handle`] for building structure while collections run, without holding a guard
/// from each insertion to its link.
///
/// The collector's basic rule is **insert and link under one guard**: a key fresh from
/// `insert` is not a root, so a thread that unpins before storing it somewhere reachable
/// may see a collection sweep it. A parser that creates nodes long before it links them
/// (html5ever does) would have to stay pinned for the whole document, and while it does,
/// every collection waits for it and no epoch-based reclamation in the process advances.
///
/// A `Mutator` lifts the rule: every value inserted through it (or through any path, by
/// any thread) since its last [`safepoint`](Mutator::safepoint) survives every collection,
/// reachable or not. So the owner may drop its guards at any time, and only promises, when
/// it calls `safepoint`, that every key it still needs is linked (shade, then store, as
/// always) or held by a [`Root`](crate::Root). A parser feeds its input in chunks and calls
/// `safepoint` between them, when its tree is whole.
///
/// * It derefs to a [`Handle`]: `insert`, `insert_with`, `remove` and the rest are the
///   handle's, at the handle's cost. `safepoint` is one store.
/// * What it keeps: the values born since the *oldest* live mutator's last safepoint, also
///   those other threads inserted. A mutator that never reaches a safepoint keeps every
///   value born after it from being collected;
///   [`CollectStats::mutators`](crate::CollectStats::mutators) counts the mutators a
///   collection honoured.
/// * Dropping it is a last safepoint: its fresh keys are given up. (`mem::forget` keeps
///   its registration, and what it spares, for the arena's life.)
/// * The old rule still holds for every other insertion path.
///
/// The design guide's [Mutators and safepoints](crate::implementation#mutators-and-safepoints)
/// has the protocol and its argument.
///
/// ```
/// use epoch_arena::{pin, Arena, Key, Trace, Tracer};
/// use std::sync::Mutex;
///
/// struct Node(Mutex<Vec<Key>>);
/// impl Trace for Node {
///     fn trace(&self, tracer: &mut Tracer<'_>) {
///         self.0.trace(tracer);
///     }
/// }
/// let node = || Node(Mutex::new(Vec::new()));
///
/// let arena = Arena::new();
/// let doc = arena.root(arena.insert(node()));
/// let mut m = arena.mutator();
/// let child = m.insert(node()); // no guard held: `child` is fresh
/// let stray = m.insert(node());
/// arena.collect([]); // (any thread, at any time)
/// assert!(arena.contains(child) && arena.contains(stray)); // fresh: spared
///
/// let guard = pin();
/// arena.shade(child); // link `child`: shade, then store, under one guard
/// arena.get(doc.key(), &guard).unwrap().0.lock().unwrap().push(child);
/// drop(guard);
/// m.safepoint(); // everything `m` needs is linked now
///
/// arena.collect([]);
/// assert!(arena.contains(child)); // reachable
/// assert!(!arena.contains(stray)); // neither reachable nor fresh
/// ```
pub struct Mutator<'a, T: Send + Sync, K: ArenaKey = Key> {
    handle: Handle<'a, T, K>,
    cell: &'a AtomicU64,
}

impl<'a, T: Send + Sync, K: ArenaKey> Mutator<'a, T, K> {
    pub(crate) fn new(arena: &'a Arena<T, K>) -> Self {
        Mutator {
            cell: arena.inner().register_mutator(),
            handle: Handle::new(arena),
        }
    }

    /// Declares that every key this mutator inserted so far and still needs is linked into
    /// a reachable value (shade, then store) or rooted. From here on, a collection that
    /// starts may sweep the values it inserted before, unless they are reachable; those it
    /// inserts after are fresh until the next safepoint.
    ///
    /// One atomic store. Call it where the structure is whole: between the chunks of a
    /// parse, after each batch of work.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::<u32>::new();
    /// let mut m = arena.mutator();
    /// let key = m.insert(1);
    /// m.safepoint(); // `key` is not linked anywhere: it is garbage now
    /// arena.collect([]);
    /// assert!(!arena.contains(key));
    /// ```
    pub fn safepoint(&mut self) {
        self.handle.arena().inner().safepoint(self.cell);
    }

    /// The underlying handle.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::<u32>::new();
    /// let mut m = arena.mutator();
    /// let key = m.handle().insert(7);
    /// assert_eq!(m.arena().len(), 1);
    /// # let _ = key;
    /// ```
    pub fn handle(&mut self) -> &mut Handle<'a, T, K> {
        &mut self.handle
    }
}

impl<'a, T: Send + Sync, K: ArenaKey> Deref for Mutator<'a, T, K> {
    type Target = Handle<'a, T, K>;

    fn deref(&self) -> &Self::Target {
        &self.handle
    }
}

impl<T: Send + Sync, K: ArenaKey> DerefMut for Mutator<'_, T, K> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.handle
    }
}

impl<T: Send + Sync, K: ArenaKey> Drop for Mutator<'_, T, K> {
    fn drop(&mut self) {
        self.handle.arena().inner().unregister_mutator(self.cell);
    }
}

impl<T: Send + Sync, K: ArenaKey> fmt::Debug for Mutator<'_, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutator").finish_non_exhaustive()
    }
}
