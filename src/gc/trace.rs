//! [`Trace`]: how a value reports the keys it holds, and impls for std types.

use crate::key::Key;
use crate::key_type::ArenaKey;
use core::any::TypeId;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::sync::{Mutex, RwLock};

/// A value that holds [`Key`]s of other values in the same arena, which the collector
/// follows ([`Arena::collect`](crate::Arena::collect)).
///
/// `trace` must report every key the value holds by calling [`Tracer::edge`]; a key it
/// leaves out is not followed, and the value it names is swept if nothing else reaches it.
/// Reporting keys that are stale, of another arena, or made from arbitrary bits is harmless.
/// `trace` runs on the collector's threads while other threads may use the value, so
/// interior mutability must be synchronised (the impls for [`Mutex`] and [`RwLock`] lock).
///
/// ```
/// use epoch_arena::{Key, Trace, Tracer};
///
/// struct Node {
///     name: String,
///     children: Vec<Key>,
///     parent: Option<Key>,
/// }
///
/// impl Trace for Node {
///     fn trace(&self, tracer: &mut Tracer<'_>) {
///         self.children.trace(tracer);
///         self.parent.trace(tracer);
///     }
/// }
///
/// let arena = epoch_arena::Arena::new();
/// let leaf = arena.insert(Node { name: "leaf".into(), children: vec![], parent: None });
/// let top = arena.insert(Node { name: "top".into(), children: vec![leaf], parent: None });
/// arena.collect([top]);
/// assert_eq!(arena.get(leaf, &epoch_arena::pin()).unwrap().name, "leaf");
/// ```
///
/// # Deriving
///
/// With feature `derive`, `#[derive(Trace)]` writes the impl above: `trace` on every field,
/// in declaration order (for an enum, on the fields of the variant the value is).
/// `#[derive(Relocate)]` does the same for [`Relocate`](crate::Relocate), so one value type
/// is traced and relocated through the same fields.
///
/// * `#[trace(skip)]` on a field: it holds no keys, and both derives leave it out (its type
///   needs neither trait). `#[relocate(skip)]` leaves a field out of `Relocate` only.
/// * A type parameter gets a `T: Trace` (resp. `T: Relocate`) bound when it is named in the
///   type of a field that is not skipped; lifetimes, const parameters and the type's own
///   `where` clause are kept.
/// * A field whose type does not implement the trait, an unknown attribute argument
///   (`#[trace(foo)]`) and a union are compile errors.
///
/// The derives live in the `epoch-arena-derive` crate and are re-exported here under the
/// traits' names, so `use epoch_arena::{Relocate, Trace};` brings in both trait and derive.
///
/// ```
/// # #[cfg(feature = "derive")] {
/// use epoch_arena::{pin, Arena, Key, Relocate, Trace};
///
/// #[derive(Trace, Relocate)]
/// struct Node {
///     children: Vec<Key>,
///     parent: Option<Key>,
///     #[trace(skip)] // holds no keys
///     name: String,
///     kind: Kind,
/// }
///
/// #[derive(Trace, Relocate)]
/// enum Kind {
///     Element,
///     Link { target: Key },
///     Text(String),
/// }
///
/// let node = |name: &str, kind| Node { children: vec![], parent: None, name: name.into(), kind };
/// let mut arena = Arena::new();
/// let scratch = [arena.insert(node("a", Kind::Element)), arena.insert(node("b", Kind::Element))];
/// let root = arena.insert(node("root", Kind::Element));
/// let target = arena.insert(node("target", Kind::Text("hi".into())));
/// let child = arena.insert(node("child", Kind::Link { target }));
/// arena.get_mut(root).unwrap().children.push(child);
/// arena.get_mut(child).unwrap().parent = Some(root);
///
/// // The collection follows the derived `trace`: root → child → target. The scratch nodes
/// // are reachable from nothing.
/// let stats = arena.collect([root]);
/// assert_eq!((stats.marked, stats.swept), (3, 2));
/// assert!(!arena.contains(scratch[0]) && !arena.contains(scratch[1]));
///
/// // The compaction moves the target and the child into the holes below, and the derived
/// // `relocate` rewrites the keys the nodes hold.
/// let remap = arena.compact_with(|node, remap| node.relocate(remap));
/// assert_eq!(remap.moved(), 2);
/// assert_eq!(remap.get(root), Some(root)); // the root stayed put
/// let guard = pin();
/// let child = arena.get(root, &guard).unwrap().children[0];
/// let child_node = arena.get(child, &guard).unwrap();
/// assert_eq!((child_node.name.as_str(), child_node.parent), ("child", Some(root)));
/// let Kind::Link { target } = child_node.kind else { unreachable!() };
/// assert_eq!(arena.get(target, &guard).unwrap().name, "target");
/// # }
/// ```
pub trait Trace {
    /// Reports every key this value holds to `tracer`.
    fn trace(&self, tracer: &mut Tracer<'_>);

    /// A hint: start loading the memory that [`trace`](Trace::trace) will read outside the
    /// value itself (a `Vec`'s buffer, a `Box`'s pointee). The collector calls it on a value
    /// a few values before it traces it, so that the cache misses of several values'
    /// buffers overlap instead of each stalling `trace` in turn.
    ///
    /// It must only issue prefetch hints (or do nothing): no locking, no side effects, no
    /// panics. The default does nothing, which is always correct; the impls for `Vec`,
    /// `VecDeque`, `Box`, `Arc`, `Rc` prefetch their first cache lines, and `Option`,
    /// `Result`, arrays, slices and tuples forward to their elements. A hand-written `Trace`
    /// for a node that keeps its keys in a `Vec` forwards to that field:
    ///
    /// ```
    /// use epoch_arena::{Key, Trace, Tracer};
    ///
    /// struct Node {
    ///     children: Vec<Key>,
    /// }
    ///
    /// impl Trace for Node {
    ///     fn trace(&self, tracer: &mut Tracer<'_>) {
    ///         self.children.trace(tracer);
    ///     }
    ///     fn prefetch(&self) {
    ///         self.children.prefetch();
    ///     }
    /// }
    /// # let _ = epoch_arena::Arena::<Node>::new().insert(Node { children: vec![] });
    /// ```
    #[inline(always)]
    fn prefetch(&self) {}
}

/// Prefetches the first cache line of `len` `T`s at `p`, and the second when they span it.
#[inline(always)]
fn prefetch_elements<T>(p: *const T, len: usize) {
    let bytes = len.saturating_mul(core::mem::size_of::<T>());
    if bytes == 0 {
        return; // nothing `trace` reads; the pointer may dangle
    }
    crate::sync::prefetch(p);
    if bytes > 64 {
        crate::sync::prefetch(p.cast::<u8>().wrapping_add(64));
    }
}

/// Receives the keys a value reports from [`Trace::trace`].
///
/// Edges are buffered and followed after `trace` returns, so `edge` is a vector push.
#[derive(Debug)]
pub struct Tracer<'a> {
    edges: &'a mut Vec<Key>,
    /// The traced arena's key type: edges of other key types are not followed.
    key_type: TypeId,
}

