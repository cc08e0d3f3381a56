//! [`Relocate`]: how a value rewrites the keys it holds after a compaction, and impls for
//! std types.
//!
//! A compaction ([`Arena::compact`]) moves values from high slots into the holes below, so
//! the moved values get new keys, and returns a [`Remap`] from each old key to the current
//! one. Keys held *inside the arena's values* are rewritten by [`Arena::compact_with`], which
//! calls a closure on every live value after the moves:
//! `arena.compact_with(|v, remap| v.relocate(remap))` rewrites them through each value's
//! [`Relocate`] impl. Keys held *anywhere else* (roots, indexes, other arenas' values) are
//! the caller's to rewrite with [`Remap::get`], or with `relocate` on whatever holds them.
//!
//! The rule every impl follows: a key that `remap.get` maps to `None` was already dead
//! before the compaction, and is left as it is. It stays dead, because a stale key never
//! becomes live again (a hole that is filled gets a generation above all it had before).
//!
//! The public documentation, with the rule's consequences and the list of std impls, is on
//! the trait.
//!
//! [`Arena::compact`]: crate::Arena::compact
//! [`Arena::compact_with`]: crate::Arena::compact_with

use crate::key::Key;
use crate::remap::AnyRemap;
use core::cell::Cell;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// A value that holds [`Key`]s of values in an arena, and rewrites them after the arena is
/// compacted.
///
/// A compaction ([`Arena::compact`](crate::Arena::compact)) moves values from high slots
/// into the holes below, so the moved values get new keys, and returns a [`Remap`] from each
/// old key to the current one. Keys live in two kinds of place, each rewritten its own way:
///
/// * **Inside the arena's values.** [`Arena::compact_with`](crate::Arena::compact_with)
///   calls a closure on every live value after the moves, and
///   `arena.compact_with(|v, remap| v.relocate(remap))` rewrites the keys each value holds.
/// * **Anywhere else** (a list of roots, an index, the values of another arena): the
///   caller's to rewrite, with [`Remap::get`] one key at a time, or with `relocate` on the
///   structure holding them (`Vec<Key>`, `HashMap<String, Key>`, … all implement it).
///
/// # The rule
///
/// `relocate` must rewrite every key the value holds through [`Remap::get`]: a key mapped to
/// `Some(new)` becomes `new` (the key itself if its value stayed put); a key mapped to `None`
/// named no live value before the compaction (it was stale, removed, or never issued) and
/// is left **as it is**. It was dead and it stays dead, because a stale key never becomes
/// live again: a hole that is filled gets a generation above every one it had before. So
/// relocation never invents a key, and a dangling reference stays a detectably dangling one.
///
/// The impl for [`Key`] does exactly this, so an impl for a struct calls `relocate` on each
/// field that holds keys. A key it leaves out keeps its old value, which still names its
/// value if that value stayed put, and names nothing (every lookup returns `None`) if it
/// moved.
///
/// Relocation is idempotent: a key `get` returns maps to itself, and a dead key stays
/// unchanged, so relocating twice with the same `Remap` is the same as once.
///
/// A `Remap` describes only the arena it came from, and a key carries no arena identity:
/// keys of *another* arena inside the values would be rewritten as if they were this
/// arena's. Keep them in fields the impl skips, and relocate them with their own arena's
/// `Remap`.
///
/// # The std impls
///
/// `Relocate` is implemented for the types [`Trace`](crate::Trace) is, so one value type can
/// be traced and relocated through the same fields, with these differences:
///
/// * `Arc<T>`, `Rc<T>` and `&T` have no impl: their referent may be shared, and `&mut` does
///   not reach it. `&mut T` has one instead.
/// * [`Mutex`] and [`RwLock`] go through `get_mut` (`&mut` needs no locking), and a poisoned
///   lock is relocated anyway: its keys are still held.
/// * [`Cell`] and [`OnceLock`] go through `get_mut` too, so `Cell<T>` needs no `T: Copy`.
/// * Maps and sets are rebuilt, because relocating an element changes its hash and its
///   order: [`HashMap`] and [`HashSet`] are drained and refilled, keeping their hasher and
///   their allocation; [`BTreeMap`], [`BTreeSet`] and [`BinaryHeap`] are rebuilt from their
///   elements. Relocating keys an arena issued is one-to-one (a moved value's new key has a
///   generation its slot never had before), so no two entries become one. A `Relocate` impl
///   of your own that maps two elements to equal ones keeps one of them, unspecified which.
///   If an element's `relocate` panics, the elements not yet put back are dropped.
/// * Leaf types (integers, floats, `bool`, `char`, `str`, `&str`, `String`, `()`,
///   [`PhantomData`], [`Duration`], [`Instant`], [`PathBuf`], [`OsString`]) hold no keys.
///   Their impls do nothing, so that types built of them can be relocated field by field.
///
/// # Deriving
///
/// With feature `derive`, `#[derive(Relocate)]` writes the impl: `relocate` on every field,
/// in declaration order, except those marked `#[trace(skip)]` (no keys) or
/// `#[relocate(skip)]` (relocated some other way, such as keys of another arena). The rules
/// and an example deriving both traits are on [`Trace`](crate::Trace#deriving).
///
/// # Example
///
/// ```
/// use epoch_arena::{pin, AnyRemap, Arena, Key, Relocate};
///
/// struct Node {
///     name: &'static str,
///     children: Vec<Key>,
///     parent: Option<Key>,
/// }
///
/// impl Relocate for Node {
///     fn relocate(&mut self, remap: &AnyRemap) {
///         self.children.relocate(remap);
///         self.parent.relocate(remap);
///     }
/// }
///
/// let mut arena = Arena::new();
/// let scratch = arena.insert(Node { name: "scratch", children: vec![], parent: None });
/// let root = arena.insert(Node { name: "root", children: vec![], parent: None });
/// let leaf = arena.insert(Node { name: "leaf", children: vec![], parent: Some(root) });
/// arena.get_mut(root).unwrap().children.push(leaf);
/// arena.take(scratch); // a hole below the live values
///
/// // The keys held inside the nodes are rewritten by their `Relocate` impl...
/// let remap = arena.compact_with(|node, remap| node.relocate(remap));
/// assert_eq!(remap.moved(), 1); // the leaf, into the hole the scratch node left
/// // ...and the keys held out here are ours to rewrite.
/// let root = remap.get(root).unwrap();
/// let leaf = remap.get(leaf).unwrap();
///
/// let guard = pin();
/// let root_node = arena.get(root, &guard).unwrap();
/// let leaf_node = arena.get(leaf, &guard).unwrap();
/// assert_eq!((root_node.name, leaf_node.name), ("root", "leaf"));
/// assert_eq!(root_node.children, [leaf]);
/// assert_eq!(leaf_node.parent, Some(root));
///
/// // A key that was dead before the compaction is left as it is, and stays dead.
/// assert_eq!(remap.get(scratch), None);
/// let mut held = vec![scratch, root];
/// held.relocate(&remap);
/// assert_eq!(held, [scratch, root]);
/// assert!(!arena.contains(scratch));
/// ```
///
/// [`Remap`]: crate::Remap
/// [`Remap::get`]: crate::Remap::get
pub trait Relocate {
    /// Rewrites every key this value holds through `remap`: to `remap.get(key)` where that
    /// is `Some`, and unchanged where it is `None`.
    fn relocate(&mut self, remap: &AnyRemap);
}

