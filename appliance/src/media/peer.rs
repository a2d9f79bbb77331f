//! One patient's media: encoders fed from the gated sources, a webrtcbin that
//! offers send and receive, and decoders for what the patient sends. GStreamer
//! callbacks here turn their input into a [`MediaEvent`], bump a counter or
//! store a figure (the congestion estimator is made when webrtcbin asks for
//! it); they capture weak references so a stopped peer is freed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use gst::prelude::*;

use super::congestion::{self, Estimate};
use super::flow::Flow;
use super::tv::{self, OnTv, TvInputs, TvSlots};
use super::{Events, Gate, MediaConfig, MediaError, MediaEvent, Stats, nice};
use crate::session::PeerId;
use crate::signalling::protocol::security_code;

/// The video codec both ends use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// H.264 constrained baseline: Chrome, Safari, and Firefox with OpenH264.
    H264,
    /// VP8: for browsers that offer no H.264.
    Vp8,
}

impl Codec {
    /// H.264 when the browser has it, else VP8.
    pub fn choose(browser_codecs: &[String]) -> Codec {
        if browser_codecs
            .iter()
            .any(|c| c.eq_ignore_ascii_case("H264"))
        {
            Codec::H264
        } else {
            Codec::Vp8
        }
    }
}

/// The H.264 encoders to try, best first: the Raspberry Pi 4's hardware
/// encoder, VA-API, then x264 tuned for latency.
fn h264_encoder(kbps: u32, framerate: u32, ssrc: u32) -> String {
    let has = |name| gst::ElementFactory::find(name).is_some();
    let encoder = if has("v4l2h264enc") {
        format!(
            "v4l2h264enc name=encoder extra-controls=\"controls,repeat_sequence_header=1,video_bitrate={},h264_i_frame_period={}\"",
            kbps * 1000,
            framerate * 2
        )
    } else if has("vah264enc") {
        format!(
            "vah264enc name=encoder bitrate={kbps} key-int-max={} rate-control=cbr",
            framerate * 2
        )
    } else {
        format!(
            "x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max={} \
             vbv-buf-capacity=200 name=encoder",
            framerate * 2
        )
    };
    // Constrained baseline, level 3.1, with SPS and PPS before every keyframe
    // so any browser can start decoding there. Encoders mark constrained
    // baseline as 42c01f; the SDP says 42e01f, the form every browser matches.
    format!(
        "{encoder} ! video/x-h264,profile=constrained-baseline,stream-format=byte-stream ! \
         h264parse config-interval=-1 ! \
         rtph264pay name=video_pay config-interval=-1 aggregate-mode=zero-latency pt=96 ssrc={ssrc} ! \
         capssetter caps=\"application/x-rtp,profile-level-id=(string)42e01f\" ! \
         application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,\
         packetization-mode=(string)1,{}",
        rtp_fields(ssrc)
    )
}

/// The video RTP caps every codec shares: the SSRC, and transport-wide
/// congestion control feedback with its header extension when the estimator
/// is there. webrtcbin makes the offer from these caps before any buffer
/// flows, so what the payloader would add later must be in them already.
fn rtp_fields(ssrc: u32) -> String {
    let mut fields = format!("ssrc=(uint){ssrc}");
    if congestion::register() {
        fields += &format!(
            ",rtcp-fb-transport-cc=(boolean)true,extmap-{}=(string)\"{}\"",
            congestion::TWCC_ID,
            congestion::TWCC_URI
        );
    }
    fields
}

