//! The camera's privacy shutter: commanded open or closed, sensed by two switches.
//!
//! The daemon calls [`Shutter::open`] and [`Shutter::close`] when the session
//! says so, and [`Shutter::poll`] every few milliseconds; the position it
//! returns is what gates the camera (no frame leaves unless it is sensed
//! open). Guarantees:
//! - the sensors are the truth, never the command: [`ShutterPosition::Open`]
//!   only while the open sensor has been made for [`SETTLE`] and the closed
//!   sensor is not; one sample of the open sensor released ends `Open` at once;
//! - both sensors made, a shutter that does not reach its commanded sensor in
//!   time, or a sensor that cannot be read give [`ShutterPosition::Jammed`],
//!   which stays until [`Shutter::close`]; a jammed motorized shutter stops
//!   driving its servo, and refuses to open;
//! - a motorized shutter drives its servo closed when created and when
//!   dropped, and back to where it was told when pushed off its sensor.
//!
//! A manual shutter has no motor: its commands only record what the TV asks
//! the therapist to do, and it has no travel timeout, since a person may take
//! their time (the session decides how long to wait).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use embedded_hal::digital::InputPin;
use embedded_hal::pwm::{ErrorType, SetDutyCycle};

use crate::{ActiveLevel, ShutterPosition, detail};

/// How long a sensor must read made before it counts. Long enough that a
/// bouncing reed or micro switch, or the shutter passing over the sensor's
/// edge, is not taken for a position; short next to the servo's travel.
pub const SETTLE: Duration = Duration::from_millis(20);

/// The period of a hobby servo's control signal: the PWM must run at 50 Hz.
pub const SERVO_PERIOD: Duration = Duration::from_millis(20);

/// What the shutter was last told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutterCommand {
    /// Uncover the camera.
    Open,
    /// Cover the camera: the safe state.
    Close,
}

/// How the shutter moves (setting `shutter.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutterKind {
    /// A servo moves it; it closes itself at the end of every session and on a fault.
    Motorized,
    /// The therapist moves it by hand; only its sensors are wired.
    Manual,
}

impl ShutterKind {
    /// The word the setting `shutter.kind` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutterKind::Motorized => "motorized",
            ShutterKind::Manual => "manual",
        }
    }
}

/// How the shutter is wired and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutterSettings {
    /// The level a sensor reads when made (`Low` for a switch to ground with a pull-up).
    pub sensor_active: ActiveLevel,
    /// A motorized shutter that has not reached its sensor this long after a
    /// command (or after being pushed off it) is jammed.
    pub travel_timeout: Duration,
    /// The servo pulse that holds the shutter closed.
    pub closed_pulse: Duration,
    /// The servo pulse that holds the shutter open.
    pub open_pulse: Duration,
}

impl Default for ShutterSettings {
    /// Active-low sensors; a hobby servo's two ends (1 ms and 2 ms pulses),
    /// which take well under a second to travel, so 3 s means something is in the way.
    fn default() -> Self {
        ShutterSettings {
            sensor_active: ActiveLevel::Low,
            travel_timeout: Duration::from_secs(3),
            closed_pulse: Duration::from_micros(1000),
            open_pulse: Duration::from_micros(2000),
        }
    }
}

