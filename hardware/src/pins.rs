//! The room's pin map (settings `hardware.pins.*`) and what a Raspberry Pi
//! makes of it: which hardware PWM channel drives the servo, which
//! `config.txt` line enables that channel, and how a duty cycle becomes a
//! pulse. Pure, so it is tested on any machine; the `rpi` backend calls it.
//! Guarantees: a pin map that passes [`PinMap::check`] has every pin on the
//! header, no pin twice, and (for a motorized shutter) the servo on a pin with
//! hardware PWM.

use std::time::Duration;

use crate::ShutterKind;

/// BCM GPIOs on the 40-pin header.
pub const HEADER_GPIOS: std::ops::RangeInclusive<u8> = 0..=27;

/// BCM GPIOs with hardware PWM, for the shutter's servo.
pub const PWM_GPIOS: [u8; 4] = [12, 13, 18, 19];

/// The PWM backend's duty-cycle steps for the servo: one per microsecond of
/// its 20 ms period, finer than a hobby servo can resolve.
pub const SERVO_STEPS: u16 = 20_000;

/// Where each part of the room is wired, as BCM GPIO numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinMap {
    /// `hardware.pins.button`.
    pub button: u8,
    /// `hardware.pins.shutter_servo`; unused for a manual shutter.
    pub shutter_servo: u8,
    /// `hardware.pins.shutter_open_sensor`.
    pub shutter_open_sensor: u8,
    /// `hardware.pins.shutter_closed_sensor`.
    pub shutter_closed_sensor: u8,
    /// `hardware.pins.led_red`.
    pub led_red: u8,
    /// `hardware.pins.led_green`.
    pub led_green: u8,
}

/// The wiring of the provisioning example and of hardware/README.md.
pub const EXAMPLE_PINS: PinMap = PinMap {
    button: 17,
    shutter_servo: 18,
    shutter_open_sensor: 23,
    shutter_closed_sensor: 24,
    led_red: 5,
    led_green: 6,
};

impl Default for PinMap {
    /// [`EXAMPLE_PINS`].
    fn default() -> Self {
        EXAMPLE_PINS
    }
}

/// Why a pin map cannot be wired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// A pin number is not on the 40-pin header.
    #[error("{setting} is GPIO {gpio}; the header has GPIO 0 to 27")]
    OffHeader {
        /// The setting that names it.
        setting: &'static str,
        /// Its value.
        gpio: u8,
    },
    /// Two settings name the same pin.
    #[error("GPIO {gpio} is set for both {first} and {second}; each pin drives one thing")]
    Shared {
        /// The pin.
        gpio: u8,
        /// The first setting that names it.
        first: &'static str,
        /// The second.
        second: &'static str,
    },
    /// The servo is on a pin without hardware PWM.
    #[error(
        "hardware.pins.shutter_servo is GPIO {gpio}, which has no hardware PWM; \
         use 12, 13, 18 or 19 (or set shutter.kind = \"manual\" if there is no servo)"
    )]
    NoPwm {
        /// The servo's pin.
        gpio: u8,
    },
}

impl PinMap {
    /// Every pin the shutter `kind` uses, with the setting that names it.
    pub fn used(&self, kind: ShutterKind) -> Vec<(&'static str, u8)> {
        let mut used = vec![
            ("hardware.pins.button", self.button),
            (
                "hardware.pins.shutter_open_sensor",
                self.shutter_open_sensor,
            ),
            (
                "hardware.pins.shutter_closed_sensor",
                self.shutter_closed_sensor,
            ),
            ("hardware.pins.led_red", self.led_red),
            ("hardware.pins.led_green", self.led_green),
        ];
        if kind == ShutterKind::Motorized {
            used.push(("hardware.pins.shutter_servo", self.shutter_servo));
        }
        used
    }

    /// Checks that the pins can be wired as set. The settings store checks the
    /// same when a value is set; this catches a map built any other way before
    /// a pin is touched.
    pub fn check(&self, kind: ShutterKind) -> Result<(), PinError> {
        let used = self.used(kind);
        for (i, &(setting, gpio)) in used.iter().enumerate() {
            if !HEADER_GPIOS.contains(&gpio) {
                return Err(PinError::OffHeader { setting, gpio });
            }
            if let Some(&(first, _)) = used[..i].iter().find(|(_, g)| *g == gpio) {
                return Err(PinError::Shared {
                    gpio,
                    first,
                    second: setting,
                });
            }
        }
        if kind == ShutterKind::Motorized && !PWM_GPIOS.contains(&self.shutter_servo) {
            return Err(PinError::NoPwm {
                gpio: self.shutter_servo,
            });
        }
        Ok(())
    }
}

