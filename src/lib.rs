//! A lock-free concurrent generational arena with epoch-based reclamation.
//!
//! # The problem
//!
//! Many threads build and read one big graph of values: a DOM, a scene, an AST. Values refer
//! to each other by handle, threads insert and remove concurrently, and a reader must never
//! see a freed or reused value behind a handle it holds, without every read paying for a
//! lock or a reference count.
//!
//! # The mechanism
//!
//! * **Slots that never move.** Values live in chunks that are allocated once and never
//!   moved or freed while the arena lives, so a `&T` stays put.
//! * **Generational keys.** A [`Key`] packs a 32-bit slot index and a 32-bit generation into
//!   8 bytes. Each slot has a 32-bit state word; a key is valid exactly while the slot's state
//!   equals its generation. Validating a key is one acquire load and one compare, and a read
//!   writes no shared memory: there is no per-slot reference count.
//! * **Removal through epochs.** [`remove`](Arena::remove) flips the state word with one
//!   CAS, so the key is dead at once for every later lookup. The value itself is dropped,
//!   and the slot reused with the next generation, only after every [`Guard`] that was
//!   pinned before the removal is gone ([crossbeam-epoch]). Removals are retired in batches
//!   of 64, so reclamation costs one deferred closure per batch.
//! * **Batched slot supply.** Free slots move in batches of 64 between a per-thread cache
//!   ([`Handle`], or a thread-local cache behind [`Arena::insert`]), a shared lock-free stack
//!   of batches, and fresh index ranges reserved with one `fetch_add`. An insertion is a few
//!   plain stores; no thread-count ceiling, no thread registry.
//!
//! The [design document](implementation) walks through the memory layout, the slot state
//! machine, and each protocol with its memory orderings.
//!
//! # Which API when
//!
//! | you have | to insert / remove | to read |
//! |---|---|---|
//! | `&Arena`, occasional writes | [`Arena::insert`], [`Arena::remove`] | [`pin`] once, then [`Arena::get`] / [`Arena::iter`] many times |
//! | `&Arena`, a thread doing many writes | one [`Arena::handle`] per thread: [`Handle::insert`], [`Handle::remove`] | same |
//! | `&mut Arena` | [`Arena::take`], [`Arena::retain`], [`Arena::drain`], [`Arena::clear`] (no grace period) | [`Arena::get_mut`], [`Arena::iter_mut`] |
//!
//! ```
//! use epoch_arena::{pin, Arena};
//!
//! let arena = Arena::new();
//! let root = arena.insert(String::from("root"));
//!
//! std::thread::scope(|s| {
//!     for t in 0..4 {
//!         let arena = &arena;
//!         s.spawn(move || {
//!             let mut handle = arena.handle();
//!             for i in 0..100 {
//!                 let key = handle.insert(format!("{t}/{i}"));
//!                 if i % 2 == 1 {
//!                     handle.remove(key);
//!                 }
//!             }
//!             // Readers pin once for a batch of reads.
//!             let guard = pin();
//!             assert_eq!(arena.get(root, &guard).map(String::as_str), Some("root"));
//!         });
//!     }
//! });
//! assert_eq!(arena.len(), 1 + 4 * 50);
//! ```
//!
//! # What a key promises
//!
//! A key names one insertion. [`Arena::get`] returns that value while it is in the arena, and
//! `None` forever after it is removed: reuse bumps the slot's generation, and a slot whose
//! generation would wrap (after at most 2^30 insertions into it) is retired instead of reused, so a
//! stale key can never read a wrong value. A key made from arbitrary bits, or an index past
//! the arena's capacity, is simply not found: no panic, no undefined behaviour. A key carries
//! no arena identity; use it with the arena that made it (or build arenas with
//! [`Builder::distinct_keys`], whose keys another arena practically never matches).
//!
//! # Safety model
//!
//! * Every `&T` the arena hands out borrows a [`Guard`] (and the arena), so the borrow
//!   checker keeps it inside the guard's life. All arenas use crossbeam-epoch's default
//!   collector and `Guard` can only come from [`pin`], so no guard can fail to protect an
//!   arena.
//! * `&mut Arena` means no guard-protected borrow of it exists, which is why the `&mut` API
//!   needs no grace period.
//! * A guard held for a long time delays reclamation in *every* arena (values and slots wait
//!   for it), so pin for a batch of operations, not for the life of a thread.
//! * Values are dropped on whichever thread runs the epoch collector, so `T: Send + Sync`.
//!   `T` may borrow data (`Arena<&str>` is fine): dropping the arena drops every value still
//!   present, live or waiting for reclamation, exactly once before it returns, and deferred
//!   work that runs later touches no `T`.
//!
//! # Garbage collection
//!
//! Values that hold keys of other values (a DOM node holds its children) implement
//! [`Trace`]. [`Arena::collect`] then removes every value that is not reachable from its
//! roots (the keys passed in, plus every live [`Root`]) while other threads keep reading,
//! inserting and removing: a concurrent mark bitmap beside each chunk, parallel markers that
//! steal work from each other, and a sweep that removes through the same epoch path as
//! [`Arena::remove`], so a `&T` a reader holds stays valid until its guard drops.
//!
//! **The rule for mutators** while a collection may be running: *shade, then store*. Before
//! storing a key into a value, call [`Arena::shade`] with it, under the same guard as the
//! store. Values inserted while a collection runs survive it. Keys held only in local
//! variables are not roots: their values may be swept if nothing reachable holds them, and the
//! keys then go stale (`None`, never a wrong value); root them with [`Arena::root`] to keep
//! them. A fresh key from `insert` is local until stored, so insert and link under one guard
//! (pin, insert, shade, store, unpin), or insert through a [`Mutator`], whose fresh keys
//! survive every collection until its next [`safepoint`](Mutator::safepoint): a parser
//! that links nodes long after creating them can then drop its guard between chunks of
//! input, and neither collections nor epoch reclamation wait for it.
//!
//! ```
//! use epoch_arena::{pin, Arena, Key, Trace, Tracer};
//! use std::sync::Mutex;
//!
//! struct Node {
//!     name: &'static str,
//!     children: Mutex<Vec<Key>>,
//! }
//! impl Trace for Node {
//!     fn trace(&self, tracer: &mut Tracer<'_>) {
//!         self.children.trace(tracer);
//!     }
//! }
//! let node = |name| Node { name, children: Mutex::new(Vec::new()) };
//!
//! let arena = Arena::new();
//! let doc = arena.root(arena.insert(node("html")));
//! let stray = arena.insert(node("stray"));
//! let body = {
//!     let guard = pin();
//!     let body = arena.insert(node("body"));
//!     arena.shade(body); // shade, then store, under one guard
//!     arena.get(doc.key(), &guard).unwrap().children.lock().unwrap().push(body);
//!     body
//! };
//! let stats = arena.collect([]);
//! assert_eq!((stats.marked, stats.swept), (2, 1));
//! assert_eq!(arena.get(body, &pin()).map(|n| n.name), Some("body"));
//! assert!(!arena.contains(stray));
//! ```
//!
//! # Saving and loading (feature `serde`)
//!
//! `Key` and `Arena<T>` implement `Serialize` and `Deserialize`, and
//! `Arena::write_snapshot` / `Arena::read_snapshot` write and read a checked, versioned,
//! streaming binary format (`SnapshotError` says what was wrong with bad input, and at which
//! byte). Both keep what a key promises: a key that was live finds the same value after
//! loading, and a key that was dead stays dead, also once the loaded arena reuses its slot.
//! The format is in the [design document](implementation#the-snapshot-format).
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use epoch_arena::{pin, Arena};
//!
//! let arena = Arena::new();
//! let gone = arena.insert("gone".to_string());
//! let kept = arena.insert("kept".to_string());
//! assert!(arena.remove(gone));
//!
//! let json = serde_json::to_string(&arena).unwrap();
//! let loaded: Arena<String> = serde_json::from_str(&json).unwrap();
//! let guard = pin();
//! assert_eq!(loaded.get(kept, &guard).map(String::as_str), Some("kept"));
//! assert_eq!(loaded.get(gone, &guard), None);
//! # }
//! ```
//!
//! # Panics
//!
//! * [`Arena::insert`] and [`Handle::insert`] panic only when the key space is full
//!   ([`try_insert`](Arena::try_insert) returns the value instead).
//! * A panic in [`insert_with`](Arena::insert_with)'s closure leaves the arena unchanged.
//! * A panicking `T::drop` during [`retain`](Arena::retain) or [`drain`](Arena::drain)
//!   propagates; values already removed are gone, the rest stay, and nothing is dropped
//!   twice. [`clear`](Arena::clear) and dropping the arena drop every other value and then
//!   resume the first panic. A panicking `T::drop` during deferred reclamation (on some thread's
//!   `pin`) is caught and discarded after the panic hook reports it, because unwinding
//!   through the epoch collector would skip other deferred work; the slot is reclaimed as
//!   usual.
//! * [`Arena::collect`] panics if the calling thread holds a [`Guard`] (the collection waits
//!   for a grace period that guard would block), and resumes the panic of a [`Trace`] impl
//!   after abandoning the cycle (nothing is swept).
//!
//! [crossbeam-epoch]: https://docs.rs/crossbeam-epoch

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![doc(test(attr(deny(warnings))))]

