//! Whether a patient's video is flowing: frames reach their encoder, and
//! packets go on into their `webrtcbin`.
//!
//! A safety net: if anything between the encoder and `webrtcbin` hangs (an
//! encoder, a hardware encoder's driver, `webrtcbin` itself), the camera
//! carries on (the queue before the encoder drops what cannot go on) and the
//! patient sees a frozen picture. The media thread checks each patient's
//! [`Flow`] a few times a second; a stall is answered by negotiating anew with
//! a fresh `webrtcbin`. GStreamer callbacks only bump the counters here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long frames may go in with no packet going on, once the answer is
/// applied. Long enough for a keyframe under load; short enough that the
/// patient barely notices the repair.
pub const STALL_AFTER: Duration = Duration::from_secs(3);

/// Frames that must have gone in during that time: at least one second's
/// worth at 30 fps, so a camera that stops (a fault of its own) is not taken
/// for a stalled `webrtcbin`.
const FRAMES_IN_A_STALL: u64 = 30;

/// How long a page has to answer an offer. Pages answer within a second or
/// two; one that does not is broken or gone, and its patient must not sit in
/// the lobby, or a call, with no media.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// How long ICE may take to connect once the answer is applied. Direct
/// paths connect within a second or two and relays within a few; a call
/// that has not connected by then has no path, and the patient is told so
/// rather than left waiting.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(8);

/// How long the patient's side may be silent (no packet of theirs: media,
/// RTCP reports) once media flowed before they count as away. Browsers send
/// reports at least every second, and media far more often.
pub const SILENT_AFTER: Duration = Duration::from_secs(4);

/// Counters of one patient's video, updated from GStreamer's threads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Raw frames that reached the patient's encoder branch.
    pub frames_in: AtomicU64,
    /// Video RTP packets that went into `webrtcbin`.
    pub packets_out: AtomicU64,
    /// Packets that came from the patient's side (any kind, as received).
    pub packets_in: AtomicU64,
    /// The patient's answer is applied: media should flow from now on.
    pub answered: AtomicBool,
    /// ICE connected at least once.
    pub connected: AtomicBool,
    /// Relay candidates the box gathered from its TURN servers.
    pub relays_gathered: AtomicU64,
    /// Server-reflexive candidates the box gathered: its public address.
    pub public_gathered: AtomicU64,
    /// The box's ICE gathering is complete.
    pub gathered: AtomicBool,
}

/// The watch over one patient's video.
#[derive(Debug)]
pub struct Flow {
    counters: Arc<Counters>,
    /// Packets and frames when packets last moved (or before connecting).
    since: (u64, u64, Instant),
    /// When the offer went out.
    started: Instant,
    /// When the answer was applied.
    answered_at: Option<Instant>,
    /// Packets in when they last moved, and when that was.
    heard: (u64, Instant),
    /// Whether the patient's side was last reported as flowing.
    flowing: bool,
}

impl Flow {
    /// Starts watching, with nothing seen yet.
    pub fn new(now: Instant) -> Flow {
        Flow {
            counters: Arc::new(Counters::default()),
            since: (0, 0, now),
            started: now,
            answered_at: None,
            heard: (0, now),
            flowing: false,
        }
    }

    /// The counters, for the callbacks to update.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The answer is applied now.
    pub fn answered(&mut self, now: Instant) {
        self.counters.answered.store(true, Ordering::Relaxed);
        self.answered_at.get_or_insert(now);
    }

    /// Whether ICE connected: webrtcbin said so, or the patient's packets
    /// came (libnice hands nothing over before; webrtcbin 1.22 does not
    /// always say so, and a live call was once taken for one with no path).
    pub fn connected(&self) -> bool {
        self.counters.connected.load(Ordering::Relaxed)
            || self.counters.packets_in.load(Ordering::Relaxed) > 0
    }

    /// True when ICE has not connected within [`CONNECT_WITHIN`] of the
    /// answer: there is no path between the page and the box.
    pub fn unreachable(&self, now: Instant) -> bool {
        !self.connected()
            && self
                .answered_at
                .is_some_and(|at| now.duration_since(at) >= CONNECT_WITHIN)
    }

