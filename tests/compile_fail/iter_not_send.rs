// Proves: an `Iter` is not `Send`. It borrows a `Guard` of the thread that made it, so it
// cannot be moved into another thread (where it would read values the other thread's pin
// no longer protects). Expected: E0277, `*const crossbeam_epoch::internal::Local` cannot be
// shared between threads safely, required for `Iter<'_, u32>` to be `Send`.
// The arena and the guard are leaked to `'static` so that the missing `Send` is the only
// error (not a borrow that the spawned thread could outlive).
use epoch_arena::{pin, Arena};

fn main() {
    let arena: &'static Arena<u32> = Box::leak(Box::new(Arena::new()));
    arena.insert(1);
    let guard: &'static _ = Box::leak(Box::new(pin()));
    let iter = arena.iter(guard);
    std::thread::spawn(move || {
        for (_key, value) in iter {
            println!("{value}");
        }
    })
    .join()
    .unwrap();
}
