//! The room's LED: a red and a green element, amber when both are lit.
//!
//! The daemon sets the [`LedPattern`] derived from the session (the LED shows the
//! truth: red whenever camera frames can leave) and
//! calls [`Led::tick`] every few tens of milliseconds to blink it. Guarantees:
//! a new pattern shows at once (a blink starts lit), a pin is written only when
//! its level changes, a pin error is returned (and the pin rewritten on the next
//! tick), and the LED is turned off when the driver is dropped.

use std::time::{Duration, Instant};

use embedded_hal::digital::OutputPin;

use crate::{ActiveLevel, LedPattern, detail};

/// Half a period of the slow amber blink (1 Hz): calm, for "a patient waits".
pub const WAITING_HALF_PERIOD: Duration = Duration::from_millis(500);

/// Half a period of the fast red blink (4 Hz): hard to miss, for "something is wrong".
pub const FAULT_HALF_PERIOD: Duration = Duration::from_millis(125);

/// Why the LED could not be set.
#[derive(Debug, thiserror::Error)]
pub enum LedError {
    /// The red element's GPIO refused a level.
    #[error(
        "could not set the LED's red GPIO (setting hardware.pins.led_red): {detail}; \
         check the pin number and that no other program uses that GPIO"
    )]
    Red {
        /// What the GPIO backend reported.
        detail: String,
    },
    /// The green element's GPIO refused a level.
    #[error(
        "could not set the LED's green GPIO (setting hardware.pins.led_green): {detail}; \
         check the pin number and that no other program uses that GPIO"
    )]
    Green {
        /// What the GPIO backend reported.
        detail: String,
    },
}

/// A two-element LED showing one [`LedPattern`].
#[derive(Debug)]
pub struct Led<P: OutputPin> {
    red: P,
    green: P,
    active: ActiveLevel,
    pattern: LedPattern,
    /// When the pattern was set: blinks are timed from it.
    since: Instant,
    /// The level last written to each element (true = lit); None when unknown
    /// (never written, or the last write failed), so the next tick writes it.
    red_lit: Option<bool>,
    green_lit: Option<bool>,
}

impl<P: OutputPin> Led<P> {
    /// An LED on `red` and `green`; `active` is the level that lights an
    /// element ([`ActiveLevel::High`] for an LED from the pin to ground).
    /// Turns both elements off, whatever a previous run left on.
    pub fn new(red: P, green: P, active: ActiveLevel, now: Instant) -> Result<Self, LedError> {
        let mut led = Led {
            red,
            green,
            active,
            pattern: LedPattern::Off,
            since: now,
            red_lit: None,
            green_lit: None,
        };
        led.tick(now)?;
        Ok(led)
    }

    /// Shows `pattern` from `now` on; the same pattern again changes nothing,
    /// so a blink keeps its rhythm.
    pub fn set(&mut self, pattern: LedPattern, now: Instant) -> Result<(), LedError> {
        if pattern != self.pattern {
            self.pattern = pattern;
            self.since = now;
        }
        self.tick(now)
    }

    /// The pattern shown.
    pub fn pattern(&self) -> LedPattern {
        self.pattern
    }

    /// Brings the elements to what the pattern shows at `now`. Call it at
    /// least every 60 ms, or the 125 ms fault blink loses steps.
    pub fn tick(&mut self, now: Instant) -> Result<(), LedError> {
        let (red, green) = levels(self.pattern, now.saturating_duration_since(self.since));
        if self.red_lit != Some(red) {
            self.red_lit = None;
            write(&mut self.red, self.active, red).map_err(|detail| LedError::Red { detail })?;
            self.red_lit = Some(red);
        }
        if self.green_lit != Some(green) {
            self.green_lit = None;
            write(&mut self.green, self.active, green)
                .map_err(|detail| LedError::Green { detail })?;
            self.green_lit = Some(green);
        }
        Ok(())
    }
}

/// What the red and green elements show, `elapsed` into `pattern`.
fn levels(pattern: LedPattern, elapsed: Duration) -> (bool, bool) {
    // Blinks start lit, so a change of pattern is seen at once.
    let lit = |half: Duration| (elapsed.as_millis() / half.as_millis()).is_multiple_of(2);
    match pattern {
        LedPattern::Off => (false, false),
        LedPattern::Waiting => {
            let on = lit(WAITING_HALF_PERIOD);
            (on, on)
        }
        LedPattern::Live => (true, false),
        LedPattern::Fault => (lit(FAULT_HALF_PERIOD), false),
    }
}

fn write<P: OutputPin>(pin: &mut P, active: ActiveLevel, lit: bool) -> Result<(), String> {
    let high = lit == (active == ActiveLevel::High);
    let result = if high { pin.set_high() } else { pin.set_low() };
    result.map_err(|e| detail(&e))
}

