//! When to collect without being asked: the [`Pacing`] policy an arena is built with
//! ([`Builder::pacing`](crate::Builder::pacing)) and the [`Pacer`] behind
//! [`Arena::collect_if_due`](crate::Arena::collect_if_due). The policy, and the collectors it
//! follows (Go's `GOGC`, gc-arena's `Pacing`, dumpster's collect condition), are described on
//! [`Pacing`], where users see them.
//!
//! # The pacer
//!
//! Each arena's collector state (`GcState`) holds a [`Pacer`]: the policy, and the insertion
//! total at which the next paced cycle is due (`trigger`), recomputed when any successful
//! collection finishes, paced or not (`Arena::collect_with` records it; a cycle that panicked
//! swept nothing and records nothing). `collect_if_due` compares the arena's insertion total
//! with it. That total is the sum of the per-owner counter cells (`Counters::lifetime` in
//! `raw/counter.rs`), so the check costs one relaxed load of `trigger` plus, per counter cell,
//! its two counts (relaxed) and the list link to it (acquire); there is one cell per
//! [`Handle`](crate::Handle) or inserting thread alive at the same time, at most, plus the
//! shared one. It writes nothing and does no read-modify-write, so callers on many threads do
//! not contend (the cells' lines are each written by their owner only, so a load may miss).
//! `Pacing::never()` stops at the first load. Counting insertions in one shared counter
//! instead would make every insertion a contended read-modify-write, which `raw/counter.rs`
//! exists to avoid.
//!
//! When the check says due, the caller claims the cycle by swapping `trigger` for [`NEVER`]
//! (of several threads that saw it due, one collects; the others return at once), runs
//! `collect_with([], default)` and lets the finished collection set the next trigger. A
//! [`Claim`] dropped without that (a `Trace` panic) puts the old trigger back.
//!
//! Nothing here affects what is collected: a stale or torn view of the counts only moves a
//! cycle earlier or later.

use crate::sync::{AtomicUsize, Mutex, Ordering};