impl<'a> Tracer<'a> {
    pub(crate) fn new(edges: &'a mut Vec<Key>, key_type: TypeId) -> Self {
        Tracer { edges, key_type }
    }

    /// Reports a key the traced value holds. Stale keys, keys of another arena and keys made
    /// from arbitrary bits are ignored by the collector.
    ///
    /// Only keys of the traced arena's key type `K` (of [`Arena<T, K>`](crate::Arena)) are
    /// followed: with [typed keys](crate::new_key_type), a value that holds keys of several
    /// arenas reports them all, and each arena's collector follows its own. An arena of the
    /// default [`Key`] type follows only `Key`s.
    ///
    /// ```
    /// use epoch_arena::{Arena, Key, Trace, Tracer};
    ///
    /// struct Pair(Key, Key);
    /// impl Trace for Pair {
    ///     fn trace(&self, tracer: &mut Tracer<'_>) {
    ///         tracer.edge(self.0);
    ///         tracer.edge(self.1);
    ///     }
    /// }
    /// # let _ = Arena::<Pair>::new();
    /// ```
    #[inline]
    pub fn edge<K: ArenaKey>(&mut self, key: K) {
        if TypeId::of::<K>() == self.key_type {
            self.edges.push(key.to_key());
        }
    }
}

impl Trace for Key {
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.edge(*self);
    }
}

/// Types that hold no keys.
macro_rules! leaf {
    ($($t:ty),* $(,)?) => {$(
        impl Trace for $t {
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
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
    String,
    std::time::Duration,
    std::time::Instant,
    std::path::PathBuf,
    std::ffi::OsString,
);

impl<T: ?Sized> Trace for core::marker::PhantomData<T> {
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl<T: Trace + ?Sized> Trace for &T {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        (**self).trace(tracer);
    }
    #[inline]
    fn prefetch(&self) {
        if core::mem::size_of_val::<T>(*self) != 0 {
            crate::sync::prefetch(core::ptr::from_ref::<T>(*self).cast::<u8>());
        }
    }
}

/// Pointers to one value: prefetch the pointee's first line (not what it points to in turn:
/// that would read the pointee, which is what the prefetch is waiting for).
macro_rules! pointer {
    ($($t:ident)::+) => {
        impl<T: Trace + ?Sized> Trace for $($t)::+<T> {
            fn trace(&self, tracer: &mut Tracer<'_>) {
                (**self).trace(tracer);
            }
            #[inline]
            fn prefetch(&self) {
                let pointee: &T = self;
                if core::mem::size_of_val(pointee) != 0 {
                    crate::sync::prefetch(core::ptr::from_ref(pointee).cast::<u8>());
                }
            }
        }
    };
}

pointer!(Box);
pointer!(std::sync::Arc);
pointer!(std::rc::Rc);

impl<T: Trace> Trace for Option<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(v) = self {
            v.trace(tracer);
        }
    }
    #[inline]
    fn prefetch(&self) {
        if let Some(v) = self {
            v.prefetch();
        }
    }
}

impl<T: Trace, E: Trace> Trace for Result<T, E> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match self {
            Ok(v) => v.trace(tracer),
            Err(e) => e.trace(tracer),
        }
    }
    #[inline]
    fn prefetch(&self) {
        match self {
            Ok(v) => v.prefetch(),
            Err(e) => e.prefetch(),
        }
    }
}

