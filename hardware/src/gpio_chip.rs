//! The room's GPIO lines through the kernel's GPIO character device
//! (`/dev/gpiochipN`), as embedded-hal pins: the button and the shutter's
//! sensors as inputs with their pull-ups on, the LED's elements as outputs.
//!
//! Every Raspberry Pi kernel has this interface. The older `/dev/gpiomem` is
//! the Raspberry Pi kernel's own driver: Debian's kernel, which the image
//! runs, has none, and its `/dev/mem` may not map the GPIO registers that its
//! pin controller holds (`CONFIG_IO_STRICT_DEVMEM`). Built on every machine,
//! so that the choice of chip and the errors are tested anywhere; only the
//! Raspberry Pi backend ([`crate::rpi`]) opens lines.

use std::path::{Path, PathBuf};

use embedded_hal::digital::{ErrorKind, ErrorType, InputPin, OutputPin};
use gpiocdev::Request;
use gpiocdev::line::{Bias, Value};

use crate::rpi_error::RpiError;

/// The labels of the Raspberry Pi's main GPIO chip, whose line offsets are
/// the BCM GPIO numbers: the Pi 4, 400 and CM4 (BCM2711), older Pis
/// (BCM2835), the Pi 5, 500 and CM5 (RP1).
pub const RASPBERRY_PI_CHIPS: &[&str] = &["pinctrl-bcm2711", "pinctrl-bcm2835", "pinctrl-rp1"];

/// The name the lines are requested under, shown by `gpioinfo`.
const CONSUMER: &str = "appliance";

const EACCES: i32 = 13;
const EBUSY: i32 = 16;

/// What was found looking at one GPIO chip: its label, or the error opening it.
pub type ChipLook = (PathBuf, Result<String, gpiocdev::Error>);

/// Finds the Raspberry Pi's main GPIO chip among the machine's chips.
pub fn find_raspberry_pi_chip() -> Result<PathBuf, RpiError> {
    let chips = gpiocdev::chip::chips().map_err(|e| RpiError::GpioChip {
        detail: e.to_string(),
    })?;
    let looks = chips.into_iter().map(|path| {
        let label = gpiocdev::Chip::from_path(&path)
            .and_then(|chip| chip.info())
            .map(|info| info.label);
        (path, label)
    });
    pick_chip(looks)
}

/// The chip with a Raspberry Pi label; else why there is none: a chip the
/// daemon may not open (the likeliest to be the one), or no Raspberry Pi
/// chip at all, naming the labels seen.
pub fn pick_chip(looks: impl IntoIterator<Item = ChipLook>) -> Result<PathBuf, RpiError> {
    let mut refused = None;
    let mut seen = Vec::new();
    for (path, label) in looks {
        match label {
            Ok(label) if RASPBERRY_PI_CHIPS.contains(&label.as_str()) => return Ok(path),
            Ok(label) => seen.push(format!("{} ({label})", path.display())),
            Err(e) if errno(&e) == Some(EACCES) => {
                refused.get_or_insert(path);
            }
            Err(e) => seen.push(format!("{}: {e}", path.display())),
        }
    }
    if let Some(path) = refused {
        return Err(RpiError::GpioPermission {
            path: path.display().to_string(),
        });
    }
    let detail = if seen.is_empty() {
        "no GPIO chip in /dev".to_string()
    } else {
        format!("GPIO chips: {}", seen.join(", "))
    };
    Err(RpiError::NotARaspberryPi { detail })
}

/// The operating system's error number inside a gpiocdev error, if any.
fn errno(e: &gpiocdev::Error) -> Option<i32> {
    match e {
        gpiocdev::Error::Os(errno) => Some(errno.0),
        gpiocdev::Error::Uapi(_, gpiocdev_uapi::Error::Os(errno)) => Some(errno.0),
        _ => None,
    }
}

/// Why a line could not be requested, for the setting that names it.
pub fn line_error(setting: &'static str, gpio: u8, e: gpiocdev::Error) -> RpiError {
    match errno(&e) {
        Some(EBUSY) => RpiError::PinBusy { setting, gpio },
        _ => RpiError::Gpio {
            setting,
            gpio,
            detail: e.to_string(),
        },
    }
}

/// One line of `chip`, requested for the setting that names it: as an input
/// with its pull-up on, or as an output driven low.
fn request_line(
    chip: &Path,
    setting: &'static str,
    gpio: u8,
    output: bool,
) -> Result<(Request, u32), RpiError> {
    let offset = u32::from(gpio);
    let mut builder = Request::builder();
    builder
        .on_chip(chip)
        .with_consumer(CONSUMER)
        .with_line(offset);
    if output {
        builder.as_output(Value::Inactive);
    } else {
        builder.as_input().with_bias(Bias::PullUp);
    }
    let request = builder
        .request()
        .map_err(|e| line_error(setting, gpio, e))?;
    Ok((request, offset))
}

/// An input line with its pull-up on: high until the switch to ground closes.
#[derive(Debug)]
pub struct LineIn {
    request: Request,
    offset: u32,
}

impl LineIn {
    /// Requests line `gpio` of `chip` as an input, pulled up.
    pub fn open(chip: &Path, setting: &'static str, gpio: u8) -> Result<Self, RpiError> {
        let (request, offset) = request_line(chip, setting, gpio, false)?;
        Ok(LineIn { request, offset })
    }
}

/// An output line, low (off) from the moment it is requested.
#[derive(Debug)]
pub struct LineOut {
    request: Request,
    offset: u32,
}

