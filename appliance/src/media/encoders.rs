//! What a patient's video and sound are encoded with: the codec the
//! browser can use, the encoders to try, and the patient's bin described in
//! GStreamer's launch syntax, with its inputs as ghost pads.

use gst::prelude::*;

use super::congestion;
use super::{MediaConfig, MediaError};
use crate::session::PeerId;

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

/// The patient's bin: the encoders, the payloaders and a webrtcbin named
/// `webrtc`, with the camera's and the microphone's inputs as the ghost pads
/// `video_sink` and `audio_sink`.
pub fn patient_bin(id: PeerId, codec: Codec, config: &MediaConfig) -> Result<gst::Bin, MediaError> {
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
    // Each input's queue leaks when the patient's branch falls behind, so
    // the camera and the microphone never wait for one patient.
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
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_follow_the_browser() {
        assert_eq!(Codec::choose(&["VP8".into(), "H264".into()]), Codec::H264);
        assert_eq!(Codec::choose(&["VP8".into(), "VP9".into()]), Codec::Vp8);
        assert_eq!(Codec::choose(&[]), Codec::Vp8);
    }
}
