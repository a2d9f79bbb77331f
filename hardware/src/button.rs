//! The room's one button: debounced, with short and long presses.
//!
//! The daemon polls [`Button::poll`] every few milliseconds and feeds the
//! events to the session state machine. Guarantees: a bouncing contact gives
//! exactly one event per press; a long press (held [`LONG_PRESS`]) is reported
//! once, while still held, and is never followed by a short press; a button
//! held down (stuck, or pressed when the daemon started) gives at most that one
//! event until it is released, and [`Button::is_stuck`] says so after
//! [`STUCK_AFTER`]. A pin error is returned, never a panic.

use std::time::{Duration, Instant};

use embedded_hal::digital::InputPin;

use crate::{ActiveLevel, detail};

/// How long a level must hold before it counts. Switch contacts bounce for a
/// few milliseconds (5 to 20 ms for the usual tactile and arcade buttons); 30 ms
/// is past that, yet far below what a therapist would notice as lag.
pub const DEBOUNCE: Duration = Duration::from_millis(30);

/// Held this long, a press ends the session (DESIGN: "Long press (2 s)").
pub const LONG_PRESS: Duration = Duration::from_secs(2);

/// Held this long, the button is taken to be stuck: nobody holds a button for
/// half a minute on purpose, and the TV should say so instead of ignoring it.
pub const STUCK_AFTER: Duration = Duration::from_secs(30);

/// What the therapist did with the button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ButtonEvent {
    /// Pressed and released before [`LONG_PRESS`]: admit, pause or resume.
    Press,
    /// Held for [`LONG_PRESS`]: end the session. Sent once, without waiting
    /// for the release; the release that follows sends nothing.
    LongPress,
}

/// Why the button could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ButtonError {
    /// The button's GPIO could not be read.
    #[error(
        "could not read the button's GPIO (setting hardware.pins.button): {detail}; \
         check the pin number and that no other program uses that GPIO"
    )]
    Read {
        /// What the GPIO backend reported.
        detail: String,
    },
}

/// A debounced button on one input pin.
///
/// Poll it more often than [`DEBOUNCE`] (every 5 to 10 ms): a level seen by
/// fewer than two polls cannot be told from a bounce.
#[derive(Debug)]
pub struct Button<P> {
    pin: P,
    active: ActiveLevel,
    /// The last sample, and when that level was first seen.
    raw: Option<(bool, Instant)>,
    /// The debounced level: true when pressed.
    pressed: bool,
    /// When the debounced press began (its first sample, not the end of the
    /// debounce window, so that press lengths are what the therapist did).
    pressed_since: Option<Instant>,
    long_sent: bool,
    /// A press counts only once the button has been seen released: a button
    /// held when the daemon starts (stuck, or leant on) must not end a session.
    armed: bool,
    stuck: bool,
}

impl<P: InputPin> Button<P> {
    /// A button on `pin`; `active` is the level it reads when pressed
    /// ([`ActiveLevel::Low`] for a button to ground with a pull-up).
    pub fn new(pin: P, active: ActiveLevel) -> Self {
        Button {
            pin,
            active,
            raw: None,
            pressed: false,
            pressed_since: None,
            long_sent: false,
            armed: false,
            stuck: false,
        }
    }

    /// Reads the pin once and says what happened, if anything.
    pub fn poll(&mut self, now: Instant) -> Result<Option<ButtonEvent>, ButtonError> {
        let level = self
            .active
            .is_active(&mut self.pin)
            .map_err(|e| ButtonError::Read { detail: detail(&e) })?;
        Ok(self.update(level, now))
    }

    /// True while the button is (debounced) held down.
    pub fn is_pressed(&self) -> bool {
        self.pressed
    }

    /// True once the button has been held for [`STUCK_AFTER`], as of the last
    /// poll, until it is released: the daemon shows a fault for it.
    pub fn is_stuck(&self) -> bool {
        self.stuck
    }

    /// Gives the pin back.
    pub fn into_inner(self) -> P {
        self.pin
    }

