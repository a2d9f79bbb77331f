//! The session state machine: where the camera gate, the LED and who is let
//! in are decided: no camera frame leaves unless the session is live and the
//! shutter is sensed open, the LED shows the truth, and only an admitted
//! patient is seen and heard.
//!
//! Pure: events in, commands out, no I/O and no GStreamer types. The daemon's
//! session task owns one [`Session`], feeds it every event from the button,
//! the shutter's sensors, signalling, media and timers, and carries out the
//! commands it returns. Guarantees, checked after every event by the tests:
//! the camera gate is open only when the session is live and the shutter is
//! sensed open; the LED is a function of the state; ending always closes the
//! shutter, mutes, and drops the patient.

use std::collections::VecDeque;
use std::time::Duration;

pub use appliance_hardware::ShutterKind;
use appliance_hardware::{LedPattern, ShutterPosition};
use zeroize::Zeroizing;

mod away;
mod io;
pub mod name;
mod state;
#[cfg(test)]
mod tests;

pub use io::{Command, Event, PatientView, Screen, Timer, TvPower};
pub use state::{Fault, State};

/// How long the shutter may take to be sensed open or closed.
pub const SHUTTER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the security code shows on the TV once a session goes live.
pub const CODE_ON_TV: Duration = Duration::from_secs(30);

/// A patient's connection, numbered by signalling.
pub type PeerId = u64;

#[derive(Debug)]
struct Patient {
    peer: PeerId,
    name: Zeroizing<String>,
    /// Their page or their call's connection is lost, and their grace runs.
    away: bool,
}

/// The session: state, the sensed shutter, and the patients in memory only.
#[derive(Debug)]
pub struct Session {
    state: State,
    shutter_kind: ShutterKind,
    shutter: ShutterPosition,
    /// The admitted patient, while a session runs (opening to ending).
    current: Option<Patient>,
    /// Patients waiting, first come first admitted; the first one's media is
    /// negotiated while they wait.
    lobby: VecDeque<Patient>,
    faults: Vec<Fault>,
    gate_open: bool,
    /// Who is seen and heard in the room, as last commanded.
    on_tv: Option<PeerId>,
    /// The security code shows on the TV, as last commanded.
    code_shown: bool,
    /// The shutter was sensed moving since it last jammed. A jam ends by
    /// itself only when the shutter then moves and reaches closed: one that
    /// never left its sensor (stuck while opening) would otherwise read
    /// closed again at once and hide that it cannot open.
    moved_since_jam: bool,
    /// How long a patient who went away may take to come back.
    grace: Duration,
    /// Where a session that is reconnecting goes back to: opening, live or
    /// paused.
    resume_to: State,
}

impl Session {
    /// A new session, idle, with the shutter as its sensors report it; a
    /// patient who goes away has `grace` to come back.
    pub fn new(shutter_kind: ShutterKind, shutter: ShutterPosition, grace: Duration) -> Self {
        Session {
            state: State::Idle,
            shutter_kind,
            shutter,
            current: None,
            lobby: VecDeque::new(),
            faults: Vec::new(),
            gate_open: false,
            on_tv: None,
            code_shown: false,
            moved_since_jam: false,
            grace,
            resume_to: State::Live,
        }
    }