/// The physical position on the 40-pin header of BCM `gpio`, so that a
/// message can say where to look without a pinout chart.
pub fn header_pin(gpio: u8) -> Option<u8> {
    // Index: BCM number; value: header position.
    const HEADER: [u8; 28] = [
        27, 28, 3, 5, 7, 29, 31, 26, 24, 21, 19, 23, 32, 33, 8, 10, 36, 11, 12, 35, 38, 40, 15, 16,
        18, 22, 37, 13,
    ];
    HEADER.get(usize::from(gpio)).copied()
}

/// How a board's PWM block maps onto the PWM pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PwmLayout {
    /// The Broadcom SoC's two channels (Pi 4, Pi 400, CM4 and older):
    /// channel 0 on GPIO 12 or 18, channel 1 on GPIO 13 or 19.
    TwoChannels,
    /// The RP1's four channels (Pi 5, Pi 500, CM5): 0 to 3 on GPIO 12, 13, 18, 19.
    FourChannels,
}

/// The PWM channel that drives `gpio`, if it has one.
pub fn pwm_channel(layout: PwmLayout, gpio: u8) -> Option<u8> {
    match (layout, gpio) {
        (PwmLayout::TwoChannels, 12 | 18) => Some(0),
        (PwmLayout::TwoChannels, 13 | 19) => Some(1),
        (PwmLayout::FourChannels, 12) => Some(0),
        (PwmLayout::FourChannels, 13) => Some(1),
        (PwmLayout::FourChannels, 18) => Some(2),
        (PwmLayout::FourChannels, 19) => Some(3),
        _ => None,
    }
}

/// The `config.txt` line that puts `gpio` on its PWM channel, if it has one.
///
/// The overlay's `func` is the Broadcom numbering of the pin's alternate
/// function (4 = ALT0 on GPIO 12 and 13, 2 = ALT5 on 18 and 19); the Pi 5's
/// RP1 translates the same line to its own functions, so one line fits all.
pub fn pwm_overlay(gpio: u8) -> Option<String> {
    let func = match gpio {
        12 | 13 => 4,
        18 | 19 => 2,
        _ => return None,
    };
    Some(format!("dtoverlay=pwm,pin={gpio},func={func}"))
}

/// Whether a PWM chip whose device is named `device` (the last part of
/// `/sys/class/pwm/pwmchipN/device`'s link) is the Broadcom SoC's PWM block
/// at bus address 0x7e20c000, whose two channels reach GPIO 12, 13, 18 and
/// 19, wherever the SoC maps it (`fe20c000.pwm` on the Pi 4). Its twin at
/// 0x7e20c800 drives the audio jack (GPIO 40 and 41).
pub fn is_gpio_pwm_block(device: &str) -> bool {
    device.ends_with("20c000.pwm")
}

