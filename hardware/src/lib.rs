//! appliance-hardware: the parts of the room the therapist touches and sees.
//!
//! This crate holds the room's vocabulary, shared by the session state machine,
//! `status` and the drivers: where the shutter is and what the LED shows. The
//! drivers ([`button`], [`shutter`], [`led`]) are pure logic generic over the
//! embedded-hal 1.0 traits, so a backend (the Pi's GPIO chip and PWM on the box, simulated pins in
//! tests and `--sim`) only has to hand them pins. They never block, never spawn,
//! never read a clock: the caller passes the time in, so tests control it. They
//! never panic on a pin error: they return it, or report a fault, and they put
//! their outputs in a safe state when dropped. [`sim`] is the simulated board;
//! `rpi` (cargo feature `rpi`) opens a Raspberry Pi's pins, mapped by [`pins`],
//! its GPIO lines through [`gpio_chip`].
//! [`board`] gives any board's pins one type each, for the daemon.
//! [`cec`] wakes the TV over HDMI-CEC (the kernel device with feature `cec`);
//! [`hw_test`] is the wiring check's list of steps.

use std::fmt;

use embedded_hal::digital::InputPin;

pub mod board;
pub mod button;
pub mod cec;
pub mod gpio_chip;
pub mod hw_test;
pub mod led;
pub mod pins;
#[cfg(feature = "rpi")]
pub mod rpi;
mod rpi_error;
pub mod shutter;
pub mod sim;
pub mod soft_servo;

pub use board::{AnyInput, AnyOutput, AnyServo, BoardPins, PinFault};
pub use button::{Button, ButtonError, ButtonEvent};
pub use led::{Led, LedError};
pub use pins::{PinError, PinMap};
pub use rpi_error::RpiError;
pub use shutter::{NoServo, Shutter, ShutterCommand, ShutterError, ShutterKind, ShutterSettings};

/// Which level of a pin means "on": pressed, sensor made, LED lit.
///
/// A switch to ground with the Pi's internal pull-up (the usual wiring of the
/// button and the shutter's sensors) is active-low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActiveLevel {
    /// Low means on: a switch to ground with a pull-up.
    Low,
    /// High means on: a switch to 3.3 V with a pull-down, or an LED from the pin to ground.
    High,
}

impl ActiveLevel {
    /// Reads `pin` and says whether it is at the active level.
    pub(crate) fn is_active<P: InputPin>(self, pin: &mut P) -> Result<bool, P::Error> {
        match self {
            ActiveLevel::Low => pin.is_low(),
            ActiveLevel::High => pin.is_high(),
        }
    }
}

/// What a backend's error says, kept as text so our errors need no type
/// parameter and can cross threads and be logged as they are.
pub(crate) fn detail<E: fmt::Debug>(error: &E) -> String {
    format!("{error:?}")
}

/// Where the privacy shutter is, as its position sensors report it. The
/// sensors are the truth, never the command sent to the motor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum ShutterPosition {
    /// The closed sensor is made: the camera sees nothing.
    Closed,
    /// Commanded open, the open sensor not made yet.
    Opening,
    /// The open sensor is made.
    Open,
    /// Commanded closed, the closed sensor not made yet.
    Closing,
    /// It did not reach a sensor in time, or both sensors are made at once.
    Jammed,
}

impl ShutterPosition {
    /// Only a shutter sensed open lets camera frames leave the box.
    pub fn is_sensed_open(self) -> bool {
        self == ShutterPosition::Open
    }
}

/// What the LED shows. Derived from the same state that gates the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum LedPattern {
    /// No session.
    Off,
    /// Slow amber: a patient is waiting, or the session is opening or paused.
    Waiting,
    /// Solid red: camera frames are leaving the box.
    Live,
    /// Fast red blink: something is wrong.
    Fault,
}

impl ShutterPosition {
    /// The word `status` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutterPosition::Closed => "closed",
            ShutterPosition::Opening => "opening",
            ShutterPosition::Open => "open",
            ShutterPosition::Closing => "closing",
            ShutterPosition::Jammed => "jammed",
        }
    }
}

impl LedPattern {
    /// The word `status` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            LedPattern::Off => "off",
            LedPattern::Waiting => "waiting",
            LedPattern::Live => "live",
            LedPattern::Fault => "fault",
        }
    }
}

impl fmt::Display for ShutterPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for LedPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_open_is_sensed_open() {
        use ShutterPosition::*;
        for p in [Closed, Opening, Closing, Jammed] {
            assert!(!p.is_sensed_open(), "{p}");
        }
        assert!(Open.is_sensed_open());
    }

    #[test]
    fn status_words_match_the_design() {
        use ShutterPosition::*;
        let words: Vec<_> = [Closed, Opening, Open, Closing, Jammed]
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(words, ["closed", "opening", "open", "closing", "jammed"]);
        let leds: Vec<_> = [
            LedPattern::Off,
            LedPattern::Waiting,
            LedPattern::Live,
            LedPattern::Fault,
        ]
        .iter()
        .map(|l| l.to_string())
        .collect();
        assert_eq!(leds, ["off", "waiting", "live", "fault"]);
    }
}