/// The key of the same value after the compaction; unchanged if it named no live value
/// before it (it stays dead).
impl Relocate for Key {
    #[inline]
    fn relocate(&mut self, remap: &AnyRemap) {
        remap.relocate_key(self);
    }
}

/// Types that hold no keys.
macro_rules! leaf {
    ($($t:ty),* $(,)?) => {$(
        impl Relocate for $t {
            #[inline]
            fn relocate(&mut self, _: &AnyRemap) {}
        }
    )*};
}

leaf!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    str,
    &str,
    String,
    Duration,
    Instant,
    PathBuf,
    OsString,
);

impl<T: ?Sized> Relocate for PhantomData<T> {
    #[inline]
    fn relocate(&mut self, _: &AnyRemap) {}
}

impl<T: Relocate + ?Sized> Relocate for &mut T {
    #[inline]
    fn relocate(&mut self, remap: &AnyRemap) {
        (**self).relocate(remap);
    }
}

impl<T: Relocate + ?Sized> Relocate for Box<T> {
    #[inline]
    fn relocate(&mut self, remap: &AnyRemap) {
        (**self).relocate(remap);
    }
}

impl<T: Relocate> Relocate for Option<T> {
    #[inline]
    fn relocate(&mut self, remap: &AnyRemap) {
        if let Some(v) = self {
            v.relocate(remap);
        }
    }
}

impl<T: Relocate, E: Relocate> Relocate for Result<T, E> {
    fn relocate(&mut self, remap: &AnyRemap) {
        match self {
            Ok(v) => v.relocate(remap),
            Err(e) => e.relocate(remap),
        }
    }
}

impl<T: Relocate> Relocate for [T] {
    fn relocate(&mut self, remap: &AnyRemap) {
        for v in self {
            v.relocate(remap);
        }
    }
}

impl<T: Relocate, const N: usize> Relocate for [T; N] {
    fn relocate(&mut self, remap: &AnyRemap) {
        self.as_mut_slice().relocate(remap);
    }
}