fn vp8_encoder(kbps: u32, framerate: u32, ssrc: u32) -> String {
    format!(
        "vp8enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate={} keyframe-max-dist={} \
         error-resilient=partitions lag-in-frames=0 name=encoder ! \
         rtpvp8pay name=video_pay pt=96 ssrc={ssrc} ! \
         application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000,{}",
        kbps * 1000,
        framerate * 2,
        rtp_fields(ssrc)
    )
}

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
    codec: Codec,
    flow: Flow,
    /// How many times this patient's media was started anew after a stall.
    pub restarts: u32,
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
        // The streams' SSRCs, fixed up front so the offer names them: a browser
        // that cannot tell bundled streams apart drops them. webrtcbin writes
        // into the offer only what the caps say when it makes it.
        let mut ssrcs = [0u8; 8];
        getrandom::fill(&mut ssrcs).map_err(|e| MediaError::Pipeline(e.to_string()))?;
        let video_ssrc = u32::from_be_bytes([ssrcs[0], ssrcs[1], ssrcs[2], ssrcs[3]]);
        let audio_ssrc = u32::from_be_bytes([ssrcs[4], ssrcs[5], ssrcs[6], ssrcs[7]]);
        let video_chain = match codec {
            Codec::H264 => h264_encoder(config.max_bitrate_kbps, config.framerate, video_ssrc),
            Codec::Vp8 => vp8_encoder(config.max_bitrate_kbps, config.framerate, video_ssrc),
        };
        let description = format!(
            "webrtcbin name=webrtc bundle-policy=max-bundle \
             queue name=video_in max-size-buffers=2 leaky=downstream ! {video_chain} ! webrtc. \
             queue name=audio_in max-size-time=100000000 leaky=downstream ! audioconvert ! \
             audioresample ! opusenc frame-size=20 ! rtpopuspay name=audio_pay pt=111 ssrc={audio_ssrc} ! \
             application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,\
             ssrc=(uint){audio_ssrc} ! webrtc."
        );
        let bin =
            gst::parse::bin_from_description_with_name(&description, false, &format!("peer-{id}"))
                .map_err(|e| {
                    MediaError::Pipeline(format!("cannot build the patient's pipeline: {e}"))
                })?;
        let by_name = |name: &str| {
            bin.by_name(name)
                .ok_or_else(|| MediaError::Pipeline(format!("no element {name}")))
        };
        let webrtcbin = by_name("webrtc")?;
        for (name, element) in [
            ("video_sink", by_name("video_in")?),
            ("audio_sink", by_name("audio_in")?),
        ] {
            let target = element
                .static_pad("sink")
                .ok_or_else(|| MediaError::Pipeline("queue without sink".into()))?;
            let ghost = gst::GhostPad::builder_with_target(&target)?
                .name(name)
                .build();
            bin.add_pad(&ghost)?;
        }
        if let Some(stun) = &config.stun_server {
            webrtcbin.set_property("stun-server", stun);
        }
        for address in &config.ice_addresses {
            if !nice::add_local_address(&webrtcbin, *address) {
                eprintln!("appliance: ICE cannot use the address {address}");
            }
        }

        // Transport-wide sequence numbers on the video's packets, and an
        // estimator that reads the browser's feedback on them. Not on the
        // audio's: Firefox accepts the extension for video only, and numbered
        // audio packets it ignores look like losses, which drive the estimate
        // to its floor.
        let estimate = Arc::new(Estimate::default());
        if congestion::register() {
            congestion::add_twcc(&by_name("video_pay")?)?;
            congestion::attach(&webrtcbin, config.max_bitrate_kbps, &estimate);
        }

        // Whether video flows: frames in here, packets into webrtcbin below.
        let flow = Flow::new(std::time::Instant::now());
        let counters = Arc::downgrade(flow.counters());
        by_name("video_in")?
            .static_pad("sink")
            .ok_or_else(|| MediaError::Pipeline("queue without sink".into()))?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if let Some(c) = counters.upgrade() {
                    c.frames_in.fetch_add(1, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        let [video_sink, audio_sink] = ["video_pay", "audio_pay"].map(|name| {
            by_name(name).and_then(|pay| {
                webrtc_sink_of(&pay, &webrtcbin)
                    .ok_or_else(|| MediaError::Pipeline(format!("{name} not linked to webrtcbin")))
            })
        });
        let (video_sink, audio_sink) = (video_sink?, audio_sink?);
        // Packets out: counted where they enter webrtcbin, in this thread.
        // Its own statistics and state notifications come from its task
        // thread, which is the one that hangs.
        let counters = Arc::downgrade(flow.counters());
        video_sink.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let n = match &info.data {
                    Some(gst::PadProbeData::BufferList(list)) => list.len() as u64,
                    _ => 1,
                };
                if let Some(c) = counters.upgrade() {
                    c.packets_out.fetch_add(n, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            },
        );

        // Frames sent: counted after the gate, only while it is open.
        if let Some(payloader_sink) = by_name("video_pay")?.static_pad("sink") {
            let gate = gate.clone();
            let stats = Arc::downgrade(stats);
            payloader_sink.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if gate.is_open()
                    && let Some(stats) = stats.upgrade()
                {
                    stats.video_frames_sent.fetch_add(1, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        }

        let local_sdp = Arc::new(std::sync::Mutex::new(None));
        let slots = TvSlots::default();
        let on_tv = OnTv::default();
        connect_signals(id, &webrtcbin, &bin, (tv, &slots, &on_tv), stats, events);

        // Playing before it is linked: a live source whose first buffer meets
        // a pad that is still flushing stops its task for good, and then no
        // one gets video (or sound) until the daemon restarts.
        pipeline.add(&bin)?;
        bin.sync_state_with_parent()?;
        let tee_pads = match link_to_tees(&bin, video_tee, audio_tee) {
            Ok(pads) => pads,
            Err(e) => {
                // Not left running: a webrtcbin and an encoder cost a core.
                let _ = bin.set_state(gst::State::Null);
                let _ = pipeline.remove(&bin);
                return Err(e);
            }
        };
        offer_once_negotiated(id, &webrtcbin, [video_sink, audio_sink], events, &local_sdp);
        Ok(Peer {
            encoder: bin.by_name("encoder"),
            bin,
            webrtcbin,
            tee_pads,
            local_sdp,
            estimate,
            video_kbps: config.max_bitrate_kbps,
            rtt_ms: Arc::new(AtomicU64::new(0)),
            codec,
            flow,
            restarts: 0,
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

    /// Whether the page left the offer unanswered for too long.
    pub fn abandoned(&self) -> bool {
        self.flow.unanswered(std::time::Instant::now())
    }

    /// Gives the video encoder its share of the latest estimate, and asks
    /// webrtcbin for the round-trip time. Returns the encoder's target
    /// (kbit/s), the estimate (kbit/s) and the round-trip time (ms), the
    /// last two once known.
    pub fn adapt(&mut self, max_video_kbps: u32) -> (u32, Option<u64>, Option<u64>) {
        let estimate = self.estimate.bps();
        if let (Some(bps), Some(encoder)) = (estimate, &self.encoder) {
            let kbps = congestion::video_kbps(bps, max_video_kbps);
            // Small steps are noise, and x264 restarts its rate control on
            // every change.
            if kbps.abs_diff(self.video_kbps) * 20 > self.video_kbps
                && congestion::set_encoder_kbps(encoder, kbps)
            {
                self.video_kbps = kbps;
            }
        }
        self.request_rtt();
        let rtt = Some(self.rtt_ms.load(Ordering::Relaxed)).filter(|&r| r > 0);
        (self.video_kbps, estimate.map(|b| b / 1000), rtt)
    }

    /// Reads the round-trip time from the browser's receiver reports.
    fn request_rtt(&self) {
        let rtt = Arc::downgrade(&self.rtt_ms);
        let promise = gst::Promise::with_change_func(move |reply| {
            let (Ok(Some(stats)), Some(rtt)) = (reply, rtt.upgrade()) else {
                return;
            };
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
        });
        self.webrtcbin
            .emit_by_name::<()>("get-stats", &[&None::<gst::Pad>, &promise]);
    }

    /// Applies the patient's answer and reports the security code.
    pub fn set_answer(&mut self, sdp: &str) -> Result<String, MediaError> {
        self.flow.counters().answered.store(true, Ordering::Relaxed);
        let bundled = bundle_ice_credentials(sdp);
        let message = gst_sdp::SDPMessage::parse_buffer(bundled.as_bytes())
            .map_err(|_| MediaError::Pipeline("the answer is not SDP".into()))?;
        let answer =
            gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, message);
        self.webrtcbin
            .emit_by_name::<()>("set-remote-description", &[&answer, &None::<gst::Promise>]);
        let local = self
            .local_sdp
            .lock()
            .map_err(|_| MediaError::Pipeline("offer lock poisoned".into()))?
            .clone()
            .ok_or_else(|| MediaError::Pipeline("an answer before the offer".into()))?;
        security_code(&local, sdp)
            .ok_or_else(|| MediaError::Pipeline("no DTLS fingerprint in the answer".into()))
    }

    /// Adds one of the patient's ICE candidates.
    pub fn add_ice_candidate(&self, mline: u32, candidate: &str) {
        if candidate.is_empty() || candidate.len() > 1024 {
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

/// The webrtcbin sink pad that `element`'s output reaches, through the
/// elements linked one to one after it.
fn webrtc_sink_of(element: &gst::Element, webrtcbin: &gst::Element) -> Option<gst::Pad> {
    let mut pad = element.static_pad("src")?;
    // A handful of elements at most stand between a payloader and webrtcbin.
    for _ in 0..8 {
        let peer = pad.peer()?;
        let owner = peer.parent_element()?;
        if &owner == webrtcbin {
            return Some(peer);
        }
        pad = owner.static_pad("src")?;
    }
    None
}

/// Gives every m-line of a bundled answer the ICE credentials of the first.
/// Bundled m-lines share one ICE transport, and webrtcbin 1.22 applies each
/// m-line's credentials to it in turn, so the last wins; Chromium's answers
/// sometimes carry different ones on a bundle-only line, and then every check
/// the box sends is refused and the call never connects.
fn bundle_ice_credentials(sdp: &str) -> String {
    let first = |prefix: &str| {
        sdp.lines()
            .skip_while(|l| !l.starts_with("m="))
            .find_map(|l| l.strip_prefix(prefix).map(str::trim).map(str::to_owned))
    };
    let (Some(ufrag), Some(pwd)) = (first("a=ice-ufrag:"), first("a=ice-pwd:")) else {
        return sdp.to_owned();
    };
    sdp.split_inclusive('\n')
        .map(|line| {
            let ending = &line[line.trim_end_matches(['\r', '\n']).len()..];
            if line.starts_with("a=ice-ufrag:") {
                format!("a=ice-ufrag:{ufrag}{ending}")
            } else if line.starts_with("a=ice-pwd:") {
                format!("a=ice-pwd:{pwd}{ending}")
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// Asks webrtcbin for the offer once each of its inputs (`sinks`) has its
/// caps. webrtcbin writes a media section from the caps its input has when
/// it makes the offer, and with none yet from what the elements before it
/// could produce: for Opus that is a line without the channel count
/// (`OPUS/48000`, no `fmtp`), which browsers refuse, and the call has no
/// sound. Only the first call of a process escaped it: its webrtcbin first
/// makes the box's DTLS certificate, which took long enough for the caps to
/// arrive; every later webrtcbin reuses the certificate and offered at once.
fn offer_once_negotiated(
    id: PeerId,
    webrtcbin: &gst::Element,
    sinks: [gst::Pad; 2],
    events: &Events,
    local_sdp: &Arc<std::sync::Mutex<Option<String>>>,
) {
    let waiting = Arc::new(AtomicUsize::new(sinks.len()));
    let ready = {
        let (webrtcbin, events, local_sdp) =
            (webrtcbin.downgrade(), events.clone(), local_sdp.clone());
        move || {
            if waiting.fetch_sub(1, Ordering::SeqCst) == 1
                && let Some(webrtcbin) = webrtcbin.upgrade()
            {
                create_offer(id, &webrtcbin, &events, &local_sdp);
            }
        }
    };
    let ready = Arc::new(ready);
    for sink in sinks {
        // Each input counts once, whether its caps came before the handler
        // was connected or after.
        let counted = Arc::new(AtomicBool::new(false));
        let (once, ready_here) = (counted.clone(), ready.clone());
        sink.connect_notify(Some("caps"), move |pad, _| {
            if pad.current_caps().is_some() && !once.swap(true, Ordering::SeqCst) {
                ready_here();
            }
        });
        if sink.current_caps().is_some() && !counted.swap(true, Ordering::SeqCst) {
            ready();
        }
    }
}

/// Asks webrtcbin for an offer and, once it has one, sets it as the local
/// description and reports it.
fn create_offer(
    id: PeerId,
    webrtcbin: &gst::Element,
    events: &Events,
    local_sdp: &Arc<std::sync::Mutex<Option<String>>>,
) {
    let weak = webrtcbin.downgrade();
    let tx = events.clone();
    let sdp_store = local_sdp.clone();
    let promise = gst::Promise::with_change_func(move |reply| {
        let Some(webrtc) = weak.upgrade() else { return };
        let offer = match reply {
            Ok(Some(reply)) => reply
                .value("offer")
                .ok()
                .and_then(|v| v.get::<gst_webrtc::WebRTCSessionDescription>().ok()),
            _ => None,
        };
        let Some(offer) = offer else {
            tx.send(MediaEvent::Failed(id));
            return;
        };
        webrtc.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
        let Ok(text) = offer.sdp().as_text() else {
            tx.send(MediaEvent::Failed(id));
            return;
        };
        if let Ok(mut stored) = sdp_store.lock() {
            *stored = Some(text.clone());
        }
        tx.send(MediaEvent::Offer {
            peer: id,
            sdp: text,
        });
    });
    webrtcbin.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
}

fn connect_signals(
    id: PeerId,
    webrtcbin: &gst::Element,
    bin: &gst::Bin,
    (tv, slots, on_tv): (&TvInputs, &TvSlots, &OnTv),
    stats: &Arc<Stats>,
    events: &Events,
) {
    let (tv, slots, on_tv) = (tv.clone(), slots.clone(), on_tv.clone());
    let tx = events.clone();
    webrtcbin.connect("on-ice-candidate", false, move |values| {
        let mline = values.get(1)?.get::<u32>().ok()?;
        let candidate = values.get(2)?.get::<String>().ok()?;
        tx.send(MediaEvent::Ice {
            peer: id,
            mline,
            candidate,
        });
        None
    });

    let tx = events.clone();
    webrtcbin.connect_notify(Some("ice-connection-state"), move |webrtc, _| {
        let state = webrtc.property::<gst_webrtc::WebRTCICEConnectionState>("ice-connection-state");
        if state == gst_webrtc::WebRTCICEConnectionState::Failed {
            tx.send(MediaEvent::Failed(id));
        }
    });

    // What the patient sends: decoded, counted, and played on the TV.
    let bin_weak = bin.downgrade();
    let stats = Arc::downgrade(stats);
    webrtcbin.connect_pad_added(move |_, pad| {
        if pad.direction() != gst::PadDirection::Src {
            return;
        }
        let Some(bin) = bin_weak.upgrade() else {
            return;
        };
        let Ok(decodebin) = gst::ElementFactory::make("decodebin").build() else {
            return;
        };
        let stats = stats.clone();
        let bin_weak = bin.downgrade();
        let (tv, slots, on_tv) = (tv.clone(), slots.clone(), on_tv.clone());
        decodebin.connect_pad_added(move |_, pad| {
            let Some(bin) = bin_weak.upgrade() else {
                return;
            };
            if let Err(e) = tv::play_patient(&bin, pad, &tv, (&slots, &on_tv), &stats) {
                eprintln!("appliance: cannot play the patient's media: {e}");
            }
        });
        if bin.add(&decodebin).is_err() {
            return;
        }
        let _ = decodebin.sync_state_with_parent();
        if let Some(sink) = decodebin.static_pad("sink") {
            let _ = pad.link(&sink);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_m_lines_get_the_first_m_lines_credentials() {
        let answer = "v=0\r\na=group:BUNDLE 0 1\r\nm=video 9 UDP 96\r\na=ice-ufrag:wglK\r\n\
                      a=ice-pwd:first\r\nm=audio 9 UDP 111\r\na=ice-ufrag:Wt2z\r\na=ice-pwd:second\r\n";
        let fixed = bundle_ice_credentials(answer);
        assert_eq!(fixed.matches("a=ice-ufrag:wglK\r\n").count(), 2);
        assert_eq!(fixed.matches("a=ice-pwd:first\r\n").count(), 2);
        assert!(!fixed.contains("Wt2z") && !fixed.contains("second"));
        assert_eq!(bundle_ice_credentials("v=0\r\n"), "v=0\r\n");
    }

    #[test]
    fn codecs_follow_the_browser() {
        assert_eq!(Codec::choose(&["VP8".into(), "H264".into()]), Codec::H264);
        assert_eq!(Codec::choose(&["VP8".into(), "VP9".into()]), Codec::Vp8);
        assert_eq!(Codec::choose(&[]), Codec::Vp8);
    }
}
