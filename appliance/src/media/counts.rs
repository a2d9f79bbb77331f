//! What the media thread counts in a patient's bin, from GStreamer's
//! threads: camera frames into it and video packets into `webrtcbin` (a
//! stall), the patient's packets coming in (whether they are here), and the
//! frames sent while the gate is open (`status`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use gst::prelude::*;

use super::flow::Flow;
use super::{Gate, MediaError, Stats};

/// Counts what flows through the patient's bin: camera frames into it and
/// video packets into webrtcbin (for `flow`, which tells a stall), and the
/// frames sent while the gate is open (for `status`). Gives back webrtcbin's
/// two inputs, video and audio.
pub(super) fn count_flow(
    bin: &gst::Bin,
    webrtcbin: &gst::Element,
    flow: &Flow,
    gate: &Gate,
    stats: &Arc<Stats>,
) -> Result<[gst::Pad; 2], MediaError> {
    let by_name = |name: &str| {
        bin.by_name(name)
            .ok_or_else(|| MediaError::Pipeline(format!("no element {name}")))
    };
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
            webrtc_sink_of(&pay, webrtcbin)
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

    count_packets_in(bin, flow);

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

    Ok([video_sink, audio_sink])
}

/// Counts the packets from the patient's side, as libnice hands them over:
/// any kind, so a patient who sends no media is heard by their reports.
/// libnice's sources come and go with webrtcbin's transports: those there
/// now and those added later are counted.
fn count_packets_in(bin: &gst::Bin, flow: &Flow) {
    let counters = Arc::downgrade(flow.counters());
    let count_in = move |element: &gst::Element| {
        if element.factory().is_some_and(|f| f.name() == "nicesrc")
            && let Some(pad) = element.static_pad("src")
        {
            let counters = counters.clone();
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, _| {
                    if let Some(c) = counters.upgrade() {
                        c.packets_in.fetch_add(1, Ordering::Relaxed);
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
    };
    for element in bin.iterate_recurse().into_iter().flatten() {
        count_in(&element);
    }
    bin.connect_deep_element_added(move |_, _, element| count_in(element));
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