/// When [`Arena::collect_if_due`](crate::Arena::collect_if_due) collects, and whether it trims
/// afterwards. Given to [`Builder::pacing`](crate::Builder::pacing).
///
/// # The policy
///
/// Proportional, like Go's collector with its default `GOGC=100`: after a collection that
/// left `live` values, the next one is due once
///
/// ```text
/// inserted since that collection >= max(min_inserted, growth × live)
/// ```
///
/// With the defaults ([`growth`](Pacing::growth) 1.0, [`min_inserted`](Pacing::min_inserted)
/// 4096) an arena whose live set is steady at `L` values holds at most about
/// `L + max(4096, L)` values between collections that `collect_if_due` runs, plus whatever is
/// inserted while one runs, and the work of each collection (proportional to the live set)
/// is spread over at least as many insertions. The floor keeps small arenas from collecting
/// on every call. Every successful collection counts as "the last one", whether
/// `collect_if_due`, [`collect`](crate::Arena::collect) or
/// [`collect_with`](crate::Arena::collect_with) ran it; before the first, the arena counts
/// from empty.
///
/// "Inserted" counts insertions, not garbage: values removed by hand between collections
/// count too, which errs towards collecting early, never late.
///
/// After a cycle that `collect_if_due` ran, if [`trim_above`](Pacing::trim_above) is
/// `Some(t)` and [`fragmentation`](crate::Arena::fragmentation) exceeds `t`, the arena is
/// [trimmed](crate::Arena::trim): the memory of slots left empty goes back to the system.
///
/// # Where it comes from
///
/// * [gc-arena]'s `Pacing` lets allocation run ahead of the collector by `pause_factor` (0.5)
///   times the heap remembered from the last cycle, at least `min_sleep` (4096 bytes), then
///   pays for marking in increments (`timing_factor` 1.5). This collector is concurrent and
///   runs whole cycles, so only the first half applies: `growth` is the pause factor and
///   `min_inserted` the minimum sleep, counted in values (every slot is one `T`).
/// * [dumpster] collects when the values dropped since its last sweep outnumber those alive
///   after it: the same proportion with a factor of 1, which is the default here.
///
/// [gc-arena]: https://docs.rs/gc-arena
/// [dumpster]: https://docs.rs/dumpster
///
/// # Examples
///
/// ```
/// use epoch_arena::Pacing;
///
/// let default = Pacing::default();
/// assert_eq!(default.growth, 1.0);
/// assert_eq!(default.min_inserted, 4096);
/// assert_eq!(default.trim_above, Some(0.5));
///
/// // Let garbage grow to twice the live set (GOGC=200), never trim:
/// let lazy = Pacing::proportional(2.0).with_trim_above(None);
/// assert_eq!((lazy.growth, lazy.min_inserted, lazy.trim_above), (2.0, 4096, None));
///
/// // The fields are public; the struct is `#[non_exhaustive]`, so start from a constructor.
/// let mut eager = Pacing::default();
/// eager.min_inserted = 256;
/// assert_eq!(eager, Pacing::default().with_min_inserted(256));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Pacing {
    /// A cycle is due once the values inserted since the last one reach `growth` times the
    /// values live after it (or [`min_inserted`](Pacing::min_inserted), if more). Default 1.0:
    /// the arena may hold about twice its live set before it collects (Go's `GOGC=100`).
    ///
    /// Negative or NaN counts as 0.0 (only the floor paces); +∞ means "never again once
    /// anything survives a cycle".
    ///
    /// ```
    /// let pacing = epoch_arena::Pacing::default().with_growth(0.5);
    /// assert_eq!(pacing.growth, 0.5);
    /// ```
    pub growth: f64,
    /// The floor: a cycle is never due before this many values were inserted since the last
    /// one, however few survived it. Default 4096. 0 together with `growth` 0.0 makes every
    /// call of `collect_if_due` collect; `usize::MAX` makes none.
    ///
    /// ```
    /// let mut pacing = epoch_arena::Pacing::default();
    /// pacing.min_inserted = 100;
    /// assert_eq!(pacing.min_inserted, 100);
    /// ```
    pub min_inserted: usize,
    /// After a paced cycle, [`trim`](crate::Arena::trim) the arena if its
    /// [`fragmentation`](crate::Arena::fragmentation) exceeds this. `None` never trims.
    /// Default `Some(0.5)`: trim when more than half the resident slot memory holds nothing.
    /// Only [`collect_if_due`](crate::Arena::collect_if_due) trims, never
    /// [`collect`](crate::Arena::collect). A NaN threshold never trims.
    ///
    /// Trimming gives back only slots that are free: the values a cycle sweeps are dropped,
    /// and their slots freed, after their grace period, so the trim after a cycle mostly
    /// returns what earlier collections and removals freed, and the next paced trim gets
    /// this cycle's.
    ///
    /// ```
    /// let pacing = epoch_arena::Pacing::default().with_trim_above(None);
    /// assert_eq!(pacing.trim_above, None);
    /// ```
    pub trim_above: Option<f64>,
}

impl Pacing {
    /// The default policy: [`growth`](Pacing::growth) 1.0, [`min_inserted`](Pacing::min_inserted)
    /// 4096, [`trim_above`](Pacing::trim_above) `Some(0.5)`.
    ///
    /// ```
    /// assert_eq!(epoch_arena::Pacing::DEFAULT, epoch_arena::Pacing::default());
    /// ```
    pub const DEFAULT: Pacing = Pacing {
        growth: 1.0,
        min_inserted: 4096,
        trim_above: Some(0.5),
    };

    /// The default policy with another [`growth`](Pacing::growth) factor: Go's `GOGC=n` is
    /// `proportional(n as f64 / 100.0)`.
    ///
    /// ```
    /// let pacing = epoch_arena::Pacing::proportional(0.25);
    /// assert_eq!((pacing.growth, pacing.min_inserted), (0.25, 4096));
    /// ```
    pub const fn proportional(growth: f64) -> Pacing {
        Pacing::DEFAULT.with_growth(growth)
    }

    /// A policy under which [`collect_if_due`](crate::Arena::collect_if_due) never collects
    /// (and so never trims): collections happen only when asked for.
    ///
    /// ```
    /// use epoch_arena::{Arena, Pacing};
    ///
    /// let arena = Arena::builder().pacing(Pacing::never()).build();
    /// for i in 0..10_000u32 {
    ///     arena.insert(i);
    /// }
    /// assert!(arena.collect_if_due().is_none());
    /// assert_eq!(arena.len(), 10_000);
    /// ```
    pub const fn never() -> Pacing {
        Pacing {
            growth: f64::INFINITY,
            min_inserted: usize::MAX,
            trim_above: None,
        }
    }