    /// The commands that bring the outside world in line at start: shutter
    /// closed, camera gated, LED and TV showing idle.
    pub fn start(&mut self) -> Vec<Command> {
        let mut out = vec![Command::CameraGate { open: false }];
        if self.shutter_kind == ShutterKind::Motorized {
            out.push(Command::Shutter { open: false });
        }
        out.push(Command::Led(self.state.led()));
        out.push(Command::Show(Screen::Idle));
        out
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The shutter as last sensed.
    pub fn shutter(&self) -> ShutterPosition {
        self.shutter
    }

    /// The LED pattern now showing.
    pub fn led(&self) -> LedPattern {
        self.state.led()
    }

    /// Whether camera frames may leave the box.
    pub fn camera_gate_open(&self) -> bool {
        self.gate_open
    }

    /// How many patients wait in the lobby.
    pub fn waiting(&self) -> usize {
        self.lobby.len()
    }

    /// The patient in the session, if any.
    pub fn current_peer(&self) -> Option<PeerId> {
        self.current.as_ref().map(|p| p.peer)
    }

    /// Whether the security code shows on the TV.
    pub fn code_shown(&self) -> bool {
        self.code_shown
    }

    /// The faults in force.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Handles one event and returns what to do, in order.
    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        let before = self.state;
        let mut out = Vec::new();
        match event {
            Event::ShortPress => self.short_press(&mut out),
            Event::LongPress => {
                if self.in_session() {
                    self.end(&mut out, PatientView::Ended);
                }
            }
            Event::ShutterSensed(position) => self.sensed(position, &mut out),
            Event::PatientJoined { peer, name } => self.joined(peer, &name, &mut out),
            Event::PatientLeft(peer) => self.left(peer, &mut out),
            Event::MediaFailed(peer) => self.media_failed(peer, &mut out),
            Event::PatientAway(peer) => self.away(peer, &mut out),
            Event::PatientBack(peer) => self.back(peer, &mut out),
            Event::TimerFired(Timer::Grace(peer)) => self.grace_over(peer, &mut out),
            Event::MediaUnreachable(peer) => self.unreachable(peer, &mut out),
            Event::FaultRaised(fault) => {
                if !self.faults.contains(&fault) {
                    self.faults.push(fault);
                }
                self.enter_fault(fault, &mut out);
            }
            Event::FaultCleared(fault) => {
                self.faults.retain(|f| *f != fault);
                // A freed shutter still on its way back recovers once sensed
                // closed (see `sensed`), never before.
                let shutter_fault = matches!(fault, Fault::ShutterJammed | Fault::ShutterTimeout);
                if self.state == State::Fault
                    && self.faults.is_empty()
                    && (!shutter_fault || self.shutter == ShutterPosition::Closed)
                {
                    self.recover(&mut out);
                }
            }
            Event::TimerFired(Timer::Shutter) => match self.state {
                State::Opening | State::Ending => {
                    self.faults.push(Fault::ShutterTimeout);
                    self.enter_fault(Fault::ShutterTimeout, &mut out);
                }
                _ => {}
            },
            Event::TimerFired(Timer::SecurityCode) => {
                if self.code_shown {
                    self.code_shown = false;
                    out.push(Command::ShowCode(false));
                }
            }
        }
        self.settle(before, &mut out);
        out
    }

    fn short_press(&mut self, out: &mut Vec<Command>) {
        match self.state {
            // "Press the button" after a shutter fault: try again, from closed.
            State::Fault if self.shutter == ShutterPosition::Closed => {
                self.faults
                    .retain(|f| !matches!(f, Fault::ShutterJammed | Fault::ShutterTimeout));
                if self.faults.is_empty() {
                    self.recover(out);
                }
            }
            State::Lobby => {
                // The first who is here: one who is away keeps their place.
                let Some(first) = self.lobby.iter().position(|p| !p.away) else {
                    return;
                };
                let Some(patient) = self.lobby.remove(first) else {
                    return;
                };
                if first > 0 {
                    // Media runs for the first in the lobby only.
                    out.push(Command::StartMedia(patient.peer));
                }
                out.push(Command::Notify(patient.peer, PatientView::Starting));
                self.current = Some(patient);
                self.open_shutter(out);
                self.show_lobby_or_nothing(out);
            }
            State::Live => {
                self.state = State::Paused;
                self.notify_current(out, PatientView::Paused);
                if self.shutter_kind == ShutterKind::Motorized {
                    out.push(Command::Shutter { open: false });
                }
                out.push(Command::Show(Screen::Paused));
            }
            State::Paused => {
                self.notify_current(out, PatientView::Starting);
                self.open_shutter(out);
            }
            _ => {}
        }
    }

    fn open_shutter(&mut self, out: &mut Vec<Command>) {
        if self.shutter.is_sensed_open() {
            self.go_live(out);
            return;
        }
        self.state = State::Opening;
        if self.shutter_kind == ShutterKind::Motorized {
            out.push(Command::Shutter { open: true });
            out.push(Command::StartTimer(Timer::Shutter, SHUTTER_TIMEOUT));
        }
        out.push(Command::Show(Screen::Opening {
            open_by_hand: self.shutter_kind == ShutterKind::Manual,
        }));
    }

