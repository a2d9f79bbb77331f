//! The room's hardware thread: the button, the shutter and the LED, through
//! the drivers of `appliance-hardware`, on the backend the configuration
//! names (`hardware.backend`: simulated pins, or the Raspberry Pi's GPIO).
//!
//! One plain thread owns the drivers and polls them every [`POLL`]: every
//! poll re-reads the button's and the sensors' levels, so a change the thread
//! missed can never leave a wrong state for longer than one poll. What
//! changed reaches the session task over its bounded input channel, never
//! blocking this thread: a button event or a sensed position the channel
//! cannot take now is kept and sent on the next poll (positions are only
//! ever sent as the latest one, so a full channel cannot make the session
//! believe an old position). The session's commands come back over a
//! bounded channel of their own.
//!
//! Safe state: when the thread ends (the daemon stops, or the session task
//! is gone, or panicked) it commands the shutter closed and the LED off, and
//! the drivers do the same again when dropped. After a panic anywhere in the
//! process ([`on_panic`], from the panic hook) it commands the shutter closed
//! and the LED to fault, through the same drivers, and ends.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use appliance_hardware::sim::SimBoard;
use appliance_hardware::{
    AnyInput, AnyOutput, AnyServo, Button, ButtonEvent, Led, LedPattern, Shutter, ShutterPosition,
};
use tokio::sync::mpsc;

use crate::drivers::{Backend, Drivers, open};
use crate::media::Gate;
use crate::session::{Fault, ShutterKind};
use crate::sim_log;

/// How often the levels are read: well inside the button's 30 ms debounce
/// and the LED's 125 ms fault blink, and cheap (six GPIO reads).
pub const POLL: Duration = Duration::from_millis(5);

/// Commands the session task may have queued at once.
const COMMANDS: usize = 64;

/// How long `appliance press` holds the simulated button: past the debounce.
const SIM_SHORT_HOLD: Duration = Duration::from_millis(60);
/// How long `appliance press --long` holds it: past the long press.
const SIM_LONG_HOLD: Duration = Duration::from_millis(2_100);

/// Button events kept while the session's channel is full; a therapist
/// pressing faster than that is not waited for.
const PENDING_LIMIT: usize = 16;

/// The room thread's name, which the panic hook looks for.
const THREAD: &str = "room-io";

/// Set by the panic hook: the room's thread puts the room in its panic
/// state (shutter closed, LED at fault) and ends.
static PANICKED: AtomicBool = AtomicBool::new(false);
/// Set by the room's thread once its drivers were given the panic state.
static PANIC_HANDLED: AtomicBool = AtomicBool::new(false);

/// The gate the panic hook shuts (one per process).
static PANIC_GATE: std::sync::OnceLock<Gate> = std::sync::OnceLock::new();

/// How long the panic hook waits for the room's thread to close the shutter
/// and show the fault: one poll takes 5 ms.
const PANIC_SAFE_WITHIN: Duration = Duration::from_secs(1);

/// Installs the panic hook: whatever panics, no camera frame leaves after
/// it, and the room's thread commands the shutter closed and the LED to
/// fault through its drivers ([`on_panic`]); the daemon then stops (the
/// session task looks for [`panicked`]).
pub fn keep_the_room_safe_on_panic(gate: &Gate) {
    let _ = PANIC_GATE.set(gate.clone());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(gate) = PANIC_GATE.get() {
            gate.set(false);
        }
        on_panic(PANIC_SAFE_WITHIN);
        previous(info);
    }));
}

/// For the panic hook: has the room's thread command the shutter closed and
/// the LED to fault through its drivers, and waits until it has, at most
/// `limit` (the hook must not hang). In the room's thread itself nothing is
/// waited for: its unwinding drops the room, which does the same.
fn on_panic(limit: Duration) {
    PANICKED.store(true, Ordering::SeqCst);
    if std::thread::current().name() == Some(THREAD) {
        return;
    }
    let start = Instant::now();
    while !PANIC_HANDLED.load(Ordering::SeqCst) && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether some part of the process panicked: the room is at fault and the
/// daemon must stop (systemd starts it again).
pub fn panicked() -> bool {
    PANICKED.load(Ordering::SeqCst)
}

/// What the room's thread tells the session task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomEvent {
    /// The shutter's sensors read a new position.
    ShutterSensed(ShutterPosition),
    /// The button was pressed.
    Button(ButtonEvent),
    /// A hardware fault began (true) or ended (false).
    Fault(Fault, bool),
}

