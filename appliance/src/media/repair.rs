//! Starting a patient's media anew: after a stall, without the box's TURN
//! servers when they gave it nothing, and when the patient's page asks (it
//! reloaded, or its connection failed). Each is a fresh `webrtcbin` whose
//! offer the page takes as a new connection.

use std::time::Instant;

use super::{MAX_RESTARTS, Media, MediaEvent, peer};
use crate::session::PeerId;

/// How often a page may ask for a new connection: each one is a new
/// `webrtcbin` and encoder, and a page retrying while its network is down
/// asks every few seconds.
const RECONNECT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Media {
    /// Starts a patient's media anew after a stall: a fresh `webrtcbin` whose
    /// offer goes to the page like the first (the page then makes a new
    /// connection). After [`MAX_RESTARTS`] the patient's media has failed.
    pub(super) fn restart(&mut self, id: PeerId) {
        let Some(old) = self.peers.remove(&id) else {
            return;
        };
        let restarts = old.restarts + 1;
        if restarts > MAX_RESTARTS {
            old.stop(&self.pipeline, &self.video_tee, &self.audio_tee);
            eprintln!("appliance: video to patient {id} stopped flowing again; giving up");
            self.end(id);
            return;
        }
        eprintln!("appliance: video to patient {id} stopped flowing; negotiating anew");
        self.renegotiate(id, old);
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.restarts = restarts;
        }
    }

    /// Negotiates anew, without TURN, with a patient whose ICE has not
    /// connected and whose box-side TURN servers gave no relay address.
    /// libnice takes the box's own public address from the TURN server's
    /// answer when STUN and TURN are the same server, so a TURN server that
    /// refuses the box leaves it with no public address at all, and even a
    /// direct path through the NATs fails; without TURN, STUN gives it one.
    pub(super) fn negotiate_without_turn(&mut self, id: PeerId) {
        let Some(old) = self.peers.remove(&id) else {
            return;
        };
        eprintln!(
            "appliance: patient {id}: the TURN relay gave the box no address; negotiating \
             again without it"
        );
        self.renegotiate(id, old);
    }

    /// Stops `old`, the patient's media, and negotiates afresh: a new
    /// `webrtcbin`, whose offer the page takes as a new connection.
    fn renegotiate(&mut self, id: PeerId, old: peer::Peer) {
        let codec = old.codec();
        let connected = old.connected_before();
        old.stop(&self.pipeline, &self.video_tee, &self.audio_tee);
        self.events.send(MediaEvent::Renegotiating(id));
        self.start_peer(id, codec);
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.reconnection(connected);
        }
    }

    /// Negotiates anew because the patient's page asked: it reloaded, or its
    /// connection failed. At most one every [`RECONNECT_EVERY`]: one asked
    /// sooner is made once that wait is over ([`Self::reconnect_when_due`]),
    /// not dropped, or a page that reloaded just after its connection began
    /// would wait for nothing until it asked again. A patient whose media is
    /// not running (not started, or ended) is not started here.
    pub(super) fn reconnect(&mut self, id: PeerId) {
        let Some(old) = self.peers.get_mut(&id) else {
            return;
        };
        if old.age(Instant::now()) < RECONNECT_EVERY {
            old.reconnect_asked = true;
            return;
        }
        let Some(old) = self.peers.remove(&id) else {
            return;
        };
        eprintln!("appliance: patient {id} asked for a new connection");
        self.renegotiate(id, old);
    }

    /// Makes the new connections asked for too soon after the last, once
    /// their wait is over.
    pub(super) fn reconnect_when_due(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = (self.peers.iter())
            .filter(|(_, p)| p.reconnect_asked && p.age(now) >= RECONNECT_EVERY)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.reconnect(id);
        }
    }
}