// `--cfg loom` alone swaps `src/sync.rs` onto loom's types but leaves crossbeam-epoch on its
// real global collector and OS thread-locals, which loom's threads share: the models crash
// (SIGSEGV). `--cfg crossbeam_loom` puts crossbeam-epoch on loom as well.
#[cfg(all(loom, not(crossbeam_loom)))]
compile_error!(
    "epoch-arena: `--cfg loom` also needs `--cfg crossbeam_loom` (crossbeam-epoch must run \
     on loom too); build the loom tests with \
     RUSTFLAGS=\"--cfg loom --cfg crossbeam_loom\" cargo test -p loom-tests --release"
);

// The layers, each importing only from those listed before it:
//
// * `sync`: std or loom, and the lock-free building blocks (push-only list, Treiber stack,
//   work queues, zeroed arrays);
// * `key`: `Key`;
// * `raw`: the unsafe slot store: slots, chunks, the free-slot pool, counters, the thread
//   cache, reclamation and its gate;
// * `gc`: the collector, on the raw store;
// * `arena`: the public API, on the raw store and the collector;
// * `atomic_key` and `secondary`: types beside the arena (an atomic key cell; maps from keys
//   to extra data, the concurrent one on the raw side table), on the layers above.
mod sync;

mod key;

mod key_type;