    fn go_live(&mut self, out: &mut Vec<Command>) {
        self.state = State::Live;
        out.push(Command::CancelTimer(Timer::Shutter));
        self.notify_current(out, PatientView::Live);
        out.push(Command::Show(Screen::Live));
    }

    fn sensed(&mut self, position: ShutterPosition, out: &mut Vec<Command>) {
        self.shutter = position;
        if position == ShutterPosition::Jammed {
            if !self.faults.contains(&Fault::ShutterJammed) {
                self.faults.push(Fault::ShutterJammed);
            }
            self.moved_since_jam = false;
            self.enter_fault(Fault::ShutterJammed, out);
            return;
        }
        if self.state == State::Fault {
            if position != ShutterPosition::Closed {
                self.moved_since_jam = true;
                return;
            }
            // Sensed closed: that ends a timeout, and a jam if the shutter
            // moved to get here. Recovery waits for every other fault too.
            let moved = self.moved_since_jam;
            self.faults.retain(|f| match f {
                Fault::ShutterJammed => !moved,
                Fault::ShutterTimeout => false,
                Fault::CameraMissing | Fault::Button | Fault::Provisioning => true,
            });
            if self.faults.is_empty() {
                self.recover(out);
            }
            return;
        }
        match (self.state, position) {
            (State::Opening, ShutterPosition::Open) => self.go_live(out),
            // Closed while the patient is away: they come back paused.
            (State::Reconnecting, p) if self.resume_to == State::Live && !p.is_sensed_open() => {
                self.resume_to = State::Paused;
            }
            // A manual shutter closed by the therapist pauses the session; a
            // motorized one that moves by itself does too, and never shows video.
            (State::Live, p) if !p.is_sensed_open() => {
                self.state = State::Paused;
                self.notify_current(out, PatientView::Paused);
                out.push(Command::Show(Screen::Paused));
            }
            (State::Ending, ShutterPosition::Closed) => {
                out.push(Command::CancelTimer(Timer::Shutter));
                self.after_session(out);
            }
            _ => {}
        }
    }

    fn joined(&mut self, peer: PeerId, name: &str, out: &mut Vec<Command>) {
        let known = self.current_peer() == Some(peer) || self.lobby.iter().any(|p| p.peer == peer);
        if known {
            return;
        }
        let name = Zeroizing::new(name::clean(name));
        let first = self.lobby.is_empty();
        self.lobby.push_back(Patient {
            peer,
            name,
            away: false,
        });
        out.push(Command::Notify(peer, PatientView::Waiting));
        // The TV wakes for a patient in the waiting room (its thread does it
        // once per visit), and for nothing else.
        out.push(Command::Tv(TvPower::Wake));
        if first && self.current.is_none() {
            out.push(Command::StartMedia(peer));
        }
        if self.state == State::Idle {
            self.state = State::Lobby;
        }
        if self.state == State::Lobby {
            self.show_lobby_or_nothing(out);
        }
    }

    pub(super) fn left(&mut self, peer: PeerId, out: &mut Vec<Command>) {
        if self.current_peer() == Some(peer) {
            match self.state {
                State::Opening | State::Live | State::Paused | State::Reconnecting => {
                    self.end(out, PatientView::Ended);
                }
                _ => {
                    self.current = None;
                    out.push(Command::StopMedia(peer));
                }
            }
            return;
        }
        let Some(index) = self.lobby.iter().position(|p| p.peer == peer) else {
            return;
        };
        self.lobby.remove(index);
        out.push(Command::StopMedia(peer));
        if index == 0
            && self.current.is_none()
            && let Some(next) = self.lobby.front()
        {
            out.push(Command::StartMedia(next.peer));
        }
        if self.state == State::Lobby {
            if self.lobby.is_empty() {
                self.state = State::Idle;
                out.push(Command::Show(Screen::Idle));
            } else {
                self.show_lobby_or_nothing(out);
            }
        }
    }

