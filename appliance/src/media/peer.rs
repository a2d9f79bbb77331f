//! One patient's media: encoders fed from the gated sources, a webrtcbin that
//! offers send and receive, and decoders for what the patient sends. GStreamer
//! callbacks here turn their input into a [`MediaEvent`], bump a counter or
//! store a figure (the congestion estimator is made when webrtcbin asks for
//! it); they capture weak references so a stopped peer is freed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::prelude::*;

use super::congestion::{self, Estimate};
use super::counts::count_flow;
use super::encoders::{self, Codec};
use super::figures::{Figures, selected_pair};
use super::flow::Flow;
use super::loss::{LossCap, LossReport};
use super::negotiation::{apply_answer, connect_signals, offer_once_negotiated};
use super::quality::{Quality, Sample};
use super::tv::{self, OnTv, TvInputs, TvSlots};
use super::{Events, Gate, MediaConfig, MediaError, Stats, nice};
use crate::ice_path::PairView;
use crate::session::PeerId;
use crate::signalling::protocol::security_code;

/// How long a patient's teardown waits for the TURN server to take back
/// their relays: a TURN server on the clinic's network answers in
/// milliseconds.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// A patient's media.
#[derive(Debug)]
pub struct Peer {
    bin: gst::Bin,
    webrtcbin: gst::Element,
    tee_pads: [gst::Pad; 2],
    local_sdp: Arc<std::sync::Mutex<Option<String>>>,
    encoder: Option<gst::Element>,
    /// What congestion control last estimated for this patient's transport.
    estimate: Arc<Estimate>,
    /// The encoder's current target, kbit/s.
    video_kbps: u32,
    /// The round-trip time the browser last reported, ms; 0 while unknown.
    rtt_ms: Arc<AtomicU64>,
    /// What the browser last reported of the packets it lost.
    loss: Arc<LossReport>,
    /// Whether the connection is weak, judged over seconds.
    quality: Quality,
    /// The cap loss puts on the video, under the estimate.
    loss_cap: LossCap,
    /// The selected candidate pair, as the box sees it.
    path: Arc<std::sync::Mutex<Option<PairView>>>,
    /// Whether the box was given TURN servers.
    turn: bool,
    codec: Codec,
    flow: Flow,
    /// How many times this patient's media was started anew after a stall.
    pub restarts: u32,
    /// The page asked for a new connection too soon after this one began:
    /// it is made once the wait is over.
    pub reconnect_asked: bool,
    /// An earlier connection with this patient connected: this one is a
    /// reconnection, which may take as long as the network needs.
    connected_before: bool,
    /// The patient's voice and picture on the TV.
    slots: TvSlots,
    on_tv: OnTv,
    tv: TvInputs,
}

