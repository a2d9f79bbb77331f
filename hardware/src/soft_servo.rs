//! Servo pulses timed in software on a plain GPIO output line, for a box
//! whose servo pin has no usable hardware PWM channel.
//!
//! The appliance's own Raspberry Pi image is such a box: Debian's device
//! trees leave the PWM block that drives GPIO 12, 13, 18 and 19 disabled, the
//! firmware's overlays that would enable it are not shipped, and the daemon's
//! sandbox keeps `/sys` (where Linux 6.1 exposes PWM) read-only. The GPIO
//! character device, which the daemon already uses for every other pin,
//! needs none of that.
//!
//! Software timing jitters when the machine is busy, and a servo fed jittery
//! pulses buzzes and creeps. So the pulses run only for [`HOLD`] after each
//! command, long enough for a hobby servo to travel end to end (well under a
//! second), and then stop: a servo with no pulse lets go and stays where it
//! is, and the shutter's sensors still say where that is. Each pulse is
//! never shorter than asked: the line goes low only once the pulse's time
//! has passed. The thread spins through each pulse (1 to 2.5 ms in 20, and
//! only while the pulses run) rather than sleep through it, since a thread
//! woken late would stretch the pulse, and sleeps between pulses, where
//! waking late only stretches the period, which servos take.
//! `cargo bench -p appliance-hardware --bench servo` measures both.
//!
//! One thread per servo does the timing. Guarantees: the line is low between
//! pulses, when the pulses stop, and when the thread ends; [`SoftServo`]'s
//! drop lets the last command's pulses run their course (at most [`HOLD`])
//! before it returns, so a shutter driven closed as it is dropped gets there;
//! a line that fails to switch stops the pulses, and the next command returns
//! the error.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use embedded_hal::digital::OutputPin;
use embedded_hal::pwm::{ErrorKind, ErrorType, SetDutyCycle};

use crate::detail;
use crate::pins::{SERVO_STEPS, pulse_width};
use crate::shutter::SERVO_PERIOD;

/// How long the pulses run after each command: a hobby servo travels end to
/// end in well under a second.
pub const HOLD: Duration = Duration::from_secs(2);

/// What the servo has been told, shared with its thread.
#[derive(Debug, Default)]
struct State {
    /// The pulse to send; zero for none.
    pulse: Duration,
    /// When the pulses stop.
    until: Option<Instant>,
    /// Set by drop: end the thread once the pulses have stopped.
    quit: bool,
    /// Why the line could not be switched, until the next command reports it.
    error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    /// The state, even if a thread panicked while holding it: it is plain
    /// data, valid at every step.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A 50 Hz servo signal on a GPIO output line, as an embedded-hal PWM with
/// [`SERVO_STEPS`] steps of one microsecond. A duty cycle of zero stops
/// the pulses at once.
#[derive(Debug)]
pub struct SoftServo {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    hold: Duration,
}

impl SoftServo {
    /// Starts the timing thread for `line`, which it drives low at once;
    /// each command's pulses run for `hold` ([`HOLD`] on the box).
    pub fn spawn<P>(mut line: P, hold: Duration) -> std::io::Result<Self>
    where
        P: OutputPin + Send + 'static,
    {
        let shared = Arc::new(Shared::default());
        if let Err(e) = line.set_low() {
            shared.lock().error = Some(detail(&e));
        }
        let thread = std::thread::Builder::new().name("servo".into()).spawn({
            let shared = Arc::clone(&shared);
            move || pulse_loop(&shared, &mut line)
        })?;
        Ok(SoftServo {
            shared,
            thread: Some(thread),
            hold,
        })
    }
}

/// Sends pulses while a command's hold lasts, waits for the next command
/// otherwise, and returns once told to quit with no pulses left to send.
fn pulse_loop<P: OutputPin>(shared: &Shared, line: &mut P) {
    loop {
        let pulse = {
            let mut state = shared.lock();
            loop {
                let pulsing = matches!(state.until, Some(until) if Instant::now() < until);
                if pulsing && !state.pulse.is_zero() {
                    break state.pulse;
                }
                state.until = None;
                if state.quit {
                    return;
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        if let Err(e) = one_pulse(line, pulse) {
            // Leave the line low if it can be; the next command reports why.
            let _ = line.set_low();
            let mut state = shared.lock();
            state.error = Some(e);
            state.until = None;
        }
    }
}

/// One period: the line high for at least `pulse`, then low until the
/// period is over.
fn one_pulse<P: OutputPin>(line: &mut P, pulse: Duration) -> Result<(), String> {
    line.set_high().map_err(|e| detail(&e))?;
    // Measured once the line is high, so the pulse is never short. Spun
    // through, not slept: a thread woken late from a sleep would make the
    // pulse long, and a long pulse moves the servo.
    let start = Instant::now();
    while Instant::now() < start + pulse {
        std::hint::spin_loop();
    }
    line.set_low().map_err(|e| detail(&e))?;
    // Waking late here only makes the period longer, which servos take.
    let left = (start + SERVO_PERIOD).saturating_duration_since(Instant::now());
    std::thread::sleep(left);
    Ok(())
}

/// A command the servo's line could not carry out, with the GPIO's words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SoftServoError(String);

impl embedded_hal::pwm::Error for SoftServoError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

impl ErrorType for SoftServo {
    type Error = SoftServoError;
}

impl SetDutyCycle for SoftServo {
    fn max_duty_cycle(&self) -> u16 {
        SERVO_STEPS
    }

    /// Starts `hold` of pulses of the new width (none for zero). If the line
    /// failed since the last command, returns that error instead and starts
    /// nothing; the command after that tries the line again.
    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), SoftServoError> {
        let mut state = self.shared.lock();
        if let Some(e) = state.error.take() {
            state.pulse = Duration::ZERO;
            state.until = None;
            return Err(SoftServoError(e));
        }
        state.pulse = pulse_width(duty, SERVO_STEPS, SERVO_PERIOD);
        state.until = Some(Instant::now() + self.hold);
        drop(state);
        self.shared.changed.notify_one();
        Ok(())
    }
}

impl Drop for SoftServo {
    /// Lets the last command's pulses finish, then ends the thread.
    fn drop(&mut self) {
        self.shared.lock().quit = true;
        self.shared.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            // A panicked thread has nothing left to finish.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests;
