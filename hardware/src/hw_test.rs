//! The wiring check behind `appliance hw-test`, as a pure list of steps: what
//! to ask the person at the box, what to drive, what to expect, and what to say
//! when it is not seen. The command runs the steps against the drivers and
//! the person's answers; this module decides nothing by itself and touches no
//! pin. Guarantees: a failed step names the setting, GPIO and header pin to
//! check; a manual shutter is never driven.

use crate::pins::{PinMap, header_pin};
use crate::{ButtonEvent, LedPattern, ShutterCommand, ShutterKind};

/// One step of the wiring check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// A short press of the button.
    PressButton,
    /// A long press of the button.
    HoldButton,
    /// The shutter fully closed: only the closed sensor made.
    ShutterClosed,
    /// The shutter fully open: only the open sensor made.
    ShutterOpen,
    /// The LED solid red.
    LedLive,
    /// The LED blinking amber.
    LedWaiting,
    /// The LED blinking red fast.
    LedFault,
    /// The LED off.
    LedOff,
}

/// What a step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    /// This event from the button driver.
    Button(ButtonEvent),
    /// These sensor readings (true = made), once settled.
    Sensors {
        /// The open sensor.
        open: bool,
        /// The closed sensor.
        closed: bool,
    },
    /// The person answers yes.
    Confirm,
}

/// What was seen when a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seen {
    /// The button driver's event, or None if there was none in time.
    Button(Option<ButtonEvent>),
    /// The sensors' readings (true = made).
    Sensors {
        /// The open sensor.
        open: bool,
        /// The closed sensor.
        closed: bool,
    },
    /// The person's answer.
    Answer(bool),
}

/// The steps, in order: button, sensors (and the servo, if motorized), LED.
/// They end with the shutter closed and the LED off: the box's safe state.
pub fn steps() -> [Step; 9] {
    use Step::*;
    [
        PressButton,
        HoldButton,
        ShutterClosed,
        ShutterOpen,
        ShutterClosed,
        LedLive,
        LedWaiting,
        LedFault,
        LedOff,
    ]
}