impl Peer {
    /// Builds the patient's bin, links it to the sources and starts
    /// negotiating: the offer comes out as a [`MediaEvent::Offer`].
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        id: PeerId,
        codec: Codec,
        config: &MediaConfig,
        pipeline: &gst::Pipeline,
        video_tee: &gst::Element,
        audio_tee: &gst::Element,
        tv: &TvInputs,
        gate: &Gate,
        stats: &Arc<Stats>,
        events: &Events,
    ) -> Result<Peer, MediaError> {
        let bin = encoders::patient_bin(id, codec, config)?;
        let by_name = |name: &str| {
            bin.by_name(name)
                .ok_or_else(|| MediaError::Pipeline(format!("no element {name}")))
        };
        let webrtcbin = by_name("webrtc")?;
        configure_ice(&webrtcbin, config);

        let estimate = congestion_control(&webrtcbin, &by_name("video_pay")?, config)?;

        // Whether video flows: frames in here, packets into webrtcbin.
        let flow = Flow::new(std::time::Instant::now());
        let sinks = count_flow(&bin, &webrtcbin, &flow, gate, stats)?;

        let local_sdp = Arc::new(std::sync::Mutex::new(None));
        let slots = TvSlots::default();
        let on_tv = OnTv::default();
        connect_signals(
            id,
            &webrtcbin,
            &bin,
            (tv, &slots, &on_tv),
            (stats, flow.counters()),
            events,
        );

        // Playing before it is linked: a live source whose first buffer meets
        // a pad that is still flushing stops its task for good, and then no
        // one gets video (or sound) until the daemon restarts.
        pipeline.add(&bin)?;
        let started = (bin.sync_state_with_parent().map_err(MediaError::from))
            .and_then(|()| link_to_tees(&bin, video_tee, audio_tee));
        let tee_pads = match started {
            Ok(pads) => pads,
            Err(e) => {
                // Not left running: a webrtcbin and an encoder cost a core.
                let _ = bin.set_state(gst::State::Null);
                let _ = pipeline.remove(&bin);
                return Err(e);
            }
        };
        offer_once_negotiated(id, &webrtcbin, sinks, events, &local_sdp);
        Ok(Peer {
            encoder: bin.by_name("encoder"),
            bin,
            webrtcbin,
            tee_pads,
            local_sdp,
            estimate,
            video_kbps: config.max_bitrate_kbps,
            rtt_ms: Arc::new(AtomicU64::new(0)),
            loss: Arc::default(),
            quality: Quality::default(),
            loss_cap: LossCap::default(),
            path: Arc::default(),
            turn: config.ice.turn.is_some(),
            codec,
            flow,
            restarts: 0,
            reconnect_asked: false,
            connected_before: false,
            slots,
            on_tv,
            tv: tv.clone(),
        })
    }

    /// Simulation: drops every video packet before webrtcbin from now on.
    pub fn stall(&self) {
        if let Some(pad) = self
            .bin
            .by_name("video_pay")
            .and_then(|p| p.static_pad("src"))
        {
            // Payloaders push packets in lists as well as one by one.
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                |_, _| gst::PadProbeReturn::Drop,
            );
        }
    }

    /// Puts this patient on the TV (seen and heard in the room) or off it.
    pub fn show_on_tv(&self, shown: bool) {
        tv::show(&self.bin, &self.on_tv, &self.slots, shown);
    }

    /// The video codec this patient's browser and the box use.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Whether frames go in and no packet has come out for a while (see
    /// [`super::flow`]); then this patient's media must be started anew.
    pub fn stalled(&mut self) -> bool {
        self.flow.stalled(std::time::Instant::now())
    }

    /// Whether ICE did not connect in time: no path to the page. Not for
    /// a reconnection: a network that is down now may come back.
    pub fn unreachable(&self) -> bool {
        !self.connected_before && self.flow.unreachable(std::time::Instant::now())
    }

    /// Whether this connection, or one before it, connected.
    pub fn connected_before(&self) -> bool {
        self.connected_before || self.flow.connected()
    }

    /// This negotiation follows an earlier one with the patient, which
    /// had connected or not.
    pub fn reconnection(&mut self, connected_before: bool) {
        self.connected_before = connected_before;
    }

    /// How long ago this negotiation began.
    pub fn age(&self, now: std::time::Instant) -> Duration {
        self.flow.age(now)
    }

    /// Whether the patient's side flows, when that changed (see
    /// [`Flow::hearing`]).
    pub fn hearing(&mut self) -> Option<bool> {
        self.flow.hearing(std::time::Instant::now())
    }

    /// Whether the box's TURN servers gave it no relay address, and it has
    /// no public address either, while ICE has yet to connect.
    pub fn turn_failed_before_connecting(&self) -> bool {
        self.flow.relay_took_public_address(self.turn) && !self.flow.connected()
    }

    /// Whether the box has made its offer (webrtcbin's inputs had their
    /// caps, and webrtcbin answered the request for one).
    pub fn offered(&self) -> bool {
        self.local_sdp.lock().is_ok_and(|sdp| sdp.is_some())
    }

    /// Whether the page left the offer unanswered for too long. A
    /// reconnection's page may be away: its grace decides.
    pub fn abandoned(&self) -> bool {
        !self.connected_before && self.flow.unanswered(std::time::Instant::now())
    }

    /// Gives the video encoder its share of the latest estimate, and asks
    /// webrtcbin for its statistics. Returns the figures `status` shows.
    pub fn adapt(&mut self, max_video_kbps: u32) -> Figures {
        let estimate = self.estimate.bps();
        let from_estimate = estimate.map(|bps| congestion::video_kbps(bps, max_video_kbps));
        let lost = self.loss.fraction();
        let now = std::time::Instant::now();
        let cap = (self.loss_cap).update(lost, self.video_kbps, max_video_kbps, now);
        let target = match (from_estimate, cap) {
            (Some(kbps), Some(cap)) => Some(kbps.min(cap)),
            (kbps, cap) => kbps.or(cap),
        };
        if let (Some(kbps), Some(encoder)) = (target, &self.encoder) {
            // Small steps are noise, and x264 restarts its rate control on
            // every change.
            if kbps.abs_diff(self.video_kbps) * 20 > self.video_kbps
                && congestion::set_encoder_kbps(encoder, kbps)
            {
                self.video_kbps = kbps;
            }
        }
        self.request_stats();
        let estimate_kbps = estimate.map(|b| b / 1000);
        let rtt_ms = Some(self.rtt_ms.load(Ordering::Relaxed)).filter(|&r| r > 0);
        let sample = Sample {
            estimate_kbps,
            rtt_ms,
            lost,
        };
        Figures {
            kbps: self.video_kbps,
            estimate_kbps,
            rtt_ms,
            weak_now: self.quality.judge(sample, now),
            path: self.path.lock().ok().and_then(|p| *p),
            relay_failed: self.flow.relay_failed(self.turn),
        }
    }

    /// Reads the round-trip time and the loss from the browser's receiver
    /// reports, and the selected candidate pair.
    fn request_stats(&self) {
        let rtt = Arc::downgrade(&self.rtt_ms);
        let loss = Arc::downgrade(&self.loss);
        let path = Arc::downgrade(&self.path);
        let promise = gst::Promise::with_change_func(move |reply| {
            let (Ok(Some(stats)), Some(rtt)) = (reply, rtt.upgrade()) else {
                return;
            };
            if let (Some(view), Some(path)) = (selected_pair(stats), path.upgrade())
                && let Ok(mut path) = path.lock()
            {
                *path = Some(view);
            }
            let seconds = stats.iter().find_map(|(_, value)| {
                let s = value.get::<gst::Structure>().ok()?;
                (s.name() == "remote-inbound-rtp")
                    .then(|| s.get::<f64>("round-trip-time").ok())
                    .flatten()
            });
            if let Some(seconds) = seconds.filter(|s| s.is_finite() && *s > 0.0) {
                let ms = (seconds * 1000.0).round().max(1.0) as u64;
                rtt.store(ms, Ordering::Relaxed);
            }
            // The worst of the browser's reports (audio and video share the
            // path).
            let lost = (stats.iter())
                .filter_map(|(_, value)| value.get::<gst::Structure>().ok())
                .filter(|s| s.name() == "remote-inbound-rtp")
                .filter_map(|s| s.get::<f64>("fraction-lost").ok())
                .fold(None, |worst: Option<f64>, f| {
                    Some(worst.map_or(f, |w| w.max(f)))
                });
            if let (Some(lost), Some(loss)) = (lost, loss.upgrade()) {
                loss.store(lost);
            }
        });
        self.webrtcbin
            .emit_by_name::<()>("get-stats", &[&None::<gst::Pad>, &promise]);
    }

    /// Applies the patient's answer, once it is checked against the offer
    /// ([`apply_answer`]), and reports the security code.
    pub fn set_answer(&mut self, sdp: &str) -> Result<String, MediaError> {
        self.flow.answered(std::time::Instant::now());
        let local = self
            .local_sdp
            .lock()
            .map_err(|_| MediaError::Pipeline("offer lock poisoned".into()))?
            .clone()
            .ok_or_else(|| MediaError::Pipeline("an answer before the offer".into()))?;
        apply_answer(&self.webrtcbin, &local, sdp, None)?;
        security_code(&local, sdp)
            .ok_or_else(|| MediaError::Pipeline("no DTLS fingerprint in the answer".into()))
    }

    /// Adds one of the patient's ICE candidates (checked as it arrived,
    /// `sdp_check::check_candidate`) if it is for a media section the offer
    /// has.
    pub fn add_ice_candidate(&self, mline: u32, candidate: &str) {
        let sections = (self.local_sdp.lock().ok())
            .and_then(|sdp| sdp.as_ref().map(|s| s.matches("\nm=").count()))
            .unwrap_or(0);
        let known = usize::try_from(mline).is_ok_and(|m| m < sections);
        if candidate.is_empty() || !known {
            return;
        }
        self.webrtcbin
            .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
    }

    /// Unlinks and drops everything of the patient's.
    pub fn stop(
        self,
        pipeline: &gst::Pipeline,
        video_tee: &gst::Element,
        audio_tee: &gst::Element,
    ) {
        // Only a patient with TURN servers has relays to give back.
        if self.turn && !nice::release_relays(&self.webrtcbin, RELEASE_WAIT) {
            eprintln!("appliance: the TURN server did not take back a patient's relay in time");
        }
        for (pad, tee) in self.tee_pads.iter().zip([video_tee, audio_tee]) {
            if let Some(peer) = pad.peer() {
                let _ = pad.unlink(&peer);
            }
            tee.release_request_pad(pad);
        }
        tv::release(&self.tv, &self.slots);
        let _ = self.bin.set_state(gst::State::Null);
        let _ = pipeline.remove(&self.bin);
        if let Ok(mut sdp) = self.local_sdp.lock() {
            *sdp = None;
        }
        // The last references to the bin go with the patient: what its
        // elements freed goes back to the kernel.
        drop(self);
        crate::memory::give_back();
    }
}

