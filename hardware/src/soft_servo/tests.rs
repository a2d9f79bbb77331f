use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use embedded_hal::digital::{ErrorKind, ErrorType, OutputPin};

use super::*;

/// A short hold, so that each test takes a dozen periods, not seconds.
const TEST_HOLD: Duration = Duration::from_millis(300);

/// 1500 µs: the servo's middle.
const MIDDLE: u16 = 1500;

/// Every level written, with when; shared with the test.
type Edges = Arc<Mutex<Vec<(Instant, bool)>>>;

/// An output line that records its edges, and fails from the given rising
/// edge on.
#[derive(Debug)]
struct Recorder {
    edges: Edges,
    fail_from_rise: Option<usize>,
    rises: usize,
}

#[derive(Debug)]
struct Broken;

impl embedded_hal::digital::Error for Broken {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

impl ErrorType for Recorder {
    type Error = Broken;
}

impl OutputPin for Recorder {
    fn set_low(&mut self) -> Result<(), Broken> {
        self.edges.lock().unwrap().push((Instant::now(), false));
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Broken> {
        self.rises += 1;
        if self.fail_from_rise.is_some_and(|n| self.rises >= n) {
            return Err(Broken);
        }
        self.edges.lock().unwrap().push((Instant::now(), true));
        Ok(())
    }
}

fn servo(fail_from_rise: Option<usize>) -> (SoftServo, Edges) {
    let edges = Edges::default();
    let line = Recorder {
        edges: Arc::clone(&edges),
        fail_from_rise,
        rises: 0,
    };
    (SoftServo::spawn(line, TEST_HOLD).unwrap(), edges)
}

/// The pulses in `edges`: (rising edge, width), checking that every rising
/// edge is followed by a falling one and that no level is written twice.
fn pulses(edges: &[(Instant, bool)]) -> Vec<(Instant, Duration)> {
    let mut pulses = Vec::new();
    let mut high = None;
    for &(at, level) in edges {
        match (high, level) {
            (None, true) => high = Some(at),
            (Some(since), false) => {
                pulses.push((since, at - since));
                high = None;
            }
            // Low again while low: the start, or the end of the pulses.
            (None, false) => {}
            (Some(_), true) => panic!("two rising edges in a row: {edges:?}"),
        }
    }
    assert_eq!(high, None, "the line was left high: {edges:?}");
    pulses
}

/// Waits (boundedly) until the line has sent `n` pulses.
fn wait_for_pulses(edges: &Edges, n: usize) {
    for _ in 0..500 {
        if pulses_so_far(edges) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("fewer than {n} pulses in 5 s");
}

fn pulses_so_far(edges: &Edges) -> usize {
    edges
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, high)| !high)
        .count()
}

#[test]
fn starts_low_and_sends_nothing_until_told() {
    let (servo, edges) = servo(None);
    std::thread::sleep(SERVO_PERIOD * 3);
    drop(servo);
    let edges = edges.lock().unwrap();
    assert!(!edges.is_empty(), "the line was not driven low at start");
    assert!(edges.iter().all(|(_, high)| !high), "{edges:?}");
}

#[test]
fn pulses_are_never_shorter_than_asked_and_come_every_period() {
    let (mut servo, edges) = servo(None);
    let told = Instant::now();
    servo.set_duty_cycle(MIDDLE).unwrap();
    // The drop waits for the hold to run out.
    drop(servo);
    assert!(told.elapsed() >= TEST_HOLD, "the drop cut the pulses short");
    let edges = edges.lock().unwrap();
    let pulses = pulses(&edges);
    assert!(!pulses.is_empty(), "no pulse sent");
    // Pulses start only while the hold lasts, a period apart at least.
    let most = (TEST_HOLD.as_micros() / SERVO_PERIOD.as_micros()) as usize + 1;
    assert!(
        pulses.len() <= most,
        "{} pulses, at most {most}",
        pulses.len()
    );
    for (_, width) in &pulses {
        assert!(*width >= Duration::from_micros(1500), "{width:?} is short");
    }
    for pair in pulses.windows(2) {
        let period = pair[1].0 - pair[0].0;
        assert!(period >= SERVO_PERIOD, "pulses {period:?} apart");
    }
}

#[test]
fn each_command_starts_a_new_hold_with_its_width() {
    let (mut servo, edges) = servo(None);
    servo.set_duty_cycle(1000).unwrap();
    wait_for_pulses(&edges, 1);
    servo.set_duty_cycle(2000).unwrap();
    let second = Instant::now();
    drop(servo);
    assert!(
        second.elapsed() >= TEST_HOLD,
        "the second command's hold was cut short"
    );
    let edges = edges.lock().unwrap();
    let pulses = pulses(&edges);
    // At most one pulse of the old width can start after the new command.
    let late_short = pulses
        .iter()
        .filter(|(at, width)| *at > second && *width < Duration::from_micros(2000))
        .count();
    assert!(
        late_short <= 1,
        "{late_short} old pulses after the new command"
    );
    assert!(
        pulses
            .iter()
            .any(|(_, w)| *w >= Duration::from_micros(2000)),
        "no pulse of the new width"
    );
}

#[test]
fn zero_stops_the_pulses_at_once() {
    let (mut servo, edges) = servo(None);
    servo.set_duty_cycle(MIDDLE).unwrap();
    wait_for_pulses(&edges, 1);
    servo.set_duty_cycle(0).unwrap();
    let stopped = Instant::now();
    drop(servo);
    // Nothing left to finish: the drop does not wait out the hold.
    let edges = edges.lock().unwrap();
    let after = pulses(&edges)
        .iter()
        .filter(|(at, _)| *at > stopped)
        .count();
    // One pulse may have been under way.
    assert!(after <= 1, "{after} pulses after the stop");
    assert_eq!(edges.last().map(|(_, high)| *high), Some(false));
}

#[test]
fn a_broken_line_stops_the_pulses_and_says_so_once() {
    let (mut servo, edges) = servo(Some(3));
    servo.set_duty_cycle(MIDDLE).unwrap();
    let mut reported = None;
    for _ in 0..500 {
        std::thread::sleep(Duration::from_millis(10));
        if let Err(e) = servo.set_duty_cycle(MIDDLE) {
            reported = Some(e);
            break;
        }
    }
    let e = reported.expect("the broken line was never reported");
    assert_eq!(e.to_string(), "Broken");
    drop(servo);
    let edges = edges.lock().unwrap();
    assert_eq!(pulses(&edges).len(), 2, "pulses after the line broke");
    assert_eq!(edges.last().map(|(_, high)| *high), Some(false));
}

#[test]
fn the_duty_cycle_is_in_microseconds() {
    let (servo, _) = servo(None);
    assert_eq!(servo.max_duty_cycle(), 20_000);
}

/// A sensor that is never made.
#[derive(Debug)]
struct Released;

impl ErrorType for Released {
    type Error = Infallible;
}

impl embedded_hal::digital::InputPin for Released {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(true)
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(false)
    }
}

#[test]
fn a_shutter_dropped_gets_its_closing_pulses_before_the_drop_returns() {
    let (servo, edges) = servo(None);
    let settings = crate::ShutterSettings::default();
    let mut shutter =
        crate::Shutter::motorized(Released, Released, servo, settings, Instant::now()).unwrap();
    shutter.open(Instant::now()).unwrap();
    wait_for_pulses(&edges, 1);
    let dropped = Instant::now();
    drop(shutter);
    assert!(
        dropped.elapsed() >= TEST_HOLD,
        "the closing pulses were cut short"
    );
    let edges = edges.lock().unwrap();
    let closing: Vec<_> = pulses(&edges)
        .into_iter()
        .filter(|(at, _)| *at > dropped)
        .collect();
    assert!(!closing.is_empty(), "no pulse after the drop");
    // The pulses after the drop are the closed ones (1 ms), not the open
    // ones (2 ms); one open pulse may have been under way, and a busy
    // machine may stretch the odd one.
    let short = closing
        .iter()
        .filter(|(_, width)| *width < settings.open_pulse)
        .count();
    assert!(short * 2 > closing.len(), "{closing:?}");
}