    /// Ends the session: shutter closed, camera gated, the patient told and dropped.
    fn end(&mut self, out: &mut Vec<Command>, view: PatientView) {
        if let Some(patient) = self.current.take() {
            out.push(Command::Notify(patient.peer, view));
            out.push(Command::StopMedia(patient.peer));
        }
        self.state = State::Ending;
        out.push(Command::Show(Screen::Ended));
        if self.shutter == ShutterPosition::Closed || self.shutter_kind == ShutterKind::Manual {
            // A manual shutter is not waited for: the gate is already shut.
            out.push(Command::CancelTimer(Timer::Shutter));
            if self.shutter_kind == ShutterKind::Motorized {
                out.push(Command::Shutter { open: false });
            }
            self.after_session(out);
        } else {
            out.push(Command::Shutter { open: false });
            out.push(Command::StartTimer(Timer::Shutter, SHUTTER_TIMEOUT));
        }
    }

    fn enter_fault(&mut self, fault: Fault, out: &mut Vec<Command>) {
        if let Some(patient) = self.current.take() {
            out.push(Command::Notify(patient.peer, PatientView::Error));
            out.push(Command::StopMedia(patient.peer));
        }
        self.state = State::Fault;
        out.push(Command::CancelTimer(Timer::Shutter));
        if self.shutter_kind == ShutterKind::Motorized {
            out.push(Command::Shutter { open: false });
        }
        out.push(Command::Show(Screen::Fault(fault)));
    }

    fn recover(&mut self, out: &mut Vec<Command>) {
        self.after_session(out);
    }

    /// Back to the lobby if patients wait, else idle; the first waiting
    /// patient's media is negotiated.
    fn after_session(&mut self, out: &mut Vec<Command>) {
        if let Some(next) = self.lobby.front() {
            self.state = State::Lobby;
            out.push(Command::StartMedia(next.peer));
            self.show_lobby_or_nothing(out);
        } else {
            self.state = State::Idle;
            out.push(Command::Show(Screen::Idle));
        }
    }

    fn show_lobby_or_nothing(&self, out: &mut Vec<Command>) {
        if self.state != State::Lobby {
            return;
        }
        if let Some(first) = self.lobby.front() {
            out.push(Command::Show(Screen::Lobby {
                name: first.name.to_string(),
                waiting: self.lobby.len(),
            }));
        }
    }

    fn notify_current(&self, out: &mut Vec<Command>, view: PatientView) {
        if let Some(p) = &self.current {
            out.push(Command::Notify(p.peer, view));
        }
    }

    /// After every event: the gate and the LED follow from the state and the
    /// sensed shutter, never from what was commanded; so do who is seen and
    /// heard in the room, the security code on the TV and the TV's power.
    fn settle(&mut self, before: State, out: &mut Vec<Command>) {
        // Seen and heard in the room: only the admitted patient, only live.
        let on_tv = (self.state == State::Live)
            .then(|| self.current_peer())
            .flatten();
        if on_tv != self.on_tv {
            self.on_tv = on_tv;
            out.push(Command::OnTv(on_tv));
        }
        // The code shows for the first moments of being live (again after a
        // pause), never outside it.
        if self.state == State::Live && before != State::Live {
            self.code_shown = true;
            out.push(Command::ShowCode(true));
            out.push(Command::StartTimer(Timer::SecurityCode, CODE_ON_TV));
        } else if self.state != State::Live && self.code_shown {
            self.code_shown = false;
            out.push(Command::ShowCode(false));
            out.push(Command::CancelTimer(Timer::SecurityCode));
        }
        if self.state == State::Idle && before != State::Idle {
            out.push(Command::Tv(TvPower::MaySleep));
        }
        let gate = self.state == State::Live && self.shutter.is_sensed_open();
        if gate != self.gate_open {
            self.gate_open = gate;
            // Closing the gate goes first, before anything else happens.
            if gate {
                out.push(Command::CameraGate { open: true });
            } else {
                out.insert(0, Command::CameraGate { open: false });
            }
        }
        if self.state.led() != before.led() {
            out.push(Command::Led(self.state.led()));
        }
    }
}
