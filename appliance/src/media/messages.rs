//! What the session and media tell each other: the state media must be in
//! ([`MediaState`], latest value over a `watch`), one patient's events for
//! media ([`MediaCommand`], on a queue), media's events for the session
//! ([`MediaEvent`], through [`Events`]), and the counters `status` shows
//! ([`Stats`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::{Codec, Frame, ScreenText};
use crate::session::PeerId;

/// What media must be doing now, as the session decided it: state, not
/// events, so it travels over a `watch` where only the latest value counts
/// and none can be lost to a full queue (a lost stop would leave a patient's
/// encoder and webrtcbin running; a lost screen, stale words on the TV).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaState {
    /// The patients whose media runs (negotiated, gated), with the video
    /// codec their browser can use. Media starts whoever is missing and
    /// stops whoever is not here.
    pub patients: BTreeMap<PeerId, Codec>,
    /// Who is seen and heard in the room: the patient in a live call, or
    /// nobody.
    pub on_tv: Option<PeerId>,
    /// What the TV writes on its picture.
    pub screen: ScreenText,
    /// Whether the camera gate is open (the gate itself acts per frame;
    /// this applies it to the microphone).
    pub camera_gate: bool,
}

/// One patient's events for the media thread, which come and go (an answer, a
/// candidate), on a queue.
#[derive(Debug)]
pub enum MediaCommand {
    /// The patient's answer.
    Answer {
        /// The patient.
        peer: PeerId,
        /// The SDP.
        sdp: String,
    },
    /// The daemon is stopping: drop everything.
    Shutdown,
    /// Simulation: every patient's video stops on its way out, as when
    /// webrtcbin stalls.
    SimStall,
    /// The patient's page asks for a new connection: it reloaded, or its
    /// connection failed.
    Reconnect {
        /// The patient.
        peer: PeerId,
    },
    /// An ICE candidate from the patient.
    Ice {
        /// The patient.
        peer: PeerId,
        /// Its m-line.
        mline: u32,
        /// The candidate.
        candidate: String,
    },
}

/// What media reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// An offer for the patient.
    Offer {
        /// The patient.
        peer: PeerId,
        /// The SDP.
        sdp: String,
    },
    /// An ICE candidate for the patient.
    Ice {
        /// The patient.
        peer: PeerId,
        /// Its m-line.
        mline: u32,
        /// The candidate.
        candidate: String,
    },
    /// The security code of the call with the patient.
    SecurityCode {
        /// The patient.
        peer: PeerId,
        /// Six digits, "123 456".
        code: String,
    },
    /// The patient's media is being negotiated anew: the old security code
    /// no longer holds.
    Renegotiating(PeerId),
    /// Media with the patient failed for good.
    Failed(PeerId),
    /// No network path between the patient's page and the box: ICE never
    /// connected (no TURN relay, or none that worked).
    Unreachable(PeerId),
    /// The patient's side of the call flows: connected, their packets
    /// coming.
    Flowing(PeerId),
    /// The connection with the patient turned weak, or good again.
    Connection {
        /// The patient.
        peer: PeerId,
        /// Weak, or good again.
        weak: bool,
    },
    /// Nothing has come from the patient's side for a while: their network
    /// dropped, or their page is gone.
    Silent(PeerId),
    /// The camera is not there: black frames stand in for it.
    CameraMissing,
    /// The camera that was missing is there now; a restart takes it up.
    CameraBack,
}

/// Counters for `status`, updated from GStreamer's threads.
#[derive(Debug, Default)]
pub struct Stats {
    /// Video frames encoded and sent to the patient while the gate was open.
    pub video_frames_sent: AtomicU64,
    /// Video frames received from the patient and decoded.
    pub video_frames_received: AtomicU64,
    /// RTP packets of the patient's video that reached the box, before
    /// decoding: with no frames received, they tell a picture that cannot
    /// be decoded from one that never arrives.
    pub video_packets_received: AtomicU64,
    /// Keyframes the box asked the patient's browser for (RTCP picture
    /// loss indications) while it had no picture to decode.
    pub keyframes_asked: AtomicU64,
    /// Audio buffers received from the patient and decoded.
    pub audio_frames_received: AtomicU64,
    /// Of those, the buffers with sound in them (not silence): the patient's
    /// microphone is heard, not only its packets received.
    pub audio_frames_audible: AtomicU64,
    /// The encoder's current target, in kbit/s.
    pub bitrate_kbps: AtomicU64,
    /// What congestion control estimates the path carries, in kbit/s; 0
    /// while unknown.
    pub estimate_kbps: AtomicU64,
    /// The round-trip time to the patient, in ms; 0 while unknown.
    pub rtt_ms: AtomicU64,
    /// The selected candidate pair, as the box sees it.
    pub path: std::sync::Mutex<Option<crate::ice_path::PairView>>,
    /// The box's TURN servers gave the current call no relay address.
    pub relay_failed: std::sync::atomic::AtomicBool,
    /// Simulation: the TV's latest picture, small (`sim tv grab`).
    pub tv_frame: std::sync::Mutex<Option<Frame>>,
    /// Messages between the daemon's parts (media's events, a page's
    /// messages, a command for media) that a full queue made the daemon
    /// drop, each logged: none in a healthy box.
    pub messages_dropped: AtomicU64,
}

impl Stats {
    /// Logs and counts a message a full queue made the daemon drop.
    pub fn dropped(&self, what: &str) {
        self.messages_dropped.fetch_add(1, Ordering::Relaxed);
        eprintln!("appliance: {what} was dropped: its queue is full");
    }
}

/// Media's events for the session, from GStreamer's threads: never
/// blocking them, and a full queue is logged and counted, not silent.
#[derive(Debug, Clone)]
pub struct Events {
    tx: mpsc::Sender<MediaEvent>,
    stats: Arc<Stats>,
}

impl Events {
    /// Events go to `tx`; drops are counted in `stats`.
    pub fn new(tx: mpsc::Sender<MediaEvent>, stats: Arc<Stats>) -> Events {
        Events { tx, stats }
    }

    /// Sends `event`, or logs and counts that it was dropped. The queue is
    /// bounded so a stuck daemon cannot grow memory without end; a
    /// negotiation makes a few dozen events, far below the bound.
    pub fn send(&self, event: MediaEvent) {
        if self.tx.try_send(event).is_err() {
            self.stats.dropped("an event of media's");
        }
    }
}
