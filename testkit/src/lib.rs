//! Scaffolding shared by epoch-arena's integration tests, benches and fuzz targets (which
//! depend on it by path). Not published.
//!
//! * [`Rng`]: the one deterministic random number generator.
//! * [`DropLog`] and [`Tracked`]: a value that counts its drops and notices being torn or
//!   dropped twice.
//! * [`reclaim_until`]: drive epoch reclamation until a condition holds.
//! * `contender` (feature `contenders`): epoch-arena and the crates a user would pick
//!   instead, behind the traits the arena bench's workloads are written against.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

#[cfg(feature = "contenders")]
pub mod contender;
mod drops;
pub mod gc_oracle;
mod rng;

pub use drops::{reclaim_until, DropLog, Tracked, MAGIC};
pub use rng::Rng;
