//! Persistence (feature `serde`): an arena saved and loaded with every key's promise kept.
//!
//! Both ways of saving describe the same *image* of the arena (see `raw/persist.rs` and
//! [Persistence](crate::implementation#persistence)): the key space limit, the generation
//! floor, and every slot below the high water as live (generation and value), free (its
//! state) or retired. Loading writes each slot's state back, so a key that was live finds the
//! same value and a key that was dead stays dead, whatever removed it (`remove`, `clear`, a
//! collection, a compaction that moved its value, a trim that gave its memory back).
//!
//! * `serde_impls.rs`: `Serialize`/`Deserialize` for [`Key`](crate::Key) and
//!   [`Arena`](crate::Arena), for any serde format.
//! * `snapshot/`: [`Arena::write_snapshot`](crate::Arena::write_snapshot) and
//!   [`Arena::read_snapshot`](crate::Arena::read_snapshot), a checked, versioned,
//!   streaming binary format.

mod serde_impls;
mod snapshot;

pub use self::snapshot::{SnapshotError, SnapshotInfo, SNAPSHOT_VERSION};

use crate::arena::{pin, Arena};
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
