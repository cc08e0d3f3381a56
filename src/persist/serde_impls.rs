//! `Serialize` and `Deserialize` for [`Key`] and [`Arena`].
//!
//! # The representation
//!
//! A [`Key`] is its [`to_bits`](Key::to_bits) word, a `u64`. An [`Arena<T>`] is a struct of
//! four fields, written in this order:
//!
//! | field       | type                     | what                                            |
//! |-------------|--------------------------|-------------------------------------------------|
//! | `max_slots` | `u32`                    | the key space limit ([`Arena::max_slots`])      |
//! | `floor`     | `u32`                    | the generation fresh slots start from           |
//! | `slots`     | sequence of `(u32, Option<T>)` | one entry per slot below the high water, in index order: `(generation, Some(value))` for a live value, `(state, None)` for a free slot (a multiple of 4, at or above `floor`), `(u32::MAX, None)` for a retired one |
//! | `len`       | `u64`                    | live values: a check on `slots`                 |
//!
//! In JSON, an arena of two values with one removed between them reads
//! `{"max_slots":4294967295,"floor":0,"slots":[[1,"a"],[4,null],[1,"c"]],"len":2}`.
//!
//! Deserializing checks the description and returns a serde error, never a panic, for
//! anything no arena could have written: a slot state that is not one of the above (a
//! REMOVED state, a free state below the floor), a live slot without a value or a free one
//! with one, more slots than `max_slots`, a `len` that does not count the live slots, or
//! `slots` before `max_slots` and `floor` (the arena is built while `slots` is read, so
//! it needs them first). Memory grows with the entries actually read, never with a declared
//! length. See [`persist`](super) for why the keys keep their promises.

use super::ImageHead;
use crate::arena::{Arena, Builder};
use crate::key::Key;
use crate::key_type::ArenaKey;
use crate::raw::persist::{Restorer, SlotImage};
use crate::raw::slot;
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.to_bits())
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        let bits = u64::deserialize(deserializer)?;
        Key::from_bits(bits).ok_or_else(|| {
            de::Error::invalid_value(
                de::Unexpected::Unsigned(bits),
                &"a key: a u64 whose low 32 bits are 4n + 1",
            )
        })
    }
}

/// The fields, in the order they are written.
const FIELDS: &[&str] = &["max_slots", "floor", "slots", "len"];

impl<T: Serialize + Send + Sync, K: ArenaKey> Serialize for Arena<T, K> {
    /// Writes the arena's image (see [Persistence](crate::implementation#persistence)): a
    /// struct of `max_slots: u32`, `floor: u32`, `slots` (one `(u32, Option<T>)` per slot
    /// below the high water: `(generation, Some(value))` live, `(state, None)` free,
    /// `(u32::MAX, None)` retired) and `len: u64`. In JSON:
    /// `{"max_slots":4294967295,"floor":0,"slots":[[1,"a"],[4,null],[1,"c"]],"len":2}`.
    ///
    /// While other threads insert and remove, each slot is read consistently, as by
    /// [`iter`](Arena::iter), and `len` counts the live slots written, so the output always
    /// deserializes.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let head = self.image_head();
        let mut out = serializer.serialize_struct("Arena", FIELDS.len())?;
        out.serialize_field("max_slots", &head.max_slots)?;
        out.serialize_field("floor", &head.floor)?;
        let live = Cell::new(0u64);
        out.serialize_field(
            "slots",
            &Slots {
                arena: self,
                head: &head,
                live: &live,
            },
        )?;
        out.serialize_field("len", &live.get())?;
        out.end()
    }
}

/// The `slots` field: every slot below the high water.
struct Slots<'a, T, K> {
    arena: &'a Arena<T, K>,
    head: &'a ImageHead,
    live: &'a Cell<u64>,
}

impl<T: Serialize + Send + Sync, K: ArenaKey> Serialize for Slots<'_, T, K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.head.slots as usize))?;
        self.arena.walk_image(self.head.slots, |_, image| {
            let (state, value) = match image {
                SlotImage::Live(generation, value) => {
                    self.live.set(self.live.get() + 1);
                    (generation, Some(value))
                }
                SlotImage::Free(state) => (state, None),
                SlotImage::Retired => (slot::RETIRED, None),
            };
            seq.serialize_element(&(state, value))
        })?;
        seq.end()
    }
}

impl<'de, T: Deserialize<'de> + Send + Sync, K: ArenaKey> Deserialize<'de> for Arena<T, K> {
    /// Rebuilds an arena from its image, checking it (see
    /// [Persistence](crate::implementation#persistence)). The
    /// arena gets the default [`Pacing`](crate::Pacing).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Arena<T, K>, D::Error> {
        deserializer.deserialize_struct("Arena", FIELDS, ArenaVisitor(PhantomData))
    }
}

