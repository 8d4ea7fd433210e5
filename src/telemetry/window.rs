//! Bounded history: latency histograms over sliding windows (1 min, 5 min)
//! made of fixed time slots, and a ring of per-slot figures for sparklines.
//! Memory is fixed at construction, however long the console runs.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::providers::ErrorClass;

/// Errors per class, in the order of [`ErrorClass::ALL`].
pub type ErrorCounts = [u32; ErrorClass::ALL.len()];

/// A bounded ring: pushing past capacity drops the oldest.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

/// One slot of time: a latency histogram (ms) and outcome counts.
#[derive(Debug, Clone)]
struct Slot {
    index: u64,
    latency_ms: Histogram<u16>,
    errors: ErrorCounts,
    cold: u64,
}

/// Sliding windows of latency and outcomes for one (cell, provider).
#[derive(Debug, Clone)]
pub struct Windows {
    slot: Duration,
    slots: VecDeque<Slot>,
    keep: usize,
    /// p95 per finished slot, for the sparkline.
    pub sparkline: Ring<Option<u64>>,
    /// The last latencies (ms, 0 for an error), for a live sparkline.
    pub recent: Ring<u32>,
    /// The last start delays (ms: queue and cold start, where the provider
    /// tells or it is estimated), for their distribution.
    pub delays: Ring<u32>,
}

/// One request as the windows count it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub latency: Duration,
    pub error: Option<ErrorClass>,
    /// The start delay met the cold-start bound.
    pub cold: bool,
    pub delay_ms: Option<u64>,
}

/// Figures over one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub requests: u64,
    pub errors: u64,
    /// `errors` by class, in the order of [`ErrorClass::ALL`].
    pub errors_by_class: ErrorCounts,
    pub cold: u64,
    pub p50_ms: Option<u64>,
    pub p90_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

/// Latencies from 1 ms to 2 minutes at one significant figure (±5 %), in
/// 16-bit counts: a few hundred bytes per slot, so thousands of endpoints ×
/// minutes of slots stay small. (A slot saturates at 65,535 samples.)
fn histogram() -> Histogram<u16> {
    // Constant, valid bounds: construction cannot fail.
    Histogram::new_with_bounds(1, 120_000, 1).expect("constant histogram bounds are valid")
}

/// The window-wide merge: wider counts, so merging slots cannot saturate.
fn merged_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000, 1).expect("constant histogram bounds are valid")
}

/// Latencies kept for the live sparkline.
const RECENT: usize = 48;

impl Windows {
    /// `slot` long slots, enough of them to cover `longest`; a sparkline of `points`.
    pub fn new(slot: Duration, longest: Duration, points: usize) -> Self {
        let keep = (longest.as_secs_f64() / slot.as_secs_f64()).ceil().max(1.0) as usize;
        Self {
            slot,
            slots: VecDeque::with_capacity(keep + 1),
            keep,
            sparkline: Ring::new(points),
            recent: Ring::new(RECENT),
            delays: Ring::new(RECENT),
        }
    }

    fn slot_index(&self, at: Duration) -> u64 {
        (at.as_secs_f64() / self.slot.as_secs_f64()) as u64
    }

    /// Records one request `at` (time since the console started).
    pub fn record(&mut self, at: Duration, outcome: Outcome) {
        let Outcome {
            latency,
            error,
            cold,
            delay_ms,
        } = outcome;
        if let Some(ms) = delay_ms {
            self.delays.push(ms.min(u64::from(u32::MAX)) as u32);
        }
        self.recent.push(if error.is_some() {
            0
        } else {
            latency.as_millis().min(u128::from(u32::MAX)) as u32
        });
        let index = self.slot_index(at);
        if self.slots.back().is_none_or(|s| s.index < index) {
            if let Some(done) = self.slots.back() {
                let p95 =
                    (!done.latency_ms.is_empty()).then(|| done.latency_ms.value_at_quantile(0.95));
                self.sparkline.push(p95);
            }
            self.slots.push_back(Slot {
                index,
                latency_ms: histogram(),
                errors: ErrorCounts::default(),
                cold: 0,
            });
            while self.slots.len() > self.keep {
                self.slots.pop_front();
            }
        }
        let Some(slot) = self.slots.iter_mut().rev().find(|s| s.index == index) else {
            return; // older than the window: dropped
        };
        if let Some(class) = error {
            let n = &mut slot.errors[class.index()];
            *n = n.saturating_add(1);
        } else {
            let _ = slot
                .latency_ms
                .record((latency.as_millis() as u64).clamp(1, 600_000));
        }
        if cold {
            slot.cold += 1;
        }
    }

    /// Figures over the last `window` up to `now`.
    pub fn figures(&self, now: Duration, window: Duration) -> Figures {
        let newest = self.slot_index(now);
        let span = (window.as_secs_f64() / self.slot.as_secs_f64()).ceil() as u64;
        let mut merged = merged_histogram();
        let (mut by_class, mut cold) = (ErrorCounts::default(), 0);
        for s in self
            .slots
            .iter()
            .filter(|s| s.index + span > newest && s.index <= newest)
        {
            for v in s.latency_ms.iter_recorded() {
                let _ = merged.record_n(v.value_iterated_to(), u64::from(v.count_at_value()));
            }
            for (total, n) in by_class.iter_mut().zip(s.errors) {
                *total += n;
            }
            cold += s.cold;
        }
        let errors: u64 = by_class.iter().map(|&n| u64::from(n)).sum();
        let q = |p: f64| (!merged.is_empty()).then(|| merged.value_at_quantile(p));
        Figures {
            requests: merged.len() + errors,
            errors,
            errors_by_class: by_class,
            cold,
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
        }
    }

    /// Slots held (bounded by construction).
    pub fn slots_held(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded() {
        let mut r = Ring::new(3);
        for i in 0..10 {
            r.push(i);
        }
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![7, 8, 9]);
    }

    #[test]
    fn windows_slide_and_stay_bounded() {
        let s = Duration::from_secs;
        let mut w = Windows::new(s(10), s(300), 60);
        // An hour of one request a second: 100 ms for the first 59 minutes, then 2 s.
        for t in 0..3600 {
            let latency = if t < 3540 {
                Duration::from_millis(100)
            } else {
                s(2)
            };
            let error = if t % 100 == 0 {
                Some(ErrorClass::Timeout)
            } else if t == 3599 {
                Some(ErrorClass::RateLimited)
            } else {
                None
            };
            w.record(
                s(t),
                Outcome {
                    latency,
                    error,
                    cold: false,
                    delay_ms: Some(t % 7),
                },
            );
        }
        assert_eq!(w.slots_held(), 30, "5 minutes of 10 s slots, no more");
        assert!(w.sparkline.iter().count() <= 60);
        assert_eq!(w.delays.iter().count(), RECENT, "bounded too");
        let last_minute = w.figures(s(3599), s(60));
        assert_eq!(last_minute.requests, 60);
        assert_eq!(last_minute.errors, 1, "the rate-limited one");
        assert!(last_minute.p50_ms.unwrap() >= 1_990, "{last_minute:?}");
        let five = w.figures(s(3599), s(300));
        assert_eq!(five.requests, 300);
        // One significant figure: within 10 % of the 100 ms recorded.
        assert!(five.p50_ms.unwrap() <= 110, "{five:?}");
        assert_eq!(five.errors, 4);
        let by_class = |c: ErrorClass| five.errors_by_class[c.index()];
        assert_eq!(
            (
                by_class(ErrorClass::Timeout),
                by_class(ErrorClass::RateLimited)
            ),
            (3, 1)
        );
    }
}