/// What went wrong with the shutter.
#[derive(Debug, thiserror::Error)]
pub enum ShutterError {
    /// The open sensor's GPIO could not be read; the shutter now reads jammed.
    #[error(
        "could not read the shutter's open sensor (setting hardware.pins.shutter_open_sensor): \
         {detail}; check the pin number and that no other program uses that GPIO"
    )]
    OpenSensor {
        /// What the GPIO backend reported.
        detail: String,
    },
    /// The closed sensor's GPIO could not be read; the shutter now reads jammed.
    #[error(
        "could not read the shutter's closed sensor (setting hardware.pins.shutter_closed_sensor): \
         {detail}; check the pin number and that no other program uses that GPIO"
    )]
    ClosedSensor {
        /// What the GPIO backend reported.
        detail: String,
    },
    /// The servo's PWM (its hardware channel, or its GPIO line for pulses
    /// timed in software) refused a duty cycle.
    #[error(
        "could not drive the shutter's servo (setting hardware.pins.shutter_servo): {detail}; \
         check that the pin is the servo's (12, 13, 18 or 19) and that no other program drives it"
    )]
    Servo {
        /// What the PWM backend reported.
        detail: String,
    },
    /// The servo's settings cannot position it.
    #[error("the shutter's servo cannot be set up: {0}")]
    ServoSetup(String),
    /// Asked to open while jammed.
    #[error(
        "the shutter is jammed (it did not reach its sensor in time, or both sensors read made): \
         it will not open until it has been closed; check that nothing blocks it and that \
         the sensors are on the pins set in hardware.pins.shutter_*_sensor"
    )]
    Jammed,
}

/// A servo on a 50 Hz PWM channel, with the duty cycles of its two ends.
#[derive(Debug)]
struct Servo<M> {
    pwm: M,
    closed_duty: u16,
    open_duty: u16,
}

impl<M: SetDutyCycle> Servo<M> {
    fn new(pwm: M, settings: &ShutterSettings) -> Result<Self, ShutterError> {
        // Hobby servos take 0.5 to 2.5 ms; outside that they strain against their stops.
        let range = Duration::from_micros(500)..=Duration::from_micros(2500);
        for (name, pulse) in [
            ("closed", settings.closed_pulse),
            ("open", settings.open_pulse),
        ] {
            if !range.contains(&pulse) {
                return Err(ShutterError::ServoSetup(format!(
                    "the {name} pulse is {} µs; servos take 500 to 2500 µs",
                    pulse.as_micros()
                )));
            }
        }
        let max = u128::from(pwm.max_duty_cycle());
        let duty = |pulse: Duration| {
            let d = max * pulse.as_nanos() / SERVO_PERIOD.as_nanos();
            // Cannot fail: the pulse is shorter than the period, so d <= max.
            u16::try_from(d).unwrap_or(u16::MAX)
        };
        let (closed_duty, open_duty) = (duty(settings.closed_pulse), duty(settings.open_pulse));
        if closed_duty == open_duty {
            return Err(ShutterError::ServoSetup(format!(
                "its PWM has only {max} steps, too few to tell open from closed; \
                 run the PWM channel at 50 Hz with a finer duty cycle"
            )));
        }
        Ok(Servo {
            pwm,
            closed_duty,
            open_duty,
        })
    }

    fn set(&mut self, duty: u16) -> Result<(), ShutterError> {
        self.pwm
            .set_duty_cycle(duty)
            .map_err(|e| ShutterError::Servo { detail: detail(&e) })
    }
}

/// A stand-in servo type for a manual shutter, which has none.
#[derive(Debug)]
pub enum NoServo {}

impl ErrorType for NoServo {
    type Error = Infallible;
}

impl SetDutyCycle for NoServo {
    fn max_duty_cycle(&self) -> u16 {
        match *self {}
    }

    fn set_duty_cycle(&mut self, _duty: u16) -> Result<(), Infallible> {
        match *self {}
    }
}

/// One position sensor: made only after reading made for [`SETTLE`], released
/// at the first sample that reads released. The asymmetry is deliberate: being
/// wrong about "open" leaks video, being wrong about "not open" only darkens it.
#[derive(Debug)]
struct Sensor<S> {
    pin: S,
    made_since: Option<Instant>,
}

impl<S: InputPin> Sensor<S> {
    fn read(&mut self, active: ActiveLevel, now: Instant) -> Result<bool, S::Error> {
        let raw = active.is_active(&mut self.pin).inspect_err(|_| {
            self.made_since = None;
        })?;
        if !raw {
            self.made_since = None;
            return Ok(false);
        }
        let since = *self.made_since.get_or_insert(now);
        Ok(now.saturating_duration_since(since) >= SETTLE)
    }
}

