//! A lock-free concurrent generational arena with epoch-based reclamation.
//!
//! TODO crate docs (written below once the API settles).

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]

mod arena;
mod chunk;
mod counter;
mod free_list;
mod guard;
mod handle;
mod iter;
mod key;
mod local;
mod reclaim;
mod slot;
mod sync;

pub use arena::{Arena, Builder, Stats};
pub use chunk::MAX_SLOTS;
pub use guard::{pin, Guard};
pub use handle::Handle;
pub use iter::{Drain, Iter, IterMut};
pub use key::Key;
