//! The room's camera and microphone (in simulation a test pattern and a
//! tone), each ending in a tee that feeds every patient and the TV, behind
//! the camera gate: while it is shut, every video frame on its way to an
//! encoder is black and every stretch of the microphone's sound silent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gst::prelude::*;

use super::{Events, MediaConfig, MediaError, MediaEvent, room_sound, stamp};

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

/// The sources, built and linked in the pipeline, up to their tees.
#[derive(Debug)]
pub struct Sources {
    /// The gated camera's tee.
    pub video_tee: gst::Element,
    /// The gated microphone's tee.
    pub audio_tee: gst::Element,
    /// The microphone's mute, which the gate also sets.
    pub mic_volume: gst::Element,
    /// Black frames stand in for a camera that was not there at start.
    pub camera_missing: bool,
}

impl Sources {
    /// Builds the camera's and the microphone's chains in `pipeline`, gated
    /// by `gate`. The room's speakers must be in the pipeline already: the
    /// microphone's echo canceller looks for their probe when it starts.
    pub fn build(
        pipeline: &gst::Pipeline,
        config: &MediaConfig,
        gate: &Gate,
        events: &Events,
    ) -> Result<Sources, MediaError> {
        let camera_missing = !config.simulated && !config.camera.exists();
        let (video_src, audio_src) = capture(config, events)?;
        let video = video_chain(video_src, config)?;
        let audio_convert = make("audioconvert")?;
        let audio_resample = make("audioresample")?;
        let [room_audio, echo_canceller] = room_sound::echo_canceller()?;
        let mic_volume = make("volume")?;
        mic_volume.set_property("mute", true);
        let audio_tee = make("tee")?;
        audio_tee.set_property("allow-not-linked", true);
        let audio = [
            &audio_src,
            &audio_convert,
            &audio_resample,
            &room_audio,
            &echo_canceller,
            &mic_volume,
            &audio_tee,
        ];
        pipeline.add_many(video.iter().chain(audio.iter().copied()))?;
        gst::Element::link_many(&video)?;
        gst::Element::link_many(audio)?;
        let video_tee = video[video.len() - 1].clone();
        guard(&video_tee, &audio_tee, gate, config.simulated)?;
        Ok(Sources {
            video_tee,
            audio_tee,
            mic_volume,
            camera_missing,
        })
    }
}

/// The camera and the microphone, or what stands in for them.
fn capture(
    config: &MediaConfig,
    events: &Events,
) -> Result<(gst::Element, gst::Element), MediaError> {
    if config.simulated {
        let v = make("videotestsrc")?;
        v.set_property("is-live", true);
        v.set_property_from_str("pattern", "smpte");
        let a = make("audiotestsrc")?;
        a.set_property("is-live", true);
        a.set_property("volume", 0.2f64);
        Ok((v, a))
    } else if config.camera.exists() {
        let v = make("v4l2src")?;
        v.set_property("device", config.camera.display().to_string());
        Ok((v, microphone()?))
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
        Ok((v, microphone()?))
    }
}

/// The camera's frames at the configured size and rate, up to its tee (the
/// last element).
fn video_chain(
    video_src: gst::Element,
    config: &MediaConfig,
) -> Result<Vec<gst::Element>, MediaError> {
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
    Ok(vec![
        video_src,
        make("videoconvert")?,
        make("videoscale")?,
        make("videorate")?,
        video_caps,
        video_tee,
    ])
}

/// The gate on both tees' inputs: every frame on its way to the encoders,
/// and every stretch of microphone sound, checked per buffer.
fn guard(
    video_tee: &gst::Element,
    audio_tee: &gst::Element,
    gate: &Gate,
    simulated: bool,
) -> Result<(), MediaError> {
    let probe_gate = gate.clone();
    video_tee
        .static_pad("sink")
        .ok_or_else(|| MediaError::Pipeline("tee has no sink pad".into()))?
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
                stamp::process(pad, buffer, probe_gate.is_open(), simulated);
            }
            gst::PadProbeReturn::Ok
        });
    // Silence while shut, checked per buffer like the video, so that the
    // microphone does not depend on the media thread getting round to the
    // mute (it may be busy, even stuck, tearing a patient's media down).
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
    Ok(())
}

pub fn make(factory: &'static str) -> Result<gst::Element, MediaError> {
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