/// Transport-wide sequence numbers on the video's packets (`video_pay`),
/// and an estimator that reads the browser's feedback on them. Not on the
/// audio's: Firefox accepts the extension for video only, and numbered
/// audio packets it ignores look like losses, which drive the estimate to
/// its floor.
fn congestion_control(
    webrtcbin: &gst::Element,
    video_pay: &gst::Element,
    config: &MediaConfig,
) -> Result<Arc<Estimate>, MediaError> {
    let estimate = Arc::new(Estimate::default());
    if congestion::register() {
        congestion::add_twcc(video_pay)?;
        congestion::attach(webrtcbin, config.max_bitrate_kbps, &estimate);
    }
    Ok(estimate)
}

/// Gives webrtcbin the clinic's STUN server, TURN servers with credentials
/// minted now, and the addresses to gather on besides the interfaces'; and
/// never a UPnP request to the clinic's router.
fn configure_ice(webrtcbin: &gst::Element, config: &MediaConfig) {
    if !nice::no_upnp(webrtcbin) {
        eprintln!("appliance: webrtcbin's ICE agent is not libnice's; UPnP left as it is");
    }
    if let Some(stun) = config.ice.stun_for_webrtcbin() {
        webrtcbin.set_property("stun-server", stun);
    }
    if let Some(turn) = &config.ice.turn {
        for uri in turn.for_webrtcbin(crate::invite::unix_now()) {
            if !webrtcbin.emit_by_name::<bool>("add-turn-server", &[&uri.as_str()]) {
                eprintln!("appliance: webrtcbin refused a TURN server (see ice.turn_urls)");
            }
        }
    }
    for address in &config.ice_addresses {
        if !nice::add_local_address(webrtcbin, *address) {
            eprintln!("appliance: ICE cannot use the address {address}");
        }
    }
}

