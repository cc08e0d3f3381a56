//! Memory that goes back: compaction, trimming, shrinking; reserving and bulk insertion;
//! and the measures that drive them. The protocols are in `raw/release.rs` (trim) and
//! `raw/compact.rs` (compaction, shrinking), and the argument for keys in
//! [Memory](crate::implementation#memory).

use super::Arena;
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::raw::chunk::{chunk_len, chunk_start, locate, NUM_CHUNKS};
use crate::raw::gate;
use crate::raw::pool::{IndexBatch, BATCH};
use crate::raw::slot;
use crate::remap::Remap;

impl<T: Send + Sync, K: ArenaKey> Arena<T, K> {
    /// Moves every live value to the lowest slots, drops the values still waiting for
    /// reclamation, and gives the chunks above back to the allocator (and so to the
    /// operating system). Returns the [`Remap`] that tells where each value went.
    ///
    /// Keys of moved values die; their new keys come from [`Remap::get`]. Keys stored in the
    /// arena's own values are not rewritten: use [`compact_with`](Arena::compact_with) (or
    /// [`Relocate`](crate::Relocate)) for those. Keys held anywhere else are the caller's
    /// to map. A key that was stale before stays stale, and no old key ever finds a value
    /// it did not name, now or after the arena grows again (see
    /// [Memory](crate::implementation#memory)).
    ///
    /// Takes `O(high water)` time: every slot below the high water is visited once.
    ///
    /// ```
    /// use epoch_arena::Arena;
    ///
    /// let mut arena = Arena::new();
    /// let keys: Vec<_> = (0..1000).map(|i| arena.insert(i)).collect();
    /// for k in &keys[..990] {
    ///     arena.take(*k);
    /// }
    /// let before = arena.capacity();
    /// let remap = arena.compact();
    /// assert!(arena.capacity() < before);
    /// for (i, k) in keys[990..].iter().enumerate() {
    ///     let now = remap.get(*k).unwrap();
    ///     assert_eq!(arena.get(now, &epoch_arena::pin()), Some(&(990 + i)));
    /// }
    /// ```
    ///
    /// # Panics
    /// If called from the `Drop` of a value of this same arena while this arena's
    /// reclamation drops it (the compaction would wait for itself). A panicking `Drop` of a
    /// value that was waiting for reclamation is caught and discarded, as reclamation does.
    pub fn compact(&mut self) -> Remap<K> {
        self.compact_only()
    }

    /// [`compact`](Arena::compact), then calls `f` on every live value with the forwarding
    /// table, so that values can rewrite the keys they hold (for types that implement
    /// [`Relocate`](crate::Relocate): `|v, remap| v.relocate(remap)`).
    ///
    /// If `f` panics, the panic propagates after the compaction: values `f` did not reach
    /// keep the keys they held.
    ///
    /// ```
    /// use epoch_arena::{Arena, Key, Relocate};
    ///
    /// let mut arena = Arena::new();
    /// let junk = arena.insert(None);
    /// let leaf = arena.insert(None::<Key>);
    /// let top = arena.insert(Some(leaf));
    /// arena.take(junk);
    /// let remap = arena.compact_with(|v, remap| v.relocate(remap));
    /// let (leaf, top) = (remap.get(leaf).unwrap(), remap.get(top).unwrap());
    /// let guard = epoch_arena::pin();
    /// assert_eq!(arena.get(top, &guard), Some(&Some(leaf)));
    /// ```
    ///
    /// # Panics
    /// As for [`compact`](Arena::compact), and if `f` panics.
    pub fn compact_with(&mut self, mut f: impl FnMut(&mut T, &Remap<K>)) -> Remap<K> {
        let remap = self.compact_only();
        for (_, value) in self.iter_mut() {
            f(value, &remap);
        }
        remap
    }

