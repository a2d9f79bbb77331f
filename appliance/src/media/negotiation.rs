//! Negotiating with a patient's browser: the offer once webrtcbin's inputs
//! have their caps, the answer checked and its ICE credentials made whole
//! for a bundle, and webrtcbin's signals (candidates, ICE's state, and what
//! the patient sends, played on the TV).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use gst::prelude::*;

use super::flow::Counters;
use super::tv::{self, OnTv, TvInputs, TvSlots};
use super::{Events, MediaError, MediaEvent, Stats, sdp_check};
use super::{decoders, keyframes};
use crate::session::PeerId;

/// Gives every m-line of a bundled answer the ICE credentials of the first.
/// Bundled m-lines share one ICE transport, and webrtcbin 1.22 applies each
/// m-line's credentials to it in turn, so the last wins; Chromium's answers
/// sometimes carry different ones on a bundle-only line, and then every check
/// the box sends is refused and the call never connects.
pub fn bundle_ice_credentials(sdp: &str) -> String {
    let first = |prefix: &str| {
        sdp.lines()
            .skip_while(|l| !l.starts_with("m="))
            .find_map(|l| l.strip_prefix(prefix).map(str::trim).map(str::to_owned))
    };
    let (Some(ufrag), Some(pwd)) = (first("a=ice-ufrag:"), first("a=ice-pwd:")) else {
        return sdp.to_owned();
    };
    sdp.split_inclusive('\n')
        .map(|line| {
            let ending = &line[line.trim_end_matches(['\r', '\n']).len()..];
            if line.starts_with("a=ice-ufrag:") {
                format!("a=ice-ufrag:{ufrag}{ending}")
            } else if line.starts_with("a=ice-pwd:") {
                format!("a=ice-pwd:{pwd}{ending}")
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// Gives `webrtcbin`, which made `offer`, the patient's `answer`, once it is
/// checked against the offer ([`sdp_check::check_answer`]) and its ICE
/// credentials are made one for the bundle; with `done`, a promise
/// webrtcbin replies to once it has applied it.
pub fn apply_answer(
    webrtcbin: &gst::Element,
    offer: &str,
    answer: &str,
    done: Option<&gst::Promise>,
) -> Result<(), MediaError> {
    sdp_check::check_answer(offer, answer).map_err(MediaError::Refused)?;
    let bundled = bundle_ice_credentials(answer);
    let message = gst_sdp::SDPMessage::parse_buffer(bundled.as_bytes())
        .map_err(|_| MediaError::Pipeline("the answer is not SDP".into()))?;
    let answer =
        gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, message);
    webrtcbin.emit_by_name::<()>("set-remote-description", &[&answer, &done.cloned()]);
    Ok(())
}

/// Asks webrtcbin for the offer once each of its inputs (`sinks`) has its
/// caps. webrtcbin writes a media section from the caps its input has when
/// it makes the offer, and with none yet from what the elements before it
/// could produce: for Opus that is a line without the channel count
/// (`OPUS/48000`, no `fmtp`), which browsers refuse, and the call has no
/// sound. Only the first call of a process escaped it: its webrtcbin first
/// makes the box's DTLS certificate, which took long enough for the caps to
/// arrive; every later webrtcbin reuses the certificate and offered at once.
pub fn offer_once_negotiated(
    id: PeerId,
    webrtcbin: &gst::Element,
    sinks: [gst::Pad; 2],
    events: &Events,
    local_sdp: &Arc<std::sync::Mutex<Option<String>>>,
) {
    let waiting = Arc::new(AtomicUsize::new(sinks.len()));
    let ready = {
        let (webrtcbin, events, local_sdp) =
            (webrtcbin.downgrade(), events.clone(), local_sdp.clone());
        move || {
            if waiting.fetch_sub(1, Ordering::SeqCst) == 1
                && let Some(webrtcbin) = webrtcbin.upgrade()
            {
                create_offer(id, &webrtcbin, &events, &local_sdp);
            }
        }
    };
    let ready = Arc::new(ready);
    for sink in sinks {
        // Each input counts once, whether its caps came before the handler
        // was connected or after.
        let counted = Arc::new(AtomicBool::new(false));
        let (once, ready_here) = (counted.clone(), ready.clone());
        sink.connect_notify(Some("caps"), move |pad, _| {
            if pad.current_caps().is_some() && !once.swap(true, Ordering::SeqCst) {
                ready_here();
            }
        });
        if sink.current_caps().is_some() && !counted.swap(true, Ordering::SeqCst) {
            ready();
        }
    }
}

/// Asks webrtcbin for an offer and, once it has one, sets it as the local
/// description and reports it.
fn create_offer(
    id: PeerId,
    webrtcbin: &gst::Element,
    events: &Events,
    local_sdp: &Arc<std::sync::Mutex<Option<String>>>,
) {
    let weak = webrtcbin.downgrade();
    let tx = events.clone();
    let sdp_store = local_sdp.clone();
    let promise = gst::Promise::with_change_func(move |reply| {
        let Some(webrtc) = weak.upgrade() else { return };
        let offer = match reply {
            Ok(Some(reply)) => reply
                .value("offer")
                .ok()
                .and_then(|v| v.get::<gst_webrtc::WebRTCSessionDescription>().ok()),
            _ => None,
        };
        let Some(offer) = offer else {
            tx.send(MediaEvent::Failed(id));
            return;
        };
        webrtc.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
        let Ok(text) = offer.sdp().as_text() else {
            tx.send(MediaEvent::Failed(id));
            return;
        };
        if let Ok(mut stored) = sdp_store.lock() {
            *stored = Some(text.clone());
        }
        tx.send(MediaEvent::Offer {
            peer: id,
            sdp: text,
        });
    });
    webrtcbin.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
}

/// Watches ICE for `flow`: gathering complete (whether the box's TURN
/// servers gave it relay addresses: once complete without one, they did
/// not), and the connection (connected once).
fn watch_ice(webrtcbin: &gst::Element, flow: &Arc<Counters>) {
    let gathering = Arc::downgrade(flow);
    webrtcbin.connect_notify(Some("ice-gathering-state"), move |webrtc, _| {
        use gst_webrtc::WebRTCICEGatheringState as Gathering;
        if webrtc.property::<Gathering>("ice-gathering-state") == Gathering::Complete
            && let Some(flow) = gathering.upgrade()
        {
            flow.gathered.store(true, Ordering::Relaxed);
        }
    });

    // A failed connection ends nothing here. Before the first connection
    // libnice may say failed and recover as more candidates trickle in (it
    // did when the TURN server refused the box's credentials): the media
    // thread gives up only once ICE has not connected in time. After it,
    // the patient's side falls silent and the session waits for them to
    // come back (see flow.rs and room/presence.rs).
    let flow = Arc::downgrade(flow);
    webrtcbin.connect_notify(Some("ice-connection-state"), move |webrtc, _| {
        use gst_webrtc::WebRTCICEConnectionState as Ice;
        if matches!(
            webrtc.property::<Ice>("ice-connection-state"),
            Ice::Connected | Ice::Completed
        ) && let Some(flow) = flow.upgrade()
        {
            flow.connected.store(true, Ordering::Relaxed);
        }
    });
}

/// Connects webrtcbin's signals: its ICE candidates go to the patient, ICE's
/// state is watched (gathering done, connected once), and what the patient
/// sends is decoded, counted and played on the TV.
pub fn connect_signals(
    id: PeerId,
    webrtcbin: &gst::Element,
    bin: &gst::Bin,
    (tv, slots, on_tv): (&TvInputs, &TvSlots, &OnTv),
    (stats, flow): (&Arc<Stats>, &Arc<Counters>),
    events: &Events,
) {
    let (tv, slots, on_tv) = (tv.clone(), slots.clone(), on_tv.clone());
    let tx = events.clone();
    let gathering = Arc::downgrade(flow);
    webrtcbin.connect("on-ice-candidate", false, move |values| {
        let mline = values.get(1)?.get::<u32>().ok()?;
        let candidate = values.get(2)?.get::<String>().ok()?;
        if let Some(flow) = gathering.upgrade() {
            if candidate.contains(" typ relay") {
                flow.relays_gathered.fetch_add(1, Ordering::Relaxed);
            } else if candidate.contains(" typ srflx") {
                flow.public_gathered.fetch_add(1, Ordering::Relaxed);
            }
        }
        tx.send(MediaEvent::Ice {
            peer: id,
            mline,
            candidate,
        });
        None
    });

    watch_ice(webrtcbin, flow);

    // What the patient sends: decoded, counted, and played on the TV.
    let bin_weak = bin.downgrade();
    let stats = Arc::downgrade(stats);
    webrtcbin.connect_pad_added(move |_, pad| {
        if pad.direction() != gst::PadDirection::Src {
            return;
        }
        let Some(bin) = bin_weak.upgrade() else {
            return;
        };
        let decoding = keyframes::ask_until_decoding(pad, stats.clone());
        let (stats, tv, slots, on_tv) = (stats.clone(), tv.clone(), slots.clone(), on_tv.clone());
        let play = move |bin: &gst::Bin, pad: &gst::Pad, video: bool| {
            let counted = (&stats, &decoding);
            tv::play_patient(bin, (pad, video), &tv, (&slots, &on_tv), counted)
        };
        decoders::decode_when_known(&bin, pad, Arc::new(play));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_m_lines_get_the_first_m_lines_credentials() {
        let answer = "v=0\r\na=group:BUNDLE 0 1\r\nm=video 9 UDP 96\r\na=ice-ufrag:wglK\r\n\
                      a=ice-pwd:first\r\nm=audio 9 UDP 111\r\na=ice-ufrag:Wt2z\r\na=ice-pwd:second\r\n";
        let fixed = bundle_ice_credentials(answer);
        assert_eq!(fixed.matches("a=ice-ufrag:wglK\r\n").count(), 2);
        assert_eq!(fixed.matches("a=ice-pwd:first\r\n").count(), 2);
        assert!(!fixed.contains("Wt2z") && !fixed.contains("second"));
        assert_eq!(bundle_ice_credentials("v=0\r\n"), "v=0\r\n");
    }
}
