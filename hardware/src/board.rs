//! The room's pins on whichever board, one type per kind of pin: a
//! simulated board and a Raspberry Pi hand the drivers the same types, so the
//! daemon builds each driver once, whatever the board and the shutter's kind.
//!
//! Each pin keeps its backend's error as text ([`PinFault`]): the drivers only
//! log or report it, and the words are the backend's own.

use std::fmt;

use embedded_hal::digital::{self, InputPin, OutputPin};
use embedded_hal::pwm::{self, SetDutyCycle};

use crate::shutter::ShutterSettings;
use crate::sim::SimBoard;
use crate::{ActiveLevel, detail};

/// A pin's error, in its backend's words.
pub struct PinFault(String);

impl fmt::Debug for PinFault {
    /// The backend's words as they are: the drivers log errors by `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl digital::Error for PinFault {
    fn kind(&self) -> digital::ErrorKind {
        digital::ErrorKind::Other
    }
}

impl pwm::Error for PinFault {
    fn kind(&self) -> pwm::ErrorKind {
        pwm::ErrorKind::Other
    }
}

/// Any backend's pin, its error turned into a [`PinFault`].
struct Texted<P>(P);

impl<P: digital::ErrorType> digital::ErrorType for Texted<P> {
    type Error = PinFault;
}

impl<P: InputPin> InputPin for Texted<P> {
    fn is_high(&mut self) -> Result<bool, PinFault> {
        self.0.is_high().map_err(|e| PinFault(detail(&e)))
    }

    fn is_low(&mut self) -> Result<bool, PinFault> {
        self.0.is_low().map_err(|e| PinFault(detail(&e)))
    }
}

impl<P: OutputPin> OutputPin for Texted<P> {
    fn set_low(&mut self) -> Result<(), PinFault> {
        self.0.set_low().map_err(|e| PinFault(detail(&e)))
    }

    fn set_high(&mut self) -> Result<(), PinFault> {
        self.0.set_high().map_err(|e| PinFault(detail(&e)))
    }
}

/// The servo's PWM, its error turned into a [`PinFault`].
struct TextedPwm<P>(P);

impl<P: pwm::ErrorType> pwm::ErrorType for TextedPwm<P> {
    type Error = PinFault;
}

impl<P: SetDutyCycle> SetDutyCycle for TextedPwm<P> {
    fn max_duty_cycle(&self) -> u16 {
        self.0.max_duty_cycle()
    }

    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), PinFault> {
        self.0
            .set_duty_cycle(duty)
            .map_err(|e| PinFault(detail(&e)))
    }
}

/// An input pin of any board: the button or a shutter sensor.
pub struct AnyInput(Box<dyn InputPin<Error = PinFault> + Send>);

/// An output pin of any board: an element of the LED.
pub struct AnyOutput(Box<dyn OutputPin<Error = PinFault> + Send>);

/// The shutter servo's PWM on any board.
pub struct AnyServo(Box<dyn SetDutyCycle<Error = PinFault> + Send>);

impl AnyInput {
    /// Wraps a backend's input pin.
    pub fn new<P: InputPin + Send + 'static>(pin: P) -> Self {
        AnyInput(Box::new(Texted(pin)))
    }
}

impl AnyOutput {
    /// Wraps a backend's output pin.
    pub fn new<P: OutputPin + Send + 'static>(pin: P) -> Self {
        AnyOutput(Box::new(Texted(pin)))
    }
}

impl AnyServo {
    /// Wraps a backend's PWM channel.
    pub fn new<P: SetDutyCycle + Send + 'static>(pwm: P) -> Self {
        AnyServo(Box::new(TextedPwm(pwm)))
    }
}

impl fmt::Debug for AnyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnyInput")
    }
}

impl fmt::Debug for AnyOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnyOutput")
    }
}

impl fmt::Debug for AnyServo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnyServo")
    }
}

impl digital::ErrorType for AnyInput {
    type Error = PinFault;
}

impl InputPin for AnyInput {
    fn is_high(&mut self) -> Result<bool, PinFault> {
        self.0.is_high()
    }

    fn is_low(&mut self) -> Result<bool, PinFault> {
        self.0.is_low()
    }
}

impl digital::ErrorType for AnyOutput {
    type Error = PinFault;
}

impl OutputPin for AnyOutput {
    fn set_low(&mut self) -> Result<(), PinFault> {
        self.0.set_low()
    }

    fn set_high(&mut self) -> Result<(), PinFault> {
        self.0.set_high()
    }
}