    /// True when, with TURN servers (`turn`), gathering ended without one
    /// relay address.
    pub fn relay_failed(&self, turn: bool) -> bool {
        turn && self.counters.gathered.load(Ordering::Relaxed)
            && self.counters.relays_gathered.load(Ordering::Relaxed) == 0
    }

    /// True when, with TURN servers (`turn`), gathering ended without one
    /// relay address and without the box's public address either: a TURN
    /// server that is also the clinic's STUN and refused the box (libnice
    /// then takes neither from it). A STUN server of its own gives the box
    /// its public address whatever the relay does.
    pub fn relay_took_public_address(&self, turn: bool) -> bool {
        self.relay_failed(turn) && self.counters.public_gathered.load(Ordering::Relaxed) == 0
    }

    /// How long ago the offer went out.
    pub fn age(&self, now: Instant) -> Duration {
        now.duration_since(self.started)
    }

    /// Whether the patient's side flows, when that changed: `Some(true)`
    /// once ICE connected and their packets come, `Some(false)` once none
    /// has come for [`SILENT_AFTER`].
    pub fn hearing(&mut self, now: Instant) -> Option<bool> {
        let packets = self.counters.packets_in.load(Ordering::Relaxed);
        let moved = packets != self.heard.0;
        if moved {
            self.heard = (packets, now);
        }
        let connected = self.connected();
        let flowing = if self.flowing {
            now.duration_since(self.heard.1) < SILENT_AFTER
        } else {
            connected && moved
        };
        (flowing != self.flowing).then(|| {
            self.flowing = flowing;
            flowing
        })
    }

    /// True when the page has not answered within [`ANSWER_WITHIN`].
    pub fn unanswered(&self, now: Instant) -> bool {
        !self.counters.answered.load(Ordering::Relaxed)
            && now.duration_since(self.started) >= ANSWER_WITHIN
    }