impl<P: OutputPin> Drop for Led<P> {
    /// Off, not fault: once the driver is gone nothing can blink it, a frozen
    /// red would claim the camera is live, and off is true once the daemon,
    /// which alone sends video, is going. Written whatever was last written,
    /// since this is the last chance; errors have nobody left to go to.
    fn drop(&mut self) {
        let _ = write(&mut self.red, self.active, false);
        let _ = write(&mut self.green, self.active, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::MockError;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};

    const MS: Duration = Duration::from_millis(1);
    fn on() -> Transaction {
        Transaction::set(State::High)
    }

    fn off() -> Transaction {
        Transaction::set(State::Low)
    }

    /// The writes `new` and `drop` make around each test's own.
    fn with_new_and_drop(own: &[Transaction]) -> Vec<Transaction> {
        [&[off()][..], own, &[off()][..]].concat()
    }

    fn led(red: &[Transaction], green: &[Transaction], t0: Instant) -> (Led<Mock>, Mock, Mock) {
        let red = Mock::new(&with_new_and_drop(red));
        let green = Mock::new(&with_new_and_drop(green));
        let led = Led::new(red.clone(), green.clone(), ActiveLevel::High, t0).unwrap();
        (led, red, green)
    }

    fn finish(led: Led<Mock>, mut red: Mock, mut green: Mock) {
        drop(led);
        red.done();
        green.done();
    }

    #[test]
    fn new_turns_off_and_drop_turns_off() {
        let t0 = Instant::now();
        let (led, red, green) = led(&[], &[], t0);
        assert_eq!(led.pattern(), LedPattern::Off);
        finish(led, red, green);
    }

    #[test]
    fn live_is_solid_red_written_once() {
        let t0 = Instant::now();
        let (mut led, red, green) = led(&[on()], &[], t0);
        led.set(LedPattern::Live, t0).unwrap();
        for i in 1..100 {
            led.tick(t0 + 10 * MS * i).unwrap();
        }
        led.set(LedPattern::Live, t0 + 2000 * MS).unwrap();
        finish(led, red, green);
    }

    #[test]
    fn waiting_blinks_amber_at_one_hertz() {
        let t0 = Instant::now();
        // Lit at 0 s, off at 0.5 s, lit at 1 s, off at 1.5 s; both elements together.
        let blink = [on(), off(), on(), off()];
        let (mut led, red, green) = led(&blink, &blink, t0);
        led.set(LedPattern::Waiting, t0).unwrap();
        for i in 1..180 {
            led.tick(t0 + 10 * MS * i).unwrap();
        }
        finish(led, red, green);
    }

    #[test]
    fn fault_blinks_red_at_four_hertz() {
        let t0 = Instant::now();
        // 1 s of ticks every 25 ms: lit at 0, 250, 500, 750 ms; off in between.
        let blink: Vec<_> = (0..8)
            .map(|i| if i % 2 == 0 { on() } else { off() })
            .collect();
        let (mut led, red, green) = led(&blink, &[], t0);
        led.set(LedPattern::Fault, t0).unwrap();
        for i in 1..40 {
            led.tick(t0 + 25 * MS * i).unwrap();
        }
        finish(led, red, green);
    }

    #[test]
    fn patterns_follow_the_session() {
        let t0 = Instant::now();
        // Waiting (amber), then live (red), then a fault (red blink), then off.
        let red = [on(), off(), on(), off()];
        let green = [on(), off()];
        let (mut led, r, g) = led(&red, &green, t0);
        led.set(LedPattern::Waiting, t0).unwrap();
        // Red stays lit from amber to live: only green is written.
        led.set(LedPattern::Live, t0 + 300 * MS).unwrap();
        assert_eq!(led.pattern(), LedPattern::Live);
        // A fault starts lit, so red is not written again until it blinks off.
        led.set(LedPattern::Fault, t0 + 1000 * MS).unwrap();
        led.tick(t0 + 1130 * MS).unwrap();
        led.tick(t0 + 1250 * MS).unwrap();
        led.set(LedPattern::Off, t0 + 1300 * MS).unwrap();
        finish(led, r, g);
    }

    #[test]
    fn active_low_wiring_inverts_levels() {
        let t0 = Instant::now();
        let mut red = Mock::new(&[
            Transaction::set(State::High),
            Transaction::set(State::Low),
            Transaction::set(State::High),
        ]);
        let mut green = Mock::new(&[Transaction::set(State::High), Transaction::set(State::High)]);
        let mut led = Led::new(red.clone(), green.clone(), ActiveLevel::Low, t0).unwrap();
        led.set(LedPattern::Live, t0).unwrap();
        drop(led);
        red.done();
        green.done();
    }

    #[test]
    fn a_failed_write_is_returned_and_retried() {
        let t0 = Instant::now();
        let err = MockError::Io(std::io::ErrorKind::PermissionDenied);
        let red = [on().with_error(err), on()];
        let (mut led, r, g) = led(&red, &[], t0);
        let e = led.set(LedPattern::Live, t0).unwrap_err();
        assert!(e.to_string().contains("hardware.pins.led_red"), "{e}");
        assert!(e.to_string().contains("PermissionDenied"), "{e}");
        led.tick(t0 + 10 * MS).unwrap();
        led.tick(t0 + 20 * MS).unwrap();
        finish(led, r, g);
    }
}
