//! The room's drivers on the board the settings name: `hardware.backend`'s
//! simulated pins or the Raspberry Pi's GPIO, and `shutter.kind`. One
//! function, [`open`], opens the pins and builds each driver once.

use std::time::{Duration, Instant};

use appliance_hardware::sim::SimBoard;
use appliance_hardware::{
    ActiveLevel, AnyInput, AnyOutput, AnyServo, BoardPins, Button, Led, Shutter, ShutterSettings,
};

use crate::session::ShutterKind;

/// Where the room's pins come from.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Simulated pins, with a shutter that takes `travel` to move.
    Sim {
        /// The simulated shutter's travel time.
        travel: Duration,
    },
    /// The Raspberry Pi's GPIO and PWM (cargo feature `rpi`).
    #[cfg_attr(not(feature = "rpi"), allow(dead_code))]
    Rpi(appliance_hardware::PinMap),
}

/// What `hardware.backend` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `sim`: simulated pins.
    Sim,
    /// `rppal`: the Raspberry Pi's GPIO.
    Rppal,
}

impl BackendKind {
    /// The kind a value of `hardware.backend` names.
    pub fn from_setting(value: &str) -> Option<Self> {
        match value {
            "sim" => Some(BackendKind::Sim),
            "rppal" => Some(BackendKind::Rppal),
            _ => None,
        }
    }

    /// Whether this build can drive such pins (`appliance provision`
    /// refuses a file naming pins it cannot drive).
    pub fn driven_by_this_build(self) -> bool {
        self == BackendKind::Sim || cfg!(feature = "rpi")
    }
}

impl Backend {
    /// Whether this build can drive the backend at all: checked before
    /// anything else starts, so a wrong build says so first.
    pub fn check(&self) -> anyhow::Result<()> {
        match self {
            Backend::Rpi(_) if !BackendKind::Rppal.driven_by_this_build() => {
                anyhow::bail!(NO_RPI)
            }
            _ => Ok(()),
        }
    }
}

const NO_RPI: &str = "hardware.backend is rppal, but this build has no Raspberry Pi support \
                      (build with --features rpi, or run with --sim)";

/// The room's three drivers, on whichever board, and the simulated board
/// behind them, if simulated.
#[derive(Debug)]
pub struct Drivers {
    /// The button.
    pub button: Button<AnyInput>,
    /// The shutter, motorized or manual.
    pub shutter: Shutter<AnyInput, AnyServo>,
    /// The LED.
    pub led: Led<AnyOutput>,
    /// The simulated board, if the pins are simulated.
    pub sim: Option<SimBoard>,
}

/// Opens the backend's pins for a shutter of `kind` and makes the room's
/// drivers on them. Errors are the backend's, in words for IT (a missing
/// GPIO chip, no permission on /dev/gpiochip0, a pin without PWM).
pub fn open(backend: &Backend, kind: ShutterKind) -> anyhow::Result<Drivers> {
    let settings = ShutterSettings::default();
    let (pins, sim) = match backend {
        Backend::Sim { travel } => {
            let board = SimBoard::new(settings, *travel);
            let motorized = kind == ShutterKind::Motorized;
            (
                BoardPins::simulated(&board, &settings, motorized),
                Some(board),
            )
        }
        #[cfg(feature = "rpi")]
        Backend::Rpi(map) => {
            let pins = appliance_hardware::rpi::open(map, kind)?;
            if let Some(why) = pins.servo.as_ref().and_then(|s| s.software_reason()) {
                // Said once at start: the shutter works, but IT may want the
                // hardware channel. The reason names settings and devices only.
                eprintln!(
                    "appliance: room hardware: the shutter's servo gets pulses timed in \
                     software, for {} s after each move (they can make it buzz while it \
                     moves), because {why}",
                    appliance_hardware::soft_servo::HOLD.as_secs()
                );
            }
            (BoardPins::from(pins), None)
        }
        #[cfg(not(feature = "rpi"))]
        Backend::Rpi(_) => anyhow::bail!(NO_RPI),
    };
    let now = Instant::now();
    Ok(Drivers {
        button: Button::new(pins.button, pins.button_active),
        shutter: Shutter::new(
            pins.open_sensor,
            pins.closed_sensor,
            pins.servo,
            settings,
            now,
        )?,
        led: Led::new(pins.led_red, pins.led_green, ActiveLevel::High, now)?,
        sim,
    })
}
