//! Which path a call took: direct on the LAN (`host`), through the NATs
//! (`srflx`), or through a TURN relay (`relay`), and the transport to the
//! relay. Each side sees only its own leg: the box reads its selected
//! candidate pair from webrtcbin's statistics, the page reports its own over
//! the WebSocket, and `status` shows the union of both views.

use serde::{Deserialize, Serialize};

/// An ICE candidate's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateType {
    /// The host's own address.
    Host,
    /// The address a NAT gave it, as a STUN server saw it.
    Srflx,
    /// The address a NAT gave it, as the other side saw it.
    Prflx,
    /// An address on a TURN relay.
    Relay,
}

/// How a party reaches its TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayTransport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP (`turns:`).
    Tls,
}

/// The path a call took, as `status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathKind {
    /// Host to host: on the same network.
    Host,
    /// Through the NATs, without a relay.
    Srflx,
    /// Through a TURN relay.
    Relay,
}

/// One side's selected candidate pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairView {
    /// The side's own candidate.
    pub local: CandidateType,
    /// The other side's candidate, as this side knows it.
    pub remote: CandidateType,
    /// How this side reaches its TURN server, when its own candidate is a
    /// relay.
    pub relay: Option<RelayTransport>,
}

impl PairView {
    fn types(&self) -> [CandidateType; 2] {
        [self.local, self.remote]
    }
}

/// The path from both sides' views: a relay when either side's pair has
/// one, through the NATs when either has a reflexive address, else host;
/// with the transport of the relaying party's leg to its TURN server (the
/// page's when both relay: the patient's network is the one that may
/// allow only TCP or TLS).
pub fn combine(
    box_view: Option<PairView>,
    page_view: Option<PairView>,
) -> (Option<PathKind>, Option<RelayTransport>) {
    let views: Vec<PairView> = [box_view, page_view].into_iter().flatten().collect();
    if views.is_empty() {
        return (None, None);
    }
    let types: Vec<CandidateType> = views.iter().flat_map(PairView::types).collect();
    let path = if types.contains(&CandidateType::Relay) {
        PathKind::Relay
    } else if types
        .iter()
        .any(|t| matches!(t, CandidateType::Srflx | CandidateType::Prflx))
    {
        PathKind::Srflx
    } else {
        PathKind::Host
    };
    let transport = [page_view, box_view]
        .into_iter()
        .flatten()
        .filter(|v| v.local == CandidateType::Relay)
        .find_map(|v| v.relay);
    let transport = transport.or_else(|| {
        // A relay seen only as the other side's candidate: it relays over
        // UDP unless that side says otherwise, which it did not.
        (path == PathKind::Relay).then_some(RelayTransport::Udp)
    });
    (Some(path), transport)
}

#[cfg(test)]
mod tests {
    use super::CandidateType::*;
    use super::*;

    fn view(
        local: CandidateType,
        remote: CandidateType,
        relay: Option<RelayTransport>,
    ) -> PairView {
        PairView {
            local,
            remote,
            relay,
        }
    }

    #[test]
    fn the_path_is_the_union_of_both_views() {
        assert_eq!(combine(None, None), (None, None));
        assert_eq!(
            combine(Some(view(Host, Host, None)), Some(view(Host, Host, None))),
            (Some(PathKind::Host), None)
        );
        assert_eq!(
            combine(Some(view(Srflx, Prflx, None)), None),
            (Some(PathKind::Srflx), None)
        );
        // The page relays over TLS; the box sees only a relay candidate.
        assert_eq!(
            combine(
                Some(view(Srflx, Relay, None)),
                Some(view(Relay, Srflx, Some(RelayTransport::Tls)))
            ),
            (Some(PathKind::Relay), Some(RelayTransport::Tls))
        );
        // The box relays over TCP, the page does not know how.
        assert_eq!(
            combine(Some(view(Relay, Host, Some(RelayTransport::Tcp))), None),
            (Some(PathKind::Relay), Some(RelayTransport::Tcp))
        );
        assert_eq!(
            combine(None, Some(view(Srflx, Relay, None))),
            (Some(PathKind::Relay), Some(RelayTransport::Udp))
        );
    }

    #[test]
    fn the_page_s_report_reads_as_the_browser_words_it() {
        let v: PairView =
            serde_json::from_str(r#"{"local":"relay","remote":"prflx","relay":"tcp"}"#).unwrap();
        assert_eq!(v, view(Relay, Prflx, Some(RelayTransport::Tcp)));
        assert!(serde_json::from_str::<PairView>(r#"{"local":"mdns","remote":"host"}"#).is_err());
    }
}