struct ArenaVisitor<T, K>(PhantomData<fn() -> (T, K)>);

/// An arena being filled while its `slots` field is read.
struct Filling<T: Send + Sync, K> {
    arena: Arena<T, K>,
    live: u64,
}

impl<T: Send + Sync, K: ArenaKey> Filling<T, K> {
    /// Reads the `slots` field from `read` (which runs the seed) into a new arena.
    fn read<E: de::Error>(
        max_slots: u32,
        floor: u32,
        read: impl FnOnce(SlotsSeed<'_, '_, T>) -> Result<(), E>,
    ) -> Result<Self, E> {
        let arena = Builder::new().max_slots(max_slots).build();
        let mut restorer = Restorer::new(arena.inner(), floor).map_err(E::custom)?;
        read(SlotsSeed {
            restorer: &mut restorer,
        })?;
        let live = restorer.live();
        restorer.finish();
        Ok(Filling { arena, live })
    }

    fn check_len<E: de::Error>(self, len: u64) -> Result<Arena<T, K>, E> {
        if len != self.live {
            return Err(E::custom(format_args!(
                "`len` is {len}, but {} slots are live",
                self.live
            )));
        }
        Ok(self.arena)
    }
}

impl<'de, T: Deserialize<'de> + Send + Sync, K: ArenaKey> Visitor<'de> for ArenaVisitor<T, K> {
    type Value = Arena<T, K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an epoch-arena image: max_slots, floor, slots, len")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Arena<T, K>, A::Error> {
        let max_slots: u32 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let floor: u32 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let filling = Filling::read(max_slots, floor, |seed| {
            seq.next_element_seed(seed)?
                .ok_or_else(|| de::Error::invalid_length(2, &self))
        })?;
        let len: u64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(3, &self))?;
        filling.check_len(len)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Arena<T, K>, A::Error> {
        let mut max_slots = None;
        let mut floor = None;
        let mut filling: Option<Filling<T, K>> = None;
        let mut len = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::MaxSlots => set_once(&mut max_slots, "max_slots", map.next_value()?)?,
                Field::Floor => set_once(&mut floor, "floor", map.next_value()?)?,
                Field::Len => set_once(&mut len, "len", map.next_value()?)?,
                Field::Slots => {
                    if filling.is_some() {
                        return Err(de::Error::duplicate_field("slots"));
                    }
                    let (Some(max_slots), Some(floor)) = (max_slots, floor) else {
                        return Err(de::Error::custom(
                            "`slots` must come after `max_slots` and `floor`",
                        ));
                    };
                    filling = Some(Filling::read(max_slots, floor, |seed| {
                        map.next_value_seed(seed)
                    })?);
                }
            }
        }
        let filling = filling.ok_or_else(|| de::Error::missing_field("slots"))?;
        filling.check_len(len.ok_or_else(|| de::Error::missing_field("len"))?)
    }
}

fn set_once<V, E: de::Error>(slot: &mut Option<V>, name: &'static str, value: V) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

/// A field name of the map form.
enum Field {
    MaxSlots,
    Floor,
    Slots,
    Len,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Field, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`max_slots`, `floor`, `slots` or `len`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                match v {
                    "max_slots" => Ok(Field::MaxSlots),
                    "floor" => Ok(Field::Floor),
                    "slots" => Ok(Field::Slots),
                    "len" => Ok(Field::Len),
                    other => Err(E::unknown_field(other, FIELDS)),
                }
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

/// Reads the `slots` sequence straight into the arena being filled.
struct SlotsSeed<'s, 'a, T: Send + Sync> {
    restorer: &'s mut Restorer<'a, T, crate::gc::GcState>,
}

impl<'de, T: Deserialize<'de> + Send + Sync> DeserializeSeed<'de> for SlotsSeed<'_, '_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de> + Send + Sync> Visitor<'de> for SlotsSeed<'_, '_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of slots: (state, value or null)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // No `size_hint` preallocation: memory follows the entries actually read.
        while let Some((state, value)) = seq.next_element::<(u32, Option<T>)>()? {
            let index = self.restorer.slots();
            let restored = match (state, value) {
                (state, Some(value)) if slot::is_occupied(state) => {
                    self.restorer.live_slot(state, value)
                }
                (_, Some(_)) => Err("a value in a slot whose state is not live (4n + 1)"),
                (slot::RETIRED, None) => self.restorer.retired_slot(),
                (state, None) if slot::is_occupied(state) => Err("a live slot without a value"),
                (state, None) => self.restorer.free_slot(state),
            };
            restored.map_err(|why| de::Error::custom(format_args!("slot {index}: {why}")))?;
        }
        Ok(())
    }
}
