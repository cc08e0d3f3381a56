// Every field that is not skipped must implement the trait: the error names the field's
// type (a field that holds no keys is marked `#[trace(skip)]`).
use epoch_arena::{Key, Relocate, Trace};

struct Opaque;

#[derive(Trace)]
struct Traced {
    key: Key,
    opaque: Opaque,
}

#[derive(Relocate)]
enum Relocated {
    A(Key, Opaque),
}

fn main() {}
