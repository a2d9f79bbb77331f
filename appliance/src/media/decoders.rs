//! Decoding what the patient sends, with a chain made for its codec. The box
//! offers H.264 or VP8, and Opus, and nothing else, so it knows which
//! decoders it needs. Not `decodebin`: it finishes its change to PLAYING
//! only once it has found and shown its decoder, at the patient's first
//! decodable frame, and until then the whole pipeline counted as
//! prerolling. It left PLAYING at every call ("lost state"); when that
//! frame came late (a keyframe lost, a slow path) the TV's sinks waited for
//! preroll, the camera's next allocation query waited behind them, and
//! neither the patient nor the next one got a picture, or even an offer
//! (found in a failed test's thread dump). A fixed chain is PLAYING at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gst::prelude::*;

use super::MediaError;

/// What plays a decoded stream: given the patient's bin, the decoder's
/// output pad and whether it carries video; it links that pad, or fails.
pub type Play = dyn Fn(&gst::Bin, &gst::Pad, bool) -> Result<(), MediaError> + Send + Sync;

/// The chain that decodes RTP with `caps`, and whether it is video: the
/// codecs the box offers (`encoders.rs`), by their RTP encoding names.
pub fn chain_for(caps: &gst::CapsRef) -> Option<(&'static str, bool)> {
    let s = caps.structure(0)?;
    if s.name() != "application/x-rtp" {
        return None;
    }
    let name = s.get::<&str>("encoding-name").ok()?;
    [
        ("H264", "rtph264depay ! h264parse ! avdec_h264", true),
        ("VP8", "rtpvp8depay ! vp8dec", true),
        ("OPUS", "rtpopusdepay ! opusdec", false),
    ]
    .into_iter()
    .find(|(codec, ..)| codec.eq_ignore_ascii_case(name))
    .map(|(_, chain, video)| (chain, video))
}

/// Decodes what leaves `pad` (one of webrtcbin's source pads) as soon as its
/// caps say what it carries: webrtcbin adds the pad before they reach it.
/// `play` is given the decoded output; nothing plays what the box did not
/// offer (it is dropped, never left unlinked, which would stop the
/// patient's other stream too).
pub fn decode_when_known(bin: &gst::Bin, pad: &gst::Pad, play: Arc<Play>) {
    let done = Arc::new(AtomicBool::new(false));
    let (weak, once, later) = (bin.downgrade(), done.clone(), play.clone());
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::EventView::Caps(caps) = event.view() else {
            return gst::PadProbeReturn::Ok;
        };
        if let Some(bin) = weak.upgrade()
            && !once.swap(true, Ordering::SeqCst)
        {
            decode(&bin, pad, caps.caps(), &*later);
        }
        gst::PadProbeReturn::Remove
    });
    // Caps set before the probe was in place.
    if let Some(caps) = pad.current_caps()
        && !done.swap(true, Ordering::SeqCst)
    {
        decode(bin, pad, &caps, &*play);
    }
}

/// Builds the decoder for `caps` into `bin`, has `play` take its output, and
/// links `pad` to it; drops what it cannot decode or play (an unlinked
/// decoder would stop the stream as surely as an unlinked pad).
fn decode(bin: &gst::Bin, pad: &gst::Pad, caps: &gst::CapsRef, play: &Play) {
    let built = match chain_for(caps) {
        Some((chain, video)) => decoder(bin, chain).map(|d| (d, video)),
        None => Err(MediaError::Pipeline("media the box did not offer".into())),
    };
    let linked = built.and_then(|(decoder, video)| {
        let output = (decoder.static_pad("src"))
            .ok_or_else(|| MediaError::Pipeline("decoder without output".into()))?;
        play(bin, &output, video)?;
        decoder.sync_state_with_parent()?;
        into(pad, &decoder)
    });
    if let Err(e) = linked {
        eprintln!("appliance: the patient's media cannot be decoded or played ({e}); dropped");
        if let Err(e) = discard(bin, pad) {
            eprintln!("appliance: the patient's media cannot be dropped either: {e}");
        }
    }
}

