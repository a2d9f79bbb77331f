//! A backstop under congestion control: the browser's receiver reports say
//! what share of the room's packets it lost, and a path that loses more than
//! a tenth of them gets less video, whatever the estimator says. The
//! estimator (`rtpgccbwe`) learns from the browser's transport-wide
//! feedback, and on a path narrowed far below the video's rate that
//! feedback is lost in the queue too: the estimate then stayed at its
//! starting figure for 30 s and more (seen in the bitrate test) while
//! receiver reports, sent once a second, still came through. The rule is
//! Google congestion control's loss-based one: above 10 % lost, the rate
//! times (1 - loss / 2); below 2 %, 8 % more a second until the cap is gone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::congestion::MIN_VIDEO_KBPS;

/// Receiver reports come about once a second: one step per report.
const STEP_EVERY: Duration = Duration::from_secs(1);

/// The share lost above which the video comes down.
const HIGH: f64 = 0.10;

/// The share lost below which it may climb again.
const LOW: f64 = 0.02;

/// What the browser's latest receiver report said of loss: the fraction
/// lost in millionths, or `NONE` before any.
#[derive(Debug)]
pub struct LossReport(AtomicU64);

const NONE: u64 = u64::MAX;

impl Default for LossReport {
    fn default() -> Self {
        LossReport(AtomicU64::new(NONE))
    }
}

impl LossReport {
    /// Keeps a report's fraction lost (0 to 1).
    pub fn store(&self, fraction: f64) {
        if fraction.is_finite() {
            let ppm = (fraction.clamp(0.0, 1.0) * 1e6).round() as u64;
            self.0.store(ppm, Ordering::Relaxed);
        }
    }

    /// The latest fraction lost, if any report came.
    pub fn fraction(&self) -> Option<f64> {
        let ppm = self.0.load(Ordering::Relaxed);
        (ppm != NONE).then(|| ppm as f64 / 1e6)
    }
}

/// The cap loss puts on a patient's video, if any.
#[derive(Debug, Default)]
pub struct LossCap {
    cap: Option<u32>,
    last_step: Option<Instant>,
}

impl LossCap {
    /// The cap after the latest report (`lost`, 0 to 1), with the video at
    /// `kbps` and at most `max_kbps`: lower when much is lost, higher when
    /// little is, gone once back at the most. One step a second at most.
    pub fn update(
        &mut self,
        lost: Option<f64>,
        kbps: u32,
        max_kbps: u32,
        now: Instant,
    ) -> Option<u32> {
        let due = self
            .last_step
            .is_none_or(|at| now.duration_since(at) >= STEP_EVERY);
        if let (true, Some(lost)) = (due, lost) {
            let floor = MIN_VIDEO_KBPS.min(max_kbps);
            if lost > HIGH {
                let base = self.cap.map_or(kbps, |cap| cap.min(kbps));
                let lower = (f64::from(base) * (1.0 - lost / 2.0)) as u32;
                self.cap = Some(lower.max(floor));
                self.last_step = Some(now);
            } else if lost < LOW
                && let Some(cap) = self.cap
            {
                let higher = (f64::from(cap) * 1.08).ceil() as u32;
                self.cap = (higher < max_kbps).then_some(higher);
                self.last_step = Some(now);
            }
        }
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_loss_brings_the_video_down_a_step_a_second_and_it_climbs_back() {
        let mut cap = LossCap::default();
        let t0 = Instant::now();
        let second = |n: u64| t0 + Duration::from_secs(n);
        assert_eq!(cap.update(None, 1200, 1200, t0), None, "no report, no cap");
        assert_eq!(
            cap.update(Some(0.05), 1200, 1200, t0),
            None,
            "some loss is no cause"
        );
        assert_eq!(cap.update(Some(0.6), 1200, 1200, t0), Some(840));
        // The same report again within the second: no second step.
        assert_eq!(
            cap.update(Some(0.6), 1200, 1200, t0 + Duration::from_millis(250)),
            Some(840)
        );
        assert_eq!(cap.update(Some(0.6), 1200, 1200, second(1)), Some(588));
        let mut at = 1;
        while cap.update(Some(0.6), 1200, 1200, second(at)) > Some(MIN_VIDEO_KBPS) {
            at += 1;
            assert!(at < 20);
        }
        assert_eq!(
            cap.update(Some(0.9), 1200, 1200, second(at + 1)),
            Some(MIN_VIDEO_KBPS)
        );
        // The path clears: up 8 % a second until the cap is gone.
        let mut climbed = 0;
        while cap
            .update(Some(0.0), 1200, 1200, second(at + 2 + climbed))
            .is_some()
        {
            climbed += 1;
            assert!(climbed < 40);
        }
        assert!(climbed > 20, "{climbed}");
    }

    #[test]
    fn reports_keep_their_fraction() {
        let report = LossReport::default();
        assert_eq!(report.fraction(), None);
        report.store(0.25);
        assert_eq!(report.fraction(), Some(0.25));
        report.store(f64::NAN);
        assert_eq!(report.fraction(), Some(0.25));
        report.store(3.0);
        assert_eq!(report.fraction(), Some(1.0));
    }
}