/// The pulse a duty cycle of `duty` out of `max` gives in a `period`; `max`
/// of 0 (a channel that cannot be set) and `duty` 0 both give no pulse.
pub fn pulse_width(duty: u16, max: u16, period: Duration) -> Duration {
    if max == 0 {
        return Duration::ZERO;
    }
    let duty = u128::from(duty.min(max));
    let nanos = period.as_nanos() * duty / u128::from(max);
    // Cannot overflow: at most `period`, which came from a Duration.
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutter::SERVO_PERIOD;

    #[test]
    fn the_default_map_is_valid_for_both_shutter_kinds() {
        let map = PinMap::default();
        assert_eq!(map.check(ShutterKind::Motorized), Ok(()));
        assert_eq!(map.check(ShutterKind::Manual), Ok(()));
        assert_eq!(map.used(ShutterKind::Motorized).len(), 6);
        assert_eq!(map.used(ShutterKind::Manual).len(), 5);
    }

    #[test]
    fn a_pin_off_the_header_is_refused() {
        let map = PinMap {
            led_green: 28,
            ..PinMap::default()
        };
        let e = map.check(ShutterKind::Manual).unwrap_err();
        assert!(e.to_string().contains("hardware.pins.led_green"), "{e}");
    }

    #[test]
    fn a_shared_pin_names_both_settings() {
        let map = PinMap {
            led_red: 17,
            ..PinMap::default()
        };
        let e = map.check(ShutterKind::Motorized).unwrap_err().to_string();
        assert!(e.contains("GPIO 17"), "{e}");
        assert!(e.contains("hardware.pins.button"), "{e}");
        assert!(e.contains("hardware.pins.led_red"), "{e}");
    }

    #[test]
    fn the_servo_needs_hardware_pwm_only_when_motorized() {
        let map = PinMap {
            shutter_servo: 22,
            ..PinMap::default()
        };
        assert_eq!(
            map.check(ShutterKind::Motorized),
            Err(PinError::NoPwm { gpio: 22 })
        );
        assert_eq!(map.check(ShutterKind::Manual), Ok(()));
        // A manual shutter's unused servo pin may even coincide with another.
        let map = PinMap {
            shutter_servo: 17,
            ..PinMap::default()
        };
        assert_eq!(map.check(ShutterKind::Manual), Ok(()));
        assert!(map.check(ShutterKind::Motorized).is_err());
    }

    #[test]
    fn header_pins_of_the_readme_wiring() {
        let map = PinMap::default();
        let pins: Vec<_> = [
            map.button,
            map.shutter_servo,
            map.shutter_open_sensor,
            map.shutter_closed_sensor,
            map.led_red,
            map.led_green,
        ]
        .iter()
        .map(|&g| header_pin(g))
        .collect();
        assert_eq!(pins, [11, 12, 16, 18, 29, 31].map(Some));
        assert_eq!(header_pin(28), None);
        // Every GPIO has its own header pin.
        let mut all: Vec<_> = HEADER_GPIOS.filter_map(header_pin).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 28);
    }

    #[test]
    fn pwm_channels_per_board() {
        use PwmLayout::*;
        let two: Vec<_> = PWM_GPIOS
            .iter()
            .map(|&g| pwm_channel(TwoChannels, g))
            .collect();
        assert_eq!(two, [Some(0), Some(1), Some(0), Some(1)]);
        let four: Vec<_> = PWM_GPIOS
            .iter()
            .map(|&g| pwm_channel(FourChannels, g))
            .collect();
        assert_eq!(four, [Some(0), Some(1), Some(2), Some(3)]);
        for gpio in HEADER_GPIOS.filter(|g| !PWM_GPIOS.contains(g)) {
            assert_eq!(pwm_channel(TwoChannels, gpio), None);
            assert_eq!(pwm_channel(FourChannels, gpio), None);
        }
    }

    #[test]
    fn overlay_lines_match_the_readme() {
        assert_eq!(pwm_overlay(18).unwrap(), "dtoverlay=pwm,pin=18,func=2");
        assert_eq!(pwm_overlay(12).unwrap(), "dtoverlay=pwm,pin=12,func=4");
        assert_eq!(pwm_overlay(13).unwrap(), "dtoverlay=pwm,pin=13,func=4");
        assert_eq!(pwm_overlay(19).unwrap(), "dtoverlay=pwm,pin=19,func=2");
        assert_eq!(pwm_overlay(17), None);
        let readme = include_str!("../README.md");
        for gpio in PWM_GPIOS {
            let line = pwm_overlay(gpio).unwrap();
            assert!(readme.contains(&line), "README lacks {line}");
        }
    }

    #[test]
    fn only_the_block_at_7e20c000_drives_the_header() {
        // The Pi 4's block, as Linux names it; the same at its bus address
        // and on a Pi 3.
        for name in ["fe20c000.pwm", "7e20c000.pwm", "3f20c000.pwm"] {
            assert!(is_gpio_pwm_block(name), "{name}");
        }
        // The Pi 4's audio-jack block, the Pi 5's RP1, and nothing.
        for name in ["fe20c800.pwm", "1f00098000.pwm", ""] {
            assert!(!is_gpio_pwm_block(name), "{name}");
        }
    }

    #[test]
    fn servo_pulses_are_exact_microseconds() {
        let us = Duration::from_micros;
        assert_eq!(pulse_width(1000, SERVO_STEPS, SERVO_PERIOD), us(1000));
        assert_eq!(pulse_width(2000, SERVO_STEPS, SERVO_PERIOD), us(2000));
        assert_eq!(pulse_width(0, SERVO_STEPS, SERVO_PERIOD), Duration::ZERO);
        // Over the top is the whole period, never more; no steps is no pulse.
        assert_eq!(
            pulse_width(u16::MAX, SERVO_STEPS, SERVO_PERIOD),
            SERVO_PERIOD
        );
        assert_eq!(pulse_width(500, 0, SERVO_PERIOD), Duration::ZERO);
    }
}
