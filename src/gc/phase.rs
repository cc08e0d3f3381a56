//! The phase word and the write barrier.
//!
//! # Protocol
//!
//! One `AtomicU64` per arena: bits 0–1 the phase (IDLE, MARKING, SWEEPING), bits 2–31 the
//! shades in flight (×4), bits 32–63 a version that every finished shade bumps.
//!
//! * [`shade`](Core::shade) outside MARKING is one relaxed load of the word. Inside, it
//!   counts itself in flight (`fetch_add`, `SeqCst`), and if the phase is still MARKING it
//!   marks its key and pushes it on the grey queue; then it uncounts itself and bumps the
//!   version (`fetch_add`, `Release`: a collector that reads the new version has seen the
//!   push).
//! * Termination ([`try_finish_marking`](Core::try_finish_marking)) reads the word, checks
//!   that no shade is in flight and the grey queue is empty, and CASes the word from exactly
//!   that value to SWEEPING: a shade that started or finished in between changed the word,
//!   so the CAS fails and marking resumes.
//! * [`EndCycle`] returns the phase to IDLE on every way out of a cycle and waits for the
//!   shades still in flight, so no bit is set and no key queued after the cycle.
//!
//! Why *shade, then store, under one guard* is enough is argued in
//! [The write barrier and why the rule is enough](crate::implementation#the-write-barrier-and-why-the-rule-is-enough).

use super::{Core, Grey};
use crate::key::Key;
use crate::sync::{Backoff, Ordering};

// The phase word (see the module docs).
pub(super) const IDLE: u64 = 0;
pub(super) const MARKING: u64 = 1;
pub(super) const SWEEPING: u64 = 2;
pub(super) const PHASE: u64 = 3;
pub(super) const IN_FLIGHT: u64 = 4;
pub(super) const IN_FLIGHT_MASK: u64 = 0xffff_fffc;
pub(super) const VERSION: u64 = 1 << 32;

impl<T> Core<T> {
    /// The write barrier's fast path: one relaxed load outside marking.
    #[inline]
    pub(crate) fn shade(&self, key: Key) {
        if self.collector.phase.load(Ordering::Relaxed) & PHASE == MARKING {
            self.shade_slow(key);
        }
    }

    /// Whether a sweep is running (`SeqCst`: see "Weak keys" in `roots.rs`).
    pub(crate) fn is_sweeping(&self) -> bool {
        self.collector.phase.load(Ordering::SeqCst) & PHASE == SWEEPING
    }

    /// [`shade`](Core::shade) for [`Root`](crate::Root): the phase load is `SeqCst` (see
    /// `gc/roots.rs`).
    pub(crate) fn shade_seqcst(&self, key: Key) {
        if self.collector.phase.load(Ordering::SeqCst) & PHASE == MARKING {
            self.shade_slow(key);
        }
    }

    #[cold]
    fn shade_slow(&self, key: Key) {
        let gc = &self.collector;
        // SeqCst: counts us in flight in the single total order the collector's
        // terminating CAS is part of; returns the phase that is current now.
        let word = gc.phase.fetch_add(IN_FLIGHT, Ordering::SeqCst);
        if word & PHASE == MARKING {
            if let Some(slot) = self.dir.slot(key.index()) {
                // Relaxed: a filter, as in `Marker::grey`.
                if slot.state.load(Ordering::Relaxed) == key.generation()
                    && gc.marks.mark(key.index())
                {
                    gc.grey.push(Grey {
                        index: key.index(),
                        generation: key.generation(),
                    });
                }
            }
        }
        // Release: the collector that reads this version has seen our push.
        gc.phase
            .fetch_add(VERSION.wrapping_sub(IN_FLIGHT), Ordering::Release);
    }

    /// Sets the phase bits, keeping the in-flight count and version.
    pub(super) fn set_phase(&self, phase: u64) {
        let word = &self.collector.phase;
        let mut w = word.load(Ordering::Relaxed);
        loop {
            match word.compare_exchange_weak(
                w,
                (w & !PHASE) | phase,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => w = now,
            }
        }
    }

    /// Waits until no shade is in flight.
    fn wait_for_shades(&self) {
        let backoff = Backoff::new();
        while self.collector.phase.load(Ordering::SeqCst) & IN_FLIGHT_MASK != 0 {
            backoff.snooze();
        }
    }

    /// Ends marking if no shade is in flight, none finished between our load of the phase
    /// word and the CAS (the version would have changed), and the grey queue is empty (step 6 of [One cycle](crate::implementation#one-cycle)).
    pub(super) fn try_finish_marking(&self) -> bool {
        let w = self.collector.phase.load(Ordering::SeqCst);
        if w & IN_FLIGHT_MASK != 0 || !self.collector.grey.is_empty() {
            return false;
        }
        self.collector
            .phase
            .compare_exchange(
                w,
                (w & !PHASE) | SWEEPING,
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_ok()
    }
}

/// Ends a cycle that has switched to MARKING, however it ends (step 8 of
/// [One cycle](crate::implementation#one-cycle)):
/// made right after the switch, dropped after the sweep or by an unwinding panic (a `Trace`
/// impl's, which `collect` resumes, or any other).
pub(super) struct EndCycle<'a, T>(pub(super) &'a Core<T>);

impl<T> Drop for EndCycle<'_, T> {
    fn drop(&mut self) {
        let inner = self.0;
        // From now on a shade that counts itself in flight reads IDLE and does nothing.
        inner.set_phase(IDLE);
        // One counted before that may still set a bit and push its key: wait for it, so
        // that no bit is set after we return (the next cycle clears the bits with no shade
        // racing) and no key is queued after the queue is emptied below.
        inner.wait_for_shades();
        // Empty after a finished marking (termination saw it empty and nothing was pushed
        // since); after an abort it may hold shaded keys, which no marker will take now.
        inner.collector.grey.clear();
    }
}
