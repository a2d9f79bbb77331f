//! The Raspberry Pi backend (cargo feature `rpi`): opens the room's GPIO
//! lines on the Pi's GPIO chip and the servo's hardware PWM channel for the
//! configured pins and hands back embedded-hal pins for the drivers in this
//! crate.
//!
//! Called once by the daemon when `hardware.backend = "rppal"`. It holds no
//! logic of its own beyond opening things: the pin checks, the PWM channel
//! and `config.txt` line, and the duty-to-pulse arithmetic are in [`crate::pins`],
//! the GPIO lines in [`crate::gpio_chip`] (the kernel's GPIO character device),
//! and every error is an [`RpiError`] that says what to fix. Guarantees: the
//! inputs have their pull-ups on, the LED outputs start low (off, as wired in
//! hardware/README.md), and the servo's PWM runs at 50 Hz with no pulse until a
//! driver sets one, and keeps its last pulse when dropped (see [`RpiServo`]).

use std::time::Duration;

use embedded_hal::pwm::{ErrorKind, ErrorType, SetDutyCycle};
use rppal::pwm::{self, Channel, Polarity, Pwm};
use rppal::system::{DeviceInfo, SoC};

pub use crate::rpi_error::RpiError;

use crate::ShutterKind;
use crate::gpio_chip::{LineIn, LineOut, find_raspberry_pi_chip};
use crate::pins::{
    PinError, PinMap, PwmLayout, SERVO_STEPS, pulse_width, pwm_channel, pwm_overlay,
};
use crate::shutter::SERVO_PERIOD;

/// The room's pins on a Raspberry Pi, ready for [`crate::Button`],
/// [`crate::Shutter`] and [`crate::Led`].
#[derive(Debug)]
pub struct RpiPins {
    /// The button, pulled up: low when pressed.
    pub button: LineIn,
    /// The shutter's open sensor, pulled up: low when made.
    pub open_sensor: LineIn,
    /// The shutter's closed sensor, pulled up: low when made.
    pub closed_sensor: LineIn,
    /// The servo's PWM channel; None for a manual shutter.
    pub servo: Option<RpiServo>,
    /// The LED's red element, high to light.
    pub led_red: LineOut,
    /// The LED's green element, high to light.
    pub led_green: LineOut,
}

/// Opens the pins of `map` that a shutter of `kind` uses.
pub fn open(map: &PinMap, kind: ShutterKind) -> Result<RpiPins, RpiError> {
    map.check(kind)?;
    let chip = find_raspberry_pi_chip()?;
    let input = |setting: &'static str, n: u8| LineIn::open(&chip, setting, n);
    let output = |setting: &'static str, n: u8| LineOut::open(&chip, setting, n);
    let servo = match kind {
        ShutterKind::Motorized => Some(RpiServo::open(map.shutter_servo)?),
        ShutterKind::Manual => None,
    };
    Ok(RpiPins {
        button: input("hardware.pins.button", map.button)?,
        open_sensor: input("hardware.pins.shutter_open_sensor", map.shutter_open_sensor)?,
        closed_sensor: input(
            "hardware.pins.shutter_closed_sensor",
            map.shutter_closed_sensor,
        )?,
        servo,
        led_red: output("hardware.pins.led_red", map.led_red)?,
        led_green: output("hardware.pins.led_green", map.led_green)?,
    })
}

/// The servo's hardware PWM channel at 50 Hz, as an embedded-hal PWM.
///
/// rppal's channel speaks in fractions and periods, not embedded-hal's integer
/// duty; this gives it [`SERVO_STEPS`] steps of one microsecond each. When
/// dropped it keeps sending its last pulse: the shutter's driver sends
/// "closed" as it is dropped, and a servo needs that pulse for longer than
/// the process has left to live, so stopping the PWM then would leave the
/// shutter wherever it was.
#[derive(Debug)]
pub struct RpiServo {
    pwm: Pwm,
}

impl RpiServo {
    fn open(gpio: u8) -> Result<Self, RpiError> {
        let info = DeviceInfo::new().map_err(|e| RpiError::NotARaspberryPi {
            detail: e.to_string(),
        })?;
        // The BCM2712 (Pi 5, 500, CM5) is the one with the RP1's four channels.
        let layout = if info.soc() == SoC::Bcm2712 {
            PwmLayout::FourChannels
        } else {
            PwmLayout::TwoChannels
        };
        let index = pwm_channel(layout, gpio).ok_or(PinError::NoPwm { gpio })?;
        let missing = || RpiError::PwmMissing {
            gpio,
            channel: index,
            overlay: pwm_overlay(gpio).unwrap_or_default(),
        };
        let channel = Channel::try_from(index).map_err(|_| missing())?;
        let mut pwm = Pwm::with_period(
            channel,
            SERVO_PERIOD,
            Duration::ZERO,
            Polarity::Normal,
            true,
        )
        .map_err(|e| match e {
            pwm::Error::UnknownModel => RpiError::NotARaspberryPi {
                detail: e.to_string(),
            },
            pwm::Error::InvalidChannel => missing(),
            pwm::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::NotFound => missing(),
                std::io::ErrorKind::PermissionDenied => RpiError::PwmPermission {
                    detail: io.to_string(),
                },
                _ => RpiError::Pwm {
                    gpio,
                    detail: io.to_string(),
                },
            },
        })?;
        pwm.set_reset_on_drop(false);
        Ok(RpiServo { pwm })
    }
}

/// A PWM write that failed, with rppal's words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServoError(String);

impl embedded_hal::pwm::Error for ServoError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

impl ErrorType for RpiServo {
    type Error = ServoError;
}

impl SetDutyCycle for RpiServo {
    fn max_duty_cycle(&self) -> u16 {
        SERVO_STEPS
    }

    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), ServoError> {
        self.pwm
            .set_pulse_width(pulse_width(duty, SERVO_STEPS, SERVO_PERIOD))
            .map_err(|e| ServoError(e.to_string()))
    }
}
