//! Media: the only module that touches GStreamer. One pipeline holds the live
//! sources (camera and microphone, or in simulation a test pattern and tone)
//! behind the camera gate, and one `webrtcbin` per patient being negotiated.
//!
//! Runs on a thread of its own ([`Media::spawn`]), told what to do by the
//! session task ([`MediaState`], [`MediaCommand`]s); reports
//! [`MediaEvent`]s on a bounded channel. Guarantees: while the gate is shut,
//! every video frame that reaches an encoder is black and the microphone is
//! muted, and the remote tracks stay up so opening is immediate.

mod congestion;
mod flow;
mod nice;
mod peer;
mod room_sound;
mod stamp;
mod tv;
mod tv_picture;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gst::prelude::*;
use tokio::sync::{mpsc, watch};

pub use peer::Codec;
pub use tv_picture::{Frame, ScreenText};

use crate::session::PeerId;

/// Why media could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// GStreamer itself could not start.
    #[error("GStreamer could not start: {0}")]
    Init(String),
    /// A GStreamer element is not installed.
    #[error("the GStreamer element {0} is missing; install the GStreamer plugins (see the README)")]
    MissingElement(&'static str),
    /// The pipeline could not be built or started.
    #[error("the media pipeline failed: {0}")]
    Pipeline(String),
}

impl From<gst::glib::BoolError> for MediaError {
    fn from(e: gst::glib::BoolError) -> Self {
        MediaError::Pipeline(e.to_string())
    }
}

/// How many times a patient's media is started anew after stalls before it
/// counts as failed: a stall is rare, two in one call mean something else.
const MAX_RESTARTS: u32 = 2;

/// How long the media thread waits on the pipeline's bus before it looks
/// at what the session wants: what a command may wait, at most.
const WAKE_EVERY_MS: u64 = 10;
/// How often each patient's encoder follows congestion control's estimate:
/// it estimates every 100 ms or so; a few times a second is what Chrome does.
const ADAPT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// How media is set up.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Test pattern and tone instead of camera and microphone, with the capture
    /// time drawn into each frame.
    pub simulated: bool,
    /// No window for the patient's video.
    pub headless: bool,
    /// Video size and rate.
    pub width: u32,
    /// Video height.
    pub height: u32,
    /// Frames per second.
    pub framerate: u32,
    /// The most the video may send, in kbit/s.
    pub max_bitrate_kbps: u32,
    /// Addresses ICE gathers on besides the interfaces libnice finds.
    pub ice_addresses: Vec<IpAddr>,
    /// The camera's V4L2 device (not in simulation).
    pub camera: std::path::PathBuf,
    /// A STUN server for webrtcbin, as stun://host:port.
    pub stun_server: Option<String>,
}

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

/// The camera gate: shut means black frames and a muted microphone.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<AtomicBool>);

impl Gate {
    /// Opens or shuts the gate; takes effect on the next frame.
    pub fn set(&self, open: bool) {
        self.0.store(open, Ordering::SeqCst);
    }

    /// Whether it is open.
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The pipeline and the patients' webrtcbins.
#[derive(Debug)]
pub struct Media {
    config: MediaConfig,
    pipeline: gst::Pipeline,
    video_tee: gst::Element,
    audio_tee: gst::Element,
    tv: tv::TvInputs,
    picture: Option<tv_picture::TvPicture>,
    mic_volume: gst::Element,
    gate: Gate,
    stats: Arc<Stats>,
    events: Events,
    peers: HashMap<PeerId, peer::Peer>,
    /// What the session last asked for.
    state: MediaState,
    /// Patients whose media ended here (failed, abandoned, given up), not
    /// started again while the session still lists them: it is about to
    /// hear of it and drop them.
    ended: HashSet<PeerId>,
    /// Black frames stand in for a camera that was not there at start.
    camera_missing: bool,
}

fn make(factory: &'static str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| MediaError::MissingElement(factory))
}

/// The microphone, or silence when the box has no sound card to record from
/// (the call goes on without the room's sound; the log says why).
fn microphone() -> Result<gst::Element, MediaError> {
    let has_capture = std::fs::read_dir("/dev/snd").is_ok_and(|dir| {
        dir.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("pcmC") && name.ends_with('c')
        })
    });
    if has_capture {
        return make("autoaudiosrc");
    }
    eprintln!("appliance: no microphone (no sound card records): the room is silent");
    let a = make("audiotestsrc")?;
    a.set_property("is-live", true);
    a.set_property_from_str("wave", "silence");
    Ok(a)
}