/// Links the patient's bin to the camera's and the microphone's tees; on
/// failure gives back whatever tee pads it took.
fn link_to_tees(
    bin: &gst::Bin,
    video_tee: &gst::Element,
    audio_tee: &gst::Element,
) -> Result<[gst::Pad; 2], MediaError> {
    let mut taken: Vec<(gst::Pad, &gst::Element)> = Vec::new();
    for (tee, sink) in [(video_tee, "video_sink"), (audio_tee, "audio_sink")] {
        let linked = tee
            .request_pad_simple("src_%u")
            .ok_or_else(|| MediaError::Pipeline("no tee pad".into()))
            .and_then(|pad| {
                taken.push((pad.clone(), tee));
                let sink = bin
                    .static_pad(sink)
                    .ok_or_else(|| MediaError::Pipeline("no ghost pad".into()))?;
                pad.link(&sink).map(drop).map_err(|e| {
                    MediaError::Pipeline(format!("cannot link the patient's media: {e:?}"))
                })
            });
        if let Err(e) = linked {
            for (pad, tee) in taken {
                if let Some(peer) = pad.peer() {
                    let _ = pad.unlink(&peer);
                }
                tee.release_request_pad(&pad);
            }
            return Err(e);
        }
    }
    match <[(gst::Pad, &gst::Element); 2]>::try_from(taken) {
        Ok([(video, _), (audio, _)]) => {
            // Whatever becomes of this patient's media, the camera and the
            // microphone go on for everyone else.
            super::error_barrier(&video, "a patient's video");
            super::error_barrier(&audio, "a patient's sound");
            Ok([video, audio])
        }
        Err(_) => Err(MediaError::Pipeline("tee pads missing".into())),
    }
}
