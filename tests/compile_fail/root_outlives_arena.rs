// Proves: a `Root` borrows its arena (it holds a cell of the arena's root registry), so it
// cannot outlive it. Expected: E0505, cannot move out of `arena` because it is borrowed.
use epoch_arena::Arena;

fn main() {
    let arena: Arena<u32> = Arena::new();
    let root = arena.root(arena.insert(1));
    drop(arena);
    println!("{:?}", root.key());
}