mod remap;

mod relocate;

mod raw;

mod gc;

mod arena;

mod atomic_key;

pub mod secondary;

#[cfg(feature = "serde")]
mod persist;

pub use arena::{
    pin, Arena, Builder, Drain, Guard, Handle, InsertError, InsertErrorKind, IntoIter, Iter,
    IterMut, Keys, Mutator, Root, Stats, VacantEntry, Values, ValuesMut,
};
pub use atomic_key::AtomicKey;
/// The derives of [`Trace`](trait@Trace) and [`Relocate`](trait@Relocate) (feature
/// `derive`), under the traits' names: `use epoch_arena::{Relocate, Trace};` imports the
/// trait and its derive at once. The example is on the trait [`Trace`](trait@Trace#deriving).
#[cfg(feature = "derive")]
pub use epoch_arena_derive::{Relocate, Trace};
pub use gc::{
    CollectError, CollectOptions, CollectStats, Pacing, Trace, Tracer, PARALLEL_THRESHOLD,
};
pub use key::Key;
pub use key_type::ArenaKey;
#[cfg(feature = "serde")]
pub use persist::{SnapshotError, SnapshotInfo, SNAPSHOT_VERSION};
pub use raw::chunk::MAX_SLOTS;
pub use relocate::Relocate;
pub use remap::{AnyRemap, Remap};
pub use secondary::{SecondaryMap, SharedSecondaryMap};

/// What the exported macros name; not part of the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "serde")]
    pub use serde;
}

/// The collector's helper-thread protocol, for the loom model `gc_helpers_park_and_wake`
/// (a collection never starts helper threads under loom); not part of the API.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    /// The helper threads of one collector (see `gc/helpers.rs`).
    #[derive(Default)]
    pub struct Helpers(crate::gc::helpers::Helpers);

    impl core::fmt::Debug for Helpers {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("Helpers")
        }
    }

    impl Helpers {
        /// No threads yet.
        pub fn new() -> Self {
            Helpers(crate::gc::helpers::Helpers::new())
        }

        /// Runs `job(0)` here and `job(1..)` on up to `helpers` helper threads; returns the
        /// parts that ran, once all of them have finished.
        pub fn run(&self, helpers: usize, job: &(dyn Fn(usize) + Sync)) -> usize {
            self.0.run(helpers, job).0
        }
    }
}

#[doc = include_str!("../IMPLEMENTATION.md")]
pub mod implementation {}

/// The README's examples, compiled and run as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