/// Sequences relocated in place, element by element.
macro_rules! sequence {
    ($($t:ident),*) => {$(
        impl<T: Relocate> Relocate for $t<T> {
            fn relocate(&mut self, remap: &AnyRemap) {
                for v in self.iter_mut() {
                    v.relocate(remap);
                }
            }
        }
    )*};
}

sequence!(Vec, VecDeque, LinkedList);

/// Drained and refilled: a relocated key hashes differently. Keeps the hasher and the
/// allocation (see [the std impls](Relocate#the-std-impls) on collisions and panics).
impl<K, V, S> Relocate for HashMap<K, V, S>
where
    K: Relocate + Eq + Hash,
    V: Relocate,
    S: BuildHasher,
{
    fn relocate(&mut self, remap: &AnyRemap) {
        let entries: Vec<(K, V)> = self.drain().collect();
        for (mut k, mut v) in entries {
            k.relocate(remap);
            v.relocate(remap);
            self.insert(k, v);
        }
    }
}

/// Drained and refilled: a relocated element hashes differently. Keeps the hasher and the
/// allocation (see [the std impls](Relocate#the-std-impls) on collisions and panics).
impl<T, S> Relocate for HashSet<T, S>
where
    T: Relocate + Eq + Hash,
    S: BuildHasher,
{
    fn relocate(&mut self, remap: &AnyRemap) {
        let elements: Vec<T> = self.drain().collect();
        for mut v in elements {
            v.relocate(remap);
            self.insert(v);
        }
    }
}

/// Rebuilt: a relocated key sorts elsewhere (see [the std impls](Relocate#the-std-impls) on
/// collisions and panics).
impl<K: Relocate + Ord, V: Relocate> Relocate for BTreeMap<K, V> {
    fn relocate(&mut self, remap: &AnyRemap) {
        *self = core::mem::take(self)
            .into_iter()
            .map(|(mut k, mut v)| {
                k.relocate(remap);
                v.relocate(remap);
                (k, v)
            })
            .collect();
    }
}

/// Rebuilt: a relocated element sorts elsewhere (see [the std impls](Relocate#the-std-impls)
/// on collisions and panics).
impl<T: Relocate + Ord> Relocate for BTreeSet<T> {
    fn relocate(&mut self, remap: &AnyRemap) {
        *self = core::mem::take(self)
            .into_iter()
            .map(|mut v| {
                v.relocate(remap);
                v
            })
            .collect();
    }
}

/// Relocated in its buffer, then re-heapified: a relocated element sorts elsewhere (see
/// [the std impls](Relocate#the-std-impls) on panics).
impl<T: Relocate + Ord> Relocate for BinaryHeap<T> {
    fn relocate(&mut self, remap: &AnyRemap) {
        let mut elements = core::mem::take(self).into_vec();
        elements.relocate(remap);
        *self = BinaryHeap::from(elements);
    }
}

/// Through [`Cell::get_mut`]: `&mut` reaches the contents with no copy, so no `T: Copy`.
impl<T: Relocate + ?Sized> Relocate for Cell<T> {
    #[inline]
    fn relocate(&mut self, remap: &AnyRemap) {
        self.get_mut().relocate(remap);
    }
}

/// Through [`Mutex::get_mut`], no locking; a poisoned mutex is relocated anyway (its keys
/// are still held, and would name nothing once the values move).
impl<T: Relocate + ?Sized> Relocate for Mutex<T> {
    fn relocate(&mut self, remap: &AnyRemap) {
        self.get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .relocate(remap);
    }
}

/// Through [`RwLock::get_mut`], no locking; a poisoned lock is relocated anyway (its keys
/// are still held, and would name nothing once the values move).
impl<T: Relocate + ?Sized> Relocate for RwLock<T> {
    fn relocate(&mut self, remap: &AnyRemap) {
        self.get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .relocate(remap);
    }
}

/// Through [`OnceLock::get_mut`]; an empty lock holds no keys.
impl<T: Relocate> Relocate for OnceLock<T> {
    fn relocate(&mut self, remap: &AnyRemap) {
        if let Some(v) = self.get_mut() {
            v.relocate(remap);
        }
    }
}

/// Tuples up to twelve elements.
macro_rules! tuple {
    ($($name:ident)+) => {
        impl<$($name: Relocate),+> Relocate for ($($name,)+) {
            #[allow(non_snake_case)]
            fn relocate(&mut self, remap: &AnyRemap) {
                let ($($name,)+) = self;
                $($name.relocate(remap);)+
            }
        }
    };
}

tuple!(A);
tuple!(A B);
tuple!(A B C);
tuple!(A B C D);
tuple!(A B C D E);
tuple!(A B C D E F);
tuple!(A B C D E F G);
tuple!(A B C D E F G H);
tuple!(A B C D E F G H I);
tuple!(A B C D E F G H I J);
tuple!(A B C D E F G H I J K);
tuple!(A B C D E F G H I J K L);
