//! Parallel iteration with rayon (feature `rayon`): [`Arena::par_iter_mut`],
//! [`Arena::par_for_each`], [`Arena::par_retain`], and `ParallelExtend` /
//! `FromParallelIterator` for [`Arena`].
//!
//! Every method splits the slot indices `0..high_water` into index ranges; the arena's
//! chunk layout is never consulted for the split, the [`Cursor`] of each range skips the
//! chunks that are not allocated (see
//! [Parallel iteration](crate::implementation#parallel-iteration-feature-rayon)).

use super::iter::{Cursor, Iter};
use super::{pin, Arena, Builder, Handle};
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::raw::chunk::ChunkDir;
use crate::raw::FreeSink;
use crate::sync::Ordering;
use core::marker::PhantomData;
use rayon::iter::plumbing::{bridge_unindexed, Folder, UnindexedConsumer, UnindexedProducer};
use rayon::iter::{FromParallelIterator, IntoParallelIterator, ParallelExtend, ParallelIterator};

/// Ranges of at most this many slot indices are not split further by
/// [`par_iter_mut`](Arena::par_iter_mut), and are the blocks of
/// [`par_for_each`](Arena::par_for_each): large enough that a range's cost (a pin, a
/// rayon job) disappears against walking it, small enough for 1M slots to make 256 jobs.
const BLOCK: u64 = 4096;

/// [`par_for_each`](Arena::par_for_each) re-pins its worker's guard after this many slots,
/// so that a long pass does not hold back the epoch (and so every arena's reclamation).
const REPIN_EVERY: u64 = 1024;