    /// The compaction of [`compact`](Arena::compact) and [`compact_with`](Arena::compact_with).
    fn compact_only(&mut self) -> Remap<K> {
        if gate::inside(self.raw.as_ptr().cast()) {
            panic!(
                "epoch-arena: compact called from a value's Drop run by this arena's own \
                 reclamation; it would wait for itself"
            );
        }
        let live_hint = self.len();
        // SAFETY: `rebuild` gives the closure every slot exclusively.
        let (remap, _discarded) =
            self.rebuild(|inner| unsafe { inner.compact_exclusive(live_hint) });
        remap.typed()
    }

    /// Drops the values waiting for reclamation and gives back the chunks above the highest
    /// slot that holds a value, without moving anything: every live key stays valid.
    ///
    /// Chunks double in size, so this frees up to half the memory only when the values sit
    /// low; [`compact`](Arena::compact) moves them there first. Does nothing when called
    /// from a value's `Drop` run by this arena's own reclamation.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let keys: Vec<_> = (0..10_000).map(|i| arena.insert(i)).collect();
    /// for k in &keys[100..] {
    ///     arena.take(*k);
    /// }
    /// let before = arena.capacity();
    /// arena.shrink_to_fit();
    /// assert!(arena.capacity() < before);
    /// assert_eq!(arena.get(keys[99], &epoch_arena::pin()), Some(&99));
    /// ```
    pub fn shrink_to_fit(&mut self) {
        if gate::inside(self.raw.as_ptr().cast()) {
            return;
        }
        // SAFETY: `rebuild` gives the closure every slot exclusively.
        let _discarded = self.rebuild(|inner| unsafe { inner.shrink_exclusive() });
    }

    /// Gives back to the operating system the memory of pages in which no slot holds
    /// anything, while other threads keep reading, inserting, removing and collecting.
    /// Nothing moves and every key stays valid; the slots stay usable and their memory comes
    /// back (zeroed) when they are reused. Returns the bytes released that were resident.
    ///
    /// Slots in other threads' insert caches (up to 64 per thread or [`Handle`](crate::Handle)),
    /// values waiting for reclamation, and pages shared with a live value keep their memory.
    /// While the trim runs, inserts that find no free slot take fresh ones; one that finds
    /// none either (the arena is at [`max_slots`](Arena::max_slots)) waits for the trim to
    /// give the free slots back, and trims do not start while it waits. No reader ever
    /// waits for it.
    ///
    /// On Linux, chunks of 4 MiB and more are advised as transparent huge pages. The
    /// kernel's `khugepaged` may later merge a partly trimmed 2 MiB range back into a
    /// whole huge page (up to `/sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_none`
    /// empty pages per range, 511 by default), which makes that memory resident again;
    /// lower that setting, or [`compact`](Arena::compact), where it matters. Memory is given back on Linux (`madvise(MADV_DONTNEED)`); elsewhere
    /// (and under miri) the slots are only reset as released memory would read, and the
    /// bytes returned are those of the slots reset. Takes `O(free slots + high water / 64)` time.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let keys: Vec<_> = (0..100_000u64).map(|i| arena.insert([i; 4])).collect();
    /// let survivor = keys[0];
    /// for k in &keys[1..] {
    ///     arena.remove(*k);
    /// }
    /// arena.flush(); // hand the removals to reclamation
    /// # for _ in 0..64 { epoch_arena::pin().flush(); }
    /// let released = arena.trim();
    /// # #[cfg(target_os = "linux")]
    /// assert!(released > 0);
    /// assert_eq!(arena.get(survivor, &epoch_arena::pin()), Some(&[0; 4]));
    /// ```
    pub fn trim(&self) -> usize {
        self.inner().trim()
    }

    /// Bytes of slot memory resident now: what the arena's chunks hold in physical memory.
    /// On Linux the kernel's page tables tell (`/proc/self/pagemap`: pages present and mapped
    /// only by this process, so a trimmed page that was only read again, and so maps the
    /// kernel's shared zero page, does not count; `mincore` where pagemap cannot be read).
    /// Elsewhere it is the bytes of slots ever used and not trimmed since. Reads one 8-byte
    /// page-table entry per 4 KiB page.
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// assert_eq!(arena.resident_bytes(), 0);
    /// arena.insert(1u64);
    /// assert!(arena.resident_bytes() >= 16);
    /// ```
    pub fn resident_bytes(&self) -> usize {
        self.inner().resident_bytes()
    }

