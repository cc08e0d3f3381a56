//! The contenders the arena bench compares: epoch-arena and the containers a user would pick
//! instead, behind one set of traits, so each workload's timing loop is written once and run
//! for every contender (`benches/arena.rs`). Enabled by the `contenders` feature, which
//! brings in the peer crates.
//!
//! A contender is a marker type naming a container and the calls a workload makes on it.
//! What a contender can do is split by capability, so a workload asks only for what it
//! uses and the compiler rejects a pairing that cannot work:
//!
//! * [`Contender`]: the container, its key, and filling it before the clock starts.
//! * [`Insert`]: a fresh container, a thread's writer into it, one insertion.
//! * [`Remove`]: one removal of a live key, and a replacement (remove + insert).
//! * [`Get`]: a reader (what protects reads: an epoch guard, a lock) and one lookup.
//!
//! The calls each contender makes (each crate's default API, as a user would write it):
//!
//! | contender | insert | remove | reader | get |
//! |---|---|---|---|---|
//! | [`EpochArena`] | `arena.insert` | `arena.remove` | `pin()` | `arena.get` |
//! | [`EpochArenaHandle`] | `handle.insert` | `handle.remove` | `pin()` | `arena.get` |
//! | [`ShardedSlab`] | `insert` | `remove` | – | `get` (a reference each) |
//! | [`ConcurrentSlotMap`] | `insert` (own pin) | `remove` (own pin) | `pin()` | `get` |
//! | [`MutexSlotMap`] | `lock().insert` | `lock().remove` | `lock()` | `get` |
//! | [`RwLockSlotMap`] | `write().insert` | `write().remove` | `read()` | `get` |
//! | [`Boxcar`] | `push` | – | – | – |
//! | [`Bumpalo`] | `alloc` | – | – | – |
//! | [`VecIndex`] | – (`collect`) | – | – | `vec[i]` |
//!
//! The locks are parking_lot's, as a user would write them.
//!
//! A replacement ([`Remove::replace`]) takes one pin (concurrent-slotmap) or one lock (the
//! slotmaps) for both halves; the others remove, then insert. [`EpochArenaHandle`] writes
//! through one [`Handle`] per writer (per thread).
//!
//! Every method on a workload's hot path is `#[inline(always)]`: a generic loop over a
//! contender compiles to the loop one would write by hand for that crate.
//!
//! ```
//! use testkit::contender::{Contender, Get, Insert, MutexSlotMap, Remove};
//!
//! /// Inserts, reads back and removes, for any contender that can.
//! fn round_trip<C: Remove<u64> + Get<u64>>() {
//!     let (container, keys) = C::fill(0..10u64);
//!     let reader = C::reader(&container);
//!     assert_eq!(C::get(&reader, keys[3], |v| *v), 3);
//!     drop(reader);
//!     let mut writer = C::writer(&container);
//!     let key = C::replace(&mut writer, keys[3], 30);
//!     C::remove(&mut writer, key);
//! }
//!
//! round_trip::<MutexSlotMap>();
//! ```
//!
//! [`Handle`]: epoch_arena::Handle

use epoch_arena::{pin, Arena, Guard, Handle, Key};
use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard};

/// A container under test: what it is, what its keys are, and how it is filled.
pub trait Contender<T> {
    /// The container the workload builds (and shares between its threads).
    type Container;
    /// What an insertion returns and a lookup takes.
    type Key: Copy;

    /// A container holding `values`, and the key of each, in order. Setup: not timed.
    fn fill(values: impl IntoIterator<Item = T>) -> (Self::Container, Vec<Self::Key>);
}

/// A contender that takes values through a shared reference, from any number of threads.
pub trait Insert<T>: Contender<T> {
    /// One thread's way in: the container itself, or a per-thread handle.
    type Writer<'a>
    where
        T: 'a;

    /// An empty container.
    fn new() -> Self::Container;

    /// A writer into `container` for the calling thread.
    fn writer(container: &Self::Container) -> Self::Writer<'_>;

    /// Inserts `value`.
    fn insert(writer: &mut Self::Writer<'_>, value: T) -> Self::Key;
}

/// A contender whose values can be removed by key.
pub trait Remove<T>: Insert<T> {
    /// Removes the value under `key`, which must be live: panics if it is not.
    fn remove(writer: &mut Self::Writer<'_>, key: Self::Key);

    /// Removes the value under `old` (which must be live) and inserts `value` in its place.
    /// Overridden by the contenders that do both under one guard or lock.
    #[inline(always)]
    fn replace(writer: &mut Self::Writer<'_>, old: Self::Key, value: T) -> Self::Key {
        Self::remove(writer, old);
        Self::insert(writer, value)
    }
}

/// A contender whose values can be looked up by key.
pub trait Get<T>: Contender<T> {
    /// What protects reads while it lives: an epoch guard, a lock guard, or nothing more
    /// than the container (then every [`get`](Get::get) protects itself).
    type Reader<'a>
    where
        T: 'a;