impl<T: Send + Sync, K: ArenaKey> Arena<T, K> {
    /// Every live value with its key, mutably, as a rayon parallel iterator (feature
    /// `rayon`). The order is not specified; each live value is yielded exactly once.
    ///
    /// `&mut self` excludes every other access, so no guard is needed: the slot indices
    /// are split into disjoint ranges, one rayon job each.
    ///
    /// ```
    /// use rayon::prelude::*;
    ///
    /// let mut arena = epoch_arena::Arena::new();
    /// let keys: Vec<_> = (0..1000u64).map(|i| arena.insert(i)).collect();
    /// arena.par_iter_mut().for_each(|(_, v)| *v *= 2);
    /// assert_eq!(arena.get_mut(keys[21]), Some(&mut 42));
    /// let sum: u64 = arena.par_iter_mut().map(|(_, v)| *v).sum();
    /// assert_eq!(sum, 999 * 1000);
    /// ```
    pub fn par_iter_mut(&mut self) -> impl ParallelIterator<Item = (K, &mut T)> + '_ {
        let inner = self.inner();
        ParIterMut {
            producer: RangeMut {
                dir: &inner.dir,
                start: 0,
                end: inner.high_water(),
                _unique: PhantomData,
                _key: PhantomData,
            },
        }
    }

    /// Calls `f` with every live value and its key, on rayon's worker threads (feature
    /// `rayon`). The order is not specified.
    ///
    /// Takes `&self`: other threads may insert and remove meanwhile, and `f` may too. As
    /// with [`iter`](Arena::iter), every value live for the whole pass is visited exactly
    /// once; a value inserted or removed during the pass may or may not be visited (never
    /// twice, and never a value whose key was dead when its slot was read: each slot is
    /// read once, and visited only if it held a live value then). The slots past the high
    /// water mark read at the start are not visited.
    ///
    /// Each worker pins its own [`Guard`](crate::Guard) for each block of 4096 slots and
    /// re-pins it every 1024 slots, so a long pass does not hold back reclamation; the
    /// `&T` handed to `f` is valid for that call only.
    ///
    /// If `f` panics, the panic propagates (after the other workers stop) and the arena is
    /// unchanged.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// let arena = epoch_arena::Arena::new();
    /// for i in 0..10_000u64 {
    ///     arena.insert(i);
    /// }
    /// let sum = AtomicU64::new(0);
    /// arena.par_for_each(|_, v| {
    ///     sum.fetch_add(*v, Ordering::Relaxed);
    /// });
    /// assert_eq!(sum.into_inner(), 9_999 * 10_000 / 2);
    /// ```
    pub fn par_for_each<F>(&self, f: F)
    where
        F: Fn(K, &T) + Sync + Send,
    {
        let inner = self.inner();
        let dir = &inner.dir;
        let end = inner.high_water();
        let blocks = end.div_ceil(BLOCK);
        (0..blocks).into_par_iter().for_each(|block| {
            let start = block * BLOCK;
            let stop = (start + BLOCK).min(end);
            // This worker's own guard: guards cannot move between threads, and a value read
            // under it stays initialised until it is dropped or re-pinned.
            let mut guard = pin();
            let mut from = start;
            while from < stop {
                let to = (from + REPIN_EVERY).min(stop);
                // Each slot is read once with Acquire and yielded only if OCCUPIED then, as
                // by `Arena::iter`; the references do not outlive this loop iteration.
                Iter::<T, K>::range(dir, from, to, &guard).for_each(|(key, value)| f(key, value));
                guard.repin();
                from = to;
            }
        });
    }

    /// Keeps only the values for which `f` returns `true`, deciding in parallel on rayon's
    /// worker threads (feature `rayon`); drops the others at once. The result is that of
    /// [`retain`](Arena::retain) with the same `f`: stale keys stay stale, freed slots
    /// are reused with new generations, [`len`](Arena::len) and [`stats`](Arena::stats)
    /// count exactly.
    ///
    /// It works in two phases: `f` runs on every value in parallel (through
    /// [`par_iter_mut`](Arena::par_iter_mut)) and the keys it rejects are collected; then
    /// those values are removed, on the calling thread. So if `f` panics, nothing has been
    /// removed: the panic propagates and the arena holds every value (with whatever changes
    /// `f` made through its `&mut T`). If a `T::drop` panics in the second phase, the panic
    /// propagates and the arena stays consistent, as with `retain`: values already removed
    /// are gone, the rest are still there.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let keys: Vec<_> = (0..10_000u32).map(|i| arena.insert(i)).collect();
    /// arena.par_retain(|_, v| {
    ///     *v += 1;
    ///     *v % 2 == 0
    /// });
    /// assert_eq!(arena.len(), 5_000);
    /// assert!(!arena.contains(keys[0]));
    /// assert_eq!(arena.get_mut(keys[1]), Some(&mut 2));
    /// ```
    pub fn par_retain<F>(&mut self, f: F)
    where
        F: Fn(K, &mut T) -> bool + Sync + Send,
    {
        let rejected: Vec<K> = self
            .par_iter_mut()
            .filter_map(|(key, value)| if f(key, value) { None } else { Some(key) })
            .collect();
        self.remove_rejected(rejected.into_iter().map(ArenaKey::to_key));
    }

    /// The second phase of [`par_retain`](Arena::par_retain): removes the values of `keys`,
    /// each live and named once, the way [`retain`](Arena::retain) removes a rejected one.
    fn remove_rejected(&mut self, keys: impl Iterator<Item = Key>) {
        let inner = self.inner();
        let mut sink = FreeSink::new(&inner.anchor);
        for key in keys {
            let Some(slot) = inner.dir.slot(key.index()) else {
                unreachable!("a rejected key names an allocated slot")
            };
            // Relaxed: `&mut self` excludes every other access. The key was read from this
            // very state in the first phase, and nothing can have changed it since.
            let state = slot.state.load(Ordering::Relaxed);
            assert_eq!(state, key.generation(), "a rejected key is live");
            // SAFETY: OCCUPIED with the key's generation (asserted above), and exclusively
            // ours through `&mut self`. A key named twice cannot drop twice: the slot says
            // FREE after the first, and the assert stops the second (the first phase yields
            // each slot once anyway).
            unsafe { sink.free_value(key.index(), slot, state) };
        }
    }
}

/// [`Arena::par_iter_mut`]'s iterator: one [`RangeMut`] producer over every slot index.
struct ParIterMut<'a, T, K> {
    producer: RangeMut<'a, T, K>,
}

impl<'a, T: Send, K: ArenaKey> ParallelIterator for ParIterMut<'a, T, K> {
    type Item = (K, &'a mut T);

    fn drive_unindexed<C>(self, consumer: C) -> C::Result
    where
        C: UnindexedConsumer<Self::Item>,
    {
        bridge_unindexed(self.producer, consumer)
    }
}

/// The live values in slot indices `start..end`, mutably.
///
/// Invariant: for its life `'a`, the values of the slots in `start..end` are reached by
/// nothing but this producer (and the `&'a mut T`s it yields): no other access to the arena
/// (it comes from `&'a mut Arena`), and no other producer (producers split, and are consumed,
/// by value, into disjoint ranges).
struct RangeMut<'a, T, K> {
    dir: &'a ChunkDir<T>,
    start: u64,
    end: u64,
    /// Yields `&'a mut T`s, so it is `Send` only if `T` is.
    _unique: PhantomData<&'a mut T>,
    _key: PhantomData<fn() -> K>,
}