    /// The share of the resident slot memory that holds no live value:
    ///
    /// ```text
    /// fragmentation = 1 − (len × slot size) / resident_bytes      (0 when nothing is resident)
    /// ```
    ///
    /// where the slot size is `size_of::<T>()` plus 8 bytes of state (rounded up to `T`'s
    /// alignment), clamped to `0.0..=1.0`. 0 means every resident byte holds a live value;
    /// 0.9 means nine tenths of the memory the arena holds could be given back by
    /// compacting. [`trim`](Arena::trim) lowers it without moving values (when whole pages
    /// are empty); [`compact`](Arena::compact) brings it close to 0. Costs what
    /// [`resident_bytes`](Arena::resident_bytes) costs.
    ///
    /// ```
    /// let mut arena = epoch_arena::Arena::new();
    /// let keys: Vec<_> = (0..100_000).map(|i| arena.insert(i)).collect();
    /// for k in keys.iter().filter(|k| k.index() % 10 != 0) {
    ///     arena.take(*k);
    /// }
    /// let before = arena.fragmentation();
    /// assert!(before > 0.5);
    /// arena.compact();
    /// assert!(arena.fragmentation() < before);
    /// ```
    pub fn fragmentation(&self) -> f64 {
        let resident = self.resident_bytes();
        if resident == 0 {
            return 0.0;
        }
        let live = self.len() as f64 * core::mem::size_of::<crate::raw::slot::Slot<T>>() as f64;
        (1.0 - live / resident as f64).clamp(0.0, 1.0)
    }

    /// Allocates chunks so that at least `additional` more values fit without allocating
    /// (unless other threads insert meanwhile). Never allocates past
    /// [`max_slots`](Arena::max_slots).
    ///
    /// ```
    /// let arena = epoch_arena::Arena::<u64>::new();
    /// arena.reserve(1000);
    /// assert!(arena.capacity() >= 1000);
    /// ```
    pub fn reserve(&self, additional: usize) {
        let inner = self.inner();
        let want = (self.len() as u64)
            .saturating_add(additional as u64)
            .min(u64::from(self.max_slots()));
        let mut have = inner.dir.footprint().1 as u64;
        for c in 0..NUM_CHUNKS {
            if have >= want || chunk_start(c) >= u64::from(self.max_slots()) {
                break;
            }
            if inner.dir.chunk(c).is_none() {
                if inner.dir.alloc(c).is_none() {
                    // Too large to back: `try_insert` reports it.
                    break;
                }
                have += chunk_len(c) as u64;
            }
        }
    }

    /// Inserts every value and returns their keys, in order.
    ///
    /// Faster than inserting one by one: it fills whole batches of free slots, then takes
    /// one contiguous range of fresh slots for as many values as the iterator's
    /// `size_hint` promises, and writes them in one pass.
    ///
    /// # Panics
    /// If the key space fills up (as [`insert`](Arena::insert)); values inserted before stay
    /// in the arena. If the iterator panics, the values it yielded before stay in the arena
    /// (and its unused slots go back to the pool).
    ///
    /// ```
    /// let arena = epoch_arena::Arena::new();
    /// let keys = arena.insert_many(0..1000);
    /// assert_eq!(keys.len(), 1000);
    /// assert_eq!(arena.get(keys[7], &epoch_arena::pin()), Some(&7));
    /// ```
    pub fn insert_many(&self, values: impl IntoIterator<Item = T>) -> Vec<K> {
        let mut values = values.into_iter();
        let mut keys = Vec::with_capacity(values.size_hint().0);
        self.insert_recycled(&mut values, &mut keys);
        let want = values.size_hint().0;
        if want > 0 {
            self.insert_fresh(&mut values, &mut keys, want);
        }
        keys.extend(values.map(|v| self.insert(v)));
        keys
    }

