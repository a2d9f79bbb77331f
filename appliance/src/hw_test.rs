//! `appliance hw-test`: walks the person at the box through the wiring check
//! of `appliance_hardware::hw_test`, on the same drivers and backend as the
//! daemon. The button and the sensors are read through the drivers; what only
//! eyes can check (the LED) is asked, and answered on standard input.
//!
//! With `--sim` the room is the simulated board, and standard input also
//! plays the person's hands: at a button step a line says what they do
//! (`press`, `hold`, or `none`), so tests can drive every step.

use std::io::{BufRead, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use appliance_hardware::hw_test::{Seen, Step, steps};
use appliance_hardware::{AnyOutput, ButtonEvent, Led, LedPattern, PinMap, ShutterCommand};

use crate::drivers::{self, Backend, Drivers};
use crate::room_io::POLL;
use crate::session::ShutterKind;

/// How long a person gets to press or hold the button.
const BUTTON_WAIT: Duration = Duration::from_secs(15);
/// How long a manual shutter may take to be moved by hand.
const HAND_WAIT: Duration = Duration::from_secs(20);
/// How long a motorized shutter may take: past the driver's travel timeout.
const MOTOR_WAIT: Duration = Duration::from_secs(4);
/// How long the simulated person holds the button for `press` and `hold`.
const SIM_PRESS: Duration = Duration::from_millis(80);
const SIM_HOLD: Duration = Duration::from_millis(2_200);

/// Runs every step; Ok with the number of failed steps.
pub fn run(
    backend: &Backend,
    kind: ShutterKind,
    map: PinMap,
    input: Box<dyn BufRead + Send>,
    output: &mut dyn Write,
) -> anyhow::Result<usize> {
    // Lines are read on their own thread, so the LED keeps blinking while
    // the person looks at it; the thread ends with the input.
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("hw-test-input".into())
        .spawn(move || {
            for line in input.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })?;
    let drivers = drivers::open(backend, kind)?;
    Walk {
        kind,
        map,
        lines,
        output,
    }
    .all_steps(drivers)
}

struct Walk<'a> {
    kind: ShutterKind,
    map: PinMap,
    lines: Receiver<String>,
    output: &'a mut dyn Write,
}

