//! What can go wrong opening the Raspberry Pi's GPIO and PWM, in words a
//! clinic's IT can act on. It lives outside the `rpi` module, which only
//! builds with the feature of that name, so that every message is tested on
//! any machine; `rpi` maps the backend's errors onto it.

use crate::pins::PinError;

/// Why the Raspberry Pi's pins could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RpiError {
    /// The pin map cannot be wired.
    #[error("the pin settings cannot be wired: {0}")]
    Pins(#[from] PinError),
    /// No Raspberry Pi GPIO chip, or an unknown board.
    #[error(
        "this does not look like a Raspberry Pi 4, 400, CM4 or 5: no Raspberry Pi GPIO chip \
         was found ({detail}); on any other computer set hardware.backend = \"sim\""
    )]
    NotARaspberryPi {
        /// What the GPIO backend reported.
        detail: String,
    },
    /// The GPIO chip is there but could not be opened.
    #[error("could not open the Raspberry Pi's GPIO: {detail}")]
    GpioChip {
        /// What the GPIO backend reported.
        detail: String,
    },
    /// A GPIO device exists but the daemon may not open it.
    #[error(
        "no permission to open {path}: run the daemon as a member of the group \"gpio\" \
         (SupplementaryGroups=gpio in its systemd unit) and allow the device \
         (DeviceAllow={path} rw)"
    )]
    GpioPermission {
        /// The device file that was refused.
        path: String,
    },
    /// A pin is already held by this process.
    #[error(
        "GPIO {gpio} ({setting}) is already in use; each hardware.pins setting must name \
         a different pin, and only one program may drive the room's pins at a time \
         (stop the daemon before running the wiring test)"
    )]
    PinBusy {
        /// The setting that names the pin.
        setting: &'static str,
        /// The pin.
        gpio: u8,
    },
    /// Any other GPIO failure.
    #[error("could not open GPIO {gpio} ({setting}): {detail}")]
    Gpio {
        /// The setting that names the pin.
        setting: &'static str,
        /// The pin.
        gpio: u8,
        /// What the GPIO backend reported.
        detail: String,
    },
    /// The servo's PWM channel is not enabled.
    #[error(
        "the shutter's servo on GPIO {gpio} needs PWM channel {channel}, which is not \
         enabled: add the line \"{overlay}\" to config.txt on the boot partition and reboot \
         (the line needs the firmware's overlays, overlays/pwm.dtbo, on that partition: \
         Raspberry Pi OS has them, the appliance's own image has none)"
    )]
    PwmMissing {
        /// The servo's pin.
        gpio: u8,
        /// The PWM channel it needs.
        channel: u8,
        /// The `config.txt` line that enables it.
        overlay: String,
    },
    /// The PWM channel exists but may not be written.
    #[error(
        "no permission to drive the shutter's servo through /sys/class/pwm ({detail}): run \
         the daemon as a member of the group \"gpio\" (SupplementaryGroups=gpio in its \
         systemd unit), whose udev rules make the PWM channels writable, and do not hide \
         /sys with ProtectKernelTunables="
    )]
    PwmPermission {
        /// What the PWM backend reported.
        detail: String,
    },
    /// Any other PWM failure.
    #[error("could not set up the shutter's servo on GPIO {gpio}: {detail}")]
    Pwm {
        /// The servo's pin.
        gpio: u8,
        /// What the PWM backend reported.
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_name_the_group_and_the_device() {
        let e = RpiError::GpioPermission {
            path: "/dev/gpiochip0".into(),
        }
        .to_string();
        assert!(e.contains("SupplementaryGroups=gpio"), "{e}");
        assert!(e.contains("DeviceAllow=/dev/gpiochip0 rw"), "{e}");
        let e = RpiError::PwmPermission {
            detail: "Permission denied".into(),
        }
        .to_string();
        assert!(e.contains("/sys/class/pwm") && e.contains("gpio"), "{e}");
    }

    #[test]
    fn a_missing_chip_says_it_is_not_a_pi_and_how_to_run_anyway() {
        let e = RpiError::NotARaspberryPi {
            detail: "No such file or directory".into(),
        }
        .to_string();
        assert!(e.contains("Raspberry Pi"), "{e}");
        assert!(e.contains("hardware.backend = \"sim\""), "{e}");
    }

    #[test]
    fn a_missing_pwm_channel_gives_the_config_line() {
        let e = RpiError::PwmMissing {
            gpio: 18,
            channel: 0,
            overlay: crate::pins::pwm_overlay(18).unwrap_or_default(),
        }
        .to_string();
        assert!(e.contains("dtoverlay=pwm,pin=18,func=2"), "{e}");
        assert!(e.contains("config.txt") && e.contains("reboot"), "{e}");
        assert!(e.contains("overlays/pwm.dtbo"), "{e}");
    }

    #[test]
    fn pin_errors_keep_their_setting() {
        let e = RpiError::from(PinError::NoPwm { gpio: 22 }).to_string();
        assert!(e.contains("hardware.pins.shutter_servo"), "{e}");
        let e = RpiError::PinBusy {
            setting: "hardware.pins.button",
            gpio: 17,
        }
        .to_string();
        assert!(
            e.contains("GPIO 17") && e.contains("hardware.pins.button"),
            "{e}"
        );
    }
}