    /// `insert_many`'s first part: fills batches of free slots from the shared stack.
    fn insert_recycled(&self, values: &mut impl Iterator<Item = T>, keys: &mut Vec<K>) {
        let inner = self.inner();
        let pool = &inner.anchor.pool;
        let mut batch = IndexBatch::new();
        /// Gives the batch's unused slots back and counts the insertions, however the
        /// loop ends.
        struct Done<'a, T: Send + Sync, K> {
            arena: &'a Arena<T, K>,
            batch: &'a mut IndexBatch,
            inserted: isize,
        }
        impl<T: Send + Sync, K> Drop for Done<'_, T, K> {
            fn drop(&mut self) {
                let anchor = &self.arena.inner().anchor;
                anchor.counters.add_inserted_shared(self.inserted);
                anchor
                    .pool
                    .give_back(core::mem::replace(self.batch, IndexBatch::new()));
            }
        }
        let mut done = Done {
            arena: self,
            batch: &mut batch,
            inserted: 0,
        };
        while !pool.free_is_empty() && pool.pop_into(done.batch) {
            while let Some((index, state)) = done.batch.pop() {
                let Some(value) = values.next() else {
                    done.batch.push(index, state);
                    return;
                };
                let Ok((slot, key)) = inner.prepare(index, state) else {
                    // Unreachable: a recycled slot's chunk exists.
                    done.batch.push(index, state);
                    keys.push(self.insert(value));
                    continue;
                };
                inner.publish(slot, key, value);
                done.inserted += 1;
                keys.push(K::from_key(key));
            }
        }
    }

    /// `insert_many`'s second part: one fresh range for `want` values, written chunk by
    /// chunk.
    fn insert_fresh(&self, values: &mut impl Iterator<Item = T>, keys: &mut Vec<K>, want: usize) {
        let inner = self.inner();
        let pool = &inner.anchor.pool;
        let want = want.min(u32::MAX as usize) as u32;
        let floor = pool.floor();
        let Some((start, end)) = pool.reserve(want) else {
            return;
        };
        /// Counts the insertions and gives the unused part of the range back, however the
        /// loop ends.
        struct Done<'a> {
            pool: &'a crate::raw::pool::IndexPool,
            anchor: &'a crate::raw::Anchor,
            next: u32,
            end: u32,
            floor: u32,
            inserted: isize,
        }
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.anchor.counters.add_inserted_shared(self.inserted);
                let mut at = self.next;
                while at < self.end {
                    let to = self.end.min(at.saturating_add(BATCH as u32));
                    self.pool
                        .give_back(IndexBatch::from_range(at, to, self.floor));
                    at = to;
                }
            }
        }
        let mut done = Done {
            pool,
            anchor: &inner.anchor,
            next: start,
            end,
            floor,
            inserted: 0,
        };
        let state = slot::occupied(floor);
        while done.next < end {
            let (c, offset) = locate(done.next);
            if inner.dir.chunk(c).is_none() && inner.dir.alloc(c).is_none() {
                // Too large to back: the rest goes back to the pool (where `insert` will
                // report it).
                return;
            }
            let Some(chunk) = inner.dir.chunk(c) else {
                return;
            };
            let stop = (chunk_start(c) + chunk_len(c) as u64).min(u64::from(end));
            // `done` is kept exact after every value: if the iterator panics, it gives back
            // exactly the slots still unused and counts exactly the values published.
            for o in offset..offset + (stop - u64::from(done.next)) as usize {
                let Some(value) = values.next() else {
                    return;
                };
                let key = Key::new(done.next, state);
                let slot = chunk.slot(o);
                // SAFETY: a fresh slot of the range we reserved: FREE and ours alone.
                unsafe { slot.check_poison(done.next) };
                inner.publish(slot, key, value);
                done.next += 1;
                done.inserted += 1;
                keys.push(K::from_key(key));
            }
        }
    }
}