impl Walk<'_> {
    /// Walks through every step; the number of failed steps.
    fn all_steps(mut self, mut d: Drivers) -> anyhow::Result<usize> {
        let kind = self.kind;
        // The button counts a press only once it has been seen released, and
        // the sensors only once settled: read both for a moment first.
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_millis(100) {
            let now = Instant::now();
            d.button.poll(now)?;
            let _ = d.shutter.poll(now);
            std::thread::sleep(POLL);
        }
        let all = steps();
        let mut failed = 0;
        for (n, step) in all.iter().copied().enumerate() {
            writeln!(
                self.output,
                "step {} of {}: {}",
                n + 1,
                all.len(),
                step.prompt(kind)
            )?;
            self.output.flush()?;
            let now = Instant::now();
            if let Err(e) = d.led.set(step.led(), now) {
                writeln!(self.output, "  (the LED: {e})")?;
            }
            let seen = match step {
                Step::PressButton | Step::HoldButton => self.button(&mut d)?,
                Step::ShutterClosed | Step::ShutterOpen => self.shutter(&mut d, step, kind)?,
                _ => self.answer(&mut d)?,
            };
            match step.judge(seen, &self.map, kind) {
                Ok(()) => writeln!(self.output, "  ok")?,
                Err(what) => {
                    failed += 1;
                    writeln!(self.output, "  FAILED: {what}")?;
                }
            }
        }
        // The safe state, whatever happened: closed and dark.
        let now = Instant::now();
        let _ = d.shutter.close(now);
        let _ = d.led.set(LedPattern::Off, now);
        if failed == 0 {
            writeln!(self.output, "all {} steps passed", all.len())?;
        } else {
            writeln!(self.output, "{failed} of {} steps failed", all.len())?;
        }
        Ok(failed)
    }

    /// Waits for the button driver's event; in simulation, first reads what
    /// the simulated person does.
    fn button(&mut self, d: &mut Drivers) -> anyhow::Result<Seen> {
        let mut release = None;
        if let Some(board) = &d.sim {
            let hold = match self.line(&mut d.led)?.as_str() {
                "hold" => Some(SIM_HOLD),
                "none" => None,
                _ => Some(SIM_PRESS),
            };
            if let Some(hold) = hold {
                board.set_pressed(true);
                release = Some(Instant::now() + hold);
            }
        }
        let start = Instant::now();
        let mut event = None;
        while start.elapsed() < BUTTON_WAIT {
            let now = Instant::now();
            if let (Some(board), Some(at)) = (&d.sim, release)
                && now >= at
            {
                board.set_pressed(false);
                release = None;
            }
            d.led.tick(now)?;
            match d.button.poll(now) {
                Ok(Some(e)) => {
                    event = Some(e);
                    // A press that became a long press is reported at 2 s:
                    // wait for the release so the next step starts clean.
                    if e == ButtonEvent::LongPress || !d.button.is_pressed() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    writeln!(self.output, "  {e}")?;
                    break;
                }
            }
            std::thread::sleep(POLL);
        }
        if let Some(board) = &d.sim {
            board.set_pressed(false);
        }
        // Let go before the next step, within the same wait.
        while d.button.is_pressed() && start.elapsed() < BUTTON_WAIT * 2 {
            let _ = d.button.poll(Instant::now());
            std::thread::sleep(POLL);
        }
        Ok(Seen::Button(event))
    }

    /// Moves a motorized shutter, or waits for hands on a manual one, until
    /// the sensors read what the step expects or the wait is over.
    fn shutter(
        &mut self,
        d: &mut Drivers,
        step: Step,
        kind: appliance_hardware::ShutterKind,
    ) -> anyhow::Result<Seen> {
        let start = Instant::now();
        let result = match step.shutter_command(kind) {
            Some(ShutterCommand::Open) => d.shutter.open(start),
            Some(ShutterCommand::Close) => d.shutter.close(start),
            None => Ok(()),
        };
        if let Err(e) = result {
            writeln!(self.output, "  {e}")?;
        }
        let want = step == Step::ShutterOpen;
        let wait = if d.shutter.kind() == appliance_hardware::ShutterKind::Manual {
            HAND_WAIT
        } else {
            MOTOR_WAIT
        };
        let mut sensors = (false, false);
        while start.elapsed() < wait {
            let now = Instant::now();
            if let Some(board) = &d.sim {
                board.tick(now);
            }
            d.led.tick(now)?;
            if let Err(e) = d.shutter.poll(now) {
                writeln!(self.output, "  {e}")?;
                break;
            }
            sensors = d.shutter.sensors();
            if sensors == (want, !want) {
                break;
            }
            std::thread::sleep(POLL);
        }
        Ok(Seen::Sensors {
            open: sensors.0,
            closed: sensors.1,
        })
    }

    /// Asks yes or no, keeping the LED's pattern going while the person looks.
    fn answer(&mut self, d: &mut Drivers) -> anyhow::Result<Seen> {
        write!(self.output, "  [y/n] ")?;
        self.output.flush()?;
        let line = self.line(&mut d.led)?;
        writeln!(self.output)?;
        Ok(Seen::Answer(matches!(
            line.to_ascii_lowercase().as_str(),
            "y" | "yes"
        )))
    }

    /// One line of standard input, trimmed, with the LED's pattern kept
    /// going meanwhile; the end of input is an error rather than a silent "no".
    fn line(&mut self, led: &mut Led<AnyOutput>) -> anyhow::Result<String> {
        loop {
            match self.lines.recv_timeout(POLL) {
                Ok(line) => return Ok(line.trim().to_owned()),
                Err(RecvTimeoutError::Timeout) => led.tick(Instant::now())?,
                Err(RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("standard input ended before the wiring check did")
                }
            }
        }
    }
}
