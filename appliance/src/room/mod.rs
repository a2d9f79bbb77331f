//! The session task: the room as the session runs it. One [`Room`] owns the
//! [`Session`] and carries out its commands: the shutter and the LED through
//! the room's thread, media through its state and queue, the patients' pages
//! through their outboxes, the TV's words, HDMI-CEC, timers, control
//! requests and status. It hears everything as [`Input`]s: each producer's
//! own events, forwarded ([`forwarded`]), and its own timers. Started and
//! wired by the daemon (daemon.rs); imports none of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appliance_hardware::{ButtonEvent, LedPattern, ShutterPosition};
use tokio::sync::{mpsc, watch};

use crate::api::LinkMakers;
use crate::control::ControlCall;
use crate::ice_path::PairView;
use crate::invite::Invites;
use crate::language::Language;
use crate::media::{Codec, Gate, MediaCommand, MediaEvent, MediaState, Stats};
use crate::notice::NoticeChanged;
use crate::notify;
use crate::room_io::{self, RoomCommand, RoomEvent, RoomIo};
use crate::session::{
    Command, Event, Fault, PatientView, PeerId, Screen, Session, ShutterKind, State, Timer, TvPower,
};
use crate::signalling::protocol::{PatientDevices, ServerMessage};
use crate::signalling::resume::ResumeHash;
use crate::tv_power::Cec;

mod answers;
mod input;
mod presence;
mod tv_words;

pub use input::{Input, forwarded};
use presence::MediaLink;
#[cfg(test)]
use tv_words::english;
use tv_words::screen_text;

/// What `status` says when a patient's network could not reach the room.
const UNREACHABLE: &str = "The last patient's network could not reach the room: no direct path, \
                           and no TURN relay that worked (see ice.turn_urls)";

/// How often the session task looks for a panic elsewhere in the process.
const PANIC_CHECK: Duration = Duration::from_millis(250);

/// What a room is made of: its settings and its ends of the channels.
#[derive(Debug)]
pub struct Parts {
    /// The shutter's kind.
    pub shutter_kind: ShutterKind,
    /// How long a patient who went away may take to come back.
    pub reconnect_grace: Duration,
    /// Patients' events for media (a stall to simulate, the shutdown).
    pub media: mpsc::Sender<MediaCommand>,
    /// What media must be doing, latest value only.
    pub media_state: watch::Sender<MediaState>,
    /// The camera gate.
    pub gate: Gate,
    /// Counters for status.
    pub stats: Arc<Stats>,
    /// Invites, issued here.
    pub invites: Arc<Mutex<Invites>>,
    /// Who may make links through the API and the staff page, replaced
    /// here when IT changes them.
    pub link_makers: LinkMakers,
    /// The session task's own inputs, for its timers.
    pub inputs: mpsc::Sender<Input>,
    /// The room's hardware thread.
    pub io: RoomIo,
    /// The TV over HDMI-CEC.
    pub cec: Cec,
    /// Simulated hardware: fault injection and the TV's copy allowed.
    pub simulated: bool,
    /// The base of patient links.
    pub public_url: String,
    /// The room's name.
    pub room_name: String,
    /// The TV's language.
    pub language: Language,
}

/// How the session task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// SIGTERM or SIGINT.
    Stopped,
    /// The camera missing at start is there now: a restart takes it up.
    CameraConnected,
    /// A part of the daemon panicked.
    Failed,
}

struct PatientLink {
    /// Messages to their page; None while it is gone (they may come back).
    outbox: Option<mpsc::Sender<ServerMessage>>,
    /// The number of the socket that speaks for them.
    socket: u64,
    codec: Codec,
    /// The path the page says its call took.
    path: Option<PairView>,
    /// Whether their camera and microphone are on, as their page says.
    devices: PatientDevices,
    /// Whether their connection is weak, as media judges it.
    weak: bool,
    /// What is kept of the secret that brings their page back.
    resume: ResumeHash,
    /// Where their media stands.
    media: MediaLink,
}