/// The chain `description` as a bin of `bin`'s, with its ends as pads.
fn decoder(bin: &gst::Bin, description: &str) -> Result<gst::Bin, MediaError> {
    let decoder = gst::parse::bin_from_description(description, true)
        .map_err(|e| MediaError::Pipeline(e.to_string()))?;
    bin.add(&decoder)?;
    Ok(decoder)
}

/// Links `pad` to `element`'s input.
fn into(pad: &gst::Pad, element: &impl IsA<gst::Element>) -> Result<(), MediaError> {
    let sink =
        (element.static_pad("sink")).ok_or_else(|| MediaError::Pipeline("no input".into()))?;
    pad.link(&sink)
        .map(drop)
        .map_err(|e| MediaError::Pipeline(format!("{e:?}")))
}

/// Ends `pad` in a sink that takes everything at once (never waiting for a
/// preroll, see above): what cannot be decoded, or cannot reach the TV.
pub fn discard(bin: &gst::Bin, pad: &gst::Pad) -> Result<(), MediaError> {
    if pad.is_linked() {
        return Ok(());
    }
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()
        .map_err(|_| MediaError::MissingElement("fakesink"))?;
    bin.add(&sink)?;
    sink.sync_state_with_parent()?;
    into(pad, &sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(media: &str, name: &str) -> gst::Caps {
        gst::Caps::builder("application/x-rtp")
            .field("media", media)
            .field("encoding-name", name)
            .build()
    }

    #[test]
    fn each_offered_codec_has_its_decoder_and_nothing_else_does() {
        gst::init().unwrap();
        let (h264, video) = chain_for(&rtp("video", "H264")).unwrap();
        assert!(h264.contains("avdec_h264") && video);
        let (vp8, video) = chain_for(&rtp("video", "VP8")).unwrap();
        assert!(vp8.contains("vp8dec") && video);
        let (opus, video) = chain_for(&rtp("audio", "OPUS")).unwrap();
        assert!(opus.contains("opusdec") && !video);
        assert!(chain_for(&rtp("video", "VP9")).is_none());
        assert!(chain_for(&gst::Caps::builder("video/x-raw").build()).is_none());
        for chain in [h264, vp8, opus] {
            gst::parse::bin_from_description(chain, true).expect(chain);
        }
    }

    /// The decoders change state at once: added to a playing pipeline,
    /// they never take it out of PLAYING (decodebin did, until its first
    /// decoded frame).
    #[test]
    fn a_decoder_added_to_a_playing_pipeline_leaves_it_playing() {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(
            "videotestsrc is-live=true ! x264enc tune=zerolatency ! rtph264pay ! \
             application/x-rtp,media=video,encoding-name=H264 ! valve name=v drop=true ! \
             fakesink name=s async=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let (_, now, _) = pipeline.state(gst::ClockTime::from_seconds(5));
        assert_eq!(now, gst::State::Playing);
        let valve = pipeline.by_name("v").unwrap();
        let sink = pipeline.by_name("s").unwrap();
        let src = valve.static_pad("src").unwrap();
        src.unlink(&sink.static_pad("sink").unwrap()).unwrap();
        pipeline.remove(&sink).unwrap();
        sink.set_state(gst::State::Null).unwrap();
        let played = Arc::new(AtomicBool::new(false));
        let seen = played.clone();
        let play: Arc<Play> = Arc::new(move |bin: &gst::Bin, pad: &gst::Pad, video| {
            assert!(video);
            let sink = gst::ElementFactory::make("fakesink")
                .property("async", false)
                .build()
                .unwrap();
            bin.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
            seen.store(true, Ordering::SeqCst);
            Ok(())
        });
        decode_when_known(pipeline.upcast_ref(), &src, play);
        valve.set_property("drop", false);
        let bus = pipeline.bus().unwrap();
        while bus.pop().is_some() {}
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(50))
                && let gst::MessageView::StateChanged(change) = message.view()
                && message.src() == Some(pipeline.upcast_ref())
            {
                panic!("the pipeline left PLAYING: {change:?}");
            }
        }
        assert!(played.load(Ordering::SeqCst), "the decoder was never made");
        pipeline.set_state(gst::State::Null).unwrap();
    }
}