impl Media {
    /// Builds and starts the pipeline with its sources, gated.
    pub fn start(
        config: MediaConfig,
        gate: Gate,
        stats: Arc<Stats>,
        events: Events,
    ) -> Result<Media, MediaError> {
        gst::init().map_err(|e| MediaError::Init(e.to_string()))?;
        gate.set(false);
        let pipeline = gst::Pipeline::with_name("appliance");
        // webrtcbin holds each frame in clocksync elements for up to a frame
        // interval; live sources are already paced, so skip the wait.
        pipeline.connect_deep_element_added(|_, _, element| {
            if element
                .factory()
                .is_some_and(|f| f.name().as_str() == "clocksync")
            {
                element.set_property("sync", false);
            }
        });

        let camera_missing = !config.simulated && !config.camera.exists();
        let (video_src, audio_src) = if config.simulated {
            let v = make("videotestsrc")?;
            v.set_property("is-live", true);
            v.set_property_from_str("pattern", "smpte");
            let a = make("audiotestsrc")?;
            a.set_property("is-live", true);
            a.set_property("volume", 0.2f64);
            (v, a)
        } else if config.camera.exists() {
            let v = make("v4l2src")?;
            v.set_property("device", config.camera.display().to_string());
            (v, microphone()?)
        } else {
            // No camera: black frames stand in, so the rest of the box (the
            // lobby, the TV, the fault in plain words) still works.
            eprintln!(
                "appliance: no camera at {}: the TV and status say so",
                config.camera.display()
            );
            events.send(MediaEvent::CameraMissing);
            let v = make("videotestsrc")?;
            v.set_property("is-live", true);
            v.set_property_from_str("pattern", "black");
            (v, microphone()?)
        };
        let video_convert = make("videoconvert")?;
        let video_scale = make("videoscale")?;
        let video_rate = make("videorate")?;
        let video_caps = gst::ElementFactory::make("capsfilter")
            .property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("format", "I420")
                    .field("width", config.width as i32)
                    .field("height", config.height as i32)
                    .field("framerate", gst::Fraction::new(config.framerate as i32, 1))
                    .build(),
            )
            .build()
            .map_err(|_| MediaError::MissingElement("capsfilter"))?;
        let video_tee = make("tee")?;
        video_tee.set_property("allow-not-linked", true);

        // The speakers first: the microphone's echo canceller looks for
        // their probe when it starts.
        let tv_mixer = room_sound::speakers(&pipeline, config.headless)?;

        let audio_convert = make("audioconvert")?;
        let audio_resample = make("audioresample")?;
        let [room_audio, echo_canceller] = room_sound::echo_canceller()?;
        let mic_volume = make("volume")?;
        mic_volume.set_property("mute", true);
        let audio_tee = make("tee")?;
        audio_tee.set_property("allow-not-linked", true);

        let video = [
            &video_src,
            &video_convert,
            &video_scale,
            &video_rate,
            &video_caps,
            &video_tee,
        ];
        let audio = [
            &audio_src,
            &audio_convert,
            &audio_resample,
            &room_audio,
            &echo_canceller,
            &mic_volume,
            &audio_tee,
        ];
        pipeline.add_many(video.iter().chain(audio.iter()).copied())?;
        gst::Element::link_many(video)?;
        gst::Element::link_many(audio)?;
        // The TV's picture takes the gated camera for its self view.
        // A TV that cannot be drawn (a plugin missing) must not keep the box
        // from its calls: the patient's picture then goes nowhere.
        let picture = tv_picture::TvPicture::build(
            &pipeline,
            &video_tee,
            config.headless,
            config.simulated,
            &stats,
        )
        .inspect_err(|e| eprintln!("appliance: the TV shows nothing: {e}"))
        .ok();
        let tv = tv::TvInputs {
            mixer: tv_mixer.downgrade(),
            compositor: picture
                .as_ref()
                .map(|s| s.compositor().downgrade())
                .unwrap_or_default(),
        };