/// The session task's state: the session and what carries out its commands.
pub struct Room {
    session: Session,
    peers: HashMap<PeerId, PatientLink>,
    codes: HashMap<PeerId, String>,
    /// Patients' events for media (a stall to simulate, the shutdown).
    media: mpsc::Sender<MediaCommand>,
    /// What media must be doing: whose media runs, who is on the TV, the
    /// TV's words, the gate. Latest value only, never lost.
    media_state: watch::Sender<MediaState>,
    gate: Gate,
    stats: Arc<Stats>,
    invites: Arc<Mutex<Invites>>,
    link_makers: LinkMakers,
    inputs: mpsc::Sender<Input>,
    /// The timers running, by the generation they were started with.
    timers: HashMap<Timer, u64>,
    /// The last generation given to a timer.
    generation: u64,
    /// The room's hardware thread.
    io: RoomIo,
    simulated: bool,
    public_url: String,
    /// The room's name, for the idle screen.
    room_name: String,
    language: Language,
    /// The screen the session last asked for.
    screen: Screen,
    /// IT's notice, for the idle and fault screens.
    notice: Option<String>,
    /// What went wrong with the last patient's call, until the next joins.
    call_problem: Option<String>,
    /// The TV over HDMI-CEC.
    cec: Cec,
    /// The camera missing at start is there now: restart to take it up as
    /// soon as nobody is in a session or waiting.
    restart_for_camera: bool,
    /// A part of the daemon panicked: it stops with an error.
    failed: bool,
    /// Patients' media that came back after it was lost.
    reconnects: u64,
}

impl Room {
    /// A room at rest: the session not yet started (see [`Room::open`]).
    pub fn new(parts: Parts) -> Room {
        Room {
            // Not known until the sensors settle; never assumed open.
            session: Session::new(
                parts.shutter_kind,
                ShutterPosition::Closing,
                parts.reconnect_grace,
            ),
            peers: HashMap::new(),
            codes: HashMap::new(),
            media: parts.media,
            media_state: parts.media_state,
            gate: parts.gate,
            stats: parts.stats,
            invites: parts.invites,
            link_makers: parts.link_makers,
            inputs: parts.inputs,
            timers: HashMap::new(),
            generation: 0,
            io: parts.io,
            simulated: parts.simulated,
            public_url: parts.public_url,
            room_name: parts.room_name,
            language: parts.language,
            screen: Screen::Idle,
            notice: None,
            call_problem: None,
            cec: parts.cec,
            restart_for_camera: false,
            failed: false,
            reconnects: 0,
        }
    }

    /// Starts the session; a refused provisioning file is a fault until
    /// IT fixes it.
    pub fn open(&mut self, provision_failed: bool) {
        let start = self.session.start();
        self.execute(start);
        if provision_failed {
            eprintln!(
                "appliance: the last provisioning file was refused; see provision-error.txt on the boot partition"
            );
            self.event(Event::FaultRaised(Fault::Provisioning));
        }
    }

    /// Runs the session until the daemon stops; leaves the room safe and
    /// media told to shut down.
    pub async fn run(mut self, inputs: mpsc::Receiver<Input>) -> Ending {
        self.serve(inputs).await;
        let _ = self.media.send(MediaCommand::Shutdown).await;
        if self.failed {
            Ending::Failed
        } else if self.restart_for_camera {
            Ending::CameraConnected
        } else {
            Ending::Stopped
        }
    }