    /// Starts reading `container`: pins, or takes the lock.
    fn reader(container: &Self::Container) -> Self::Reader<'_>;

    /// Calls `f` on the value under `key`, which must be live: panics if it is not.
    fn get<R>(reader: &Self::Reader<'_>, key: Self::Key, f: impl FnOnce(&T) -> R) -> R;
}

/// Fills a container through one writer, one [`Insert::insert`] per value.
fn fill_by_insert<T, C: Insert<T>>(
    values: impl IntoIterator<Item = T>,
) -> (C::Container, Vec<C::Key>) {
    let container = C::new();
    let mut writer = C::writer(&container);
    let keys = values
        .into_iter()
        .map(|v| C::insert(&mut writer, v))
        .collect();
    drop(writer);
    (container, keys)
}

// ---------------------------------------------------------------------------------------
// epoch-arena

/// [`Arena`] through its own methods (`insert`, `remove`, `get` under [`pin`]).
#[derive(Debug)]
pub enum EpochArena {}

impl<T: Send + Sync> Contender<T> for EpochArena {
    type Container = Arena<T>;
    type Key = Key;

    fn fill(values: impl IntoIterator<Item = T>) -> (Arena<T>, Vec<Key>) {
        fill_by_insert::<T, Self>(values)
    }
}

impl<T: Send + Sync> Insert<T> for EpochArena {
    type Writer<'a>
        = &'a Arena<T>
    where
        T: 'a;

    fn new() -> Arena<T> {
        Arena::new()
    }

    #[inline(always)]
    fn writer(arena: &Arena<T>) -> &Arena<T> {
        arena
    }

    #[inline(always)]
    fn insert(arena: &mut &Arena<T>, value: T) -> Key {
        arena.insert(value)
    }
}

impl<T: Send + Sync> Remove<T> for EpochArena {
    #[inline(always)]
    fn remove(arena: &mut &Arena<T>, key: Key) {
        assert!(arena.remove(key));
    }
}

impl<T: Send + Sync> Get<T> for EpochArena {
    type Reader<'a>
        = (&'a Arena<T>, Guard)
    where
        T: 'a;

    #[inline(always)]
    fn reader(arena: &Arena<T>) -> (&Arena<T>, Guard) {
        (arena, pin())
    }

    #[inline(always)]
    fn get<R>(reader: &(&Arena<T>, Guard), key: Key, f: impl FnOnce(&T) -> R) -> R {
        let (arena, guard) = reader;
        f(arena.get(key, guard).unwrap())
    }
}

/// [`Arena`] written through a [`Handle`] per writer (`Handle::insert`, `Handle::remove`),
/// read as [`EpochArena`]. [`fill`](Contender::fill) uses `Arena::insert`, as
/// [`EpochArena`] does, so both start from the same arena.
#[derive(Debug)]
pub enum EpochArenaHandle {}

impl<T: Send + Sync> Contender<T> for EpochArenaHandle {
    type Container = Arena<T>;
    type Key = Key;

    fn fill(values: impl IntoIterator<Item = T>) -> (Arena<T>, Vec<Key>) {
        <EpochArena as Contender<T>>::fill(values)
    }
}

impl<T: Send + Sync> Insert<T> for EpochArenaHandle {
    type Writer<'a>
        = Handle<'a, T>
    where
        T: 'a;

    fn new() -> Arena<T> {
        Arena::new()
    }

    #[inline(always)]
    fn writer(arena: &Arena<T>) -> Handle<'_, T> {
        arena.handle()
    }

    #[inline(always)]
    fn insert(handle: &mut Handle<'_, T>, value: T) -> Key {
        handle.insert(value)
    }
}

impl<T: Send + Sync> Remove<T> for EpochArenaHandle {
    #[inline(always)]
    fn remove(handle: &mut Handle<'_, T>, key: Key) {
        assert!(handle.remove(key));
    }
}

impl<T: Send + Sync> Get<T> for EpochArenaHandle {
    type Reader<'a>
        = (&'a Arena<T>, Guard)
    where
        T: 'a;

    #[inline(always)]
    fn reader(arena: &Arena<T>) -> (&Arena<T>, Guard) {
        <EpochArena as Get<T>>::reader(arena)
    }

    #[inline(always)]
    fn get<R>(reader: &(&Arena<T>, Guard), key: Key, f: impl FnOnce(&T) -> R) -> R {
        <EpochArena as Get<T>>::get(reader, key, f)
    }
}

// ---------------------------------------------------------------------------------------
// sharded-slab

/// [`sharded_slab::Slab`]. It has no guard to share between lookups: every `get` takes and
/// releases a reference of its own, so its [`Reader`](Get::Reader) is the slab itself.
#[derive(Debug)]
pub enum ShardedSlab {}

type Slab<T> = sharded_slab::Slab<T>;

impl<T: Send + Sync> Contender<T> for ShardedSlab {
    type Container = Slab<T>;
    type Key = usize;