impl LineOut {
    /// Requests line `gpio` of `chip` as an output, driven low.
    pub fn open(chip: &Path, setting: &'static str, gpio: u8) -> Result<Self, RpiError> {
        let (request, offset) = request_line(chip, setting, gpio, true)?;
        Ok(LineOut { request, offset })
    }
}

/// A line read or write that failed, with the kernel's words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LineError(#[from] gpiocdev::Error);

impl embedded_hal::digital::Error for LineError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

impl ErrorType for LineIn {
    type Error = LineError;
}

impl InputPin for LineIn {
    fn is_high(&mut self) -> Result<bool, LineError> {
        Ok(self.request.value(self.offset)? == Value::Active)
    }

    fn is_low(&mut self) -> Result<bool, LineError> {
        Ok(!self.is_high()?)
    }
}

impl ErrorType for LineOut {
    type Error = LineError;
}

impl OutputPin for LineOut {
    fn set_low(&mut self) -> Result<(), LineError> {
        Ok(self.request.set_value(self.offset, Value::Inactive)?)
    }

    fn set_high(&mut self) -> Result<(), LineError> {
        Ok(self.request.set_value(self.offset, Value::Active)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(n: i32) -> gpiocdev::Error {
        gpiocdev::Error::Os(gpiocdev_uapi::Errno(n))
    }

    #[test]
    fn the_raspberry_pi_chip_is_picked_by_its_label() {
        let looks = vec![
            (
                PathBuf::from("/dev/gpiochip0"),
                Ok("INT34C5:00".to_string()),
            ),
            (
                PathBuf::from("/dev/gpiochip1"),
                Ok("raspberrypi-exp-gpio".to_string()),
            ),
            (
                PathBuf::from("/dev/gpiochip2"),
                Ok("pinctrl-bcm2711".to_string()),
            ),
        ];
        assert_eq!(pick_chip(looks).unwrap(), PathBuf::from("/dev/gpiochip2"));
        let pi5 = vec![(
            PathBuf::from("/dev/gpiochip4"),
            Ok("pinctrl-rp1".to_string()),
        )];
        assert_eq!(pick_chip(pi5).unwrap(), PathBuf::from("/dev/gpiochip4"));
    }

    #[test]
    fn a_chip_the_daemon_may_not_open_names_the_device_and_the_group() {
        let looks = vec![
            (PathBuf::from("/dev/gpiochip0"), Err(os(EACCES))),
            (
                PathBuf::from("/dev/gpiochip1"),
                Ok("raspberrypi-exp-gpio".to_string()),
            ),
        ];
        let e = pick_chip(looks).unwrap_err();
        assert!(
            matches!(&e, RpiError::GpioPermission { path } if path == "/dev/gpiochip0"),
            "{e:?}"
        );
        assert!(e.to_string().contains("SupplementaryGroups=gpio"), "{e}");
    }

    #[test]
    fn no_raspberry_pi_chip_lists_what_there_is() {
        let e = pick_chip(Vec::new()).unwrap_err();
        assert!(
            matches!(&e, RpiError::NotARaspberryPi { detail } if detail == "no GPIO chip in /dev"),
            "{e:?}"
        );
        let looks = vec![
            (
                PathBuf::from("/dev/gpiochip0"),
                Ok("9061000.pl061".to_string()),
            ),
            (PathBuf::from("/dev/gpiochip1"), Err(os(5))),
        ];
        let e = pick_chip(looks).unwrap_err().to_string();
        assert!(e.contains("/dev/gpiochip0 (9061000.pl061)"), "{e}");
        assert!(e.contains("/dev/gpiochip1: "), "{e}");
        assert!(e.contains("hardware.backend = \"sim\""), "{e}");
    }

    #[test]
    fn on_this_machine_the_search_ends_in_an_error_that_says_what_to_do() {
        // The test machines are no Raspberry Pis: whatever chips they have,
        // the search must end in one of the errors IT can act on.
        match find_raspberry_pi_chip() {
            Err(RpiError::NotARaspberryPi { .. })
            | Err(RpiError::GpioPermission { .. })
            | Err(RpiError::GpioChip { .. }) => {}
            other => panic!("a Raspberry Pi chip on a test machine? {other:?}"),
        }
    }

    #[test]
    fn a_line_held_elsewhere_is_busy_and_keeps_its_setting() {
        let busy = gpiocdev::Error::Uapi(
            gpiocdev::UapiCall::GetLine,
            gpiocdev_uapi::Error::Os(gpiocdev_uapi::Errno(EBUSY)),
        );
        let e = line_error("hardware.pins.button", 17, busy);
        assert!(
            matches!(
                e,
                RpiError::PinBusy {
                    setting: "hardware.pins.button",
                    gpio: 17
                }
            ),
            "{e:?}"
        );
        let e = line_error("hardware.pins.led_red", 99, os(22)).to_string();
        assert!(
            e.contains("GPIO 99") && e.contains("hardware.pins.led_red"),
            "{e}"
        );
    }

    #[test]
    fn opening_a_line_on_a_file_that_is_no_chip_fails_clearly() {
        let dir = std::env::temp_dir();
        let e = LineIn::open(&dir, "hardware.pins.button", 17).unwrap_err();
        assert!(
            matches!(
                &e,
                RpiError::Gpio {
                    setting: "hardware.pins.button",
                    gpio: 17,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = LineOut::open(&dir, "hardware.pins.led_green", 23).unwrap_err();
        assert!(e.to_string().contains("GPIO 23"), "{e}");
    }
}
