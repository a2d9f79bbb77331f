//! Patients who go away and come back: a page that reloads, a connection
//! that drops, a network that blips; and those whose network never reached
//! the room. A patient in the session who is away
//! puts it in [`State::Reconnecting`] (camera gated, the TV says so) until
//! they are back or their grace is over; one in the lobby keeps their place
//! as long.

use super::{Command, PatientView, PeerId, Screen, Session, State, Timer};

impl Session {
    /// Whether a patient is in a session: let in, and not yet ended.
    pub(super) fn in_session(&self) -> bool {
        matches!(
            self.state,
            State::Opening | State::Live | State::Paused | State::Reconnecting
        )
    }

    /// Whether a patient (in the session or the lobby) is away.
    pub fn is_away(&self, peer: PeerId) -> bool {
        (self.current.iter().chain(self.lobby.iter())).any(|p| p.peer == peer && p.away)
    }

    /// Whether the session knows this patient: in it, or waiting.
    pub fn knows(&self, peer: PeerId) -> bool {
        (self.current.iter().chain(self.lobby.iter())).any(|p| p.peer == peer)
    }

    /// What a patient's page shows now, for a page that comes back: None
    /// while the session waits for their media.
    pub fn view_of(&self, peer: PeerId) -> Option<PatientView> {
        if self.lobby.iter().any(|p| p.peer == peer) {
            return Some(PatientView::Waiting);
        }
        if self.current_peer() != Some(peer) {
            return None;
        }
        match self.state {
            State::Opening => Some(PatientView::Starting),
            State::Live => Some(PatientView::Live),
            State::Paused => Some(PatientView::Paused),
            _ => None,
        }
    }

    pub(super) fn away(&mut self, peer: PeerId, out: &mut Vec<Command>) {
        let grace = self.grace;
        let in_session = self.in_session();
        let Some(patient) = (self.current.iter_mut().chain(self.lobby.iter_mut()))
            .find(|p| p.peer == peer && !p.away)
        else {
            return;
        };
        patient.away = true;
        let name = patient.name.to_string();
        out.push(Command::StartTimer(Timer::Grace(peer), grace));
        if self.current_peer() == Some(peer) && in_session {
            // An opening shutter goes on opening; it is waited for again
            // when the patient is back.
            if self.state == State::Opening {
                out.push(Command::CancelTimer(Timer::Shutter));
            }
            self.resume_to = self.state;
            self.state = State::Reconnecting;
            out.push(Command::Show(Screen::Reconnecting { name }));
        }
    }

    pub(super) fn back(&mut self, peer: PeerId, out: &mut Vec<Command>) {
        let Some(patient) = (self.current.iter_mut().chain(self.lobby.iter_mut()))
            .find(|p| p.peer == peer && p.away)
        else {
            return;
        };
        patient.away = false;
        out.push(Command::CancelTimer(Timer::Grace(peer)));
        if self.current_peer() != Some(peer) || self.state != State::Reconnecting {
            return;
        }
        if self.resume_to == State::Paused {
            self.state = State::Paused;
            self.notify_current(out, PatientView::Paused);
            out.push(Command::Show(Screen::Paused));
        } else {
            self.notify_current(out, PatientView::Starting);
            self.open_shutter(out);
        }
    }

    /// A patient's grace is over: if they are still away, their session
    /// ends as after a long press, or they lose their place in the lobby.
    pub(super) fn grace_over(&mut self, peer: PeerId, out: &mut Vec<Command>) {
        if !self.is_away(peer) {
            return;
        }
        if self.current_peer() == Some(peer) && self.in_session() {
            self.end(out, PatientView::Ended);
        } else {
            self.left(peer, out);
        }
    }

    /// A patient whose network could not reach the room: they are told so
    /// and dropped, and the TV says so until the next patient comes.
    /// The box gave up on a patient's media: a session with them ends, and
    /// a waiting patient leaves the lobby; either way their page is told
    /// why, never left waiting for nothing.
    pub(super) fn media_failed(&mut self, peer: PeerId, out: &mut Vec<Command>) {
        if self.current_peer() == Some(peer) && self.in_session() {
            self.end(out, PatientView::MediaFailed);
            return;
        }
        let known = self.current_peer() == Some(peer) || self.lobby.iter().any(|p| p.peer == peer);
        if known {
            out.push(Command::Notify(peer, PatientView::MediaFailed));
        }
        self.left(peer, out);
    }

    pub(super) fn unreachable(&mut self, peer: PeerId, out: &mut Vec<Command>) {
        let name = (self.current.iter().chain(self.lobby.iter()))
            .find(|p| p.peer == peer)
            .map(|p| p.name.to_string());
        let Some(name) = name else {
            return;
        };
        out.push(Command::Notify(peer, PatientView::Unreachable));
        self.left(peer, out);
        if self.state == State::Idle {
            out.push(Command::Show(Screen::Unreachable { name }));
        }
    }
}