        // The gate: every frame on its way to the encoders passes here.
        let probe_gate = gate.clone();
        let simulated = config.simulated;
        video_tee
            .static_pad("sink")
            .ok_or_else(|| MediaError::Pipeline("tee has no sink pad".into()))?
            .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
                    stamp::process(pad, buffer, probe_gate.is_open(), simulated);
                }
                gst::PadProbeReturn::Ok
            });
        // And every stretch of microphone sound: silence while shut, checked
        // per buffer like the video, so that the microphone does not depend
        // on the media thread getting round to the mute (it may be busy, even
        // stuck, tearing a patient's media down).
        let probe_gate = gate.clone();
        audio_tee
            .static_pad("sink")
            .ok_or_else(|| MediaError::Pipeline("tee has no sink pad".into()))?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if !probe_gate.is_open()
                    && let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut()
                    && let Ok(mut map) = buffer.make_mut().map_writable()
                {
                    // Signed 16-bit samples (room_sound::ROOM_AUDIO): zero is silence.
                    map.fill(0);
                }
                gst::PadProbeReturn::Ok
            });

        stats
            .bitrate_kbps
            .store(u64::from(config.max_bitrate_kbps), Ordering::Relaxed);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| MediaError::Pipeline(format!("cannot start the sources: {e}")))?;
        Ok(Media {
            config,
            pipeline,
            video_tee,
            audio_tee,
            tv,
            picture,
            mic_volume,
            gate,
            stats,
            events,
            peers: HashMap::new(),
            state: MediaState::default(),
            ended: HashSet::new(),
            camera_missing,
        })
    }

    /// Runs media on a thread of its own until it is told to shut down or
    /// the session is gone: GStreamer's calls that block (a state change to
    /// NULL, a pad released) never hold one of tokio's two workers, and so
    /// never the control socket, the pages or the session. The thread reads
    /// the pipeline's bus with a timed pop, then what the session wants
    /// (`wanted`, latest value) and the patients' events (`commands`).
    pub fn spawn(
        mut self,
        mut commands: mpsc::Receiver<MediaCommand>,
        mut wanted: watch::Receiver<MediaState>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("media".into())
            .spawn(move || {
                let bus = self.pipeline.bus();
                let mut next_adapt = std::time::Instant::now() + ADAPT_EVERY;
                'run: loop {
                    let message = match &bus {
                        Some(bus) => bus.timed_pop(gst::ClockTime::from_mseconds(WAKE_EVERY_MS)),
                        None => {
                            std::thread::sleep(std::time::Duration::from_millis(WAKE_EVERY_MS));
                            None
                        }
                    };
                    if let Some(message) = message {
                        report(&message);
                    }
                    match wanted.has_changed() {
                        Ok(true) => {
                            let state = wanted.borrow_and_update().clone();
                            self.apply(&state);
                        }
                        Ok(false) => {}
                        Err(_) => break,
                    }
                    loop {
                        match commands.try_recv() {
                            Ok(MediaCommand::Shutdown)
                            | Err(mpsc::error::TryRecvError::Disconnected) => break 'run,
                            Ok(command) => self.handle(command),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                        }
                    }
                    if std::time::Instant::now() >= next_adapt {
                        self.adapt();
                        next_adapt = std::time::Instant::now() + ADAPT_EVERY;
                    }
                }
                self.shutdown();
            })
    }

    /// Applies the gate to the microphone; video follows the gate per frame.
    pub fn apply_gate(&self) {
        self.mic_volume.set_property("mute", !self.gate.is_open());
    }

    /// Brings media to the state the session asked for: the microphone's
    /// gate, who is on the TV, the TV's words, and whose media runs.
    pub fn apply(&mut self, state: &MediaState) {
        self.apply_gate();
        if state.on_tv != self.state.on_tv {
            for (id, p) in &self.peers {
                p.show_on_tv(Some(*id) == state.on_tv);
            }
        }
        if state.screen != self.state.screen
            && let Some(picture) = &self.picture
        {
            picture.show(&state.screen);
        }
        let gone: Vec<PeerId> = (self.peers.keys())
            .filter(|id| !state.patients.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(p) = self.peers.remove(&id) {
                p.stop(&self.pipeline, &self.video_tee, &self.audio_tee);
            }
        }
        // Ended here and no longer listed: forgotten, as the session did.
        self.ended.retain(|id| state.patients.contains_key(id));
        self.state = state.clone();
        for (&peer, &codec) in &state.patients {
            if !self.peers.contains_key(&peer) && !self.ended.contains(&peer) {
                self.start_peer(peer, codec);
            }
        }
    }

    /// Carries out one patient's event. Errors are per patient: they end
    /// that patient's media and are reported as [`MediaEvent::Failed`].
    pub fn handle(&mut self, command: MediaCommand) {
        match command {
            MediaCommand::Shutdown => self.shutdown(),
            MediaCommand::SimStall => {
                if self.config.simulated {
                    self.peers.values().for_each(peer::Peer::stall);
                }
            }
            MediaCommand::Answer { peer, sdp } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                match p.set_answer(&sdp) {
                    Ok(code) => self.events.send(MediaEvent::SecurityCode { peer, code }),
                    Err(e) => {
                        eprintln!("appliance: patient {peer} sent an unusable answer: {e}");
                        self.end(peer);
                    }
                }
            }
            MediaCommand::Ice {
                peer,
                mline,
                candidate,
            } => {
                if let Some(p) = self.peers.get(&peer) {
                    p.add_ice_candidate(mline, &candidate);
                }
            }
        }
    }

    /// Negotiates with a patient (the offer goes out as an event), gated.
    fn start_peer(&mut self, peer: PeerId, codec: Codec) {
        match peer::Peer::start(
            peer,
            codec,
            &self.config,
            &self.pipeline,
            &self.video_tee,
            &self.audio_tee,
            &self.tv,
            &self.gate,
            &self.stats,
            &self.events,
        ) {
            Ok(p) => {
                // A patient's media started anew keeps their place.
                p.show_on_tv(self.state.on_tv == Some(peer));
                self.peers.insert(peer, p);
            }
            Err(e) => {
                eprintln!("appliance: media for patient {peer} failed to start: {e}");
                self.ended.insert(peer);
                self.events.send(MediaEvent::Failed(peer));
            }
        }
    }

    /// Ends a patient's media here for good and tells the session.
    fn end(&mut self, id: PeerId) {
        if let Some(p) = self.peers.remove(&id) {
            p.stop(&self.pipeline, &self.video_tee, &self.audio_tee);
        }
        self.ended.insert(id);
        self.events.send(MediaEvent::Failed(id));
    }

    /// Follows the network: each patient's encoder gets its share of the
    /// congestion estimate. `status` shows the figures of the patient who
    /// came first (the one in the call while others wait).
    pub fn adapt(&mut self) {
        if self.camera_missing && self.config.camera.exists() {
            self.camera_missing = false;
            self.events.send(MediaEvent::CameraBack);
        }
        let cap = self.config.max_bitrate_kbps;
        let mut figures = None;
        let mut ids: Vec<_> = self.peers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.abandoned() {
                eprintln!("appliance: patient {id} did not answer the offer; ending");
                self.end(id);
                continue;
            }
            if peer.stalled() {
                self.restart(id);
                continue;
            }
            let f = peer.adapt(cap);
            figures.get_or_insert(f);
        }
        let (kbps, estimate, rtt) = figures.unwrap_or((cap, None, None));
        self.stats
            .bitrate_kbps
            .store(u64::from(kbps), Ordering::Relaxed);
        self.stats
            .estimate_kbps
            .store(estimate.unwrap_or(0), Ordering::Relaxed);
        self.stats.rtt_ms.store(rtt.unwrap_or(0), Ordering::Relaxed);
    }

    /// Starts a patient's media anew after a stall: a fresh `webrtcbin` whose
    /// offer goes to the page like the first (the page then makes a new
    /// connection). After [`MAX_RESTARTS`] the patient's media has failed.
    fn restart(&mut self, id: PeerId) {
        let Some(old) = self.peers.remove(&id) else {
            return;
        };
        let (codec, restarts) = (old.codec(), old.restarts + 1);
        old.stop(&self.pipeline, &self.video_tee, &self.audio_tee);
        if restarts > MAX_RESTARTS {
            eprintln!("appliance: video to patient {id} stopped flowing again; giving up");
            self.end(id);
            return;
        }
        eprintln!("appliance: video to patient {id} stopped flowing; negotiating anew");
        self.events.send(MediaEvent::Renegotiating(id));
        self.start_peer(id, codec);
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.restarts = restarts;
        }
    }

    /// Stops everything: the pipeline goes to NULL, the gate stays shut.
    pub fn shutdown(&mut self) {
        self.gate.set(false);
        self.apply_gate();
        for (_, p) in self.peers.drain() {
            p.stop(&self.pipeline, &self.video_tee, &self.audio_tee);
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Keeps the failures of what `pad` feeds out of whatever feeds `pad`:
/// buffers are pushed on from here and, whatever the far side answers, the
/// feeder hears "ok". The camera and the microphone each feed every patient
/// and the TV through a tee, and a tee hands any error of one branch back to
/// its source, whose task then stops for good: one branch's failure would
/// end everyone's picture or sound. A TV that fails (a compositor refusing a
/// frame) did that, and so did a patient's media torn down for a repair, its
/// pad flushing under a buffer in flight, which left the next connection
/// with one frame and then none. The first failure of each `what` is
/// logged; a flushing pad (a branch going away) is not a failure.
pub fn error_barrier(pad: &gst::Pad, what: &'static str) {
    let failed = AtomicBool::new(false);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.take_buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        if let Some(peer) = pad.peer()
            && let Err(e) = peer.chain(buffer)
            && e != gst::FlowError::Flushing
            && !failed.swap(true, Ordering::SeqCst)
        {
            eprintln!("appliance: {what} failed ({e:?}); the call goes on");
        }
        info.flow_res = Ok(gst::FlowSuccess::Ok);
        gst::PadProbeReturn::Handled
    });
}

/// Logs what the pipeline reports as an error, with the element's path.
fn report(message: &gst::Message) {
    if let gst::MessageView::Error(error) = message.view() {
        eprintln!(
            "appliance: media error from {}: {}",
            error
                .src()
                .map(|s| s.path_string().to_string())
                .unwrap_or_default(),
            error.error()
        );
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        self.shutdown();
    }
}
