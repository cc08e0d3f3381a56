//! The arena's *image*: the key space limit, the generation floor and every slot below the
//! high water as live, free or retired, read slot by slot under a guard (`raw/persist.rs`).
//! What both ways of saving (feature `serde`) and [`Clone`] describe; see
//! [Persistence](crate::implementation#persistence).

use super::{pin, Arena};
use crate::key_type::ArenaKey;
use crate::raw::persist::{self, SlotImage};

/// What a walk over the image starts from: read once, before the first slot.
pub(crate) struct ImageHead {
    pub(crate) max_slots: u32,
    pub(crate) floor: u32,
    /// Slots described: the high water when the walk began, less the slots at its top that
    /// are free at the floor (a fresh slot would start there too).
    pub(crate) slots: u32,
}

impl<T: Send + Sync, K: ArenaKey> Arena<T, K> {
    /// The key space limit, the floor and the number of slots an image of the arena holds.
    pub(crate) fn image_head(&self) -> ImageHead {
        let inner = self.inner();
        // The high water first, the floor last. The floor only grows, and a trim raises it
        // before it gives memory back (and a slot read as zero from given-back memory comes
        // with that raise; see `raw/release.rs`), so the floor read here is at least every
        // floor that `image_end` compared with: a slot it left out (free at most at the floor it saw)
        // starts at this floor or above when it is fresh again, and every free state `walk`
        // reads later is at or above it. Slots past the high water handed out meanwhile
        // start at a floor at least as high.
        let high_water = inner.high_water() as u32;
        let slots = persist::image_end(inner, high_water);
        let floor = inner.anchor.pool.floor();
        ImageHead {
            max_slots: self.max_slots(),
            floor,
            slots,
        }
    }

    /// Calls `f` with slots `0..slots` in index order, each read consistently under a
    /// guard of this thread's that is repinned now and then between two slots.
    pub(crate) fn walk_image<E>(
        &self,
        slots: u32,
        f: impl FnMut(u32, SlotImage<'_, T>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut guard = pin();
        persist::walk(self.inner(), slots, || guard.repin(), f)
    }
}
