//! The TV: where what the patient sends goes, and the echo canceller that
//! keeps the patient's voice, played into the room, out of the microphone.
//!
//! The TV's speakers are one mixer for the whole pipeline, through a
//! `webrtcechoprobe`; the microphone goes through `webrtcdsp`, which reads
//! the probe to subtract what the speakers played. The patient's video goes
//! to the TV's picture ([`super::screen`]). Only the patient in a live call
//! is seen and heard in the room: everyone else's picture and voice stop at
//! a valve before the TV, so nobody in the room hears a waiting patient (nor
//! a waiting patient anything of another's session). Called from the
//! patient's bin as its decoders appear; the callbacks capture weak
//! references only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use gst::prelude::*;

use super::{MediaError, Stats, screen};

/// The echo probe's name: `webrtcdsp` finds its probe by name, process-wide.
const ECHO_PROBE: &str = "tv_echo";

/// What the canceller and the probe work on: the echo canceller handles
/// 16-bit interleaved audio at one rate on both sides.
pub const ROOM_AUDIO: &str = "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1";

/// Builds the TV's speakers into `pipeline`: a mixer that runs on silence
/// until a patient's voice joins it, the echo probe, and the sound output (a
/// clocked null sink when headless, so that the probe still sees real time).
/// Returns the mixer, whose `sink_%u` pads take patients' voices.
pub fn speakers(pipeline: &gst::Pipeline, headless: bool) -> Result<gst::Element, MediaError> {
    let output = if headless {
        "fakesink sync=true"
    } else {
        "autoaudiosink"
    };
    let description = format!(
        "audiotestsrc wave=silence is-live=true ! audiomixer name=tv_mix ! audioconvert ! \
         audioresample ! {ROOM_AUDIO} ! webrtcechoprobe name={ECHO_PROBE} ! audioconvert ! \
         audioresample ! {output}"
    );
    let bin = gst::parse::bin_from_description_with_name(&description, false, "tv_speakers")
        .map_err(|e| MediaError::Pipeline(format!("cannot build the TV's sound: {e}")))?;
    let mixer = bin
        .by_name("tv_mix")
        .ok_or_else(|| MediaError::Pipeline("no TV mixer".into()))?;
    pipeline.add(&bin)?;
    Ok(mixer)
}

/// The microphone's processing, to put between the microphone and the rest:
/// the format the canceller needs, then echo cancellation against the TV's
/// speakers, noise suppression and gain control.
pub fn echo_canceller() -> Result<[gst::Element; 2], MediaError> {
    let caps = ROOM_AUDIO
        .parse::<gst::Caps>()
        .map_err(|e| MediaError::Pipeline(e.to_string()))?;
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", caps)
        .build()
        .map_err(|_| MediaError::MissingElement("capsfilter"))?;
    let dsp = gst::ElementFactory::make("webrtcdsp")
        .property("probe", ECHO_PROBE)
        .build()
        .map_err(|_| MediaError::MissingElement("webrtcdsp (gstreamer1.0-plugins-bad)"))?;
    Ok([filter, dsp])
}

/// Whether this patient is on the TV (live): shared with the callbacks that
/// build the patient's outputs.
pub type OnTv = Arc<AtomicBool>;

/// The valve in front of each of a patient's outputs.
const VALVE: &str = "tv_valve";

/// Where patients' outputs go: the speakers' mixer and the picture's
/// compositor, held weakly by the callbacks that link to them.
#[derive(Debug, Clone)]
pub struct TvInputs {
    /// The speakers' mixer.
    pub mixer: gst::glib::WeakRef<gst::Element>,
    /// The picture's compositor.
    pub compositor: gst::glib::WeakRef<gst::Element>,
}

/// A pad a patient holds on the mixer or the compositor, and the entry to it
/// on that element's bin, to give back when their media stops.
type Slot = Arc<Mutex<Option<(gst::Pad, gst::GhostPad)>>>;

/// A patient's places on the TV: their voice and their picture.
#[derive(Debug, Clone, Default)]
pub struct TvSlots {
    voice: Slot,
    picture: Slot,
}

/// Puts the patient on the TV or takes them off it: their picture and voice
/// pass the valves, or stop there, and their picture shows or hides (the
/// compositor would otherwise keep their last frame on screen).
pub fn show(bin: &gst::Bin, on_tv: &OnTv, slots: &TvSlots, shown: bool) {
    // Stored first: an output made from now on reads it after joining the
    // bin, so it is either found here or reads the new value itself.
    on_tv.store(shown, Ordering::SeqCst);
    for valve in bin.iterate_recurse().into_iter().flatten() {
        if valve.name() == VALVE {
            valve.set_property("drop", !shown);
        }
    }
    if let Ok(slot) = slots.picture.lock()
        && let Some((pad, _)) = slot.as_ref()
    {
        screen::show_patient(pad, shown);
    }
}