/// The privacy shutter: two sensors and, if motorized, a servo.
#[derive(Debug)]
pub struct Shutter<S: InputPin, M: SetDutyCycle = NoServo> {
    open_sensor: Sensor<S>,
    closed_sensor: Sensor<S>,
    servo: Option<Servo<M>>,
    settings: ShutterSettings,
    command: ShutterCommand,
    /// When it last set off towards the commanded sensor; None once there.
    travel_since: Option<Instant>,
    jammed: bool,
    position: ShutterPosition,
    /// The settled sensor readings of the last poll: (open made, closed made).
    sensors: (bool, bool),
}

impl<S: InputPin> Shutter<S, NoServo> {
    /// A manual shutter: sensors only. It starts asking to be closed.
    pub fn manual(open_sensor: S, closed_sensor: S, settings: ShutterSettings) -> Self {
        Shutter::build(open_sensor, closed_sensor, None, settings)
    }
}

impl<S: InputPin, M: SetDutyCycle> Shutter<S, M> {
    /// A motorized shutter with its servo on `pwm`, which the backend must run
    /// at 50 Hz. It drives the servo closed at once: the box starts idle.
    pub fn motorized(
        open_sensor: S,
        closed_sensor: S,
        pwm: M,
        settings: ShutterSettings,
        now: Instant,
    ) -> Result<Self, ShutterError> {
        let servo = Servo::new(pwm, &settings)?;
        let mut shutter = Shutter::build(open_sensor, closed_sensor, Some(servo), settings);
        shutter.close(now)?;
        Ok(shutter)
    }

    /// Motorized with a servo, manual without: the one construction for a
    /// board whose shutter's kind is known only when it runs.
    pub fn new(
        open_sensor: S,
        closed_sensor: S,
        servo: Option<M>,
        settings: ShutterSettings,
        now: Instant,
    ) -> Result<Self, ShutterError> {
        match servo {
            Some(pwm) => Shutter::motorized(open_sensor, closed_sensor, pwm, settings, now),
            None => Ok(Shutter::build(open_sensor, closed_sensor, None, settings)),
        }
    }

    fn build(open: S, closed: S, servo: Option<Servo<M>>, settings: ShutterSettings) -> Self {
        Shutter {
            open_sensor: Sensor {
                pin: open,
                made_since: None,
            },
            closed_sensor: Sensor {
                pin: closed,
                made_since: None,
            },
            servo,
            settings,
            command: ShutterCommand::Close,
            travel_since: None,
            jammed: false,
            // Until the sensors have settled nothing is known, and closing is
            // what it was told: never claim open before the sensor says so.
            position: ShutterPosition::Closing,
            sensors: (false, false),
        }
    }

    /// Motorized or manual.
    pub fn kind(&self) -> ShutterKind {
        if self.servo.is_some() {
            ShutterKind::Motorized
        } else {
            ShutterKind::Manual
        }
    }

    /// What it was last told to do; for a manual shutter, what the TV asks of the therapist.
    pub fn command(&self) -> ShutterCommand {
        self.command
    }

    /// The position as of the last poll.
    pub fn position(&self) -> ShutterPosition {
        self.position
    }

    /// Sets off towards open. Refused while jammed: only [`Shutter::close`] clears a jam.
    pub fn open(&mut self, now: Instant) -> Result<(), ShutterError> {
        if self.jammed {
            return Err(ShutterError::Jammed);
        }
        self.command = ShutterCommand::Open;
        self.travel_since = Some(now);
        self.drive(|servo| servo.open_duty)
    }

    /// Sets off towards closed; also the way out of a jam.
    pub fn close(&mut self, now: Instant) -> Result<(), ShutterError> {
        self.command = ShutterCommand::Close;
        self.travel_since = Some(now);
        self.jammed = false;
        self.drive(|servo| servo.closed_duty)
    }