/// What the session task asks of the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomCommand {
    /// Move a motorized shutter (a manual one only records the request).
    Shutter {
        /// True to open.
        open: bool,
    },
    /// Show a pattern.
    Led(LedPattern),
    /// Simulation: press the button, briefly or long.
    Press {
        /// Hold it past the long press.
        long: bool,
    },
    /// Simulation: block the shutter where it is, or free it.
    Jam(bool),
}

/// The handle the session task keeps. Dropping it ends the thread, which
/// leaves the room in its safe state; [`RoomIo::stop`] also waits for that.
#[derive(Debug)]
pub struct RoomIo {
    commands: Option<SyncSender<RoomCommand>>,
    thread: Option<JoinHandle<()>>,
    /// The simulated board, for tests to look at.
    #[cfg_attr(not(test), allow(dead_code))]
    sim: Option<SimBoard>,
}

impl RoomIo {
    /// Opens the backend and starts the thread.
    pub fn start(
        backend: &Backend,
        kind: ShutterKind,
        inputs: mpsc::Sender<RoomEvent>,
    ) -> anyhow::Result<Self> {
        let (tx, commands) = std::sync::mpsc::sync_channel(COMMANDS);
        let drivers = open(backend, kind)?;
        let sim = drivers.sim.clone();
        let room = Hardware::new(drivers, inputs);
        let thread = std::thread::Builder::new()
            .name(THREAD.into())
            .spawn(move || room.run(&commands))?;
        Ok(RoomIo {
            commands: Some(tx),
            thread: Some(thread),
            sim,
        })
    }

    /// Queues a command; false if the thread is gone or far behind.
    pub fn send(&self, command: RoomCommand) -> bool {
        match &self.commands {
            Some(tx) => tx.try_send(command).is_ok(),
            None => false,
        }
    }

