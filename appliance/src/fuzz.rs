//! The fuzz targets: each hands bytes, as they would arrive from outside the
//! box, to one of its decoders, which must never panic or hang. AFL++ drives
//! them through `appliance fuzz TARGET` in a build with feature `fuzz`
//! (`scripts/fuzz`); the unit tests replay every input kept in `fuzz/`
//! (the seeds, taken from real browsers' traffic, and every input a fuzzer
//! found a fault with) on every run of the suite.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::invite::Invites;
use crate::media::sdp_check;
use crate::signalling::resume;
use crate::staff::forms;

/// The targets, by name: the directory of their inputs under `fuzz/corpus`.
pub const TARGETS: [&str; 10] = [
    "signalling",
    "invite",
    "provisioning",
    "control",
    "invite-api",
    "staff-form",
    "resume",
    "answer",
    "candidate",
    "webrtcbin",
];

/// The key the `invite` target's links are signed with, so that seeds made
/// with it (`fuzz/corpus/invite`) get past the signature.
pub const INVITE_KEY: [u8; 32] = [7; 32];

/// A fixed now, 2026-12-04 12:00 UTC, for decoders that read the clock.
const NOW: u64 = 1_796_385_600;

/// Offers a real box made (to Chromium, H.264 and Opus; to Firefox, VP8
/// and Opus), which the `answer` target's answers answer.
pub const OFFERS: [&str; 2] = [
    include_str!("../../fuzz/offer-h264.sdp"),
    include_str!("../../fuzz/offer-vp8.sdp"),
];

/// Hands `data` to target `target`'s decoder; false for a target there is
/// not.
pub fn one(target: &str, data: &[u8]) -> bool {
    let text = || std::str::from_utf8(data).ok();
    match target {
        // What the page's socket task does with each message.
        "signalling" => drop(text().map(|text| crate::signalling::server::step(1, text))),
        "invite" => {
            if let Some(token) = text() {
                let mut invites = Invites::new(Zeroizing::new(INVITE_KEY.to_vec()))
                    .early(Duration::from_secs(15 * 60));
                let _ = invites.read(token);
                let _ = invites.peek(token, NOW);
                let _ = invites.redeem(token, NOW);
            }
        }
        "provisioning" => {
            if let Some(text) = text() {
                let _ = appliance_config::provision::Provisioning::parse("fuzz.toml", text);
            }
        }
        "control" => control(text()),
        "invite-api" => drop(crate::api::request::window(data, NOW)),
        "staff-form" => {
            let body = axum::body::Bytes::copy_from_slice(data);
            if let Some(form) = forms::Form::read(Ok(body)) {
                let _ = forms::appointment(&form, NOW);
                let _ = forms::same_token(form.get("csrf"), form.get("token"));
            }
        }
        "resume" => drop(text().map(resume::hash)),
        "answer" => {
            if let Some(sdp) = text() {
                // The box's offers are parsed once: the target is the
                // answer's decoder, not theirs.
                static PARSED: std::sync::OnceLock<Vec<webrtc_sdp::SdpSession>> =
                    std::sync::OnceLock::new();
                let offers = PARSED.get_or_init(|| {
                    (OFFERS.iter())
                        .filter_map(|o| webrtc_sdp::parse_sdp(o, false).ok())
                        .collect()
                });
                for offer in offers {
                    let _ = sdp_check::check_answer_to(offer, sdp);
                }
            }
        }
        "candidate" => drop(text().map(sdp_check::check_candidate)),
        "webrtcbin" => drop(text().map(webrtcbin::answer)),
        _ => return false,
    }
    true
}

/// A control-socket request line, and the lists of link makers it may
/// carry, read as the daemon reads them.
fn control(line: Option<&str>) {
    let Some(line) = line else { return };
    match serde_json::from_str::<crate::control::Request>(line) {
        Ok(crate::control::Request::ApiClients { clients }) => {
            let _ = crate::api::clients::ApiClients::from_setting(&clients);
        }
        Ok(crate::control::Request::StaffAccounts { accounts }) => {
            let _ = crate::staff::accounts::StaffAccounts::from_setting(&accounts);
        }
        _ => {}
    }
}

/// The `webrtcbin` target: answers, as the `answer` target's, given to a
/// real `webrtcbin` by the box's own path
/// ([`crate::media::negotiation::apply_answer`]:
/// what the check lets through reaches GStreamer's C code).
mod webrtcbin {
    use std::str::FromStr;

    use gst::prelude::*;

    use crate::media::negotiation::apply_answer;

    /// What the box's webrtcbin sends and receives, as in the box's offer
    /// to Chromium (`fuzz/offer-h264.sdp`): its payload types, so that
    /// answers to that offer answer this one.
    const MEDIA: [&str; 2] = [
        "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,\
         packetization-mode=(string)1,profile-level-id=(string)42e01f",
        "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,\
         encoding-params=(string)2",
    ];