    async fn serve(&mut self, mut inputs: mpsc::Receiver<Input>) {
        let mut watchdog = notify::watchdog_interval().map(tokio::time::interval);
        let mut panic_check = tokio::time::interval(PANIC_CHECK);
        loop {
            let input = tokio::select! {
                input = inputs.recv() => input,
                _ = panic_check.tick() => {
                    // A task that panicked is gone and the room is at fault:
                    // stop, and let systemd start the daemon again.
                    if room_io::panicked() {
                        eprintln!("appliance: a part of the daemon failed; stopping");
                        self.failed = true;
                        break;
                    }
                    continue;
                }
                _ = async {
                    match watchdog.as_mut() {
                        Some(w) => { w.tick().await; }
                        None => std::future::pending().await,
                    }
                } => {
                    // Pinged from the session task itself: a stuck session stops the pings.
                    notify::notify("WATCHDOG=1");
                    continue;
                }
            };
            let Some(input) = input else { break };
            if !self.input(input) {
                break;
            }
            if self.restart_for_camera
                && matches!(self.session.state(), State::Idle | State::Fault)
                && self.session.waiting() == 0
            {
                eprintln!("appliance: the camera is connected now: restarting to use it");
                break;
            }
        }
        self.safe_state();
    }

    /// Handles one input; false to stop.
    fn input(&mut self, input: Input) -> bool {
        match input {
            Input::Patient(event) => self.patient_event(event),
            Input::Media(event) => self.media_event(event),
            Input::Timer(timer, generation) => {
                if self.timers.get(&timer) == Some(&generation) {
                    self.timers.remove(&timer);
                    self.event(Event::TimerFired(timer));
                }
            }
            Input::Room(RoomEvent::ShutterSensed(position)) => {
                self.event(Event::ShutterSensed(position))
            }
            Input::Room(RoomEvent::Button(ButtonEvent::Press)) => self.event(Event::ShortPress),
            Input::Room(RoomEvent::Button(ButtonEvent::LongPress)) => self.event(Event::LongPress),
            Input::Room(RoomEvent::Fault(fault, true)) => self.event(Event::FaultRaised(fault)),
            Input::Room(RoomEvent::Fault(fault, false)) => self.event(Event::FaultCleared(fault)),
            Input::Notice(NoticeChanged(notice)) => {
                // Written by root for IT: neither a secret nor a patient's.
                match &notice {
                    Some(text) => {
                        eprintln!("appliance: notice for IT: {}", text.replace('\n', " "))
                    }
                    None => eprintln!("appliance: the notice for IT is gone"),
                }
                self.notice = notice;
                self.render();
            }
            Input::Control(ControlCall(request, reply)) => {
                let _ = reply.send(self.control(request));
            }
            Input::Shutdown => return false,
        }
        self.forget_the_gone();
        true
    }

    fn event(&mut self, event: Event) {
        let commands = self.session.handle(event);
        self.execute(commands);
    }

    fn media_event(&mut self, event: MediaEvent) {
        match event {
            MediaEvent::Offer { peer, sdp } => self.tell(peer, ServerMessage::Offer { sdp }),
            MediaEvent::Ice {
                peer,
                mline,
                candidate,
            } => self.tell(
                peer,
                ServerMessage::Ice {
                    candidate,
                    sdp_m_line_index: mline,
                },
            ),
            MediaEvent::SecurityCode { peer, code } => {
                self.codes.insert(peer, code);
                self.render();
            }
            MediaEvent::Renegotiating(_) | MediaEvent::Flowing(_) | MediaEvent::Silent(_) => {
                self.media_presence(&event)
            }
            MediaEvent::Connection { peer, weak } => self.connection(peer, weak),
            MediaEvent::Failed(peer) => self.event(Event::MediaFailed(peer)),
            MediaEvent::Unreachable(peer) => {
                if self.peers.contains_key(&peer) {
                    eprintln!(
                        "appliance: patient {peer}: no network path between the page and the \
                         box (ICE did not connect; is a TURN relay configured and reachable?)"
                    );
                    self.call_problem = Some(UNREACHABLE.into());
                }
                self.event(Event::MediaUnreachable(peer));
            }
            MediaEvent::CameraMissing => self.event(Event::FaultRaised(Fault::CameraMissing)),
            MediaEvent::CameraBack => self.restart_for_camera = true,
        }
    }