impl<'a, T: Send, K: ArenaKey> UnindexedProducer for RangeMut<'a, T, K> {
    type Item = (K, &'a mut T);

    fn split(self) -> (Self, Option<Self>) {
        if self.end - self.start <= BLOCK {
            return (self, None);
        }
        let mid = self.start + (self.end - self.start) / 2;
        let right = RangeMut {
            dir: self.dir,
            start: mid,
            end: self.end,
            _unique: PhantomData,
            _key: PhantomData,
        };
        // The two ranges are disjoint and cover ours; `self` is consumed.
        (RangeMut { end: mid, ..self }, Some(right))
    }

    fn fold_with<F>(self, mut folder: F) -> F
    where
        F: Folder<Self::Item>,
    {
        let mut cursor = Cursor::range(self.start, self.end);
        // Relaxed: `&'a mut Arena` excludes every other access (type invariant).
        while let Some((index, slot, state)) = cursor.next_occupied(self.dir, Ordering::Relaxed) {
            // SAFETY: OCCUPIED, so initialised; by the type invariant nothing else reaches
            // this slot's value for 'a, and the cursor visits each slot of the range once,
            // so the `&'a mut T`s never alias.
            let value = unsafe { slot.value_mut() };
            folder = folder.consume((K::from_key(Key::new(index, state)), value));
            if folder.full() {
                break;
            }
        }
        folder
    }
}

/// Inserts every value, from rayon's worker threads at once (feature `rayon`): each rayon
/// job inserts through its own [`Handle`]. Which slot each value gets is not specified.
///
/// # Panics
/// If the key space fills up (as [`insert`](Arena::insert)): the panic propagates once the
/// other jobs have stopped, the values inserted before stay, and those not yet inserted
/// are dropped. If the memory for a new chunk of slots cannot be allocated, the process
/// aborts (as `insert` does).
///
/// ```
/// use rayon::prelude::*;
///
/// let mut arena = epoch_arena::Arena::new();
/// arena.insert(0u64);
/// arena.par_extend((1..10_000u64).into_par_iter());
/// assert_eq!(arena.len(), 10_000);
/// let sum: u64 = arena.values(&epoch_arena::pin()).sum();
/// assert_eq!(sum, 9_999 * 10_000 / 2);
/// ```
impl<T: Send + Sync, K: ArenaKey> ParallelExtend<T> for Arena<T, K> {
    fn par_extend<I>(&mut self, values: I)
    where
        I: IntoParallelIterator<Item = T>,
    {
        let arena = &*self;
        values.into_par_iter().for_each_init(
            || arena.handle(),
            |handle: &mut Handle<'_, T, K>, value| {
                handle.insert(value);
            },
        );
    }
}

/// An arena of the values, inserted from rayon's worker threads at once (feature `rayon`;
/// as its `ParallelExtend`). Which slot each value gets is not specified.
///
/// # Panics
/// As `par_extend`.
///
/// ```
/// use epoch_arena::Arena;
/// use rayon::prelude::*;
///
/// let arena: Arena<u32> = (0..1000u32).into_par_iter().collect();
/// assert_eq!(arena.len(), 1000);
/// let mut values: Vec<u32> = arena.values(&epoch_arena::pin()).copied().collect();
/// values.sort();
/// assert!(values.iter().copied().eq(0..1000));
/// ```
impl<T: Send + Sync, K: ArenaKey> FromParallelIterator<T> for Arena<T, K> {
    fn from_par_iter<I>(values: I) -> Self
    where
        I: IntoParallelIterator<Item = T>,
    {
        let mut arena: Arena<T, K> = Builder::new().build();
        arena.par_extend(values);
        arena
    }
}

#[cfg(test)]
mod tests {
    //! Every pass over an arena of a few blocks, with holes: each live value is visited
    //! once, and `par_retain` removes exactly the rejected ones and kills their keys.
    use super::BLOCK;
    use crate::{pin, Arena};
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    const N: u64 = 2 * BLOCK + 100;

    #[test]
    fn every_value_is_visited_once_by_each_pass() {
        let mut arena = Arena::new();
        let keys: Vec<_> = (0..N).map(|i| arena.insert(i)).collect();
        for k in keys.iter().step_by(3) {
            assert!(arena.take(*k).is_some());
        }
        arena.par_iter_mut().for_each(|(_, v)| *v += N);
        let sum = AtomicU64::new(0);
        arena.par_for_each(|k, v| {
            assert_eq!(*v, u64::from(k.index()) + N);
            sum.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(sum.into_inner(), arena.len() as u64);
        arena.par_retain(|_, v| v.is_multiple_of(2));
        let guard = pin();
        for (i, k) in keys.iter().enumerate() {
            let kept = i % 3 != 0 && (i as u64 + N).is_multiple_of(2);
            assert_eq!(arena.get(*k, &guard).is_some(), kept, "{i}");
        }
        drop(guard);
        let again = arena.insert(0);
        assert!(keys.iter().all(|k| *k != again), "a stale key came back");
    }
}