impl Step {
    /// What to ask the person.
    pub fn prompt(self, kind: ShutterKind) -> &'static str {
        let motorized = kind == ShutterKind::Motorized;
        match self {
            Step::PressButton => "Press the button once, briefly.",
            Step::HoldButton => "Press the button and hold it for 2 seconds.",
            Step::ShutterClosed if motorized => "The shutter now closes by itself; keep clear.",
            Step::ShutterClosed => "Slide the shutter fully closed.",
            Step::ShutterOpen if motorized => "The shutter now opens by itself; keep clear.",
            Step::ShutterOpen => "Slide the shutter fully open.",
            Step::LedLive => "Is the LED solid red?",
            Step::LedWaiting => "Is the LED blinking amber (yellow-orange), once a second?",
            Step::LedFault => "Is the LED blinking red, fast?",
            Step::LedOff => "Is the LED off?",
        }
    }

    /// What the step waits for.
    pub fn expect(self) -> Expect {
        match self {
            Step::PressButton => Expect::Button(ButtonEvent::Press),
            Step::HoldButton => Expect::Button(ButtonEvent::LongPress),
            Step::ShutterClosed => Expect::Sensors {
                open: false,
                closed: true,
            },
            Step::ShutterOpen => Expect::Sensors {
                open: true,
                closed: false,
            },
            Step::LedLive | Step::LedWaiting | Step::LedFault | Step::LedOff => Expect::Confirm,
        }
    }

    /// What to tell the shutter before waiting: only a motorized one moves.
    pub fn shutter_command(self, kind: ShutterKind) -> Option<ShutterCommand> {
        match (self, kind) {
            (Step::ShutterClosed, ShutterKind::Motorized) => Some(ShutterCommand::Close),
            (Step::ShutterOpen, ShutterKind::Motorized) => Some(ShutterCommand::Open),
            _ => None,
        }
    }

    /// What the LED shows during the step.
    pub fn led(self) -> LedPattern {
        match self {
            Step::LedLive => LedPattern::Live,
            Step::LedWaiting => LedPattern::Waiting,
            Step::LedFault => LedPattern::Fault,
            _ => LedPattern::Off,
        }
    }

    /// Judges what was seen: Ok, or what to check, in plain words.
    pub fn judge(self, seen: Seen, map: &PinMap, kind: ShutterKind) -> Result<(), String> {
        let expected = self.expect();
        match (expected, seen) {
            (Expect::Button(want), Seen::Button(got)) if got == Some(want) => Ok(()),
            (Expect::Button(ButtonEvent::LongPress), Seen::Button(Some(ButtonEvent::Press))) => {
                Err("the button was released too soon: hold it for 2 seconds".into())
            }
            (Expect::Button(_), Seen::Button(Some(ButtonEvent::LongPress))) => {
                Err("the button was held too long: press and release it within 2 seconds".into())
            }
            (Expect::Button(_), Seen::Button(_)) => Err(format!(
                "no press was seen: check that the button connects {} to ground",
                pin("hardware.pins.button", map.button)
            )),
            (Expect::Sensors { open, closed }, Seen::Sensors { open: o, closed: c })
                if (o, c) == (open, closed) =>
            {
                Ok(())
            }
            (
                Expect::Sensors { .. },
                Seen::Sensors {
                    open: true,
                    closed: true,
                },
            ) => Err(
                "both sensors read made at once: one of them is stuck, or both are on one switch"
                    .into(),
            ),
            // Only a shutter expected closed that reads open says the sensors
            // are swapped (the first step starts from closed); one expected
            // open that still reads closed simply did not move.
            (
                Expect::Sensors { open: false, .. },
                Seen::Sensors {
                    open: true,
                    closed: false,
                },
            ) => Err(format!(
                "the sensors read the other way round: swap the settings \
                     hardware.pins.shutter_open_sensor and hardware.pins.shutter_closed_sensor \
                     (now GPIO {} and {}), or their wires",
                map.shutter_open_sensor, map.shutter_closed_sensor
            )),
            (Expect::Sensors { open, .. }, Seen::Sensors { .. }) => {
                let (setting, gpio) = if open {
                    ("hardware.pins.shutter_open_sensor", map.shutter_open_sensor)
                } else {
                    (
                        "hardware.pins.shutter_closed_sensor",
                        map.shutter_closed_sensor,
                    )
                };
                let moved = if kind == ShutterKind::Motorized {
                    format!(
                        "; if the shutter did not move, check the servo's 5 V supply and \
                         its signal wire on {}",
                        pin("hardware.pins.shutter_servo", map.shutter_servo)
                    )
                } else {
                    String::new()
                };
                Err(format!(
                    "the sensor did not read made: check that it connects {} to ground and \
                     that the shutter reaches it{moved}",
                    pin(setting, gpio)
                ))
            }
            (Expect::Confirm, Seen::Answer(true)) => Ok(()),
            (Expect::Confirm, Seen::Answer(false)) => Err(self.led_hint(map)),
            (_, other) => Err(format!("the wiring test got {other:?} for step {self:?}")),
        }
    }

    fn led_hint(self, map: &PinMap) -> String {
        let red = pin("hardware.pins.led_red", map.led_red);
        let green = pin("hardware.pins.led_green", map.led_green);
        match self {
            Step::LedWaiting => format!(
                "amber needs both elements: if it looks red, check the green element on \
                 {green}; if it looks green, the red one on {red}"
            ),
            Step::LedOff => format!(
                "an LED that stays lit is wired to 3.3 V instead of ground, or is a \
                 common-anode LED: use a common-cathode one, with its cathode to ground \
                 ({red}, {green})"
            ),
            _ => format!(
                "check the red element: {red}, through its resistor to the LED, and the \
                 LED's common cathode to ground"
            ),
        }
    }
}