    fn fill(values: impl IntoIterator<Item = T>) -> (Slab<T>, Vec<usize>) {
        fill_by_insert::<T, Self>(values)
    }
}

impl<T: Send + Sync> Insert<T> for ShardedSlab {
    type Writer<'a>
        = &'a Slab<T>
    where
        T: 'a;

    fn new() -> Slab<T> {
        Slab::new()
    }

    #[inline(always)]
    fn writer(slab: &Slab<T>) -> &Slab<T> {
        slab
    }

    #[inline(always)]
    fn insert(slab: &mut &Slab<T>, value: T) -> usize {
        slab.insert(value).unwrap()
    }
}

impl<T: Send + Sync> Remove<T> for ShardedSlab {
    #[inline(always)]
    fn remove(slab: &mut &Slab<T>, key: usize) {
        assert!(slab.remove(key));
    }
}

impl<T: Send + Sync> Get<T> for ShardedSlab {
    type Reader<'a>
        = &'a Slab<T>
    where
        T: 'a;

    #[inline(always)]
    fn reader(slab: &Slab<T>) -> &Slab<T> {
        slab
    }

    #[inline(always)]
    fn get<R>(slab: &&Slab<T>, key: usize, f: impl FnOnce(&T) -> R) -> R {
        f(&slab.get(key).unwrap())
    }
}

// ---------------------------------------------------------------------------------------
// concurrent-slotmap

/// Capacity of a [`ConcurrentSlotMap`]: it reserves address space for all of it up front.
/// Room for the largest workload (1M values, plus what churn keeps in flight).
pub const CSM_CAPACITY: u32 = 1 << 21;

type Csm<T> = concurrent_slotmap::SlotMap<concurrent_slotmap::SlotId, T>;

/// [`concurrent_slotmap::SlotMap`] with [`CSM_CAPACITY`] slots: one pin per insert or
/// remove, one per replacement, one per reader.
#[derive(Debug)]
pub enum ConcurrentSlotMap {}

impl<T: Send + Sync> Contender<T> for ConcurrentSlotMap {
    type Container = Csm<T>;
    type Key = concurrent_slotmap::SlotId;

    fn fill(values: impl IntoIterator<Item = T>) -> (Csm<T>, Vec<Self::Key>) {
        fill_by_insert::<T, Self>(values)
    }
}

impl<T: Send + Sync> Insert<T> for ConcurrentSlotMap {
    type Writer<'a>
        = &'a Csm<T>
    where
        T: 'a;

    fn new() -> Csm<T> {
        Csm::new(CSM_CAPACITY)
    }

    #[inline(always)]
    fn writer(map: &Csm<T>) -> &Csm<T> {
        map
    }

    #[inline(always)]
    fn insert(map: &mut &Csm<T>, value: T) -> Self::Key {
        map.insert(value, &map.pin())
    }
}

impl<T: Send + Sync> Remove<T> for ConcurrentSlotMap {
    #[inline(always)]
    fn remove(map: &mut &Csm<T>, key: Self::Key) {
        assert!(map.remove(key, &map.pin()).is_some());
    }

    #[inline(always)]
    fn replace(map: &mut &Csm<T>, old: Self::Key, value: T) -> Self::Key {
        let guard = map.pin();
        assert!(map.remove(old, &guard).is_some());
        map.insert(value, &guard)
    }
}

impl<T: Send + Sync> Get<T> for ConcurrentSlotMap {
    type Reader<'a>
        = (&'a Csm<T>, concurrent_slotmap::hyaline::Guard<'a>)
    where
        T: 'a;

    #[inline(always)]
    fn reader(map: &Csm<T>) -> Self::Reader<'_> {
        (map, map.pin())
    }

