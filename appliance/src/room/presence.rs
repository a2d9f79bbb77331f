//! Who is here: patients' pages joining, leaving, lost and back with their
//! resume secret, and whether their call's media flows. A patient is away
//! when their media, having flowed, is lost (silent, or being negotiated
//! anew), or when their page is gone and no media of theirs flows; the
//! session hears only that they are away or back. A page that is lost while
//! media flows (the signalling dropped, the call did not) is not away.

use tokio::sync::{mpsc, oneshot};

use super::{PatientLink, Room};
use crate::media::{Codec, MediaEvent};
use crate::session::{Event, PeerId};
use crate::signalling::protocol::{PatientDevices, ServerMessage};
use crate::signalling::resume::ResumeHash;
use crate::signalling::server::{PatientEvent, Resumed};

/// Where a patient's media stands, as the session task follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaLink {
    /// Not flowing yet: being negotiated, or gated in the lobby.
    Starting,
    /// The patient's side flows.
    Flowing,
    /// It flowed, and is lost: silent, or negotiated anew.
    Lost,
}

impl Room {
    /// A patient's page said something about who they are.
    pub(super) fn patient_event(&mut self, event: PatientEvent) {
        match event {
            PatientEvent::Joined {
                peer,
                name,
                codec,
                outbox,
                resume,
                socket,
            } => self.joined(peer, name, codec, (outbox, socket), resume),
            PatientEvent::Resume {
                resume,
                outbox,
                socket,
                reply,
            } => self.resume(&resume, (outbox, socket), reply),
            PatientEvent::Path(peer, view) => {
                if let Some(link) = self.peers.get_mut(&peer) {
                    link.path = Some(view);
                }
            }
            PatientEvent::Devices(peer, devices) => {
                if let Some(link) = self.peers.get_mut(&peer) {
                    link.devices = devices;
                    self.render();
                }
            }
            PatientEvent::Left(peer) => self.forget(peer),
            PatientEvent::Lost { peer, socket } => {
                let Some(link) = self.peers.get_mut(&peer).filter(|l| l.socket == socket) else {
                    return;
                };
                link.outbox = None;
                if !self.session.knows(peer) {
                    // Their session is over: the page closed after it.
                    self.forget(peer);
                    return;
                }
                eprintln!("appliance: patient {peer}'s page is gone; they may come back");
                self.presence(peer);
            }
        }
    }

    fn joined(
        &mut self,
        peer: PeerId,
        name: String,
        codec: Codec,
        (outbox, socket): (mpsc::Sender<ServerMessage>, u64),
        resume: ResumeHash,
    ) {
        self.peers.insert(
            peer,
            PatientLink {
                outbox: Some(outbox),
                socket,
                codec,
                path: None,
                devices: PatientDevices::default(),
                weak: false,
                resume,
                media: MediaLink::Starting,
            },
        );
        self.call_problem = None;
        self.event(Event::PatientJoined { peer, name });
    }

    /// A page presents a resume secret: good when it is the secret of a
    /// patient the session knows whose page is gone, or whose media is lost
    /// (their old socket went with it, whether the box knows or not).
    fn resume(
        &mut self,
        resume: &ResumeHash,
        (outbox, socket): (mpsc::Sender<ServerMessage>, u64),
        reply: oneshot::Sender<Resumed>,
    ) {
        let found = (self.peers.iter())
            .find(|(_, link)| link.resume.matches(resume))
            .filter(|(peer, _)| self.session.knows(**peer))
            .map(|(peer, _)| *peer);
        let Some((peer, link)) = found.and_then(|peer| Some((peer, self.peers.get_mut(&peer)?)))
        else {
            let _ = reply.send(Resumed::Refused);
            return;
        };
        if link.outbox.is_some() && link.media != MediaLink::Lost {
            // Their page's socket is still here, as far as the box knows:
            // another browser, or a socket whose network went away.
            let _ = reply.send(Resumed::Busy(peer));
            return;
        }
        // A socket taken over closes once its queue does.
        link.outbox = Some(outbox);
        link.socket = socket;
        if reply.send(Resumed::Back(peer)).is_err() {
            // The page went while asking.
            if let Some(link) = self.peers.get_mut(&peer) {
                link.outbox = None;
            }
            self.presence(peer);
            return;
        }
        if let Some(view) = self.session.view_of(peer) {
            self.notify(peer, view);
        }
        self.presence(peer);
    }

    /// A patient's page is gone for good, or their session is over: the
    /// session hears they left and everything of theirs is dropped.
    fn forget(&mut self, peer: PeerId) {
        self.event(Event::PatientLeft(peer));
        self.peers.remove(&peer);
        self.codes.remove(&peer);
        self.media_state
            .send_if_modified(|s| s.patients.remove(&peer).is_some());
    }

    /// Media's word on a patient's side of the call.
    pub(super) fn media_presence(&mut self, event: &MediaEvent) {
        let (peer, now) = match *event {
            MediaEvent::Flowing(peer) => (peer, MediaLink::Flowing),
            MediaEvent::Silent(peer) => (peer, MediaLink::Lost),
            MediaEvent::Renegotiating(peer) => {
                self.codes.remove(&peer);
                // A new connection is judged afresh.
                self.connection(peer, false);
                (peer, MediaLink::Lost)
            }
            _ => return,
        };
        let Some(link) = self.peers.get_mut(&peer) else {
            return;
        };
        match (link.media, now) {
            // Negotiated anew before it ever flowed: still starting.
            (MediaLink::Starting, MediaLink::Lost) => {}
            (MediaLink::Lost, MediaLink::Flowing) => {
                self.reconnects += 1;
                link.media = now;
            }
            _ => link.media = now,
        }
        self.presence(peer);
    }

    /// Media judged a patient's connection weak or good again: their page
    /// and the TV say so.
    pub(super) fn connection(&mut self, peer: PeerId, weak: bool) {
        let Some(link) = self.peers.get_mut(&peer).filter(|l| l.weak != weak) else {
            return;
        };
        link.weak = weak;
        self.tell(peer, ServerMessage::Connection { weak });
        self.render();
    }

    /// Tells the session when a patient went away or came back.
    fn presence(&mut self, peer: PeerId) {
        let Some(link) = self.peers.get(&peer) else {
            return;
        };
        let away = link.media == MediaLink::Lost
            || (link.outbox.is_none() && link.media != MediaLink::Flowing);
        // The session keeps whether it was told.
        if away == self.session.is_away(peer) {
            return;
        }
        self.event(if away {
            Event::PatientAway(peer)
        } else {
            Event::PatientBack(peer)
        });
    }

    /// Drops what is kept of patients the session no longer knows whose
    /// page is gone: their resume secret is no good from now on.
    pub(super) fn forget_the_gone(&mut self) {
        let gone: Vec<PeerId> = (self.peers.iter())
            .filter(|(peer, link)| link.outbox.is_none() && !self.session.knows(**peer))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in gone {
            self.peers.remove(&peer);
            self.codes.remove(&peer);
        }
    }
}
