//! Scaffolding shared by epoch-arena's integration tests, benches and fuzz targets (which
//! depend on it by path). Not published.
//!
//! * [`Rng`]: the one deterministic random number generator.
//! * [`DropLog`] and [`Tracked`]: a value that counts its drops and notices being torn or
//!   dropped twice.
//! * [`reclaim_until`]: drive epoch reclamation until a condition holds.
//! * `proptest_config` (feature `proptest`): the property tests' configuration, sized for
//!   miri.
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

/// The configuration of a property test suite: `native_cases` cases, or `miri_cases` under
/// miri, where failure persistence is off too (miri's isolation forbids the file system it
/// needs); everything else as `ProptestConfig::default()` (which reads `PROPTEST_CASES` only
/// when `cases` is left to it, so pass the count you want). Use it as
/// `#![proptest_config(testkit::proptest_config(256, 2))]` at the top of a `proptest!` block.
#[cfg(feature = "proptest")]
pub fn proptest_config(native_cases: u32, miri_cases: u32) -> proptest::test_runner::Config {
    let default = proptest::test_runner::Config::default();
    if cfg!(miri) {
        proptest::test_runner::Config {
            cases: miri_cases,
            failure_persistence: None,
            ..default
        }
    } else {
        proptest::test_runner::Config {
            cases: native_cases,
            ..default
        }
    }
}