    fn update(&mut self, level: bool, now: Instant) -> Option<ButtonEvent> {
        let since = match self.raw {
            Some((last, since)) if last == level => since,
            _ => {
                self.raw = Some((level, now));
                now
            }
        };
        let held = now.saturating_duration_since(since);
        if held < DEBOUNCE {
            return None;
        }
        if level && !self.pressed {
            self.pressed = true;
            self.pressed_since = Some(since);
            self.long_sent = false;
        } else if !level {
            let was_pressed = std::mem::replace(&mut self.pressed, false);
            self.pressed_since = None;
            self.stuck = false;
            let event = was_pressed && self.armed && !self.long_sent;
            self.armed = true;
            if event {
                return Some(ButtonEvent::Press);
            }
            return None;
        }
        // Held down from here on.
        let held = now.saturating_duration_since(self.pressed_since.unwrap_or(since));
        self.stuck = held >= STUCK_AFTER;
        if self.armed && !self.long_sent && held >= LONG_PRESS {
            self.long_sent = true;
            return Some(ButtonEvent::LongPress);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::MockError;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};

    const MS: Duration = Duration::from_millis(1);

    /// Polls a button (active low) every `step` with the given pin levels
    /// (true = pressed) and returns each event with the poll index it came at.
    fn run(levels: &[bool], step: Duration) -> (Vec<(usize, ButtonEvent)>, bool) {
        let tx: Vec<_> = levels
            .iter()
            .map(|&p| Transaction::get(if p { State::Low } else { State::High }))
            .collect();
        let mut pin = Mock::new(&tx);
        let mut button = Button::new(pin.clone(), ActiveLevel::Low);
        let t0 = Instant::now();
        let mut events = Vec::new();
        for i in 0..levels.len() {
            let now = t0 + step * u32::try_from(i).unwrap();
            if let Some(e) = button.poll(now).unwrap() {
                events.push((i, e));
            }
        }
        let stuck = button.is_stuck();
        pin.done();
        (events, stuck)
    }

    /// `n` polls at one level.
    fn hold(pressed: bool, n: usize) -> Vec<bool> {
        vec![pressed; n]
    }

    #[test]
    fn clean_short_press_is_one_press_on_release() {
        // 5 ms polls: 100 ms released, 200 ms pressed, 100 ms released.
        let levels = [hold(false, 20), hold(true, 40), hold(false, 20)].concat();
        let (events, _) = run(&levels, 5 * MS);
        // The release is confirmed 30 ms (6 polls) after it began at poll 60.
        assert_eq!(events, [(66, ButtonEvent::Press)]);
    }

    #[test]
    fn bouncing_contacts_give_exactly_one_press() {
        let bounce = [true, false, true, true, false, true, false];
        let release_bounce = [false, true, false, false, true, false];
        let levels = [
            hold(false, 20),
            bounce.to_vec(),
            hold(true, 30),
            release_bounce.to_vec(),
            hold(false, 30),
        ]
        .concat();
        let (events, _) = run(&levels, 2 * MS);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].1, ButtonEvent::Press);
    }

    #[test]
    fn a_glitch_shorter_than_the_debounce_is_ignored() {
        let levels = [hold(false, 10), hold(true, 5), hold(false, 20)].concat();
        let (events, _) = run(&levels, 5 * MS);
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn long_press_fires_once_while_held_and_release_adds_nothing() {
        // 50 ms polls: released 0.5 s, held 3 s, released 0.5 s.
        let levels = [hold(false, 10), hold(true, 60), hold(false, 10)].concat();
        let (events, stuck) = run(&levels, 50 * MS);
        // Pressed at poll 10 (0.5 s); 2 s later is poll 50, still held.
        assert_eq!(events, [(50, ButtonEvent::LongPress)]);
        assert!(!stuck);
    }

    #[test]
    fn just_under_two_seconds_is_a_short_press() {
        let levels = [hold(false, 10), hold(true, 39), hold(false, 10)].concat();
        let (events, _) = run(&levels, 50 * MS);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].1, ButtonEvent::Press);
    }

    #[test]
    fn stuck_button_gives_one_long_press_then_reports_stuck() {
        // 100 ms polls for 40 s, held from 1 s on.
        let levels = [hold(false, 10), hold(true, 390)].concat();
        let (events, stuck) = run(&levels, 100 * MS);
        assert_eq!(events, [(30, ButtonEvent::LongPress)]);
        assert!(stuck);
    }

    #[test]
    fn stuck_clears_on_release_and_the_next_press_works() {
        let levels = [
            hold(false, 10),
            hold(true, 320),
            hold(false, 10),
            hold(true, 5),
            hold(false, 5),
        ]
        .concat();
        let (events, stuck) = run(&levels, 100 * MS);
        let kinds: Vec<_> = events.iter().map(|e| e.1).collect();
        assert_eq!(kinds, [ButtonEvent::LongPress, ButtonEvent::Press]);
        assert!(!stuck);
    }

    #[test]
    fn held_at_start_gives_nothing_until_released_but_is_stuck() {
        let levels = hold(true, 350);
        let (events, stuck) = run(&levels, 100 * MS);
        assert!(events.is_empty(), "{events:?}");
        assert!(stuck);

        // Released after being held at start: still no event for that press.
        let levels = [
            hold(true, 30),
            hold(false, 5),
            hold(true, 5),
            hold(false, 5),
        ]
        .concat();
        let (events, _) = run(&levels, 100 * MS);
        let kinds: Vec<_> = events.iter().map(|e| e.1).collect();
        assert_eq!(kinds, [ButtonEvent::Press]);
    }

    #[test]
    fn active_high_wiring() {
        let tx = [
            Transaction::get(State::Low),
            Transaction::get(State::Low),
            Transaction::get(State::High),
            Transaction::get(State::High),
            Transaction::get(State::Low),
            Transaction::get(State::Low),
        ];
        let mut pin = Mock::new(&tx);
        let mut button = Button::new(pin.clone(), ActiveLevel::High);
        let t0 = Instant::now();
        let events: Vec<_> = (0..6u32)
            .filter_map(|i| button.poll(t0 + 40 * MS * i).unwrap())
            .collect();
        assert_eq!(events, [ButtonEvent::Press]);
        pin.done();
    }

    #[test]
    fn pin_error_is_returned_not_a_panic() {
        let err = MockError::Io(std::io::ErrorKind::NotConnected);
        let tx = [
            Transaction::get(State::High).with_error(err),
            Transaction::get(State::High),
        ];
        let mut pin = Mock::new(&tx);
        let mut button = Button::new(pin.clone(), ActiveLevel::Low);
        let t0 = Instant::now();
        let e = button.poll(t0).unwrap_err();
        assert!(e.to_string().contains("hardware.pins.button"), "{e}");
        assert!(e.to_string().contains("NotConnected"), "{e}");
        assert_eq!(button.poll(t0 + MS).unwrap(), None);
        assert!(!button.is_pressed());
        pin.done();
    }
}