    /// A webrtcbin that made an offer, and that offer.
    fn offering() -> Option<(gst::Pipeline, gst::Element, String)> {
        gst::init().ok()?;
        let pipeline = gst::Pipeline::new();
        let webrtcbin = gst::ElementFactory::make("webrtcbin").build().ok()?;
        webrtcbin.set_property_from_str("bundle-policy", "max-bundle");
        pipeline.add(&webrtcbin).ok()?;
        for media in MEDIA {
            let caps = gst::Caps::from_str(media).ok()?;
            let direction = gst_webrtc::WebRTCRTPTransceiverDirection::Sendrecv;
            webrtcbin.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
                "add-transceiver",
                &[&direction, &caps],
            );
        }
        pipeline.set_state(gst::State::Playing).ok()?;
        let made = gst::Promise::new();
        webrtcbin.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &made]);
        if made.wait() != gst::PromiseResult::Replied {
            return None;
        }
        let offer = (made.get_reply()?)
            .get::<gst_webrtc::WebRTCSessionDescription>("offer")
            .ok()?;
        webrtcbin.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
        let text = offer.sdp().as_text().ok()?;
        Some((pipeline, webrtcbin, text))
    }

    /// Gives `sdp` to a fresh webrtcbin as the answer to its offer, and
    /// waits until it is applied; whether webrtcbin took it.
    pub fn answer(sdp: &str) -> bool {
        let Some((pipeline, webrtcbin, offer)) = offering() else {
            return false;
        };
        let applied = gst::Promise::new();
        let given = apply_answer(&webrtcbin, &offer, sdp, Some(&applied)).is_ok();
        if !given {
            // Refused before webrtcbin saw it: a promise dropped unanswered
            // is a GStreamer warning of its own, not the answer's.
            applied.interrupt();
        }
        let taken = given
            && applied.wait() == gst::PromiseResult::Replied
            && applied.get_reply().is_none_or(|r| !r.has_field("error"));
        let _ = pipeline.set_state(gst::State::Null);
        taken
    }
}

/// `appliance fuzz TARGET`, when asked for: AFL++'s loop over the target.
#[cfg(feature = "fuzz")]
pub fn requested() -> Option<std::process::ExitCode> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("fuzz") {
        return None;
    }
    let target = args.next().unwrap_or_default();
    if !TARGETS.contains(&target.as_str()) {
        eprintln!("appliance: fuzz: targets are {}", TARGETS.join(", "));
        return Some(std::process::ExitCode::from(2));
    }
    afl::fuzz!(|data: &[u8]| {
        one(&target, data);
    });
    Some(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signalling::protocol;

    /// Every input kept for a target in `kept` (`corpus`: its seeds;
    /// `regressions`: the faults found).
    fn inputs(target: &str, kept: &[&str]) -> Vec<(String, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut found = Vec::new();
        for kept in kept {
            let Ok(dir) = std::fs::read_dir(root.join(kept).join(target)) else {
                continue;
            };
            for entry in dir.flatten() {
                let name = entry.path().display().to_string();
                found.push((name, std::fs::read(entry.path()).unwrap_or_default()));
            }
        }
        found
    }

    #[test]
    fn every_kept_input_of_every_target_is_decoded_without_a_panic() {
        // As under the fuzzer, a GLib critical from the code that reads
        // what a peer sent (webrtcbin's, libnice's) is a fault; counted
        // here by domain, since other tests run in this process.
        static CRITICALS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        for domain in [
            "libnice",
            "GStreamer",
            "GStreamer-WebRTC",
            "GStreamer-SDP",
            "webrtcbin",
        ] {
            gst::glib::log_set_handler(
                Some(domain),
                gst::glib::LogLevels::LEVEL_CRITICAL,
                false,
                false,
                |_, _, _| {
                    CRITICALS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                },
            );
        }
        for target in TARGETS {
            let inputs = inputs(target, &["corpus", "regressions"]);
            assert!(!inputs.is_empty(), "no seeds for {target}");
            for (_, data) in &inputs {
                assert!(one(target, data));
            }
        }
        assert!(!one("no such target", b""));
        let criticals = CRITICALS.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(criticals, 0, "GLib criticals");
        // Only a real answer reaches webrtcbin.
        assert!(!webrtcbin::answer("v=0"));
    }

    #[test]
    fn the_seeds_reach_past_the_first_check() {
        // Seeds that the decoders refuse at once teach a fuzzer little:
        // most of each target's are good input.
        let invites = Invites::new(Zeroizing::new(INVITE_KEY.to_vec()));
        let good = |target: &str, data: &[u8]| -> bool {
            let text = std::str::from_utf8(data).unwrap_or("");
            match target {
                "signalling" => protocol::decode(text).is_ok(),
                "invite" => invites.read(text).is_ok(),
                "provisioning" => {
                    appliance_config::provision::Provisioning::parse("f", text).is_ok()
                }
                "control" => serde_json::from_str::<crate::control::Request>(text).is_ok(),
                "invite-api" => crate::api::request::window(data, NOW).is_ok(),
                "staff-form" => {
                    let body = axum::body::Bytes::copy_from_slice(data);
                    forms::Form::read(Ok(body)).is_some()
                }
                "resume" => resume::hash(text).is_some(),
                "answer" => OFFERS
                    .iter()
                    .any(|offer| sdp_check::check_answer(offer, text).is_ok()),
                "candidate" => sdp_check::check_candidate(text).is_ok(),
                "webrtcbin" => webrtcbin::answer(text),
                _ => false,
            }
        };
        for target in TARGETS {
            let inputs = inputs(target, &["corpus"]);
            let passed: Vec<_> = (inputs.iter())
                .filter(|(_, data)| good(target, data))
                .map(|(name, _)| name)
                .collect();
            assert!(
                passed.len() * 2 > inputs.len(),
                "{target}: only {passed:?} of {} pass",
                inputs.len()
            );
        }
    }
}