impl pwm::ErrorType for AnyServo {
    type Error = PinFault;
}

impl SetDutyCycle for AnyServo {
    fn max_duty_cycle(&self) -> u16 {
        self.0.max_duty_cycle()
    }

    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), PinFault> {
        self.0.set_duty_cycle(duty)
    }
}

/// The room's pins, opened, on any board.
#[derive(Debug)]
pub struct BoardPins {
    /// The button.
    pub button: AnyInput,
    /// The level of the button's pin while it is pressed.
    pub button_active: ActiveLevel,
    /// The shutter's open sensor.
    pub open_sensor: AnyInput,
    /// The shutter's closed sensor.
    pub closed_sensor: AnyInput,
    /// The shutter's servo; None for a manual shutter.
    pub servo: Option<AnyServo>,
    /// The LED's red element, high to light.
    pub led_red: AnyOutput,
    /// The LED's green element, high to light.
    pub led_green: AnyOutput,
}

impl BoardPins {
    /// The pins of a simulated board, with a servo when `motorized`.
    pub fn simulated(board: &SimBoard, settings: &ShutterSettings, motorized: bool) -> Self {
        BoardPins {
            button: AnyInput::new(board.button()),
            button_active: settings.sensor_active,
            open_sensor: AnyInput::new(board.open_sensor()),
            closed_sensor: AnyInput::new(board.closed_sensor()),
            servo: motorized.then(|| AnyServo::new(board.servo())),
            led_red: AnyOutput::new(board.led_red()),
            led_green: AnyOutput::new(board.led_green()),
        }
    }
}

#[cfg(feature = "rpi")]
impl From<crate::rpi::RpiPins> for BoardPins {
    fn from(pins: crate::rpi::RpiPins) -> Self {
        BoardPins {
            button: AnyInput::new(pins.button),
            // Wired to ground with the Pi's pull-up.
            button_active: ActiveLevel::Low,
            open_sensor: AnyInput::new(pins.open_sensor),
            closed_sensor: AnyInput::new(pins.closed_sensor),
            servo: pins.servo.map(AnyServo::new),
            led_red: AnyOutput::new(pins.led_red),
            led_green: AnyOutput::new(pins.led_green),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{Button, ButtonEvent, Led, LedPattern, Shutter, ShutterKind, ShutterPosition};

    #[test]
    fn the_drivers_run_on_a_simulated_board_s_pins_as_on_its_own() {
        let settings = ShutterSettings::default();
        let board = SimBoard::new(settings, Duration::from_millis(100));
        let pins = BoardPins::simulated(&board, &settings, true);
        let start = Instant::now();
        let mut shutter = Shutter::new(
            pins.open_sensor,
            pins.closed_sensor,
            pins.servo,
            settings,
            start,
        )
        .unwrap();
        assert_eq!(shutter.kind(), ShutterKind::Motorized);
        let mut button = Button::new(pins.button, pins.button_active);
        let mut led = Led::new(pins.led_red, pins.led_green, ActiveLevel::High, start).unwrap();
        led.set(LedPattern::Live, start).unwrap();
        assert_eq!(board.led(), (true, false));

        shutter.open(start).unwrap();
        let mut pressed = false;
        for ms in (0..1_000).step_by(5) {
            let now = start + Duration::from_millis(ms);
            // The button counts a press once it has been seen released.
            board.set_pressed((100..200).contains(&ms));
            board.tick(now);
            pressed |= button.poll(now).unwrap() == Some(ButtonEvent::Press);
            shutter.poll(now).unwrap();
        }
        assert!(pressed, "the button's press came through");
        assert_eq!(shutter.position(), ShutterPosition::Open);
    }

    #[test]
    fn a_simulated_board_without_a_servo_has_a_manual_shutter() {
        let settings = ShutterSettings::default();
        let board = SimBoard::new(settings, Duration::from_millis(100));
        let pins = BoardPins::simulated(&board, &settings, false);
        let shutter = Shutter::new(
            pins.open_sensor,
            pins.closed_sensor,
            pins.servo,
            settings,
            Instant::now(),
        )
        .unwrap();
        assert_eq!(shutter.kind(), ShutterKind::Manual);
    }

    #[test]
    fn a_pin_s_fault_keeps_its_backend_s_words() {
        let fault = PinFault("no permission on /dev/gpiochip0".into());
        assert_eq!(format!("{fault:?}"), "no permission on /dev/gpiochip0");
    }
}
