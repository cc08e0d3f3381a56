// Proves: the `&T` items of `Arena::iter` borrow its `Guard`, so an item cannot be used after
// the guard is dropped. Expected: E0505, cannot move out of `guard` because it is borrowed.
use epoch_arena::{pin, Arena};

fn main() {
    let arena = Arena::new();
    arena.insert(String::from("value"));
    let guard = pin();
    let (_key, value): (_, &String) = arena.iter(&guard).next().unwrap();
    drop(guard);
    println!("{value}");
}