impl<T: Trace> Trace for [T] {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for v in self {
            v.trace(tracer);
        }
    }
    #[inline]
    fn prefetch(&self) {
        for v in self {
            v.prefetch();
        }
    }
}

impl<T: Trace, const N: usize> Trace for [T; N] {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.as_slice().trace(tracer);
    }
    #[inline]
    fn prefetch(&self) {
        self.as_slice().prefetch();
    }
}

impl<T: Trace> Trace for Vec<T> {
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for v in self {
            v.trace(tracer);
        }
    }
    #[inline]
    fn prefetch(&self) {
        prefetch_elements(self.as_ptr(), self.len());
    }
}

impl<T: Trace> Trace for VecDeque<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for v in self {
            v.trace(tracer);
        }
    }
    #[inline]
    fn prefetch(&self) {
        let (a, b) = self.as_slices();
        prefetch_elements(a.as_ptr(), a.len());
        prefetch_elements(b.as_ptr(), b.len());
    }
}

/// Containers traced by iterating over their elements.
macro_rules! iterable {
    ($($t:ident),*) => {$(
        impl<T: Trace> Trace for $t<T> {
            fn trace(&self, tracer: &mut Tracer<'_>) {
                for v in self {
                    v.trace(tracer);
                }
            }
        }
    )*};
}

iterable!(LinkedList, BTreeSet, BinaryHeap);

impl<T: Trace, S> Trace for HashSet<T, S> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for v in self {
            v.trace(tracer);
        }
    }
}

impl<K: Trace, V: Trace, S> Trace for HashMap<K, V, S> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for (k, v) in self {
            k.trace(tracer);
            v.trace(tracer);
        }
    }
}

impl<K: Trace, V: Trace> Trace for BTreeMap<K, V> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        for (k, v) in self {
            k.trace(tracer);
            v.trace(tracer);
        }
    }
}

impl<T: Copy + Trace> Trace for core::cell::Cell<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.get().trace(tracer);
    }
}

/// Locks the mutex; a poisoned mutex is traced anyway (its keys are still held).
impl<T: Trace + ?Sized> Trace for Mutex<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let guard = self.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.trace(tracer);
    }
}

/// Read-locks the lock; a poisoned lock is traced anyway (its keys are still held).
impl<T: Trace + ?Sized> Trace for RwLock<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let guard = self.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.trace(tracer);
    }
}

impl<T: Trace> Trace for std::sync::OnceLock<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(v) = self.get() {
            v.trace(tracer);
        }
    }
}

/// Tuples up to twelve elements.
macro_rules! tuple {
    ($($name:ident)+) => {
        impl<$($name: Trace),+> Trace for ($($name,)+) {
            #[allow(non_snake_case)]
            fn trace(&self, tracer: &mut Tracer<'_>) {
                let ($($name,)+) = self;
                $($name.trace(tracer);)+
            }
            #[allow(non_snake_case)]
            #[inline]
            fn prefetch(&self) {
                let ($($name,)+) = self;
                $($name.prefetch();)+
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

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(v: &dyn Trace) -> Vec<Key> {
        let mut out = Vec::new();
        v.trace(&mut Tracer::new(&mut out, TypeId::of::<Key>()));
        out
    }

    #[test]
    fn std_impls_report_every_key() {
        let k = |i| Key::new(i, 1);
        assert_eq!(edges(&k(1)), [k(1)]);
        assert_eq!(edges(&Some(k(2))), [k(2)]);
        assert!(edges(&None::<Key>).is_empty());
        assert_eq!(edges(&vec![k(1), k(2)]), [k(1), k(2)]);
        assert_eq!(edges(&[k(3); 2]), [k(3), k(3)]);
        assert_eq!(edges(&Box::new(k(4))), [k(4)]);
        assert_eq!(edges(&(String::new(), k(5), 7u8, Some(k(6)))), [k(5), k(6)]);
        assert_eq!(edges(&Mutex::new(vec![k(7)])), [k(7)]);
        assert_eq!(edges(&RwLock::new(k(8))), [k(8)]);
        let map: BTreeMap<u32, Key> = [(1, k(9))].into();
        assert_eq!(edges(&map), [k(9)]);
        let poisoned = std::sync::Arc::new(Mutex::new(k(10)));
        let p = std::sync::Arc::clone(&poisoned);
        let _ = std::thread::spawn(move || {
            let _g = p.lock().unwrap();
            panic!("poison");
        })
        .join();
        assert!(poisoned.is_poisoned());
        assert_eq!(edges(&poisoned), [k(10)]);
    }
}