    #[inline(always)]
    fn get<R>(reader: &Self::Reader<'_>, key: Self::Key, f: impl FnOnce(&T) -> R) -> R {
        let (map, guard) = reader;
        f(map.get(key, guard).unwrap())
    }
}

// ---------------------------------------------------------------------------------------
// slotmap behind a lock

type SlotMap<T> = slotmap::SlotMap<slotmap::DefaultKey, T>;

/// [`slotmap::SlotMap`] in a [`parking_lot::Mutex`], the lock a user would pick (the bench
/// used std's before, which flattered the lock-free contenders): one lock per insert or
/// remove, one per replacement, one per reader.
#[derive(Debug)]
pub enum MutexSlotMap {}

impl<T: Send> Contender<T> for MutexSlotMap {
    type Container = Mutex<SlotMap<T>>;
    type Key = slotmap::DefaultKey;

    fn fill(values: impl IntoIterator<Item = T>) -> (Self::Container, Vec<Self::Key>) {
        fill_by_insert::<T, Self>(values)
    }
}

impl<T: Send> Insert<T> for MutexSlotMap {
    type Writer<'a>
        = &'a Mutex<SlotMap<T>>
    where
        T: 'a;

    fn new() -> Self::Container {
        Mutex::new(SlotMap::new())
    }

    #[inline(always)]
    fn writer(map: &Self::Container) -> &Self::Container {
        map
    }

    #[inline(always)]
    fn insert(map: &mut &Self::Container, value: T) -> Self::Key {
        map.lock().insert(value)
    }
}

impl<T: Send> Remove<T> for MutexSlotMap {
    #[inline(always)]
    fn remove(map: &mut &Self::Container, key: Self::Key) {
        assert!(map.lock().remove(key).is_some());
    }

    #[inline(always)]
    fn replace(map: &mut &Self::Container, old: Self::Key, value: T) -> Self::Key {
        let mut map = map.lock();
        assert!(map.remove(old).is_some());
        map.insert(value)
    }
}

impl<T: Send> Get<T> for MutexSlotMap {
    type Reader<'a>
        = MutexGuard<'a, SlotMap<T>>
    where
        T: 'a;

    #[inline(always)]
    fn reader(map: &Self::Container) -> Self::Reader<'_> {
        map.lock()
    }

    #[inline(always)]
    fn get<R>(map: &Self::Reader<'_>, key: Self::Key, f: impl FnOnce(&T) -> R) -> R {
        f(map.get(key).unwrap())
    }
}

/// [`slotmap::SlotMap`] in a [`parking_lot::RwLock`]: one write lock per insert or remove,
/// one per replacement, one read lock per reader.
#[derive(Debug)]
pub enum RwLockSlotMap {}

impl<T: Send + Sync> Contender<T> for RwLockSlotMap {
    type Container = RwLock<SlotMap<T>>;
    type Key = slotmap::DefaultKey;

    fn fill(values: impl IntoIterator<Item = T>) -> (Self::Container, Vec<Self::Key>) {
        fill_by_insert::<T, Self>(values)
    }
}

impl<T: Send + Sync> Insert<T> for RwLockSlotMap {
    type Writer<'a>
        = &'a RwLock<SlotMap<T>>
    where
        T: 'a;

    fn new() -> Self::Container {
        RwLock::new(SlotMap::new())
    }

    #[inline(always)]
    fn writer(map: &Self::Container) -> &Self::Container {
        map
    }

    #[inline(always)]
    fn insert(map: &mut &Self::Container, value: T) -> Self::Key {
        map.write().insert(value)
    }
}

impl<T: Send + Sync> Remove<T> for RwLockSlotMap {
    #[inline(always)]
    fn remove(map: &mut &Self::Container, key: Self::Key) {
        assert!(map.write().remove(key).is_some());
    }

    #[inline(always)]
    fn replace(map: &mut &Self::Container, old: Self::Key, value: T) -> Self::Key {
        let mut map = map.write();
        assert!(map.remove(old).is_some());
        map.insert(value)
    }
}

impl<T: Send + Sync> Get<T> for RwLockSlotMap {
    type Reader<'a>
        = RwLockReadGuard<'a, SlotMap<T>>
    where
        T: 'a;

    #[inline(always)]
    fn reader(map: &Self::Container) -> Self::Reader<'_> {
        map.read()
    }

    #[inline(always)]
    fn get<R>(map: &Self::Reader<'_>, key: Self::Key, f: impl FnOnce(&T) -> R) -> R {
        f(map.get(key).unwrap())
    }
}

// ---------------------------------------------------------------------------------------
// Insert-only containers and the floor

/// [`boxcar::Vec`]: an append-only concurrent vector (insertion only; the key is the index).
#[derive(Debug)]
pub enum Boxcar {}

impl<T: Send + Sync> Contender<T> for Boxcar {
    type Container = boxcar::Vec<T>;
    type Key = usize;

