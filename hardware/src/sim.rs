//! Simulated pins for tests, and (once the daemon drives the room through
//! these drivers; today it simulates its shutter itself) for `appliance run
//! --sim`: the room's button, shutter and LED without a Raspberry Pi.
//!
//! A [`SimBoard`] is shared state; its pins implement the embedded-hal traits,
//! so the real drivers run on them unchanged. The board has no clock and no
//! thread: [`SimBoard::tick`] moves the simulated shutter towards where its
//! servo points, at a set travel time, and the sensors follow the shutter.
//! A servo command takes effect from the last tick, so tick every few
//! milliseconds. The daemon (or a test) presses the button, jams or frees the
//! shutter, and reads back what the LED shows and a bounded log of every write.
//!
//! Wiring it simulates: button and sensors at the level `sensor_active` of
//! the [`ShutterSettings`] it is given when pressed or made, the LED lit by a
//! high level, and a servo on a 50 Hz PWM of [`SIM_MAX_DUTY`] steps.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use embedded_hal::digital::{ErrorType as DigitalErrorType, InputPin, OutputPin};
use embedded_hal::pwm::{ErrorType as PwmErrorType, SetDutyCycle};

use crate::ActiveLevel;
use crate::shutter::{SERVO_PERIOD, ShutterSettings};

/// The simulated servo PWM's steps: a 20 ms period in microseconds.
pub const SIM_MAX_DUTY: u16 = 20_000;

/// How many writes the log keeps: enough for a test to read a whole
/// scenario, bounded because the daemon writes the LED for as long as it runs.
pub const LOG_LIMIT: usize = 1_000;

/// One write a driver made to the simulated board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimWrite {
    /// A duty cycle for the shutter's servo (0: not driven).
    Servo(u16),
    /// The LED's red element, lit or not.
    Red(bool),
    /// The LED's green element, lit or not.
    Green(bool),
}

#[derive(Debug)]
struct State {
    settings: ShutterSettings,
    travel_time: Duration,
    pressed: bool,
    jammed: bool,
    /// How far open the shutter is, as travel time from closed (0) to open (`travel_time`).
    travel: Duration,
    /// Where the servo points, the same way; None while it is not driven.
    target: Option<Duration>,
    last_tick: Option<Instant>,
    red: bool,
    green: bool,
    log: VecDeque<SimWrite>,
}

impl State {
    fn record(&mut self, write: SimWrite) {
        if self.log.len() == LOG_LIMIT {
            self.log.pop_front();
        }
        self.log.push_back(write);
    }

    /// Where a duty cycle points the servo, between the two ends it is set up for.
    fn target_of(&self, duty: u16) -> Option<Duration> {
        if duty == 0 {
            return None;
        }
        let pulse = SERVO_PERIOD.as_nanos() * u128::from(duty) / u128::from(SIM_MAX_DUTY);
        let (closed, open) = (
            self.settings.closed_pulse.as_nanos(),
            self.settings.open_pulse.as_nanos(),
        );
        let (lo, hi) = (closed.min(open), closed.max(open));
        let span = hi - lo;
        if span == 0 {
            return Some(Duration::ZERO);
        }
        let from_closed = pulse.clamp(lo, hi).abs_diff(closed);
        let nanos = self.travel_time.as_nanos() * from_closed / span;
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }
}

/// The simulated room: cheap to clone, every clone the same board.
#[derive(Debug, Clone)]
pub struct SimBoard {
    state: Arc<Mutex<State>>,
}

