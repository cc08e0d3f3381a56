//! Collection when the system refuses to start threads (a thread, process or memory limit):
//! the collector must fall back to fewer markers and sweepers, down to the calling thread
//! alone, and finish the cycle correctly.
//!
//! The test re-executes this binary as a child process with `RUST_MIN_STACK` set to more
//! than the address space, so in the child every `std::thread::Builder::spawn` without an
//! explicit stack size fails (`WouldBlock`), for root too (`RLIMIT_NPROC` does not bind
//! root). The child collects a graph with four threads asked for and checks the result; the
//! parent checks that the child succeeded within a liveness bound (before the fix, the
//! markers that started waited forever for those that did not, and a refused spawn
//! panicked).
//!
//! This target has its own `main` (`harness = false` in `Cargo.toml`), so that nothing but
//! the collector tries to start threads in the child. It prints libtest's summary line.

use epoch_arena::{Arena, CollectOptions, Key};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const NAME: &str = "collect_falls_back_to_the_caller_when_no_thread_can_start";
/// Set in the child's environment.
const CHILD: &str = "EPOCH_ARENA_SPAWN_FAILURE_CHILD";
/// 200 TB: more than the address space, so no thread stack of this size can be mapped.
const IMPOSSIBLE_STACK: &str = "200000000000000";
/// The child normally takes well under a second; before the fix it never finished.
const LIMIT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    if std::env::var_os(CHILD).is_some() {
        child();
        return ExitCode::SUCCESS;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") {
        // libtest's format, for `cargo test -- --list` and cargo-nextest.
        if !has("--ignored") {
            println!("{NAME}: test");
        }
        return ExitCode::SUCCESS;
    }
    // A filter, as libtest takes it: arguments that are not flags or flags' values.
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--skip" => skips.extend(rest.next()),
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" | "--shuffle-seed" => {
                rest.next();
            }
            a if a.starts_with('-') => {}
            a => filters.push(a),
        }
    }
    let matches = |f: &str| {
        if has("--exact") {
            NAME == f
        } else {
            NAME.contains(f)
        }
    };
    let selected = (filters.is_empty() || filters.iter().any(|f| matches(f)))
        && !skips.iter().any(|s| NAME.contains(s.as_str()))
        && !has("--ignored")
        && !has("--bench");
    if !selected {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out; finished in 0.00s\n");
        return ExitCode::SUCCESS;
    }
    println!("\nrunning 1 test");
    if cfg!(miri) {
        println!("test {NAME} ... ignored, miri cannot start processes\n");
        println!("test result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n");
        return ExitCode::SUCCESS;
    }
    let start = Instant::now();
    match parent() {
        Ok(()) => {
            println!("test {NAME} ... ok\n");
            println!(
                "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
                start.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("test {NAME} ... FAILED\n\nfailures:\n    {why}\n");
            println!(
                "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
                start.elapsed().as_secs_f64()
            );
            ExitCode::from(101)
        }
    }
}

/// Runs the child and waits for it, at most [`LIMIT`].
fn parent() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .env(CHILD, "1")
        .env("RUST_MIN_STACK", IMPOSSIBLE_STACK)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the child: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("the child failed ({status}); see its output")),
            Ok(None) if start.elapsed() > LIMIT => {
                // Our own child, by its handle.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the child's collections did not finish within {LIMIT:?}: a marker waits \
                     for one that never started?"
                ));
            }
            // A polling interval, not a timing assertion.
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the child: {e}")),
        }
    }
}

/// In the child: no thread can start. Collects with four threads asked for.
fn child() {
    assert!(
        std::thread::Builder::new().spawn(|| ()).is_err(),
        "RUST_MIN_STACK={IMPOSSIBLE_STACK} did not make thread spawns fail: this test would \
         test nothing"
    );
    // A binary tree of N nodes (node i has children 2i+1 and 2i+2) and N garbage nodes
    // pointing into it, interleaved, so every part of a parallel sweep has garbage.
    const N: usize = 20_000;
    let arena: Arena<Vec<Key>> = Arena::new();
    let mut tree = vec![None; N];
    let mut garbage = Vec::with_capacity(N);
    for i in (0..N).rev() {
        let children = [2 * i + 1, 2 * i + 2]
            .iter()
            .filter_map(|&c| tree.get(c).copied().flatten())
            .collect();
        let key = arena.insert(children);
        tree[i] = Some(key);
        garbage.push(arena.insert(vec![key]));
    }
    let tree: Vec<Key> = tree.into_iter().map(Option::unwrap).collect();
    // Half the tree through the `roots` argument, the other half through a `Root`.
    let left = tree[1];
    let right = arena.root(tree[2]);
    let opts = CollectOptions {
        threads: 4,
        parallel_min_slots: 0,
    };
    let stats = arena.collect_with([left], opts);
    assert_eq!(stats.threads, 1, "no marker thread could start");
    assert_eq!(stats.marked, N - 1, "every value reachable from the roots");
    assert_eq!(stats.swept, N + 1, "the garbage and the unrooted tree root");
    assert!(
        tree[1..].iter().all(|&k| arena.contains(k)),
        "a reachable value was swept"
    );
    assert!(garbage.iter().all(|&k| !arena.contains(k)) && !arena.contains(tree[0]));
    let again = arena.collect_with([left], opts);
    assert_eq!((again.threads, again.marked, again.swept), (1, N - 1, 0));
    drop(right);
    let last = arena.collect_with([left], opts);
    let mut right_subtree = 0;
    let mut stack = vec![2];
    while let Some(i) = stack.pop() {
        if i < N {
            right_subtree += 1;
            stack.extend([2 * i + 1, 2 * i + 2]);
        }
    }
    assert_eq!(last.swept, right_subtree, "the right subtree, unrooted");
    assert!(!arena.contains(tree[2]) && arena.contains(tree[1]));
    eprintln!(
        "child: {} marked and {} swept with no collector thread started",
        stats.marked, stats.swept
    );
}
