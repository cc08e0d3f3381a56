// Proves: `Arena::get_mut` (the `&mut` API, which needs no grace period) cannot be called
// while a `&T` from `Arena::get` is alive. Expected: E0502, cannot borrow `arena` as mutable
// because it is also borrowed as immutable.
use epoch_arena::{pin, Arena};

fn main() {
    let mut arena = Arena::new();
    let key = arena.insert(String::from("value"));
    let guard = pin();
    let shared: &String = arena.get(key, &guard).unwrap();
    arena.get_mut(key).unwrap().push('!');
    println!("{shared}");
}