    /// Sends the servo (if any) to one end. A servo that cannot be driven
    /// leaves the shutter wherever it is: that is a jam.
    fn drive(&mut self, duty: fn(&Servo<M>) -> u16) -> Result<(), ShutterError> {
        let Some(servo) = &mut self.servo else {
            return Ok(());
        };
        let result = servo.set(duty(servo));
        if result.is_err() {
            self.jammed = true;
            self.position = ShutterPosition::Jammed;
        }
        result
    }

    /// Reads both sensors once and returns the position they give.
    ///
    /// On an error the position is already [`ShutterPosition::Jammed`]: the
    /// error says why, for the log.
    pub fn poll(&mut self, now: Instant) -> Result<ShutterPosition, ShutterError> {
        let active = self.settings.sensor_active;
        let sensors = match self.open_sensor.read(active, now) {
            Err(e) => Err(ShutterError::OpenSensor { detail: detail(&e) }),
            Ok(open) => match self.closed_sensor.read(active, now) {
                Err(e) => Err(ShutterError::ClosedSensor { detail: detail(&e) }),
                Ok(closed) => Ok((open, closed)),
            },
        };
        let (open, closed) = match sensors {
            Ok(sensors) => {
                self.sensors = sensors;
                sensors
            }
            Err(e) => {
                self.sensors = (false, false);
                // The sensor's error is the one IT must see first; a servo
                // that also fails to stop will show up on the next close.
                let _ = self.jam();
                return Err(e);
            }
        };
        if self.jammed {
            return Ok(self.position);
        }
        let at_target = match self.command {
            ShutterCommand::Open => open && !closed,
            ShutterCommand::Close => closed && !open,
        };
        if at_target {
            self.travel_since = None;
        } else {
            if self.travel_since.is_none() {
                // Pushed off its sensor: the clock starts again from here,
                // and the servo is told again where to go, since one whose
                // pulses have stopped (timed in software, they stop a while
                // after each command) no longer holds its place.
                self.drive(match self.command {
                    ShutterCommand::Open => |servo: &Servo<M>| servo.open_duty,
                    ShutterCommand::Close => |servo: &Servo<M>| servo.closed_duty,
                })?;
            }
            let since = *self.travel_since.get_or_insert(now);
            let late = now.saturating_duration_since(since) >= self.settings.travel_timeout;
            if (open && closed) || (late && self.servo.is_some()) {
                self.jam()?;
                return Ok(self.position);
            }
        }
        self.position = match (open, closed, self.command) {
            (true, _, _) => ShutterPosition::Open,
            (false, true, _) => ShutterPosition::Closed,
            (false, false, ShutterCommand::Open) => ShutterPosition::Opening,
            (false, false, ShutterCommand::Close) => ShutterPosition::Closing,
        };
        Ok(self.position)
    }

    /// What the sensors read at the last poll, settled, whatever the
    /// position: (open sensor made, closed sensor made). For the wiring check.
    pub fn sensors(&self) -> (bool, bool) {
        self.sensors
    }

    /// True once jammed, until the next [`Shutter::close`].
    pub fn is_jammed(&self) -> bool {
        self.jammed
    }

    /// Latches the jam and lets go of the servo: pushing against whatever
    /// blocks it would strain the motor, and the shutter may be half open.
    fn jam(&mut self) -> Result<(), ShutterError> {
        self.jammed = true;
        self.position = ShutterPosition::Jammed;
        match &mut self.servo {
            Some(servo) => servo.set(0),
            None => Ok(()),
        }
    }
}

impl<S: InputPin, M: SetDutyCycle> Drop for Shutter<S, M> {
    /// Drives a motorized shutter closed, the safe state, even when jammed: it
    /// is the last chance to cover the camera.
    fn drop(&mut self) {
        if let Some(servo) = &mut self.servo {
            let duty = servo.closed_duty;
            // Nobody is left to tell; the daemon's shutdown path logs its own close.
            let _ = servo.set(duty);
        }
    }
}

// The tests are long enough to have their own file: shutter/tests.rs.
#[cfg(test)]
mod tests;
