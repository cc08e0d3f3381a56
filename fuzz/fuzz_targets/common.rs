//! Shared by the fuzz targets: a value type that checks its own integrity and counts its
//! drops, a way to catch the panics a target provokes on purpose, insertion and removal
//! through the arena or a `Handle`, and the end of a run.
#![allow(dead_code, unused_macros, unused_imports)]

use epoch_arena::Arena;
use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Once;
use testkit::gc_oracle::quiet_panics;
pub use testkit::gc_oracle::DropPanic;

/// `check == id ^ MAGIC` while a value is alive.
pub use testkit::MAGIC;
/// Written over `check` by `Drop`: a second drop, or a read after the drop, sees it.
const POISON: u64 = 0xDEAD_BEEF_DEAD_BEEF;

/// Values made, ever, in this process.
static CREATED: AtomicU64 = AtomicU64::new(0);
/// Values dropped, ever, in this process.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Values made so far in this process.
pub fn created() -> u64 {
    CREATED.load(SeqCst)
}

/// Values dropped so far in this process.
pub fn dropped() -> u64 {
    DROPPED.load(SeqCst)
}

/// Values made and not dropped yet.
pub fn undropped() -> u64 {
    // Read `dropped` first: it only trails `created`.
    let d = dropped();
    created() - d
}

/// Every value ever made has been dropped exactly once (a late drop from an earlier run's
/// arena, or a double drop, shows up as `dropped > created`).
pub fn assert_all_dropped(what: &str) {
    let (c, d) = (created(), dropped());
    assert_eq!(c, d, "{what}: {c} values created, {d} dropped");
}

/// The arena's value type: an id, a mutable payload and a heap cell.
///
/// The heap cell makes AddressSanitizer report a double drop as a double free, and a read
/// of a dropped value as a use after free; `check` catches the same without ASan (and torn
/// values). A "panicky" value panics (with [`DropPanic`]) when dropped, after counting the
/// drop: the arena promises to stay consistent and drop everything else exactly once.
#[derive(Debug)]
pub struct Val {
    pub id: u64,
    pub payload: u64,
    check: u64,
    heap: Box<u64>,
    panicky: bool,
}

impl Val {
    pub fn new(id: u64, payload: u64) -> Val {
        Val::with_panicky_drop(id, payload, false)
    }

    pub fn with_panicky_drop(id: u64, payload: u64, panicky: bool) -> Val {
        CREATED.fetch_add(1, SeqCst);
        Val {
            id,
            payload,
            check: id ^ MAGIC,
            heap: Box::new(!id),
            panicky,
        }
    }

    /// Drops a value the fuzz target holds itself, without a panic.
    pub fn drop_quietly(mut self) {
        self.panicky = false;
    }

    pub fn is_intact(&self) -> bool {
        self.check == self.id ^ MAGIC && *self.heap == !self.id
    }

    #[track_caller]
    pub fn assert_intact(&self) {
        assert!(
            self.is_intact(),
            "torn or dropped value: id {:#x} check {:#x}",
            self.id,
            self.check
        );
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        assert!(
            self.is_intact(),
            "dropping a torn or already dropped value: id {:#x} check {:#x}",
            self.id,
            self.check
        );
        self.check = POISON;
        DROPPED.fetch_add(1, SeqCst);
        if self.panicky && !std::thread::panicking() {
            LAST_DROP_PANIC.with(|l| l.set(Some(self.id)));
            panic::panic_any(DropPanic);
        }
    }
}

thread_local! {
    static LAST_DROP_PANIC: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The id of the value whose drop panicked last on this thread, and forgets it.
pub fn take_last_drop_panic() -> Option<u64> {
    LAST_DROP_PANIC.with(|l| l.take())
}

/// The payload of a panic a target raises on purpose.
#[derive(Debug)]
pub struct Intended;

/// Raises an [`Intended`] panic.
pub fn intended_panic() -> ! {
    panic::panic_any(Intended)
}

/// What a caught panic was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caught {
    /// An [`Intended`] panic.
    Intended,
    /// The arena's "key space is full" panic.
    Full,
    /// A [`DropPanic`] the arena passed on.
    DropPanic,
}

const FULL_MESSAGE: &str = "the key space is full";

