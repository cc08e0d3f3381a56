// Proves: a `&T` from `Arena::get` borrows its `Guard`, so it cannot be used after the
// guard is dropped (after that the value may be reclaimed). Expected: E0505, cannot move
// out of `guard` because it is borrowed.
use epoch_arena::{pin, Arena};

fn main() {
    let arena = Arena::new();
    let key = arena.insert(String::from("value"));
    let guard = pin();
    let value: &String = arena.get(key, &guard).unwrap();
    drop(guard);
    println!("{value}");
}
