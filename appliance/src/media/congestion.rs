//! Bitrate follows the network: Google congestion control, as Chrome does it.
//!
//! Each patient's `webrtcbin` gets an `rtpgccbwe` (gst-plugins-rs, built into
//! the daemon because Debian's GStreamer 1.22 lacks it) on its transport. The
//! browser reports when every packet arrived (transport-wide congestion
//! control feedback); the estimator turns that into the rate the path carries
//! and paces packets to it. Its callback only stores the estimate; the media
//! task applies it to the video encoder, within the configured limits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use gst::prelude::*;
use gst_rtp::prelude::*;

use super::MediaError;

/// The header extension that numbers every packet on the transport.
pub const TWCC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// Its id in our offer; the same on every bundled m-line, as bundling demands.
pub const TWCC_ID: u32 = 3;

/// The part of the estimate Opus takes (its default 64 kbit/s with overhead,
/// rounded): the estimate covers every stream on the transport, the encoder
/// gets what is left.
const AUDIO_KBPS: u32 = 64;

/// The least video bitrate: below it a 720p picture turns to mush, and GCC
/// would starve itself of the packets it measures with.
pub const MIN_VIDEO_KBPS: u32 = 150;

/// Registers `rtpgccbwe` with GStreamer, once per process. False when it
/// cannot be, or the header extension it needs is missing; calls then run at
/// the configured bitrate, without the extension in their offers.
pub fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| match gstrsrtp::plugin_register_static() {
        Ok(()) => {
            gst::ElementFactory::find("rtpgccbwe").is_some()
                && gst_rtp::RTPHeaderExtension::create_from_uri(TWCC_URI).is_some()
        }
        Err(e) => {
            eprintln!("appliance: congestion control unavailable, bitrate stays fixed: {e}");
            false
        }
    })
}

/// Makes a payloader number its packets for transport-wide feedback, and so
/// puts the extension into the offer.
pub fn add_twcc(payloader: &gst::Element) -> Result<(), MediaError> {
    let extension = gst_rtp::RTPHeaderExtension::create_from_uri(TWCC_URI).ok_or(
        MediaError::MissingElement("rtphdrexttwcc (gstreamer1.0-plugins-good)"),
    )?;
    extension.set_id(TWCC_ID);
    payloader.emit_by_name::<()>("add-extension", &[&extension]);
    Ok(())
}

/// The estimator's latest figure for one patient, in bit/s; 0 until it has one.
#[derive(Debug, Default)]
pub struct Estimate(AtomicU64);

impl Estimate {
    /// The latest estimate in bit/s, if there is one yet.
    pub fn bps(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&b| b > 0)
    }
}

/// Gives `webrtcbin` an estimator on its transport when it asks for one
/// (`request-aux-sender`), bounded by the video cap plus audio, starting at
/// the cap: the box usually sits on a clinic LAN, and GCC comes down within a
/// second or two when the path carries less.
pub fn attach(webrtcbin: &gst::Element, max_video_kbps: u32, estimate: &Arc<Estimate>) {
    let estimate = Arc::downgrade(estimate);
    let floor = MIN_VIDEO_KBPS.min(max_video_kbps);
    webrtcbin.connect("request-aux-sender", false, move |_| {
        let estimator = gst::ElementFactory::make("rtpgccbwe")
            .property("min-bitrate", (floor + AUDIO_KBPS) * 1000)
            .property("max-bitrate", (max_video_kbps + AUDIO_KBPS) * 1000)
            .property("estimated-bitrate", (max_video_kbps + AUDIO_KBPS) * 1000)
            .build()
            .ok();
        if let Some(estimator) = &estimator {
            // It notifies changes only; the starting figure counts too.
            if let Some(estimate) = estimate.upgrade() {
                let bps = estimator.property::<u32>("estimated-bitrate");
                estimate.0.store(u64::from(bps), Ordering::Relaxed);
            }
            let estimate = estimate.clone();
            estimator.connect_notify(Some("estimated-bitrate"), move |e, _| {
                if let Some(estimate) = estimate.upgrade() {
                    let bps = e.property::<u32>("estimated-bitrate");
                    estimate.0.store(u64::from(bps), Ordering::Relaxed);
                }
            });
        }
        // The signal returns an element; a null one means "none".
        Some(estimator.to_value())
    });
}

/// The video encoder's share of an estimate, within the configured limits.
pub fn video_kbps(estimate_bps: u64, max_video_kbps: u32) -> u32 {
    let kbps = u32::try_from(estimate_bps / 1000).unwrap_or(u32::MAX);
    kbps.saturating_sub(AUDIO_KBPS)
        .clamp(MIN_VIDEO_KBPS.min(max_video_kbps), max_video_kbps)
}

/// Sets an encoder's target bitrate while it runs. False for an encoder that
/// cannot change it on the fly (`v4l2h264enc` takes its bitrate at start).
pub fn set_encoder_kbps(encoder: &gst::Element, kbps: u32) -> bool {
    let Some(factory) = encoder.factory() else {
        return false;
    };
    match factory.name().as_str() {
        "x264enc" | "vah264enc" => encoder.set_property("bitrate", kbps),
        "vp8enc" => encoder.set_property(
            "target-bitrate",
            i32::try_from(u64::from(kbps) * 1000).unwrap_or(i32::MAX),
        ),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoder_gets_the_estimate_less_audio_within_limits() {
        assert_eq!(video_kbps(2_564_000, 2500), 2500);
        assert_eq!(video_kbps(10_000_000, 2500), 2500, "never above the cap");
        assert_eq!(video_kbps(1_064_000, 2500), 1000);
        assert_eq!(
            video_kbps(100_000, 2500),
            MIN_VIDEO_KBPS,
            "never below the floor"
        );
        assert_eq!(video_kbps(0, 100), 100, "a cap below the floor wins");
        assert_eq!(video_kbps(u64::MAX, 2500), 2500);
    }

    #[test]
    fn estimates_start_unknown() {
        let estimate = Estimate::default();
        assert_eq!(estimate.bps(), None);
        estimate.0.store(300_000, Ordering::Relaxed);
        assert_eq!(estimate.bps(), Some(300_000));
    }

    #[test]
    fn the_estimator_registers_and_encoders_take_new_bitrates() {
        gst::init().unwrap();
        assert!(register(), "rtpgccbwe did not register");
        let x264 = gst::ElementFactory::make("x264enc").build();
        if let Ok(x264) = x264 {
            assert!(set_encoder_kbps(&x264, 800));
            assert_eq!(x264.property::<u32>("bitrate"), 800);
        }
        let vp8 = gst::ElementFactory::make("vp8enc").build().unwrap();
        assert!(set_encoder_kbps(&vp8, 800));
        assert_eq!(vp8.property::<i32>("target-bitrate"), 800_000);
        let pay = gst::ElementFactory::make("rtpvp8pay").build().unwrap();
        add_twcc(&pay).unwrap();
    }
}
