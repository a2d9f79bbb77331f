//! The room's sound: the TV's speakers, and the echo canceller that keeps
//! the patient's voice, played into the room, out of the microphone.
//!
//! The TV's speakers are one mixer for the whole pipeline, through a
//! `webrtcechoprobe`; the microphone goes through `webrtcdsp`, which reads
//! the probe to subtract what the speakers played. Built once, when media
//! starts.

use gst::prelude::*;

use super::MediaError;

/// The echo probe's name: `webrtcdsp` finds its probe by name, process-wide.
const ECHO_PROBE: &str = "tv_echo";

/// What the canceller and the probe work on: the echo canceller handles
/// 16-bit interleaved audio at one rate on both sides.
pub const ROOM_AUDIO: &str = "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1";

/// Builds the TV's speakers into `pipeline`: a mixer that runs on silence
/// until a patient's voice joins it, the echo probe, and the sound output (a
/// clocked null sink when headless, so that the probe still sees real time;
/// never one that prerolls, see `tv_picture::tv_sink`).
/// Returns the mixer, whose `sink_%u` pads take patients' voices.
pub fn speakers(pipeline: &gst::Pipeline, headless: bool) -> Result<gst::Element, MediaError> {
    let output = if headless {
        "fakesink sync=true async=false"
    } else {
        "autoaudiosink async-handling=true"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_sink_of_the_tv_s_speakers_waits_for_preroll() {
        gst::init().unwrap();
        let pipeline = gst::Pipeline::new();
        speakers(&pipeline, true).unwrap();
        let sinks = super::super::bus::prerolling_sinks(pipeline.upcast_ref());
        assert_eq!(sinks, Vec::<String>::new());
    }

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