    fn fill(values: impl IntoIterator<Item = T>) -> (boxcar::Vec<T>, Vec<usize>) {
        fill_by_insert::<T, Self>(values)
    }
}

impl<T: Send + Sync> Insert<T> for Boxcar {
    type Writer<'a>
        = &'a boxcar::Vec<T>
    where
        T: 'a;

    fn new() -> boxcar::Vec<T> {
        boxcar::Vec::new()
    }

    #[inline(always)]
    fn writer(vec: &boxcar::Vec<T>) -> &boxcar::Vec<T> {
        vec
    }

    #[inline(always)]
    fn insert(vec: &mut &boxcar::Vec<T>, value: T) -> usize {
        vec.push(value)
    }
}

/// [`bumpalo::Bump`]: a single-threaded bump allocator (insertion only, never frees one
/// value). The key is the address `alloc` returns, as a raw pointer so that it is `Copy`.
#[derive(Debug)]
pub enum Bumpalo {}

impl<T> Contender<T> for Bumpalo {
    type Container = bumpalo::Bump;
    type Key = *mut T;

    fn fill(values: impl IntoIterator<Item = T>) -> (bumpalo::Bump, Vec<*mut T>) {
        fill_by_insert::<T, Self>(values)
    }
}

impl<T> Insert<T> for Bumpalo {
    type Writer<'a>
        = &'a bumpalo::Bump
    where
        T: 'a;

    fn new() -> bumpalo::Bump {
        bumpalo::Bump::new()
    }

    #[inline(always)]
    fn writer(bump: &bumpalo::Bump) -> &bumpalo::Bump {
        bump
    }

    #[inline(always)]
    fn insert(bump: &mut &bumpalo::Bump, value: T) -> *mut T {
        bump.alloc(value)
    }
}

/// A plain `Vec<T>` indexed by position: the floor for lookups (filled by `collect`, no
/// insertion through a shared reference, no guard).
#[derive(Debug)]
pub enum VecIndex {}

impl<T> Contender<T> for VecIndex {
    type Container = Vec<T>;
    type Key = usize;

    fn fill(values: impl IntoIterator<Item = T>) -> (Vec<T>, Vec<usize>) {
        let vec: Vec<T> = values.into_iter().collect();
        let keys = (0..vec.len()).collect();
        (vec, keys)
    }
}

impl<T> Get<T> for VecIndex {
    type Reader<'a>
        = &'a Vec<T>
    where
        T: 'a;

    #[inline(always)]
    fn reader(vec: &Vec<T>) -> &Vec<T> {
        vec
    }

    #[inline(always)]
    fn get<R>(vec: &&Vec<T>, key: usize, f: impl FnOnce(&T) -> R) -> R {
        f(&vec[key])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills, reads, replaces and removes through `C`.
    fn round_trip<C: Remove<u64> + Get<u64>>() {
        let (container, keys) = C::fill(0..100u64);
        let reader = C::reader(&container);
        assert!(keys
            .iter()
            .enumerate()
            .all(|(i, &k)| C::get(&reader, k, |v| *v) == i as u64));
        drop(reader);
        let mut writer = C::writer(&container);
        let key = C::replace(&mut writer, keys[7], 700);
        let inserted = C::insert(&mut writer, 800);
        C::remove(&mut writer, keys[8]);
        drop(writer);
        let reader = C::reader(&container);
        assert_eq!(C::get(&reader, key, |v| *v), 700);
        assert_eq!(C::get(&reader, inserted, |v| *v), 800);
    }

    #[test]
    fn removable_contenders_round_trip() {
        round_trip::<EpochArena>();
        round_trip::<EpochArenaHandle>();
        round_trip::<ShardedSlab>();
        round_trip::<ConcurrentSlotMap>();
        round_trip::<MutexSlotMap>();
        round_trip::<RwLockSlotMap>();
    }

    #[test]
    fn insert_only_contenders_and_the_floor() {
        let (vec, keys) = <Boxcar as Contender<u64>>::fill(0..10u64);
        assert_eq!(keys, (0..10).collect::<Vec<_>>());
        assert_eq!(vec[3], 3);

        let (_bump, keys) = <Bumpalo as Contender<u64>>::fill(0..10u64);
        // SAFETY: the pointers come from `alloc` on `_bump`, which is still alive.
        assert_eq!(unsafe { *keys[3] }, 3);

        let (vec, keys) = <VecIndex as Contender<u64>>::fill(0..10u64);
        let reader = <VecIndex as Get<u64>>::reader(&vec);
        assert_eq!(VecIndex::get(&reader, keys[4], |v| *v), 4);
    }
}
