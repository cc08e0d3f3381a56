// Malformed helper attributes: no arguments, a value for `skip`, `skip` twice, an empty
// list, and the attribute on the type or a variant instead of a field.
use epoch_arena::{Key, Relocate, Trace};

#[derive(Trace)]
struct NoArguments {
    #[trace]
    a: Key,
}

#[derive(Trace)]
struct SkipWithValue {
    #[trace(skip = true)]
    a: Key,
}

#[derive(Relocate)]
struct SkipTwice {
    #[relocate(skip, skip)]
    a: Key,
}

#[derive(Trace)]
struct Empty {
    #[trace()]
    a: Key,
}

#[derive(Trace)]
#[trace(skip)]
struct OnTheType {
    a: Key,
}

#[derive(Relocate)]
enum OnAVariant {
    #[relocate(skip)]
    A(Key),
}

fn main() {}
