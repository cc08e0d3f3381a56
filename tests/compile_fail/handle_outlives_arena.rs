// Proves: a `Handle` borrows its arena (it caches the arena's free slots), so it cannot
// outlive it. Expected: E0505, cannot move out of `arena` because it is borrowed.
use epoch_arena::Arena;

fn main() {
    let arena: Arena<u32> = Arena::new();
    let mut handle = arena.handle();
    drop(arena);
    handle.insert(1);
}