    /// This policy with [`growth`](Pacing::growth) set.
    ///
    /// ```
    /// let pacing = epoch_arena::Pacing::never().with_growth(1.0).with_min_inserted(10);
    /// assert_eq!((pacing.growth, pacing.min_inserted, pacing.trim_above), (1.0, 10, None));
    /// ```
    pub const fn with_growth(self, growth: f64) -> Pacing {
        Pacing { growth, ..self }
    }

    /// This policy with [`min_inserted`](Pacing::min_inserted) set.
    ///
    /// ```
    /// let pacing = epoch_arena::Pacing::default().with_min_inserted(64);
    /// assert_eq!(pacing.min_inserted, 64);
    /// ```
    pub const fn with_min_inserted(self, min_inserted: usize) -> Pacing {
        Pacing {
            min_inserted,
            ..self
        }
    }

    /// This policy with [`trim_above`](Pacing::trim_above) set.
    ///
    /// ```
    /// let pacing = epoch_arena::Pacing::default().with_trim_above(Some(0.75));
    /// assert_eq!(pacing.trim_above, Some(0.75));
    /// ```
    pub const fn with_trim_above(self, trim_above: Option<f64>) -> Pacing {
        Pacing { trim_above, ..self }
    }

    /// Insertions after a cycle that left `live` values before the next one is due.
    pub(crate) fn distance(&self, live: usize) -> usize {
        // NaN and negative growth count as 0; `as` saturates (+inf to usize::MAX). With
        // nothing live, no growth makes a cycle due before the floor (inf × 0 is NaN).
        let scaled = if live == 0 || self.growth.is_nan() || self.growth <= 0.0 {
            0
        } else {
            (self.growth * live as f64) as usize
        };
        scaled.max(self.min_inserted)
    }

    /// Whether a paced cycle trims: `fragmentation` is called only if a threshold is set.
    pub(crate) fn should_trim(&self, fragmentation: impl FnOnce() -> f64) -> bool {
        self.trim_above.is_some_and(|t| fragmentation() > t)
    }
}

impl Default for Pacing {
    /// [`Pacing::DEFAULT`].
    fn default() -> Self {
        Pacing::DEFAULT
    }
}

/// `trigger` while a paced cycle has been claimed and has not finished, and for a policy
/// under which no cycle is ever due (the insertion total never reaches it: it is at most
/// `isize::MAX`).
pub(crate) const NEVER: usize = usize::MAX;

/// The pacer of one arena: its [`Pacing`] and the insertion total at which the next paced
/// cycle is due (see the [module docs](self#the-pacer)).
pub(crate) struct Pacer {
    policy: Pacing,
    /// The insertion total at which a paced cycle is due: `baseline + policy.distance(live)`
    /// of the last collection, or [`NEVER`].
    trigger: AtomicUsize,
    /// The last collection's measures, for ordering updates (see [`Pacer::finished`]).
    last: Mutex<Last>,
}

/// What the last collection left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Last {
    /// The insertion total when it finished.
    pub(crate) baseline: usize,
    /// The values live when it finished.
    pub(crate) live: usize,
}

impl Pacer {
    pub(crate) fn new(policy: Pacing) -> Self {
        Pacer {
            policy,
            // As if a collection had found an empty arena: the first one is due after
            // `min_inserted` insertions.
            trigger: AtomicUsize::new(policy.distance(0)),
            last: Mutex::new(Last {
                baseline: 0,
                live: 0,
            }),
        }
    }

    /// The policy.
    pub(crate) fn policy(&self) -> &Pacing {
        &self.policy
    }

    /// The insertion total at which a paced cycle is due, or [`NEVER`]. One relaxed load: the
    /// pacer decides when to collect, never what is safe to collect.
    #[inline]
    pub(crate) fn trigger(&self) -> usize {
        self.trigger.load(Ordering::Relaxed)
    }

