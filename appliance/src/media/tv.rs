//! The patient on the TV: where what the patient sends goes. Their video
//! goes to the TV's picture ([`super::tv_picture`]), their voice into the
//! room's speakers ([`super::room_sound`]). Only the patient in a live call
//! is seen and heard in the room: everyone else's picture and voice stop at
//! a valve before the TV, so nobody in the room hears a waiting patient (nor
//! a waiting patient anything of another's session). Called from the
//! patient's bin as its decoders appear; the callbacks capture weak
//! references only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use gst::prelude::*;

use super::{MediaError, Stats, tv_picture};

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
        tv_picture::show_patient(pad, shown);
    }
}

/// Plays what the patient sends as webrtcbin's decoders produce it: video to
/// the TV's compositor, audio into the TV's mixer. Counts both.
pub fn play_patient(
    bin: &gst::Bin,
    (pad, is_video): (&gst::Pad, bool),
    tv: &TvInputs,
    (slots, on_tv): (&TvSlots, &OnTv),
    (stats, decoding): (&Weak<Stats>, &Arc<AtomicBool>),
) -> Result<(), MediaError> {
    // The patient's sound is Opus, which decodes to 16-bit samples.
    let sixteen_bit = !is_video;
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
    let decoding = is_video.then(|| decoding.clone());
    count_received(&sink, (is_video, sixteen_bit), stats, decoding);
    bin.add(&output)?;
    let shown = on_tv.load(Ordering::SeqCst);
    let linked = if is_video {
        to_tv(bin, &output, &tv.compositor, &slots.picture, "picture")
            .map(|pad| tv_picture::patient_pad(&pad, shown))
    } else {
        to_tv(bin, &output, &tv.mixer, &slots.voice, "voice").map(drop)
    };
    if let Err(e) = linked {
        // Unseen or unheard rather than unlinked: an unlinked pad would stop
        // the patient's other track too.
        eprintln!("appliance: the patient's media cannot reach the TV: {e}");
        let src =
            (output.static_pad("src")).ok_or_else(|| MediaError::Pipeline("no output".into()))?;
        super::decoders::discard(bin, &src)?;
    }
    output.sync_state_with_parent()?;
    if let Some(valve) = output.by_name(VALVE) {
        valve.set_property("drop", !on_tv.load(Ordering::SeqCst));
    }
    pad.link(&sink)
        .map_err(|e| MediaError::Pipeline(format!("{e:?}")))?;
    // What goes wrong on the TV stays there: the patient's decoder (and so
    // the rest of their media) never hears of it.
    super::error_barrier(pad, "the TV's picture");
    Ok(())
}

/// Counts what the patient sends as it reaches the TV, for `status`:
/// frames, audio buffers, and those with sound in them. Drops a video frame
/// without a time (see below). Sets `decoding` at the first video frame:
/// the box stops asking for keyframes then (`keyframes.rs`).
fn count_received(
    sink: &gst::Pad,
    (is_video, sixteen_bit): (bool, bool),
    stats: &Weak<Stats>,
    decoding: Option<Arc<AtomicBool>>,
) {
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
        if let Some(decoding) = &decoding {
            decoding.store(true, Ordering::Relaxed);
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
}
