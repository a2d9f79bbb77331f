//! Whether a patient's connection is weak, in words both sides can show:
//! the path carries too little for a good picture, the round trip is long
//! enough to talk over each other, or packets are lost. Judged from what
//! the box already measures (congestion control's estimate, the browser's
//! receiver reports), a few seconds at a time, so a blip says nothing and
//! the notice does not flicker.

use std::time::{Duration, Instant};

/// Below this estimate (kbit/s) the picture is poor.
const WEAK_ESTIMATE_KBPS: u64 = 500;
/// Above this round trip (ms) people talk over each other.
const WEAK_RTT_MS: u64 = 400;
/// Above this share of packets lost, picture and sound break up.
const WEAK_LOSS: f64 = 0.05;
/// How long it must be bad before it is said to be weak.
const WEAK_AFTER: Duration = Duration::from_secs(3);
/// How long it must be good again before the notice goes.
const GOOD_AFTER: Duration = Duration::from_secs(6);

/// What the box knows of a connection now.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Congestion control's estimate, kbit/s.
    pub estimate_kbps: Option<u64>,
    /// The round trip, ms.
    pub rtt_ms: Option<u64>,
    /// The share of the box's packets the browser lost, 0 to 1.
    pub lost: Option<f64>,
}

impl Sample {
    fn bad(self) -> bool {
        self.estimate_kbps.is_some_and(|e| e < WEAK_ESTIMATE_KBPS)
            || self.rtt_ms.is_some_and(|r| r > WEAK_RTT_MS)
            || self.lost.is_some_and(|l| l > WEAK_LOSS)
    }
}

/// One connection's judgement over time.
#[derive(Debug, Default)]
pub struct Quality {
    weak: bool,
    /// Since when the samples disagree with `weak`.
    turning_since: Option<Instant>,
}

impl Quality {
    /// Takes a sample; the new judgement when it changes.
    pub fn judge(&mut self, sample: Sample, now: Instant) -> Option<bool> {
        if sample.bad() == self.weak {
            self.turning_since = None;
            return None;
        }
        let since = *self.turning_since.get_or_insert(now);
        let wait = if self.weak { GOOD_AFTER } else { WEAK_AFTER };
        if now.duration_since(since) < wait {
            return None;
        }
        self.weak = !self.weak;
        self.turning_since = None;
        Some(self.weak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn weak_only_after_seconds_of_it_and_good_only_after_more() {
        let start = Instant::now();
        let mut q = Quality::default();
        let good = Sample {
            estimate_kbps: Some(2500),
            rtt_ms: Some(20),
            lost: Some(0.0),
        };
        let narrow = Sample {
            estimate_kbps: Some(380),
            ..good
        };
        assert_eq!(q.judge(good, at(start, 0)), None);
        // A blip says nothing.
        assert_eq!(q.judge(narrow, at(start, 1)), None);
        assert_eq!(q.judge(good, at(start, 2)), None);
        assert_eq!(q.judge(narrow, at(start, 3)), None);
        assert_eq!(q.judge(narrow, at(start, 5)), None);
        assert_eq!(q.judge(narrow, at(start, 6)), Some(true));
        assert_eq!(q.judge(narrow, at(start, 7)), None);
        assert_eq!(q.judge(good, at(start, 8)), None);
        assert_eq!(q.judge(good, at(start, 13)), None);
        assert_eq!(q.judge(good, at(start, 14)), Some(false));
    }

    #[test]
    fn a_long_round_trip_or_loss_is_weak_and_nothing_known_is_not() {
        let start = Instant::now();
        for bad in [
            Sample {
                rtt_ms: Some(600),
                ..Sample::default()
            },
            Sample {
                lost: Some(0.12),
                ..Sample::default()
            },
        ] {
            let mut q = Quality::default();
            assert_eq!(q.judge(bad, at(start, 0)), None);
            assert_eq!(q.judge(bad, at(start, 3)), Some(true));
        }
        let mut q = Quality::default();
        assert_eq!(q.judge(Sample::default(), at(start, 0)), None);
        assert_eq!(q.judge(Sample::default(), at(start, 60)), None);
    }
}
