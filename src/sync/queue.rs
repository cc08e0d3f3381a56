//! The collector's work queues: the grey queue that shades push onto and markers drain, and
//! the work-stealing deques of parallel marking.
//!
//! On `std` these are crossbeam-deque's `Injector`, `Worker` and `Stealer`. Under loom the
//! grey queue is a mutex-protected vector (the protocol under test is the phase word and the
//! mark bits, not crossbeam-deque, which loom cannot model), and the deques are uninhabited
//! types: a collection never starts a second marker under loom ([`PARALLEL`](super::PARALLEL)
//! is false), so the code that would use them compiles and never runs.

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Steal, Stealer, Worker};
#[cfg(loom)]
pub(crate) use never::{Steal, Stealer, Worker};

/// A multi-producer queue that any thread may drain.
#[cfg(not(loom))]
pub(crate) struct GreyQueue<T>(crossbeam_deque::Injector<T>);

#[cfg(not(loom))]
impl<T> GreyQueue<T> {
    pub(crate) fn new() -> Self {
        GreyQueue(crossbeam_deque::Injector::new())
    }

    pub(crate) fn push(&self, item: T) {
        self.0.push(item);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Moves queued items onto `stack`; returns whether there were any.
    pub(crate) fn drain_into(&self, stack: &mut Vec<T>) -> bool {
        let before = stack.len();
        loop {
            match self.0.steal() {
                Steal::Success(item) => stack.push(item),
                Steal::Empty => break,
                Steal::Retry => continue,
            }
        }
        stack.len() > before
    }

    /// Discards every queued item.
    pub(crate) fn clear(&self) {
        while !matches!(self.0.steal(), Steal::Empty) {}
    }

    /// Moves a batch of queued items into `local` and pops one of them.
    pub(crate) fn steal_batch_and_pop(&self, local: &Worker<T>) -> Steal<T> {
        self.0.steal_batch_and_pop(local)
    }
}

#[cfg(loom)]
pub(crate) struct GreyQueue<T>(super::Mutex<Vec<T>>);

#[cfg(loom)]
impl<T> GreyQueue<T> {
    pub(crate) fn new() -> Self {
        GreyQueue(super::Mutex::new(Vec::new()))
    }

    pub(crate) fn push(&self, item: T) {
        self.0.lock().unwrap().push(item);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }

    pub(crate) fn drain_into(&self, stack: &mut Vec<T>) -> bool {
        let mut q = self.0.lock().unwrap();
        let any = !q.is_empty();
        stack.append(&mut q);
        any
    }

    pub(crate) fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    pub(crate) fn steal_batch_and_pop(&self, local: &Worker<T>) -> Steal<T> {
        match local.0 {}
    }
}

/// Under loom: deques that cannot exist (see the module docs).
#[cfg(loom)]
mod never {
    use core::convert::Infallible;
    use core::marker::PhantomData;

    #[allow(dead_code)] // matched by the marking code, never made: no deque exists
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        Retry,
    }

    pub(crate) struct Worker<T>(pub(super) Infallible, PhantomData<T>);

    impl<T> Worker<T> {
        pub(crate) fn new_lifo() -> Self {
            unreachable!("one marker under loom")
        }
        pub(crate) fn push(&self, _: T) {
            match self.0 {}
        }
        pub(crate) fn pop(&self) -> Option<T> {
            match self.0 {}
        }
        pub(crate) fn is_empty(&self) -> bool {
            match self.0 {}
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            match self.0 {}
        }
    }

    pub(crate) struct Stealer<T>(Infallible, PhantomData<T>);

    impl<T> Stealer<T> {
        pub(crate) fn steal_batch_and_pop(&self, _: &Worker<T>) -> Steal<T> {
            match self.0 {}
        }
        pub(crate) fn is_empty(&self) -> bool {
            match self.0 {}
        }
    }
}