/// Plays what the patient sends as webrtcbin's decoders produce it: video to
/// the TV's compositor, audio into the TV's mixer. Counts both.
pub fn play_patient(
    bin: &gst::Bin,
    pad: &gst::Pad,
    tv: &TvInputs,
    (slots, on_tv): (&TvSlots, &OnTv),
    stats: &Weak<Stats>,
) -> Result<(), MediaError> {
    let caps = pad.current_caps();
    let structure = caps.as_ref().and_then(|c| c.structure(0));
    let is_video = structure.is_some_and(|s| s.name().starts_with("video/"));
    // Opus decodes to 16-bit samples; anything else is counted, not weighed.
    let sixteen_bit = structure.is_some_and(|s| s.get::<&str>("format") == Ok("S16LE"));
    // The TV must never hold the call back: the picture's compositor blocks
    // whoever pushes into it until it takes the frame, so a leaky queue
    // keeps webrtcbin's decoding thread free (without it, a patient's
    // picture arriving late over a narrow path stalled the whole call).
    let description = if is_video {
        format!(
            "queue leaky=downstream max-size-buffers=3 ! valve name={VALVE} drop=true ! videoconvert"
        )
    } else {
        format!("queue ! valve name={VALVE} drop=true ! audioconvert ! audioresample")
    };
    let output = gst::parse::bin_from_description(&description, true)
        .map_err(|e| MediaError::Pipeline(e.to_string()))?;
    let sink = output
        .static_pad("sink")
        .ok_or_else(|| MediaError::Pipeline("no sink".into()))?;
    let stats = stats.clone();
    sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        // A decoder may put out a frame without a time after a loss; the
        // compositor fails on it ("need timestamped buffers"), and a failed
        // TV would stop the camera it shares with the call. Such a frame
        // cannot be placed in time anyway: it is dropped.
        if is_video
            && let Some(gst::PadProbeData::Buffer(buffer)) = &info.data
            && buffer.pts().is_none()
        {
            return gst::PadProbeReturn::Drop;
        }
        if let Some(stats) = stats.upgrade() {
            let counter = if is_video {
                &stats.video_frames_received
            } else {
                &stats.audio_frames_received
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if !is_video
                && sixteen_bit
                && let Some(gst::PadProbeData::Buffer(buffer)) = &info.data
                && buffer.map_readable().is_ok_and(|map| audible(&map))
            {
                stats.audio_frames_audible.fetch_add(1, Ordering::Relaxed);
            }
        }
        gst::PadProbeReturn::Ok
    });
    bin.add(&output)?;
    let shown = on_tv.load(Ordering::SeqCst);
    let linked = if is_video {
        to_tv(bin, &output, &tv.compositor, &slots.picture, "picture")
            .map(|pad| screen::patient_pad(&pad, shown))
    } else {
        to_tv(bin, &output, &tv.mixer, &slots.voice, "voice").map(drop)
    };
    if let Err(e) = linked {
        // Unseen or unheard rather than unlinked: an unlinked pad would stop
        // the patient's other track too.
        eprintln!("appliance: the patient's media cannot reach the TV: {e}");
        let sink = gst::ElementFactory::make("fakesink")
            .build()
            .map_err(|_| MediaError::MissingElement("fakesink"))?;
        bin.add(&sink)?;
        output.link(&sink)?;
        sink.sync_state_with_parent()?;
    }
    output.sync_state_with_parent()?;
    if let Some(valve) = output.by_name(VALVE) {
        valve.set_property("drop", !on_tv.load(Ordering::SeqCst));
    }
    pad.link(&sink)
        .map_err(|e| MediaError::Pipeline(format!("{e:?}")))?;
    // What goes wrong on the TV stays there: the patient's decoder (and so
    // the rest of their media) never hears of it.
    screen::error_barrier(pad);
    Ok(())
}

/// The quietest peak that counts as sound: -50 dBFS, above the noise floor
/// of a silent microphone's encoding and far below speech.
const AUDIBLE_PEAK: i16 = 104;

/// Whether 16-bit little-endian samples hold sound rather than silence.
fn audible(samples: &[u8]) -> bool {
    samples
        .chunks_exact(2)
        .any(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() >= AUDIBLE_PEAK.unsigned_abs())
}

