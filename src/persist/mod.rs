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

pub(crate) use crate::arena::ImageHead;
