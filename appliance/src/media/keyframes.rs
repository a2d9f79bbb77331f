//! Asking the patient's browser for a picture to start from. A browser sends
//! H.264's parameter sets (SPS and PPS) only with a keyframe, and sends a
//! keyframe only at the start of a stream or when asked. When the first one
//! is lost, the depayloader cannot set its caps, no decoder is ever made, and
//! the TV stays dark for the whole call while the patient's voice plays
//! (seen in the end-to-end tests about one fresh call in ten). So the box
//! asks (an RTCP picture loss indication, from GStreamer's force-key-unit
//! event) as the patient's video starts and every second after until the
//! first decoded frame reaches the TV. Only then: asking on every later loss too (the
//! depayloaders' `request-keyframe`) would have the browser answer a narrow
//! path's losses with keyframes that fill it further; it was tried, and
//! taken out when the bitrate test failed beside it (that test failed
//! without it too, see `loss.rs`, so it was not proven the cause).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::messages::Stats;

/// How often to ask again while no picture can be decoded: about once per
/// round trip and keyframe, without flooding the browser's encoder.
const AGAIN: Duration = Duration::from_secs(1);

/// Whether caps describe RTP video (webrtcbin's source pads) or raw video.
pub fn is_video(caps: Option<&gst::CapsRef>) -> bool {
    caps.and_then(|c| c.structure(0)).is_some_and(|s| {
        s.name().starts_with("video/")
            || (s.name() == "application/x-rtp" && s.get::<&str>("media") == Ok("video"))
    })
}

/// Asks for a keyframe through `pad` (a webrtcbin source pad of the
/// patient's) as its packets start, if they are video, and again every
/// second until the returned flag is set: the TV's side sets it when the
/// first decoded frame reaches it (a decoder made is not yet a picture).
/// Counts the video's packets all along, for `status`; the probe removes
/// itself at once for audio. Whether a pad carries video is read from its
/// first packet's caps: webrtcbin adds the pad before they reach it.
pub fn ask_until_decoding(pad: &gst::Pad, stats: Weak<Stats>) -> Arc<AtomicBool> {
    let decoding = Arc::new(AtomicBool::new(false));
    let flag = decoding.clone();
    let last: Mutex<Option<Instant>> = Mutex::new(None);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        if !is_video(pad.current_caps().as_deref()) {
            return gst::PadProbeReturn::Remove;
        }
        let Some(stats) = stats.upgrade() else {
            return gst::PadProbeReturn::Remove;
        };
        stats.video_packets_received.fetch_add(1, Ordering::Relaxed);
        if flag.load(Ordering::Relaxed) {
            return gst::PadProbeReturn::Ok;
        }
        let due = last.lock().is_ok_and(|mut last| {
            let due = last.is_none_or(|at| at.elapsed() >= AGAIN);
            if due {
                *last = Some(Instant::now());
            }
            due
        });
        if due {
            ask(pad);
            stats.keyframes_asked.fetch_add(1, Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
    decoding
}

/// Sends the request upstream into webrtcbin, whose RTP session turns it
/// into a picture loss indication to the browser. Not "all headers": that
/// would make it a full intra request, which not every browser answers; a
/// browser's keyframe carries H.264's parameter sets anyway.
fn ask(pad: &gst::Pad) {
    let event = gst_video::UpstreamForceKeyUnitEvent::builder()
        .all_headers(false)
        .build();
    // Unanswered is no error: the probe asks again on the next second.
    let _ = pad.send_event(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_video_and_raw_video_are_video_and_audio_is_not() {
        gst::init().unwrap();
        let caps = |s: &str| s.parse::<gst::Caps>().unwrap();
        let rtp_video = caps("application/x-rtp,media=video,encoding-name=H264");
        let rtp_audio = caps("application/x-rtp,media=audio,encoding-name=OPUS");
        assert!(is_video(Some(&rtp_video)));
        assert!(is_video(Some(&caps("video/x-raw"))));
        assert!(!is_video(Some(&rtp_audio)));
        assert!(!is_video(None));
    }

    /// Runs five buffers with `caps` through a pad that asks for keyframes,
    /// and counts the requests that reached the source.
    fn requests(caps: &str, decoded_already: bool) -> usize {
        gst::init().unwrap();
        let src = gst::ElementFactory::make("fakesrc")
            .property("num-buffers", 5i32)
            .build()
            .unwrap();
        let filter = gst::ElementFactory::make("capsfilter")
            .property("caps", caps.parse::<gst::Caps>().unwrap())
            .build()
            .unwrap();
        let sink = gst::ElementFactory::make("fakesink").build().unwrap();
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = asked.clone();
        let src_pad = src.static_pad("src").unwrap();
        src_pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(e)) = &info.data
                && gst_video::UpstreamForceKeyUnitEvent::parse(e).is_ok()
            {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            gst::PadProbeReturn::Ok
        });
        let pad = filter.static_pad("src").unwrap();
        let stats = Arc::new(Stats::default());
        ask_until_decoding(&pad, Arc::downgrade(&stats)).store(decoded_already, Ordering::SeqCst);
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([&src, &filter, &sink]).unwrap();
        gst::Element::link_many([&src, &filter, &sink]).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Eos]);
        pipeline.set_state(gst::State::Null).unwrap();
        let asked = asked.load(Ordering::SeqCst);
        assert_eq!(stats.keyframes_asked.load(Ordering::SeqCst), asked as u64);
        let packets = if caps.contains("video") { 5 } else { 0 };
        assert_eq!(stats.video_packets_received.load(Ordering::SeqCst), packets);
        asked
    }

    #[test]
    fn video_asks_for_a_keyframe_until_a_picture_is_decoded() {
        let video = "application/x-rtp,media=video";
        // Five buffers within a second: one request, not five.
        assert_eq!(requests(video, false), 1);
        assert_eq!(requests(video, true), 0);
        assert_eq!(requests("application/x-rtp,media=audio", false), 0);
    }
}