/// Links the patient's decoded output out of their bin into the TV's mixer
/// or compositor; returns the pad it holds there.
fn to_tv(
    bin: &gst::Bin,
    output: &gst::Bin,
    aggregator: &gst::glib::WeakRef<gst::Element>,
    slot: &Slot,
    name: &str,
) -> Result<gst::Pad, MediaError> {
    let aggregator = aggregator
        .upgrade()
        .ok_or_else(|| MediaError::Pipeline("the TV is gone".into()))?;
    // The mixer and the compositor sit in bins of their own: the patient
    // enters through a pad of that bin's.
    let tv = aggregator
        .parent()
        .and_then(|p| p.downcast::<gst::Bin>().ok())
        .ok_or_else(|| MediaError::Pipeline("the TV's mixer has no bin".into()))?;
    let tv_pad = aggregator
        .request_pad_simple("sink_%u")
        .ok_or_else(|| MediaError::Pipeline("no pad on the TV".into()))?;
    let entry = gst::GhostPad::builder_with_target(&tv_pad)?.build();
    entry.set_active(true)?;
    tv.add_pad(&entry)?;
    if let Ok(mut slot) = slot.lock() {
        *slot = Some((tv_pad.clone(), entry.clone()));
    }
    // Last, so that on any failure the output's own pad is still free for
    // the caller's fallback.
    let src = output
        .static_pad("src")
        .ok_or_else(|| MediaError::Pipeline("no output".into()))?;
    let ghost = gst::GhostPad::builder_with_target(&src)?.name(name).build();
    bin.add_pad(&ghost)?;
    if let Err(e) = ghost.link(&entry) {
        let _ = bin.remove_pad(&ghost);
        return Err(MediaError::Pipeline(format!(
            "cannot bring the patient's {name} to the TV: {e:?}"
        )));
    }
    Ok(tv_pad)
}

/// Gives the patient's pads on the TV back, once their media stops.
pub fn release(tv: &TvInputs, slots: &TvSlots) {
    for (slot, aggregator) in [(&slots.voice, &tv.mixer), (&slots.picture, &tv.compositor)] {
        let pads = slot.lock().ok().and_then(|mut slot| slot.take());
        let Some((pad, entry)) = pads else { continue };
        if let Some(peer) = entry.peer() {
            let _ = peer.unlink(&entry);
        }
        if let Some(parent) = entry.parent().and_then(|p| p.downcast::<gst::Bin>().ok()) {
            let _ = parent.remove_pad(&entry);
        }
        if let Some(aggregator) = aggregator.upgrade() {
            aggregator.release_request_pad(&pad);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The room's echo, as the box hears it: the far end (the patient's
    /// voice) plays through the probe, and the microphone picks the same
    /// signal up 50 ms later. Returns the microphone's level after the
    /// canceller in dB, averaged over the last seconds of `seconds`.
    fn echo_level(cancel: bool, seconds: u64) -> f64 {
        gst::init().unwrap();
        let pipeline = gst::Pipeline::new();
        let far = format!(
            "audiotestsrc wave=pink-noise is-live=true volume=0.3 ! {ROOM_AUDIO} ! tee name=t \
             t. ! queue ! webrtcechoprobe name={ECHO_PROBE} ! fakesink sync=true \
             t. ! queue name=echo ! webrtcdsp name=dsp probe={ECHO_PROBE} \
             noise-suppression=false gain-control=false high-pass-filter=false ! \
             level interval=500000000 post-messages=true ! fakesink sync=true"
        );
        let bin = gst::parse::bin_from_description(&far, false).unwrap();
        pipeline.add(&bin).unwrap();
        bin.by_name("dsp")
            .unwrap()
            .set_property("echo-cancel", cancel);
        // The microphone hears the speakers 50 ms after they play.
        bin.by_name("echo")
            .unwrap()
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, |_, info| {
                if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
                    let buffer = buffer.make_mut();
                    if let Some(pts) = buffer.pts() {
                        buffer.set_pts(pts + gst::ClockTime::from_mseconds(50));
                    }
                }
                gst::PadProbeReturn::Ok
            });
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let mut levels = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while std::time::Instant::now() < deadline {
            let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
                continue;
            };
            if let gst::MessageView::Element(e) = message.view()
                && let Some(s) = e.structure()
                && s.name() == "level"
                && let Ok(rms) = s.get::<gst::glib::ValueArray>("rms")
                && let Some(db) = rms.first().and_then(|v| v.get::<f64>().ok())
            {
                levels.push(db);
            }
        }
        pipeline.set_state(gst::State::Null).unwrap();
        let tail = &levels[levels.len().saturating_sub(4)..];
        assert!(!tail.is_empty(), "no level measured");
        tail.iter().sum::<f64>() / tail.len() as f64
    }

    #[test]
    fn silence_is_not_audible_and_a_tone_is() {
        let samples = |v: &[i16]| v.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>();
        assert!(!audible(&[]));
        assert!(!audible(&samples(&[0, 3, -7, 100, -103])));
        assert!(audible(&samples(&[0, 0, -104])));
        assert!(audible(&samples(&[i16::MIN])));
        // An odd byte at the end is no sample.
        assert!(!audible(&[0, 0, 0xff]));
    }

    #[test]
    fn the_patients_voice_from_the_speakers_is_cancelled_in_the_microphone() {
        let open = echo_level(false, 4);
        let cancelled = echo_level(true, 8);
        println!("echo: {open:.1} dB without the canceller, {cancelled:.1} dB with it");
        assert!(
            open - cancelled >= 10.0,
            "the echo fell by only {:.1} dB ({open:.1} -> {cancelled:.1})",
            open - cancelled
        );
    }
}
