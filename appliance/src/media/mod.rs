//! Media: the only module that touches GStreamer. One pipeline holds the live
//! sources (camera and microphone, or in simulation a test pattern and tone)
//! behind the camera gate, and one `webrtcbin` per patient being negotiated.
//!
//! Runs on a thread of its own ([`Media::spawn`]), told what to do by the
//! session task ([`MediaState`], [`MediaCommand`]s); reports
//! [`MediaEvent`]s on a bounded channel. Guarantees: while the gate is shut,
//! every video frame that reaches an encoder is black and the microphone is
//! muted, and the remote tracks stay up so opening is immediate.

mod bus;
mod congestion;
mod counts;
mod decoders;
mod encoders;
mod figures;
mod flow;
mod keyframes;
mod loss;
mod messages;
pub(crate) mod negotiation;
mod nice;
mod peer;
mod quality;
mod repair;
mod room_sound;
pub(crate) mod sdp_check;
mod sources;
mod stamp;
mod tv;
mod tv_picture;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use gst::prelude::*;
use tokio::sync::{mpsc, watch};

pub use encoders::Codec;
pub use messages::{Events, MediaCommand, MediaEvent, MediaState, Stats};
pub use sources::{Gate, error_barrier};
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
    /// What a patient's page sent for media was refused before GStreamer
    /// saw it.
    #[error("{0}")]
    Refused(String),
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
    /// STUN and TURN servers: webrtcbin gets TURN credentials of its own
    /// for each patient.
    pub ice: crate::turn::IceServers,
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
    /// Patients whose media runs without the box's TURN servers, which gave
    /// it nothing (see `adapt`).
    without_turn: HashSet<PeerId>,
    /// Black frames stand in for a camera that was not there at start.
    camera_missing: bool,
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

        // The speakers first: the microphone's echo canceller looks for
        // their probe when it starts.
        let tv_mixer = room_sound::speakers(&pipeline, config.headless)?;
        let room = sources::Sources::build(&pipeline, &config, &gate, &events)?;
        // The TV's picture takes the gated camera for its self view.
        // A TV that cannot be drawn (a plugin missing) must not keep the box
        // from its calls: the patient's picture then goes nowhere.
        let picture = tv_picture::TvPicture::build(
            &pipeline,
            &room.video_tee,
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

        stats
            .bitrate_kbps
            .store(u64::from(config.max_bitrate_kbps), Ordering::Relaxed);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| MediaError::Pipeline(format!("cannot start the sources: {e}")))?;
        Ok(Media {
            config,
            pipeline,
            video_tee: room.video_tee,
            audio_tee: room.audio_tee,
            tv,
            picture,
            mic_volume: room.mic_volume,
            gate,
            stats,
            events,
            peers: HashMap::new(),
            state: MediaState::default(),
            ended: HashSet::new(),
            without_turn: HashSet::new(),
            camera_missing: room.camera_missing,
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
                        bus::report(&message);
                    }
                    nice::finish_releases();
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
        self.without_turn
            .retain(|id| state.patients.contains_key(id));
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
            MediaCommand::Reconnect { peer } => self.reconnect(peer),
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
        let mut config = std::borrow::Cow::Borrowed(&self.config);
        if self.without_turn.contains(&peer) {
            config.to_mut().ice.turn = None;
        }
        match peer::Peer::start(
            peer,
            codec,
            &config,
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
        self.end_with(id, MediaEvent::Failed(id));
    }

    /// Ends a patient's media here for good and tells the session `why`.
    fn end_with(&mut self, id: PeerId, why: MediaEvent) {
        if let Some(p) = self.peers.remove(&id) {
            p.stop(&self.pipeline, &self.video_tee, &self.audio_tee);
        }
        self.ended.insert(id);
        self.events.send(why);
    }

    /// Follows the network: each patient's encoder gets its share of the
    /// congestion estimate. `status` shows the figures of the patient who
    /// came first (the one in the call while others wait).
    pub fn adapt(&mut self) {
        if self.camera_missing && self.config.camera.exists() {
            self.camera_missing = false;
            self.events.send(MediaEvent::CameraBack);
        }
        self.reconnect_when_due();
        let cap = self.config.max_bitrate_kbps;
        let mut figures = None;
        let mut ids: Vec<_> = self.peers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.abandoned() {
                if peer.offered() {
                    eprintln!("appliance: patient {id} did not answer the offer; ending");
                } else {
                    // The box's own fault: say where media stands.
                    eprintln!(
                        "appliance: patient {id}: the box made no offer in time; ending \
                         (not PLAYING: {})",
                        bus::not_playing(&self.pipeline)
                    );
                }
                self.end(id);
                continue;
            }
            if peer.unreachable() {
                self.end_with(id, MediaEvent::Unreachable(id));
                continue;
            }
            if peer.stalled() {
                self.restart(id);
                continue;
            }
            match peer.hearing() {
                Some(true) => self.events.send(MediaEvent::Flowing(id)),
                Some(false) => self.events.send(MediaEvent::Silent(id)),
                None => {}
            }
            if peer.turn_failed_before_connecting() && self.without_turn.insert(id) {
                self.negotiate_without_turn(id);
                continue;
            }
            let mut f = peer.adapt(cap);
            f.relay_failed |= self.without_turn.contains(&id);
            if let Some(weak) = f.weak_now {
                self.events.send(MediaEvent::Connection { peer: id, weak });
            }
            figures.get_or_insert(f);
        }
        let figures = figures.unwrap_or(figures::Figures {
            kbps: cap,
            estimate_kbps: None,
            rtt_ms: None,
            path: None,
            relay_failed: false,
            weak_now: None,
        });
        let (kbps, estimate, rtt) = (figures.kbps, figures.estimate_kbps, figures.rtt_ms);
        if let Ok(mut path) = self.stats.path.lock() {
            *path = figures.path;
        }
        (self.stats.relay_failed).store(figures.relay_failed, Ordering::Relaxed);
        self.stats
            .bitrate_kbps
            .store(u64::from(kbps), Ordering::Relaxed);
        self.stats
            .estimate_kbps
            .store(estimate.unwrap_or(0), Ordering::Relaxed);
        self.stats.rtt_ms.store(rtt.unwrap_or(0), Ordering::Relaxed);
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

impl Drop for Media {
    fn drop(&mut self) {
        self.shutdown();
    }
}
