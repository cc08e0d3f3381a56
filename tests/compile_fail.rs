//! Compile-fail tests: each file in `tests/compile_fail/` is a program the safety model
//! says must not compile, with a comment naming the property it proves; each file in
//! `tests/compile_fail_derive/` (feature `derive`) is a misuse of `#[derive(Trace)]` or
//! `#[derive(Relocate)]` whose error message it pins. The expected
//! errors (the `.stderr` beside each file) depend on the exact rustc version; CI runs on
//! this machine with its toolchain. After a compiler upgrade, regenerate them with
//! `TRYBUILD=overwrite cargo test --test compile_fail` and read each one to check that it
//! is still the intended error, not an unrelated one.

#[test]
#[cfg_attr(miri, ignore)]
fn safety_model_compile_fail() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}

/// The derives' errors (feature `derive`): a union, unknown and malformed helper
/// attributes, and a field whose type does not implement the trait.
#[test]
#[cfg(feature = "derive")]
#[cfg_attr(miri, ignore)]
fn derive_compile_fail() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail_derive/*.rs");
}