    /// Ends the thread and waits until the room is in its safe state.
    pub fn stop(&mut self) {
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RoomIo {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The drivers and what the session has and has not heard yet.
struct Hardware {
    button: Button<AnyInput>,
    shutter: Shutter<AnyInput, AnyServo>,
    led: Led<AnyOutput>,
    sim: Option<SimBoard>,
    inputs: mpsc::Sender<RoomEvent>,
    /// The position the session last heard; None before the first.
    told: Option<ShutterPosition>,
    pending: VecDeque<RoomEvent>,
    /// Faults raised to the session, so each is raised and cleared once.
    button_fault: bool,
    /// When the simulated button is let go.
    release_at: Option<Instant>,
    /// Reads of the held button still to come before it is let go: a
    /// thread held up for longer than the debounce (a busy machine) must
    /// not turn a press into nothing.
    reads_to_release: u32,
    /// The last error logged for each part, so a broken pin is logged once,
    /// not 200 times a second.
    logged: [Option<String>; 3],
}

impl Hardware {
    fn new(drivers: Drivers, inputs: mpsc::Sender<RoomEvent>) -> Self {
        Hardware {
            button: drivers.button,
            shutter: drivers.shutter,
            led: drivers.led,
            sim: drivers.sim,
            inputs,
            told: None,
            pending: VecDeque::new(),
            button_fault: false,
            release_at: None,
            reads_to_release: 0,
            logged: [None, None, None],
        }
    }

    fn run(mut self, commands: &Receiver<RoomCommand>) {
        loop {
            match commands.recv_timeout(POLL) {
                Ok(command) => {
                    self.command(command);
                    // Whatever else is queued, at once.
                    while let Ok(command) = commands.try_recv() {
                        self.command(command);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if panicked() || !self.poll(Instant::now()) {
                break;
            }
        }
        // Dropping the room leaves it in its safe state (Drop, below).
    }

    fn command(&mut self, command: RoomCommand) {
        let now = Instant::now();
        match command {
            RoomCommand::Shutter { open } => {
                sim_log::record(if open {
                    "shutter open"
                } else {
                    "shutter close"
                });
                let result = if open {
                    self.shutter.open(now)
                } else {
                    self.shutter.close(now)
                };
                if let Err(e) = result {
                    // Refused while jammed, or the servo failed: the next
                    // poll reads jammed and the session hears it.
                    self.log(1, e.to_string());
                }
            }
            RoomCommand::Led(pattern) => {
                sim_log::record(&format!("led {pattern}"));
                eprintln!("appliance: LED {pattern}");
                if let Err(e) = self.led.set(pattern, now) {
                    self.log(2, e.to_string());
                }
            }
            RoomCommand::Press { long } => {
                if let Some(board) = &self.sim {
                    board.set_pressed(true);
                    let hold = if long { SIM_LONG_HOLD } else { SIM_SHORT_HOLD };
                    self.release_at = Some(now + hold);
                    self.reads_to_release = (hold.as_millis() / POLL.as_millis()) as u32;
                }
            }
            RoomCommand::Jam(jammed) => {
                if let Some(board) = &self.sim {
                    board.set_jammed(jammed);
                }
            }
        }
    }

    /// Reads everything once and tells the session what changed; false once
    /// the session task is gone.
    fn poll(&mut self, now: Instant) -> bool {
        if let Some(board) = &self.sim {
            board.tick(now);
            if self.release_at.is_some_and(|at| now >= at) && self.reads_to_release == 0 {
                board.set_pressed(false);
                self.release_at = None;
            }
            self.reads_to_release = self.reads_to_release.saturating_sub(1);
        }
        match self.button.poll(now) {
            Ok(event) => {
                self.logged[0] = None;
                if let Some(event) = event {
                    self.queue(RoomEvent::Button(event));
                }
            }
            Err(e) => self.log(0, e.to_string()),
        }
        let broken = self.button.is_stuck() || self.logged[0].is_some();
        // Noted as told only once queued: otherwise tried again next poll.
        if broken != self.button_fault && self.queue(RoomEvent::Fault(Fault::Button, broken)) {
            self.button_fault = broken;
        }
        let position = match self.shutter.poll(now) {
            Ok(position) => position,
            Err(e) => {
                self.log(1, e.to_string());
                ShutterPosition::Jammed
            }
        };
        if let Err(e) = self.led.tick(now) {
            self.log(2, e.to_string());
        }
        while let Some(input) = self.pending.pop_front() {
            match self.inputs.try_send(input) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(input)) => {
                    self.pending.push_front(input);
                    return true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        if self.told != Some(position) {
            match self.inputs.try_send(RoomEvent::ShutterSensed(position)) {
                Ok(()) => self.told = Some(position),
                Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        true
    }

    /// Keeps `input` for the session; false if too many already wait.
    fn queue(&mut self, input: RoomEvent) -> bool {
        if self.pending.len() < PENDING_LIMIT {
            self.pending.push_back(input);
            true
        } else {
            false
        }
    }

    /// Logs a hardware error once per part until it changes; it names pins
    /// and settings, never anything about a session. Part 0 (the button)
    /// stays logged while its pin cannot be read: that is its fault.
    fn log(&mut self, part: usize, message: String) {
        if self.logged[part].as_deref() != Some(message.as_str()) {
            eprintln!("appliance: room hardware: {message}");
            self.logged[part] = Some(message);
        }
    }

    /// Shutter commanded closed, LED off (at fault after a panic); the
    /// drivers close the shutter again and put the LED out when dropped.
    fn safe_state(&mut self) {
        let now = Instant::now();
        let pattern = if panicked() {
            LedPattern::Fault
        } else {
            LedPattern::Off
        };
        sim_log::record("shutter close");
        let _ = self.shutter.close(now);
        sim_log::record(&format!("led {pattern}"));
        let _ = self.led.set(pattern, now);
    }
}

impl Drop for Hardware {
    /// However the thread ends, its loop left or a panic unwinding it.
    fn drop(&mut self) {
        self.safe_state();
        if panicked() {
            PANIC_HANDLED.store(true, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliance_hardware::sim::SimWrite;

    const TRAVEL: Duration = Duration::from_millis(100);

    fn start(kind: ShutterKind, capacity: usize) -> (RoomIo, mpsc::Receiver<RoomEvent>) {
        let (tx, rx) = mpsc::channel(capacity);
        let io = RoomIo::start(&Backend::Sim { travel: TRAVEL }, kind, tx).unwrap();
        (io, rx)
    }

    /// The next input, waiting at most `limit`.
    fn next(rx: &mut mpsc::Receiver<RoomEvent>, limit: Duration) -> Option<RoomEvent> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(input) = rx.try_recv() {
                return Some(input);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }

    /// Sensed positions until `want`, which must come within `limit`.
    fn sensed_until(
        rx: &mut mpsc::Receiver<RoomEvent>,
        want: ShutterPosition,
        limit: Duration,
    ) -> Vec<ShutterPosition> {
        let mut seen = Vec::new();
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(RoomEvent::ShutterSensed(p)) = next(rx, Duration::from_millis(20)) {
                seen.push(p);
                if p == want {
                    return seen;
                }
            }
        }
        panic!("{want} never sensed; saw {seen:?}");
    }

    #[test]
    fn the_shutter_is_sensed_through_its_driver_and_the_press_is_debounced() {
        let (io, mut rx) = start(ShutterKind::Motorized, 16);
        // Before anything settles it is never claimed open.
        let first = sensed_until(&mut rx, ShutterPosition::Closed, Duration::from_secs(1));
        assert!(!first.contains(&ShutterPosition::Open), "{first:?}");
        assert!(io.send(RoomCommand::Shutter { open: true }));
        let seen = sensed_until(&mut rx, ShutterPosition::Open, Duration::from_secs(1));
        assert_eq!(seen, [ShutterPosition::Opening, ShutterPosition::Open]);
        assert!(io.send(RoomCommand::Press { long: false }));
        let press = next(&mut rx, Duration::from_secs(1));
        assert!(
            matches!(press, Some(RoomEvent::Button(ButtonEvent::Press))),
            "{press:?}"
        );
        // One press, one event.
        assert!(next(&mut rx, Duration::from_millis(200)).is_none());
    }

    #[test]
    fn a_blocked_shutter_reads_jammed_once_its_travel_time_is_up() {
        let (io, mut rx) = start(ShutterKind::Motorized, 16);
        sensed_until(&mut rx, ShutterPosition::Closed, Duration::from_secs(1));
        assert!(io.send(RoomCommand::Jam(true)));
        assert!(io.send(RoomCommand::Shutter { open: true }));
        let seen = sensed_until(&mut rx, ShutterPosition::Jammed, Duration::from_secs(5));
        assert!(!seen.contains(&ShutterPosition::Open), "{seen:?}");
        // Told to close, it never left closed: closed again, at once.
        assert!(io.send(RoomCommand::Shutter { open: false }));
        sensed_until(&mut rx, ShutterPosition::Closed, Duration::from_secs(1));
    }

    #[test]
    fn a_full_channel_delays_the_latest_position_but_never_loses_it() {
        let (io, mut rx) = start(ShutterKind::Motorized, 1);
        sensed_until(&mut rx, ShutterPosition::Closed, Duration::from_secs(1));
        // The session is busy: the channel fills with the first change.
        assert!(io.send(RoomCommand::Shutter { open: true }));
        std::thread::sleep(TRAVEL * 4);
        let mut seen = Vec::new();
        while let Some(RoomEvent::ShutterSensed(p)) = next(&mut rx, Duration::from_millis(100)) {
            seen.push(p);
        }
        assert_eq!(seen.last(), Some(&ShutterPosition::Open), "{seen:?}");
    }

    #[test]
    fn stopping_closes_the_shutter_and_puts_the_led_out() {
        let (mut io, mut rx) = start(ShutterKind::Motorized, 16);
        sensed_until(&mut rx, ShutterPosition::Closed, Duration::from_secs(1));
        let board = io.sim.clone().unwrap();
        assert!(io.send(RoomCommand::Led(LedPattern::Live)));
        assert!(io.send(RoomCommand::Shutter { open: true }));
        sensed_until(&mut rx, ShutterPosition::Open, Duration::from_secs(1));
        assert_eq!(board.led(), (true, false));
        board.take_log();
        io.stop();
        let log = board.take_log();
        assert_eq!(board.led(), (false, false));
        let closed = appliance_hardware::sim::SIM_MAX_DUTY / 20; // 1 ms of 20 ms
        assert!(log.contains(&SimWrite::Servo(closed)), "{log:?}");
        assert!(!io.send(RoomCommand::Led(LedPattern::Live)));
    }

    #[test]
    fn a_manual_shutter_has_no_motor_to_command() {
        let (io, mut rx) = start(ShutterKind::Manual, 16);
        let board = io.sim.clone().unwrap();
        assert!(io.send(RoomCommand::Shutter { open: true }));
        std::thread::sleep(TRAVEL * 2);
        assert!(
            !board
                .take_log()
                .iter()
                .any(|w| matches!(w, SimWrite::Servo(_)))
        );
        // Nothing moved it: it was never sensed open.
        while let Some(input) = next(&mut rx, Duration::from_millis(50)) {
            assert!(
                !matches!(input, RoomEvent::ShutterSensed(ShutterPosition::Open)),
                "{input:?}"
            );
        }
    }
}
