// `skip` is the only argument of `#[trace(...)]` and `#[relocate(...)]`: a misspelled one
// is an error at the argument, not silently a field that is traced after all. (Deriving
// both traits reports it once.)
use epoch_arena::{Key, Relocate, Trace};

#[derive(Trace, Relocate)]
struct Node {
    #[trace(skp)]
    parent: Option<Key>,
    #[relocate(skip, foo)]
    children: Vec<Key>,
}

fn main() {}