    /// Claims the paced cycle due at `trigger` (as read by [`Pacer::trigger`]): of the
    /// callers that saw it due, one gets a [`Claim`], the others `None`.
    pub(crate) fn claim(&self, trigger: usize) -> Option<Claim<'_>> {
        self.trigger
            .compare_exchange(trigger, NEVER, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| Claim {
                pacer: self,
                trigger,
            })
    }

    /// Records a finished collection: `baseline` is the insertion total and `live` the
    /// values live, both read after it finished. Sets the next trigger.
    ///
    /// Collections finish one at a time, but their callers may record them out of order;
    /// the one with the larger baseline (read later) wins.
    pub(crate) fn finished(&self, baseline: usize, live: usize) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if baseline < last.baseline {
            return;
        }
        *last = Last { baseline, live };
        let trigger = baseline.saturating_add(self.policy.distance(live));
        self.trigger.store(trigger, Ordering::Relaxed);
    }

    /// What the last recorded collection left.
    #[cfg(test)]
    pub(crate) fn last(&self) -> Last {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A claimed paced cycle. Dropped without [`done`](Claim::done) (the cycle panicked), it
/// puts the trigger back, so the cycle is still due.
pub(crate) struct Claim<'a> {
    pacer: &'a Pacer,
    trigger: usize,
}

impl Claim<'_> {
    /// The cycle finished and [`Pacer::finished`] has set the next trigger (which may be
    /// [`NEVER`] too): leave it.
    pub(crate) fn done(self) {
        core::mem::forget(self);
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        // Fails if a finished collection has set a new trigger meanwhile: that one stands.
        let _ = self.pacer.trigger.compare_exchange(
            NEVER,
            self.trigger,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_the_larger_of_floor_and_growth_times_live() {
        let p = Pacing::default();
        assert_eq!(p.distance(0), 4096);
        assert_eq!(p.distance(100), 4096);
        assert_eq!(p.distance(10_000), 10_000);
        assert_eq!(Pacing::proportional(0.5).distance(10_000), 5000);
        assert_eq!(Pacing::proportional(2.5).distance(10_000), 25_000);
    }

    #[test]
    fn odd_growth_factors_are_clamped() {
        for growth in [f64::NAN, -1.0, -0.0, f64::NEG_INFINITY] {
            let p = Pacing::proportional(growth).with_min_inserted(7);
            assert_eq!(p.distance(1000), 7, "{growth}");
        }
        let inf = Pacing::proportional(f64::INFINITY).with_min_inserted(0);
        assert_eq!(inf.distance(0), 0);
        assert_eq!(inf.distance(1), usize::MAX);
        assert_eq!(Pacing::never().distance(0), usize::MAX);
        assert_eq!(
            Pacing::proportional(0.0).with_min_inserted(0).distance(5),
            0
        );
    }

    #[test]
    fn trim_threshold() {
        let p = Pacing::default();
        assert!(!p.should_trim(|| 0.5));
        assert!(p.should_trim(|| 0.51));
        assert!(!p.with_trim_above(None).should_trim(|| unreachable!()));
        assert!(!p.with_trim_above(Some(f64::NAN)).should_trim(|| 1.0));
    }

    #[test]
    fn the_trigger_follows_finished_collections_in_baseline_order() {
        let pacer = Pacer::new(Pacing::default());
        assert_eq!(pacer.trigger(), 4096);
        pacer.finished(5000, 10_000);
        assert_eq!(pacer.trigger(), 15_000);
        pacer.finished(4000, 0); // recorded late: ignored
        assert_eq!(pacer.trigger(), 15_000);
        assert_eq!(
            pacer.last(),
            Last {
                baseline: 5000,
                live: 10_000
            }
        );
        let never = Pacer::new(Pacing::never());
        assert_eq!(never.trigger(), NEVER);
        never.finished(10, 0);
        assert_eq!(never.trigger(), NEVER);
    }

    #[test]
    fn a_claim_is_exclusive_and_put_back_unless_superseded() {
        let pacer = Pacer::new(Pacing::default());
        let t = pacer.trigger();
        let claim = pacer.claim(t).expect("first claim");
        assert!(pacer.claim(t).is_none());
        assert_eq!(pacer.trigger(), NEVER);
        drop(claim);
        assert_eq!(pacer.trigger(), t, "put back");
        let claim = pacer.claim(t).unwrap();
        pacer.finished(100, 5000);
        drop(claim);
        assert_eq!(pacer.trigger(), 5100, "superseded");
        // A finished cycle that set NEVER keeps it.
        let inf = Pacer::new(Pacing::proportional(f64::INFINITY));
        let claim = inf.claim(inf.trigger()).unwrap();
        inf.finished(4096, 1);
        claim.done();
        assert_eq!(inf.trigger(), NEVER);
    }
}