impl SimBoard {
    /// A board whose shutter, starting closed, takes `travel_time` from one
    /// end to the other, driven by a servo set up as in `settings`.
    pub fn new(settings: ShutterSettings, travel_time: Duration) -> Self {
        let state = State {
            settings,
            travel_time,
            pressed: false,
            jammed: false,
            travel: Duration::ZERO,
            target: None,
            last_tick: None,
            red: false,
            green: false,
            log: VecDeque::new(),
        };
        SimBoard {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code holding the lock can panic, and the state stays consistent
        // field by field, so a poisoned lock is still good to use.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The button's pin.
    pub fn button(&self) -> SimInput {
        self.input(SimLine::Button)
    }

    /// The shutter's open sensor.
    pub fn open_sensor(&self) -> SimInput {
        self.input(SimLine::OpenSensor)
    }

    /// The shutter's closed sensor.
    pub fn closed_sensor(&self) -> SimInput {
        self.input(SimLine::ClosedSensor)
    }

    fn input(&self, which: SimLine) -> SimInput {
        SimInput {
            board: self.clone(),
            which,
        }
    }

    /// The servo's PWM channel.
    pub fn servo(&self) -> SimServo {
        SimServo {
            board: self.clone(),
        }
    }

    /// The LED's red element.
    pub fn led_red(&self) -> SimOutput {
        SimOutput {
            board: self.clone(),
            red: true,
        }
    }

    /// The LED's green element.
    pub fn led_green(&self) -> SimOutput {
        SimOutput {
            board: self.clone(),
            red: false,
        }
    }

    /// Holds the button down, or lets it go (`appliance press`).
    pub fn set_pressed(&self, pressed: bool) {
        self.lock().pressed = pressed;
    }

    /// Blocks the shutter where it is, or frees it (`appliance sim shutter jam|free`).
    pub fn set_jammed(&self, jammed: bool) {
        self.lock().jammed = jammed;
    }

    /// Moves the shutter for the time since the last tick.
    pub fn tick(&self, now: Instant) {
        let mut s = self.lock();
        let elapsed = s
            .last_tick
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        s.last_tick = Some(now);
        let (Some(target), false) = (s.target, s.jammed) else {
            return;
        };
        s.travel = if s.travel < target {
            (s.travel + elapsed).min(target)
        } else {
            s.travel.saturating_sub(elapsed).max(target)
        };
    }

    /// What the LED shows: (red lit, green lit).
    pub fn led(&self) -> (bool, bool) {
        let s = self.lock();
        (s.red, s.green)
    }

    /// The writes since the last call, oldest first (at most [`LOG_LIMIT`]).
    pub fn take_log(&self) -> Vec<SimWrite> {
        self.lock().log.drain(..).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SimLine {
    Button,
    OpenSensor,
    ClosedSensor,
}

/// A simulated input: the button or one of the shutter's sensors.
#[derive(Debug, Clone)]
pub struct SimInput {
    board: SimBoard,
    which: SimLine,
}

impl DigitalErrorType for SimInput {
    type Error = Infallible;
}

impl InputPin for SimInput {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        let s = self.board.lock();
        let active = match self.which {
            SimLine::Button => s.pressed,
            SimLine::OpenSensor => s.travel == s.travel_time,
            SimLine::ClosedSensor => s.travel == Duration::ZERO,
        };
        Ok(active == (s.settings.sensor_active == ActiveLevel::High))
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        self.is_high().map(|high| !high)
    }
}

/// A simulated LED element.
#[derive(Debug, Clone)]
pub struct SimOutput {
    board: SimBoard,
    red: bool,
}

impl SimOutput {
    fn write(&mut self, lit: bool) {
        let mut s = self.board.lock();
        if self.red {
            s.red = lit;
            s.record(SimWrite::Red(lit));
        } else {
            s.green = lit;
            s.record(SimWrite::Green(lit));
        }
    }
}

impl DigitalErrorType for SimOutput {
    type Error = Infallible;
}

impl OutputPin for SimOutput {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.write(false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.write(true);
        Ok(())
    }
}

/// The simulated servo's PWM channel.
#[derive(Debug, Clone)]
pub struct SimServo {
    board: SimBoard,
}

impl PwmErrorType for SimServo {
    type Error = Infallible;
}

impl SetDutyCycle for SimServo {
    fn max_duty_cycle(&self) -> u16 {
        SIM_MAX_DUTY
    }

    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        let mut s = self.board.lock();
        s.target = s.target_of(duty);
        s.record(SimWrite::Servo(duty));
        Ok(())
    }
}

// The tests have their own file, as the shutter's do: sim/tests.rs.
#[cfg(test)]
mod tests;