    /// True when, answered, frames have kept going in for [`STALL_AFTER`]
    /// and not one packet has gone on.
    pub fn stalled(&mut self, now: Instant) -> bool {
        let packets = self.counters.packets_out.load(Ordering::Relaxed);
        let frames = self.counters.frames_in.load(Ordering::Relaxed);
        // Before ICE first connects nothing can flow: that is a missing
        // path (see `unreachable`), which a new negotiation would not mend.
        if packets != self.since.0
            || !self.counters.answered.load(Ordering::Relaxed)
            || !self.connected()
        {
            self.since = (packets, frames, now);
            return false;
        }
        now.duration_since(self.since.2) >= STALL_AFTER
            && frames.saturating_sub(self.since.1) >= FRAMES_IN_A_STALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(flow: &mut Flow, start: Instant, ms: u64, frames: u64, packets: u64) -> bool {
        let c = flow.counters();
        c.frames_in.fetch_add(frames, Ordering::Relaxed);
        c.packets_out.fetch_add(packets, Ordering::Relaxed);
        flow.stalled(start + Duration::from_millis(ms))
    }

    #[test]
    fn frames_in_and_no_packets_out_for_three_seconds_is_a_stall() {
        let start = Instant::now();
        let mut flow = Flow::new(start);
        flow.counters().answered.store(true, Ordering::Relaxed);
        flow.counters().connected.store(true, Ordering::Relaxed);
        assert!(!step(&mut flow, start, 0, 1, 1));
        assert!(!step(&mut flow, start, 1000, 30, 0));
        assert!(!step(&mut flow, start, 2900, 30, 0));
        assert!(step(&mut flow, start, 3000, 30, 0));
    }

    #[test]
    fn packets_that_keep_coming_are_no_stall() {
        let start = Instant::now();
        let mut flow = Flow::new(start);
        flow.counters().answered.store(true, Ordering::Relaxed);
        flow.counters().connected.store(true, Ordering::Relaxed);
        for second in 0..20 {
            assert!(!step(&mut flow, start, second * 1000, 30, 25));
        }
    }

    #[test]
    fn nothing_counts_before_the_answer() {
        let start = Instant::now();
        let mut flow = Flow::new(start);
        for second in 0..10 {
            assert!(!step(&mut flow, start, second * 1000, 30, 0));
        }
        flow.counters().answered.store(true, Ordering::Relaxed);
        flow.counters().connected.store(true, Ordering::Relaxed);
        assert!(
            !step(&mut flow, start, 10_000, 30, 0),
            "the clock starts now"
        );
        assert!(step(&mut flow, start, 13_000, 30, 0));
    }

    #[test]
    fn an_offer_left_unanswered_is_noticed() {
        let start = Instant::now();
        let flow = Flow::new(start);
        assert!(!flow.unanswered(start + Duration::from_secs(9)));
        assert!(flow.unanswered(start + ANSWER_WITHIN));
        flow.counters().answered.store(true, Ordering::Relaxed);
        flow.counters().connected.store(true, Ordering::Relaxed);
        assert!(!flow.unanswered(start + Duration::from_secs(60)));
    }

    #[test]
    fn a_camera_that_stops_is_not_a_stall() {
        let start = Instant::now();
        let mut flow = Flow::new(start);
        flow.counters().answered.store(true, Ordering::Relaxed);
        flow.counters().connected.store(true, Ordering::Relaxed);
        assert!(!step(&mut flow, start, 0, 5, 5));
        for second in 1..10 {
            assert!(!step(&mut flow, start, second * 1000, 0, 0));
        }
    }

    #[test]
    fn an_answered_call_that_never_connects_is_unreachable_not_stalled() {
        let start = Instant::now();
        let mut flow = Flow::new(start);
        flow.answered(start);
        let c = flow.counters().clone();
        c.frames_in.fetch_add(300, Ordering::Relaxed);
        let later = start + CONNECT_WITHIN;
        assert!(!flow.stalled(later), "not a stall: nothing could flow yet");
        assert!(!flow.unreachable(start + Duration::from_secs(7)));
        assert!(flow.unreachable(later));
        c.connected.store(true, Ordering::Relaxed);
        assert!(!flow.unreachable(later + Duration::from_secs(60)));
    }

    #[test]
    fn the_patient_s_side_flows_once_connected_and_goes_silent_after_four_seconds() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut flow = Flow::new(start);
        let c = flow.counters().clone();
        assert_eq!(flow.hearing(at(100)), None, "nothing yet");
        c.connected.store(true, Ordering::Relaxed);
        assert_eq!(flow.hearing(at(200)), None, "connected, nothing heard");
        c.packets_in.fetch_add(1, Ordering::Relaxed);
        assert_eq!(flow.hearing(at(300)), Some(true));
        assert_eq!(
            flow.hearing(at(4_200)),
            None,
            "still within the four seconds"
        );
        assert_eq!(flow.hearing(at(4_300)), Some(false));
        assert_eq!(flow.hearing(at(9_000)), None, "said once");
        c.packets_in.fetch_add(1, Ordering::Relaxed);
        assert_eq!(flow.hearing(at(9_100)), Some(true), "back");
    }

    #[test]
    fn the_patient_s_packets_are_a_connection_even_if_webrtcbin_says_nothing() {
        let start = Instant::now();
        let mut flow = Flow::new(start);
        flow.answered(start);
        flow.counters().packets_in.fetch_add(1, Ordering::Relaxed);
        assert!(!flow.unreachable(start + CONNECT_WITHIN * 2));
        assert_eq!(flow.hearing(start), Some(true));
    }

    #[test]
    fn a_relay_that_gave_nothing_took_the_public_address_only_if_stun_gave_none() {
        let flow = Flow::new(Instant::now());
        let c = flow.counters().clone();
        assert!(!flow.relay_failed(true), "still gathering");
        c.gathered.store(true, Ordering::Relaxed);
        assert!(!flow.relay_failed(false), "no TURN servers, nothing failed");
        assert!(flow.relay_failed(true));
        assert!(flow.relay_took_public_address(true));
        c.public_gathered.fetch_add(1, Ordering::Relaxed);
        assert!(flow.relay_failed(true), "still named in status");
        assert!(!flow.relay_took_public_address(true), "STUN of its own");
        c.relays_gathered.fetch_add(1, Ordering::Relaxed);
        assert!(!flow.relay_failed(true));
    }
}
