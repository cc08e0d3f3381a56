// Proves: a `Guard` is not `Send`. A pin belongs to the thread that made it (it points at
// that thread's crossbeam-epoch `Local`), so it cannot be moved into another thread.
// Expected: E0277, `*const crossbeam_epoch::internal::Local` cannot be sent between threads
// safely, required because it appears within `Guard`.
use epoch_arena::pin;

fn main() {
    let guard = pin();
    std::thread::spawn(move || {
        guard.flush();
    })
    .join()
    .unwrap();
}
