//! The Raspberry Pi backend (cargo feature `rpi`): opens the room's GPIO
//! lines on the Pi's GPIO chip and the servo's PWM for the configured pins and
//! hands back embedded-hal pins for the drivers in this crate.
//!
//! Called once by the daemon when `hardware.backend = "rppal"`. It holds no
//! logic of its own beyond opening things: the pin checks, the PWM channel
//! and `config.txt` line, and the duty-to-pulse arithmetic are in [`crate::pins`],
//! the GPIO lines in [`crate::gpio_chip`] (the kernel's GPIO character device),
//! and every error is an [`RpiError`] that says what to fix. Guarantees: the
//! inputs have their pull-ups on, the LED outputs start low (off, as wired in
//! hardware/README.md), and the servo gets 50 Hz pulses only once a driver
//! sets one: from the pin's hardware PWM channel where it can be had, else
//! timed in software on the pin as a GPIO line ([`crate::soft_servo`]; the
//! appliance's own image has no PWM channel to offer), and
//! [`RpiServo::software_reason`] says why.

use std::time::Duration;

use embedded_hal::pwm::{ErrorKind, ErrorType, SetDutyCycle};
use rppal::pwm::{self, Channel, Polarity, Pwm};
use rppal::system::{DeviceInfo, SoC};

pub use crate::rpi_error::RpiError;

use crate::ShutterKind;
use crate::gpio_chip::{LineIn, LineOut, find_raspberry_pi_chip};
use crate::pins::{
    PinError, PinMap, PwmLayout, SERVO_STEPS, is_gpio_pwm_block, pulse_width, pwm_channel,
    pwm_overlay,
};
use crate::shutter::SERVO_PERIOD;
use crate::soft_servo::{HOLD, SoftServo};

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
    /// The servo's PWM; None for a manual shutter.
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
        ShutterKind::Motorized => Some(RpiServo::open(&chip, map.shutter_servo)?),
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

/// The servo's 50 Hz signal, as an embedded-hal PWM with [`SERVO_STEPS`]
/// steps of one microsecond: the pin's hardware PWM channel, or pulses timed
/// in software on the pin when that channel cannot be had.
#[derive(Debug)]
pub enum RpiServo {
    /// The hardware PWM channel. When dropped it keeps sending its last
    /// pulse: the shutter's driver sends "closed" as it is dropped, and a
    /// servo needs that pulse for longer than the process has left to live,
    /// so stopping the PWM then would leave the shutter wherever it was.
    Hardware(Pwm),
    /// Pulses timed in software, for [`HOLD`] after each command.
    Software {
        /// The timing thread, on the pin's GPIO line.
        servo: SoftServo,
        /// Why the hardware channel could not be had, for the log.
        reason: String,
    },
}

impl RpiServo {
    /// The hardware PWM channel of `gpio`, else pulses on its line of `chip`
    /// (the Pi's GPIO chip, found by its label: whatever rppal makes of the
    /// board, it is a Pi). Fails only when the line cannot be had either.
    fn open(chip: &std::path::Path, gpio: u8) -> Result<Self, RpiError> {
        match open_pwm(gpio) {
            Ok(pwm) => Ok(RpiServo::Hardware(pwm)),
            Err(why) => {
                let line = LineOut::open(chip, "hardware.pins.shutter_servo", gpio)?;
                let servo = SoftServo::spawn(line, HOLD).map_err(|e| RpiError::Pwm {
                    gpio,
                    detail: format!("could not start its timing thread: {e}"),
                })?;
                Ok(RpiServo::Software {
                    servo,
                    reason: why.to_string(),
                })
            }
        }
    }

    /// Why the pulses are timed in software; None on the hardware channel.
    pub fn software_reason(&self) -> Option<&str> {
        match self {
            RpiServo::Hardware(_) => None,
            RpiServo::Software { reason, .. } => Some(reason),
        }
    }
}

/// The hardware PWM channel of `gpio` at 50 Hz with no pulse yet, kept
/// running when dropped.
fn open_pwm(gpio: u8) -> Result<Pwm, RpiError> {
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
    // rppal takes the Broadcom SoC's first PWM chip to be the block that
    // drives the header. Debian's device trees leave that block disabled and
    // enable the one behind the audio jack, which then is the first chip:
    // its channels drive GPIO 40 and 41, not the servo.
    if layout == PwmLayout::TwoChannels {
        let device = std::fs::read_link("/sys/class/pwm/pwmchip0/device").map_err(|_| missing())?;
        let name = device.file_name().unwrap_or_default().to_string_lossy();
        if !is_gpio_pwm_block(&name) {
            return Err(missing());
        }
    }
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
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                RpiError::PwmPermission {
                    detail: io.to_string(),
                }
            }
            _ => RpiError::Pwm {
                gpio,
                detail: io.to_string(),
            },
        },
    })?;
    pwm.set_reset_on_drop(false);
    Ok(pwm)
}

/// A PWM write that failed, with the backend's words.
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
        match self {
            RpiServo::Hardware(pwm) => pwm
                .set_pulse_width(pulse_width(duty, SERVO_STEPS, SERVO_PERIOD))
                .map_err(|e| ServoError(e.to_string())),
            RpiServo::Software { servo, .. } => servo
                .set_duty_cycle(duty)
                .map_err(|e| ServoError(e.to_string())),
        }
    }
}
