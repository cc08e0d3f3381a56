// Proves: a `&T` from `Arena::get` also borrows the arena, so it cannot outlive it (dropping
// the arena drops every value). Expected: E0505, cannot move out of `arena` because it is
// borrowed.
use epoch_arena::{pin, Arena};

fn main() {
    let guard = pin();
    let arena = Arena::new();
    let key = arena.insert(String::from("value"));
    let value: &String = arena.get(key, &guard).unwrap();
    drop(arena);
    println!("{value}");
}