/// "setting (GPIO n, header pin p)".
fn pin(setting: &str, gpio: u8) -> String {
    match header_pin(gpio) {
        Some(p) => format!("{setting} (GPIO {gpio}, header pin {p})"),
        None => format!("{setting} (GPIO {gpio})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: PinMap = crate::pins::EXAMPLE_PINS;

    #[test]
    fn the_walk_covers_every_part_and_ends_safe() {
        let steps = steps();
        let last_shutter = steps
            .iter()
            .rev()
            .find(|s| s.shutter_command(ShutterKind::Motorized).is_some());
        assert_eq!(last_shutter, Some(&Step::ShutterClosed));
        assert_eq!(steps.last().map(|s| s.led()), Some(LedPattern::Off));
        for step in steps {
            assert!(!step.prompt(ShutterKind::Manual).is_empty());
            assert_eq!(step.shutter_command(ShutterKind::Manual), None, "{step:?}");
        }
    }

    #[test]
    fn what_was_expected_passes() {
        for kind in [ShutterKind::Motorized, ShutterKind::Manual] {
            for step in steps() {
                let seen = match step.expect() {
                    Expect::Button(e) => Seen::Button(Some(e)),
                    Expect::Sensors { open, closed } => Seen::Sensors { open, closed },
                    Expect::Confirm => Seen::Answer(true),
                };
                assert_eq!(step.judge(seen, &MAP, kind), Ok(()), "{step:?}");
            }
        }
    }

    #[test]
    fn a_silent_button_names_its_setting_and_header_pin() {
        let e = Step::PressButton
            .judge(Seen::Button(None), &MAP, ShutterKind::Manual)
            .unwrap_err();
        assert!(
            e.contains("hardware.pins.button (GPIO 17, header pin 11)"),
            "{e}"
        );
    }

    #[test]
    fn sensor_faults_say_which_and_what() {
        let open = Step::ShutterOpen;
        let judge = |open_made, closed_made, kind| {
            open.judge(
                Seen::Sensors {
                    open: open_made,
                    closed: closed_made,
                },
                &MAP,
                kind,
            )
            .unwrap_err()
        };
        assert!(judge(true, true, ShutterKind::Manual).contains("both sensors"));
        // Still closed when it should be open: it did not move; not swapped.
        let e = judge(false, true, ShutterKind::Motorized);
        assert!(!e.contains("other way round"), "{e}");
        assert!(e.contains("did not move"), "{e}");
        let swapped = Step::ShutterClosed
            .judge(
                Seen::Sensors {
                    open: true,
                    closed: false,
                },
                &MAP,
                ShutterKind::Manual,
            )
            .unwrap_err();
        assert!(swapped.contains("other way round"), "{swapped}");
        let e = judge(false, false, ShutterKind::Manual);
        assert!(
            e.contains("shutter_open_sensor (GPIO 23, header pin 16)"),
            "{e}"
        );
        assert!(!e.contains("servo"), "{e}");
        let e = judge(false, false, ShutterKind::Motorized);
        assert!(
            e.contains("hardware.pins.shutter_servo (GPIO 18, header pin 12)"),
            "{e}"
        );
    }

    #[test]
    fn a_no_about_the_led_says_which_element_to_check() {
        let e = Step::LedWaiting
            .judge(Seen::Answer(false), &MAP, ShutterKind::Manual)
            .unwrap_err();
        assert!(
            e.contains("green element on hardware.pins.led_green (GPIO 6, header pin 31)"),
            "{e}"
        );
        let e = Step::LedLive
            .judge(Seen::Answer(false), &MAP, ShutterKind::Manual)
            .unwrap_err();
        assert!(e.contains("GPIO 5, header pin 29"), "{e}");
    }

    #[test]
    fn a_press_of_the_wrong_length_says_so() {
        let e = Step::HoldButton
            .judge(
                Seen::Button(Some(ButtonEvent::Press)),
                &MAP,
                ShutterKind::Manual,
            )
            .unwrap_err();
        assert!(e.contains("too soon"), "{e}");
        let e = Step::PressButton
            .judge(
                Seen::Button(Some(ButtonEvent::LongPress)),
                &MAP,
                ShutterKind::Manual,
            )
            .unwrap_err();
        assert!(e.contains("too long"), "{e}");
    }

    #[test]
    fn a_reading_of_the_wrong_kind_is_an_error_not_a_panic() {
        let r = Step::LedOff.judge(Seen::Button(None), &MAP, ShutterKind::Manual);
        assert!(r.is_err());
    }
}