    fn tell(&self, peer: PeerId, message: ServerMessage) {
        if let Some(outbox) = self.peers.get(&peer).and_then(|l| l.outbox.as_ref())
            && outbox.try_send(message).is_err()
        {
            // A page that cannot keep up with 64 messages is gone, or going.
            self.stats.dropped(&format!("a message for patient {peer}"));
        }
    }

    fn execute(&mut self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::CameraGate { open } => {
                    self.gate.set(open);
                    self.media_state.send_if_modified(|s| {
                        let changed = s.camera_gate != open;
                        s.camera_gate = open;
                        changed
                    });
                }
                Command::Shutter { open } => self.room(RoomCommand::Shutter { open }),
                Command::Led(pattern) => self.room(RoomCommand::Led(pattern)),
                Command::StartMedia(peer) => {
                    if let Some(link) = self.peers.get(&peer) {
                        let codec = link.codec;
                        self.media_state
                            .send_if_modified(|s| s.patients.insert(peer, codec).is_none());
                    }
                }
                Command::StopMedia(peer) => {
                    self.codes.remove(&peer);
                    self.media_state
                        .send_if_modified(|s| s.patients.remove(&peer).is_some());
                }
                Command::Notify(peer, state) => self.notify(peer, state),
                Command::Show(screen) => {
                    self.screen = screen;
                    self.render();
                }
                Command::OnTv(on_tv) => {
                    self.media_state.send_if_modified(|s| {
                        let changed = s.on_tv != on_tv;
                        s.on_tv = on_tv;
                        changed
                    });
                }
                Command::ShowCode(_) => self.render(),
                Command::Tv(TvPower::Wake) => self.cec.patient_arrived(),
                Command::Tv(TvPower::MaySleep) => self.cec.room_idle(),
                Command::StartTimer(timer, delay) => {
                    self.generation += 1;
                    self.timers.insert(timer, self.generation);
                    self.after(delay, Input::Timer(timer, self.generation));
                }
                Command::CancelTimer(timer) => {
                    self.timers.remove(&timer);
                }
            }
        }
    }

    /// Tells a patient's page where things stand.
    fn notify(&self, peer: PeerId, state: PatientView) {
        let reason = state.reason();
        self.tell(peer, ServerMessage::State { state, reason });
    }

    /// On the way out: camera gated, every patient told, then the room's
    /// thread stopped, which closes the shutter and puts the LED out.
    fn safe_state(&mut self) {
        self.gate.set(false);
        for peer in self.peers.keys().copied().collect::<Vec<_>>() {
            self.tell(
                peer,
                ServerMessage::State {
                    state: PatientView::Ended,
                    reason: None,
                },
            );
        }
        self.media_state.send_modify(|s| s.patients.clear());
        self.io.stop();
        eprintln!("appliance: LED {}", LedPattern::Off);
    }

    /// Sends `input` to the session task after `delay` (a timer; stale
    /// ones are told apart by their generation).
    fn after(&self, delay: Duration, input: Input) {
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = inputs.send(input).await;
        });
    }

    /// Tells the TV what to write, from the screen the session asked for;
    /// only when that changes.
    fn render(&mut self) {
        let code = self
            .session
            .current_peer()
            .and_then(|peer| self.codes.get(&peer))
            .filter(|_| self.session.code_shown());
        let link = (self.session.current_peer()).and_then(|peer| self.peers.get(&peer));
        let (devices, weak) = (link.map(|l| l.devices), link.is_some_and(|l| l.weak));
        let text = screen_text(
            self.language,
            &self.screen,
            &self.room_name,
            self.session.faults(),
            (code, devices, weak),
            self.notice.as_deref(),
        );
        self.media_state.send_if_modified(|s| {
            let changed = s.screen != text;
            s.screen = text;
            changed
        });
    }

    /// Hands a command to the room's thread. A queue of 64 that is full
    /// means that thread is stuck; the session's state stays the truth and
    /// the next command tries again.
    fn room(&self, command: RoomCommand) {
        if !self.io.send(command) {
            self.stats
                .dropped("a command for the room's hardware thread");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::SimFault;
    use crate::drivers::Backend;
    use crate::signalling::resume;
    use crate::signalling::server::PatientEvent;

    /// A room on simulated pins whose media thread never reads: its queue for
    /// patients' events holds one, already taken.
    #[allow(clippy::type_complexity)]
    fn stuck_media_room() -> (
        Room,
        watch::Receiver<MediaState>,
        mpsc::Receiver<Input>,
        mpsc::Receiver<MediaCommand>,
    ) {
        let (inputs_tx, inputs) = mpsc::channel(16);
        let travel = Duration::from_millis(10);
        let io = RoomIo::start(
            &Backend::Sim { travel },
            ShutterKind::Motorized,
            forwarded(16, &inputs_tx),
        )
        .unwrap();
        let (media, never_read) = mpsc::channel(1);
        media.try_send(MediaCommand::SimStall).unwrap();
        let (media_state, wanted) = watch::channel(MediaState::default());
        let mut room = Room::new(Parts {
            shutter_kind: ShutterKind::Motorized,
            reconnect_grace: Duration::from_secs(120),
            media,
            media_state,
            gate: Gate::default(),
            stats: Arc::new(Stats::default()),
            invites: Arc::new(Mutex::new(Invites::new(zeroize::Zeroizing::new(vec![
                7;
                32
            ])))),
            link_makers: LinkMakers::default(),
            inputs: inputs_tx,
            io,
            cec: Cec::start(None),
            simulated: true,
            public_url: "https://box".into(),
            room_name: "Room 3".into(),
            language: Language::En,
        });
        room.open(false);
        // The sensors have settled: closed.
        room.input(RoomEvent::ShutterSensed(ShutterPosition::Closed).into());
        (room, wanted, inputs, never_read)
    }

    #[tokio::test]
    async fn with_media_s_queue_full_the_tv_s_words_who_is_on_it_and_the_gate_still_arrive() {
        let (mut room, wanted, _inputs, _media) = stuck_media_room();
        assert_eq!(wanted.borrow().screen.title, "Room 3\nReady");
        let (outbox, _page) = mpsc::channel(64);
        room.input(Input::Patient(PatientEvent::Joined {
            peer: 1,
            name: "Ada".into(),
            codec: Codec::H264,
            outbox,
            resume: resume::new_secret().unwrap().1,
            socket: 1,
        }));
        {
            let state = wanted.borrow();
            assert!(
                state.screen.title.starts_with("Ada is waiting"),
                "{state:?}"
            );
            assert_eq!(state.patients.get(&1), Some(&Codec::H264));
            assert_eq!((state.on_tv, state.camera_gate), (None, false));
        }
        // The press, and the shutter sensed open: live.
        room.input(RoomEvent::Button(ButtonEvent::Press).into());
        room.input(RoomEvent::ShutterSensed(ShutterPosition::Open).into());
        assert_eq!(room.session.state(), State::Live);
        {
            let state = wanted.borrow();
            assert_eq!((state.on_tv, state.camera_gate), (Some(1), true));
            assert!(state.screen.self_view && state.screen.title.is_empty());
        }
        // The long press ends it: off the TV, gated, media stopped, and the
        // words said so, all through the full queue's jam.
        room.input(RoomEvent::Button(ButtonEvent::LongPress).into());
        room.input(RoomEvent::ShutterSensed(ShutterPosition::Closed).into());
        {
            let state = wanted.borrow();
            assert_eq!((state.on_tv, state.camera_gate), (None, false));
            assert!(state.patients.is_empty(), "{state:?}");
            assert!(!state.screen.self_view);
        }
        // What does travel on the full queue is dropped with a word, and
        // counted in status.
        assert_eq!(room.status().messages_dropped, 0);
        room.inject(SimFault::MediaStall);
        assert_eq!(room.status().messages_dropped, 1);
        room.io.stop();
    }

    #[test]
    fn each_screen_has_its_words() {
        let code = "123 456".to_owned();
        let idle = english(&Screen::Idle, "Room 3", &[], (None, None, false), None);
        assert_eq!(idle.title, "Room 3\nReady");
        assert!(!idle.self_view && idle.corner.is_empty());
        let lobby = Screen::Lobby {
            name: "Ada".into(),
            waiting: 1,
        };
        let text = english(&lobby, "R", &[], (Some(&code), None, false), None);
        assert_eq!(text.title, "Ada is waiting\nPress the button to start");
        assert!(text.corner.is_empty(), "no code before the session");
        let two = Screen::Lobby {
            name: "Ada".into(),
            waiting: 3,
        };
        assert!(
            english(&two, "R", &[], (None, None, false), None)
                .title
                .contains("2 more")
        );
        let live = english(&Screen::Live, "R", &[], (Some(&code), None, false), None);
        assert_eq!(live.title, "");
        assert_eq!(live.corner, "Security code 123 456");
        assert!(live.self_view);
        assert!(
            english(&Screen::Live, "R", &[], (None, None, false), None)
                .corner
                .is_empty()
        );
        let away = Screen::Reconnecting { name: "Ada".into() };
        let text = english(&away, "R", &[], (Some(&code), None, false), None);
        assert!(text.title.starts_with("Ada is reconnecting"), "{text:?}");
        assert!(
            !text.self_view && text.corner.is_empty(),
            "nothing of the call"
        );
        let paused = english(&Screen::Paused, "R", &[], (Some(&code), None, false), None);
        assert!(paused.title.starts_with("Paused") && !paused.self_view);
        assert!(paused.corner.is_empty());
        let faults = [Fault::ShutterJammed, Fault::CameraMissing];
        let fault = english(
            &Screen::Fault(Fault::ShutterJammed),
            "R",
            &faults,
            (None, None, false),
            None,
        );
        assert!(fault.title.contains("shutter is stuck"));
        assert!(fault.title.contains("camera is not connected"));
        let by_hand = Screen::Opening { open_by_hand: true };
        assert!(
            english(&by_hand, "R", &[], (None, None, false), None)
                .title
                .contains("shutter")
        );
    }

    #[test]
    fn it_s_notice_shows_only_where_no_patient_waits_or_is_seen() {
        let code = "123 456".to_owned();
        let notice = Some("Update refused.");
        let idle = english(&Screen::Idle, "R", &[], (None, None, false), notice);
        assert_eq!(idle.title, "R\nReady");
        assert_eq!(idle.corner, "Update refused.");
        let faults = [Fault::CameraMissing];
        let fault = english(
            &Screen::Fault(Fault::CameraMissing),
            "R",
            &faults,
            (None, None, false),
            notice,
        );
        assert_eq!(fault.corner, "Update refused.");
        let live = english(&Screen::Live, "R", &[], (Some(&code), None, false), notice);
        assert_eq!(live.corner, "Security code 123 456");
        assert!(
            english(&Screen::Live, "R", &[], (None, None, false), notice)
                .corner
                .is_empty()
        );
        let lobby = Screen::Lobby {
            name: "Ada".into(),
            waiting: 1,
        };
        for screen in [
            lobby,
            Screen::Paused,
            Screen::Ended,
            Screen::Opening {
                open_by_hand: false,
            },
        ] {
            let text = english(&screen, "R", &[], (Some(&code), None, false), notice);
            assert!(text.corner.is_empty(), "{screen:?}: {text:?}");
        }
    }
}
