// A union cannot derive `Trace` or `Relocate`: which field holds the value is not known,
// so no derived impl could know which keys to report or rewrite.
use epoch_arena::{Key, Relocate, Trace};

#[derive(Trace)]
union Traced {
    key: Key,
    bits: u64,
}

#[derive(Relocate)]
union Relocated {
    key: Key,
    bits: u64,
}

fn main() {}