thread_local! {
    /// 0: no panic expected; 1: `Intended` expected; 2: `Intended` or "full" expected.
    static EXPECTING: Cell<u8> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

fn payload_str(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

fn is_expected(payload: &(dyn Any + Send), level: u8) -> bool {
    (level >= 1 && payload.is::<Intended>())
        || (level >= 2 && payload_str(payload).is_some_and(|s| s.contains(FULL_MESSAGE)))
}

/// libfuzzer-sys installs a panic hook that aborts the process, so `catch_unwind` alone
/// cannot catch anything. Wrap it: panics the current thread expects (see [`catch`]) unwind
/// silently, every other panic still reaches libFuzzer's hook and aborts as a crash, even
/// inside [`catch`].
///
/// A [`DropPanic`] always unwinds silently ([`quiet_panics`], the hook this one wraps): the
/// arena catches those during reclamation, on any thread, inside any `pin`. One that escapes
/// where the arena should have caught it reaches libfuzzer-sys' `catch_unwind` around the
/// target, which aborts (a crash), or a worker thread's `join().unwrap()`, which panics and
/// aborts.
fn install_hook() {
    HOOK.call_once(|| {
        quiet_panics();
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let level = EXPECTING.with(Cell::get);
            if level != 0 {
                if let Some(s) = info.payload_as_str() {
                    if level >= 2 && s.contains(FULL_MESSAGE) {
                        return;
                    }
                } else if is_expected(info.payload(), level) {
                    return;
                }
            }
            previous(info);
        }));
    });
}

/// Runs `f`, catching an [`Intended`] panic, a [`DropPanic`] and, if `allow_full`, the
/// arena's "key space is full" panic. Any other panic aborts the process (libFuzzer
/// reports it as a crash).
pub fn catch<R>(allow_full: bool, f: impl FnOnce() -> R) -> Result<R, Caught> {
    install_hook();
    let old = EXPECTING.with(|e| e.replace(if allow_full { 2 } else { 1 }));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    EXPECTING.with(|e| e.set(old));
    result.map_err(|payload| {
        if payload.is::<Intended>() {
            Caught::Intended
        } else if payload.is::<DropPanic>() {
            Caught::DropPanic
        } else if allow_full && payload_str(&*payload).is_some_and(|s| s.contains(FULL_MESSAGE)) {
            Caught::Full
        } else {
            // Unreachable: the hook aborted already.
            panic::resume_unwind(payload)
        }
    })
}

/// `$arena.$method(args)`, or the same call on the `Handle` kept in `$handle` (an
/// `Option<Handle>` place, the handle made on first use) if `$use_handle`.
macro_rules! on_path {
    ($use_handle:expr, $arena:expr, $handle:expr, $method:ident($($arg:expr),*)) => {{
        let arena = $arena;
        if $use_handle {
            $handle
                .get_or_insert_with(|| arena.handle())
                .$method($($arg),*)
        } else {
            arena.$method($($arg),*)
        }
    }};
}
pub(crate) use on_path;

/// The end of a run: drops the arena, which drops every value, live or pending, and passes
/// on the first drop panic (only a run that `may_panic` made panicky values); checks that
/// every value ever made has been dropped exactly once; then [`settle`]s.
pub fn finish_run<T>(arena: Arena<T>, may_panic: bool) {
    match catch(false, || drop(arena)) {
        Ok(()) => {}
        Err(Caught::DropPanic) => assert!(may_panic, "a drop panicked, no value is panicky"),
        Err(c) => panic!("dropping the arena: {c:?}"),
    }
    take_last_drop_panic();
    assert_all_dropped("after dropping the arena");
    settle();
}

/// Frees what a run leaves behind, so that a run frees about as much as it allocates:
/// libFuzzer runs an expensive leak check (twice the input plus a LeakSanitizer pass) after
/// every input that allocates more than it frees, which otherwise costs most of the time.
///
/// * This thread's insertion cache keeps the last arena's index pool alive until it is
///   bound to another arena: bind it to a tiny one instead.
/// * Deferred reclamation batches keep the arena's internals alive until the epoch
///   collector runs them: drive it.
pub fn settle() {
    {
        let arena: Arena<u8> = Arena::new();
        let _ = arena.try_insert(0);
    }
    for _ in 0..16 {
        epoch_arena::pin().flush();
    }
}
