//! Typed keys: the [`ArenaKey`] trait and the [`new_key_type!`](crate::new_key_type) macro.
//!
//! An [`Arena<T, K>`](crate::Arena) hands out keys of type `K`. Every key type is a
//! [`Key`] underneath (the same 64-bit word, the same promises); the type only tells the
//! compiler which arena a key belongs to, so a `NodeId` cannot be passed to the arena of
//! `StyleId`s. The conversion is free: `K` is a `#[repr(transparent)]` wrapper of `Key`.
//!
//! Typed keys also make the collector and compaction precise where values hold keys of
//! several arenas: [`Tracer::edge`](crate::Tracer::edge) follows only keys of the traced
//! arena's key type, and [`Relocate`](crate::Relocate) rewrites only keys of the compacted
//! arena's key type, so a `NodeId` field is never "relocated" by a remap of styles.

use crate::key::Key;
use core::fmt::Debug;
use core::hash::Hash;

/// A key type for an [`Arena`](crate::Arena): [`Key`] itself, or a type made by
/// [`new_key_type!`](crate::new_key_type).
///
/// A key type is a plain [`Key`] with a name: `from_key` and `to_key` convert without
/// changing a bit. Implement it with the macro; a hand-written impl must make
/// `K::from_key(k).to_key() == k` for every `k` (anything else only makes lookups miss:
/// looking up any key is always safe).
///
/// ```
/// use epoch_arena::{new_key_type, Arena, ArenaKey, Key};
///
/// new_key_type! {
///     /// A node of the document tree.
///     pub struct NodeId;
/// }
///
/// let arena: Arena<&str, NodeId> = Arena::default();
/// let id: NodeId = arena.insert("html");
/// let raw: Key = id.to_key();
/// assert_eq!(NodeId::from_key(raw), id);
/// assert_eq!(format!("{id:?}"), format!("NodeId({}v{})", raw.index(), raw.generation()));
/// ```
pub trait ArenaKey: Copy + Eq + Ord + Hash + Debug + Send + Sync + 'static {
    /// The typed key for `key`'s bits.
    fn from_key(key: Key) -> Self;

    /// The untyped key: the same bits.
    fn to_key(self) -> Key;
}

impl ArenaKey for Key {
    #[inline]
    fn from_key(key: Key) -> Self {
        key
    }

    #[inline]
    fn to_key(self) -> Key {
        self
    }
}

/// Declares key types for [`Arena<T, K>`](crate::Arena): each a `#[repr(transparent)]`
/// wrapper of [`Key`], 8 bytes, with `Option<K>` 8 bytes too.
///
/// Each type gets `Clone`, `Copy`, `PartialEq`, `Eq`, `PartialOrd`, `Ord`, `Hash`, a
/// `Debug` that prints `Name(index v generation)`, [`ArenaKey`], `From<Key>` both ways,
/// [`Trace`](crate::Trace) and [`Relocate`](crate::Relocate), and with feature `serde`,
/// `Serialize`/`Deserialize` as the key's 64-bit word (as [`Key`]).
///
/// Keys of two key types do not mix: an arena of one does not take the other.
///
/// ```
/// use epoch_arena::{new_key_type, Arena};
///
/// new_key_type! {
///     /// A node of the document tree.
///     pub struct NodeId;
///     /// A computed style.
///     pub struct StyleId;
/// }
///
/// let nodes: Arena<String, NodeId> = Arena::default();
/// let styles: Arena<u32, StyleId> = Arena::default();
/// let n = nodes.insert("div".to_string());
/// let s = styles.insert(700);
/// let guard = epoch_arena::pin();
/// assert_eq!(nodes.get(n, &guard).map(String::as_str), Some("div"));
/// assert_eq!(styles.get(s, &guard), Some(&700));
/// assert_eq!(std::mem::size_of::<Option<NodeId>>(), 8);
/// ```
///
/// ```compile_fail
/// use epoch_arena::{new_key_type, Arena};
/// new_key_type! { struct NodeId; struct StyleId; }
/// let nodes: Arena<u8, NodeId> = Arena::default();
/// let styles: Arena<u8, StyleId> = Arena::default();
/// let s = styles.insert(1);
/// nodes.remove(s); // a StyleId is not a NodeId
/// ```
#[macro_export]
macro_rules! new_key_type {
    ($($(#[$meta:meta])* $vis:vis struct $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        $vis struct $name($crate::Key);

        impl $crate::ArenaKey for $name {
            #[inline]
            fn from_key(key: $crate::Key) -> Self {
                $name(key)
            }

            #[inline]
            fn to_key(self) -> $crate::Key {
                self.0
            }
        }

        impl ::core::convert::From<$crate::Key> for $name {
            #[inline]
            fn from(key: $crate::Key) -> Self {
                $name(key)
            }
        }

        impl ::core::convert::From<$name> for $crate::Key {
            #[inline]
            fn from(key: $name) -> Self {
                key.0
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::write!(
                    f,
                    "{}({}v{})",
                    ::core::stringify!($name),
                    self.0.index(),
                    self.0.generation()
                )
            }
        }

        impl $crate::Trace for $name {
            #[inline]
            fn trace(&self, tracer: &mut $crate::Tracer<'_>) {
                tracer.edge(*self);
            }
        }

        impl $crate::Relocate for $name {
            #[inline]
            fn relocate(&mut self, remap: &$crate::AnyRemap) {
                remap.relocate_key(self);
            }
        }

        $crate::__serde_for_key_type!($name);
    )*};
}

/// `Serialize`/`Deserialize` for a [`new_key_type!`] type (feature `serde` on).
#[cfg(feature = "serde")]
#[doc(hidden)]
#[macro_export]
macro_rules! __serde_for_key_type {
    ($name:ident) => {
        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                $crate::__private::serde::Serialize::serialize(&self.0, serializer)
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                <$crate::Key as $crate::__private::serde::Deserialize<'de>>::deserialize(
                    deserializer,
                )
                .map($name)
            }
        }
    };
}

/// Nothing without feature `serde`.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __serde_for_key_type {
    ($name:ident) => {};
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::new_key_type! {
        struct A;
        pub(crate) struct B;
    }

    #[test]
    fn key_types_convert_without_changing_bits() {
        let k = Key::from_bits((3 << 32) | 5).unwrap();
        assert_eq!(A::from_key(k).to_key(), k);
        assert_eq!(Key::from(B::from(k)), k);
        assert_eq!(format!("{:?}", A::from_key(k)), "A(3v5)");
        assert_eq!(core::mem::size_of::<Option<A>>(), 8);
    }
}
