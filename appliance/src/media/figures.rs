//! What `status` shows of a patient's media, and the selected candidate
//! pair read from webrtcbin's statistics.

use crate::ice_path::{CandidateType, PairView, RelayTransport};

/// What `status` shows of a patient's media.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// The video encoder's target, kbit/s.
    pub kbps: u32,
    /// Congestion control's estimate, kbit/s, once known.
    pub estimate_kbps: Option<u64>,
    /// The round-trip time, ms, once known.
    pub rtt_ms: Option<u64>,
    /// The selected candidate pair, once there is one.
    pub path: Option<PairView>,
    /// TURN is configured, and the box's gathering ended without a relay
    /// address: the TURN server is down, unreachable, or refused the
    /// credentials.
    pub relay_failed: bool,
    /// The connection turned weak (true) or good again (false) just now.
    pub weak_now: Option<bool>,
}

/// The selected candidate pair in webrtcbin's statistics: its two
/// candidates found by their ids (GStreamer 1.22 names a local candidate's
/// structure `remote-candidate` and the other way round; the ids are right).
pub fn selected_pair(stats: &gst::StructureRef) -> Option<PairView> {
    let structures: Vec<gst::Structure> = stats
        .iter()
        .filter_map(|(_, v)| v.get::<gst::Structure>().ok())
        .collect();
    let pair = structures.iter().find(|s| s.name() == "candidate-pair")?;
    let candidate = |field: &str| {
        let id = pair.get::<&str>(field).ok()?;
        structures
            .iter()
            .find(|s| s.get::<&str>("id").ok() == Some(id))
    };
    let kind = |s: &gst::Structure| match s.get::<&str>("candidate-type").ok()? {
        "host" => Some(CandidateType::Host),
        "srflx" => Some(CandidateType::Srflx),
        "prflx" => Some(CandidateType::Prflx),
        "relay" => Some(CandidateType::Relay),
        _ => None,
    };
    let (local, remote) = (
        candidate("local-candidate-id")?,
        candidate("remote-candidate-id")?,
    );
    let local_kind = kind(local)?;
    // A relay candidate's URL is the TURN server's it came from (its
    // credentials are in it: only the scheme and transport are read).
    let relay = (local_kind == CandidateType::Relay)
        .then(|| local.get::<&str>("url").ok().map(relay_transport))
        .flatten();
    Some(PairView {
        local: local_kind,
        remote: kind(remote)?,
        relay,
    })
}

/// The transport a TURN URL names.
fn relay_transport(url: &str) -> RelayTransport {
    if url.starts_with("turns") {
        RelayTransport::Tls
    } else if url.contains("transport=tcp") {
        RelayTransport::Tcp
    } else {
        RelayTransport::Udp
    }
}
