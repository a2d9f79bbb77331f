//! The shutter's rules, each as a script of sensor readings and commands
//! checked against the exact pin and PWM transactions it must make.

use super::*;
use ShutterPosition::{Closed, Closing, Jammed, Open, Opening};
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};
use embedded_hal_mock::eh1::pwm::{Mock as PwmMock, Transaction as PwmTx};

/// With a 20000-step PWM at 50 Hz, 1 ms and 2 ms pulses are these duties.
const MAX: u16 = 20_000;
const CLOSED: u16 = 1_000;
const OPEN: u16 = 2_000;

#[derive(Debug, Clone, Copy)]
enum Step {
    /// At this many ms: the open and closed sensors read (true = made).
    Poll(u64, bool, bool),
    Open(u64),
    Close(u64),
}
use Step::{Close as CloseAt, Open as OpenAt, Poll};

/// Polls every `step` ms from `from` (inclusive) to `to` (exclusive).
fn polls(from: u64, to: u64, step: u64, open: bool, closed: bool) -> Vec<Step> {
    (from..to)
        .step_by(usize::try_from(step).unwrap())
        .map(|t| Poll(t, open, closed))
        .collect()
}

/// Sensors in tests are active-high, so that "made" reads High.
fn settings() -> ShutterSettings {
    ShutterSettings {
        sensor_active: ActiveLevel::High,
        ..ShutterSettings::default()
    }
}

fn sensor_mocks(steps: &[Step]) -> (PinMock, PinMock) {
    let level = |made: bool| PinTx::get(if made { State::High } else { State::Low });
    let (mut open, mut closed) = (Vec::new(), Vec::new());
    for step in steps {
        if let Poll(_, o, c) = *step {
            open.push(level(o));
            closed.push(level(c));
        }
    }
    (PinMock::new(&open), PinMock::new(&closed))
}

#[derive(Debug, Default)]
struct Outcome {
    positions: Vec<(u64, ShutterPosition)>,
    refused: Vec<u64>,
}

impl Outcome {
    /// The positions a watcher would see, each change once.
    fn changes(&self) -> Vec<ShutterPosition> {
        let mut seen: Vec<ShutterPosition> = Vec::new();
        for &(_, p) in &self.positions {
            if seen.last() != Some(&p) {
                seen.push(p);
            }
        }
        seen
    }

    fn at(&self, ms: u64) -> ShutterPosition {
        self.positions.iter().find(|(t, _)| *t == ms).unwrap().1
    }
}

fn drive<M: SetDutyCycle>(
    shutter: &mut Shutter<PinMock, M>,
    steps: &[Step],
    t0: Instant,
) -> Outcome {
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut out = Outcome::default();
    for step in steps {
        match *step {
            Poll(t, _, _) => out.positions.push((t, shutter.poll(at(t)).unwrap())),
            OpenAt(t) => match shutter.open(at(t)) {
                Ok(()) => {}
                Err(ShutterError::Jammed) => out.refused.push(t),
                Err(e) => panic!("{e}"),
            },
            CloseAt(t) => shutter.close(at(t)).unwrap(),
        }
    }
    out
}

/// Runs a motorized shutter through `steps`; `pwm` is what the servo must
/// see after the constructor's close and before the drop's close.
fn motorized(steps: &[Step], pwm: &[PwmTx]) -> Outcome {
    let (mut open, mut closed) = sensor_mocks(steps);
    let expected: Vec<_> = [
        vec![PwmTx::max_duty_cycle(MAX), PwmTx::set_duty_cycle(CLOSED)],
        pwm.to_vec(),
        vec![PwmTx::set_duty_cycle(CLOSED)],
    ]
    .concat();
    let mut servo = PwmMock::new(&expected);
    let t0 = Instant::now();
    let mut shutter =
        Shutter::motorized(open.clone(), closed.clone(), servo.clone(), settings(), t0).unwrap();
    assert_eq!(shutter.kind(), ShutterKind::Motorized);
    let out = drive(&mut shutter, steps, t0);
    drop(shutter);
    open.done();
    closed.done();
    servo.done();
    out
}

#[test]
fn opens_when_the_open_sensor_arrives_and_closes_again() {
    let steps = [
        polls(0, 30, 5, false, true),
        vec![OpenAt(30)],
        polls(30, 200, 5, false, true),
        polls(200, 600, 5, false, false),
        polls(600, 700, 5, true, false),
        vec![CloseAt(700)],
        polls(700, 800, 5, true, false),
        polls(800, 1000, 5, false, false),
        polls(1000, 1100, 5, false, true),
    ]
    .concat();
    let pwm = [PwmTx::set_duty_cycle(OPEN), PwmTx::set_duty_cycle(CLOSED)];
    let out = motorized(&steps, &pwm);
    assert_eq!(
        out.changes(),
        [Closing, Closed, Opening, Open, Closing, Closed]
    );
    // The sensors are the truth: commanded open, it is closed until it leaves...
    assert_eq!(out.at(195), Closed);
    // ...and open only once the open sensor has settled.
    assert_eq!(out.at(615), Opening);
    assert_eq!(out.at(620), Open);
    // Commanded closed, it is open for as long as the open sensor says so.
    assert_eq!(out.at(795), Open);
    assert_eq!(out.at(800), Closing);
}

#[test]
fn a_sensor_that_never_arrives_jams_stops_the_servo_and_refuses_to_open() {
    let steps = [
        polls(0, 30, 5, false, true),
        vec![OpenAt(30)],
        polls(30, 3100, 10, false, false),
        vec![OpenAt(3100)],
        polls(3100, 3200, 10, false, false),
        vec![CloseAt(3200)],
        polls(3200, 3300, 10, false, true),
    ]
    .concat();
    let pwm = [
        PwmTx::set_duty_cycle(OPEN),
        PwmTx::set_duty_cycle(0),
        PwmTx::set_duty_cycle(CLOSED),
    ];
    let out = motorized(&steps, &pwm);
    assert_eq!(
        out.changes(),
        [Closing, Closed, Opening, Jammed, Closing, Closed]
    );
    assert_eq!(out.at(3020), Opening);
    assert_eq!(out.at(3030), Jammed);
    assert_eq!(out.refused, [3100]);
}

#[test]
fn both_sensors_made_is_a_jam() {
    let steps = [
        polls(0, 30, 5, false, true),
        vec![OpenAt(30)],
        polls(30, 100, 5, true, true),
    ]
    .concat();
    let pwm = [PwmTx::set_duty_cycle(OPEN), PwmTx::set_duty_cycle(0)];
    let out = motorized(&steps, &pwm);
    assert_eq!(out.changes(), [Closing, Closed, Jammed]);
    assert_eq!(out.at(50), Jammed);
}

#[test]
fn a_flickering_open_sensor_is_never_open() {
    let flicker: Vec<_> = (30..3100)
        .step_by(5)
        .map(|t| Poll(t, t % 10 == 0, false))
        .collect();
    let steps = [polls(0, 30, 5, false, true), vec![OpenAt(30)], flicker].concat();
    let pwm = [PwmTx::set_duty_cycle(OPEN), PwmTx::set_duty_cycle(0)];
    let out = motorized(&steps, &pwm);
    assert_eq!(out.changes(), [Closing, Closed, Opening, Jammed]);
}

#[test]
fn pushed_off_open_it_is_no_longer_open_at_once() {
    let steps = [
        polls(0, 30, 5, false, true),
        vec![OpenAt(30)],
        polls(30, 300, 5, true, false),
        vec![Poll(300, false, false)],
        polls(305, 400, 5, true, false),
    ]
    .concat();
    // Pushed off, the servo is told again to open.
    let pwm = [PwmTx::set_duty_cycle(OPEN), PwmTx::set_duty_cycle(OPEN)];
    let out = motorized(&steps, &pwm);
    assert_eq!(
        out.changes(),
        [Closing, Closed, Opening, Open, Opening, Open]
    );
    assert_eq!(out.at(295), Open);
    assert_eq!(out.at(300), Opening);
    assert_eq!(out.at(320), Opening);
    assert_eq!(out.at(325), Open);
}

#[test]
fn pushed_off_closed_the_servo_is_told_again_to_close() {
    // Closed and settled, then pushed half open by hand for a while, then
    // back: a servo whose pulses had stopped must be told to close again.
    let steps = [
        polls(0, 100, 5, false, true),
        polls(100, 400, 5, false, false),
        polls(400, 500, 5, false, true),
        polls(500, 600, 5, false, false),
    ]
    .concat();
    // Once per push, not once per poll.
    let pwm = [PwmTx::set_duty_cycle(CLOSED), PwmTx::set_duty_cycle(CLOSED)];
    let out = motorized(&steps, &pwm);
    assert_eq!(out.changes(), [Closing, Closed, Closing, Closed, Closing]);
}

#[test]
fn pushed_off_open_for_longer_than_the_timeout_jams() {
    let steps = [
        polls(0, 30, 5, false, true),
        vec![OpenAt(30)],
        polls(30, 300, 5, true, false),
        polls(300, 3400, 50, false, false),
    ]
    .concat();
    // Told again to open when pushed off, let go when that fails.
    let pwm = [
        PwmTx::set_duty_cycle(OPEN),
        PwmTx::set_duty_cycle(OPEN),
        PwmTx::set_duty_cycle(0),
    ];
    let out = motorized(&steps, &pwm);
    assert_eq!(
        out.changes(),
        [Closing, Closed, Opening, Open, Opening, Jammed]
    );
    // The clock starts when it was pushed off, not at the command.
    assert_eq!(out.at(3250), Opening);
    assert_eq!(out.at(3300), Jammed);
}

#[test]
fn dropping_an_open_motorized_shutter_drives_it_closed() {
    // `motorized` ends every script with a drop and expects the closed duty
    // then; here the shutter is open and nothing else happens before it.
    let steps = [vec![OpenAt(0)], polls(0, 100, 5, true, false)].concat();
    let out = motorized(&steps, &[PwmTx::set_duty_cycle(OPEN)]);
    assert_eq!(out.positions.last().unwrap().1, Open);
}

#[test]
fn dropping_a_jammed_motorized_shutter_still_drives_it_closed() {
    let steps = [vec![OpenAt(0)], polls(0, 100, 5, true, true)].concat();
    let pwm = [PwmTx::set_duty_cycle(OPEN), PwmTx::set_duty_cycle(0)];
    let out = motorized(&steps, &pwm);
    assert_eq!(out.positions.last().unwrap().1, Jammed);
}

#[test]
fn manual_shutter_records_requests_and_follows_its_sensors() {
    let steps = [
        polls(0, 30, 5, false, true),
        vec![OpenAt(30)],
        polls(30, 5000, 50, false, true),
        polls(5000, 10_000, 50, false, false),
        polls(10_000, 10_100, 5, true, false),
        polls(10_100, 10_200, 5, false, false),
        polls(10_200, 10_300, 5, false, true),
    ]
    .concat();
    let (mut open, mut closed) = sensor_mocks(&steps);
    let mut shutter = Shutter::manual(open.clone(), closed.clone(), settings());
    assert_eq!(shutter.kind(), ShutterKind::Manual);
    assert_eq!(shutter.command(), ShutterCommand::Close);
    let t0 = Instant::now();
    let out = drive(&mut shutter, &steps, t0);
    // Asked to open, it waits for the therapist as long as it takes; moved
    // back by hand without being asked, it reads what the sensors say.
    assert_eq!(
        out.changes(),
        [Closing, Closed, Opening, Open, Opening, Closed]
    );
    assert_eq!(shutter.command(), ShutterCommand::Open);
    shutter.close(t0).unwrap();
    assert_eq!(shutter.command(), ShutterCommand::Close);
    drop(shutter);
    open.done();
    closed.done();
}

#[test]
fn manual_shutter_with_both_sensors_made_is_jammed_until_closed() {
    let steps = [
        polls(0, 50, 5, true, true),
        vec![OpenAt(50)],
        vec![CloseAt(50)],
        polls(50, 100, 5, false, true),
    ]
    .concat();
    let (mut open, mut closed) = sensor_mocks(&steps);
    let mut shutter = Shutter::manual(open.clone(), closed.clone(), settings());
    let out = drive(&mut shutter, &steps, Instant::now());
    // The closed sensor stayed made throughout, so it reads closed at once.
    assert_eq!(out.changes(), [Closing, Jammed, Closed]);
    assert_eq!(out.refused, [50]);
    drop(shutter);
    open.done();
    closed.done();
}

#[test]
fn a_sensor_that_cannot_be_read_is_a_jam_not_a_panic() {
    let err = MockError::Io(std::io::ErrorKind::PermissionDenied);
    let mut open = PinMock::new(&[PinTx::get(State::High).with_error(err)]);
    // The closed sensor is not read once the open one has failed.
    let mut closed = PinMock::new(&[]);
    let mut servo = PwmMock::new(&[
        PwmTx::max_duty_cycle(MAX),
        PwmTx::set_duty_cycle(CLOSED),
        PwmTx::set_duty_cycle(0),
        PwmTx::set_duty_cycle(CLOSED),
    ]);
    let t0 = Instant::now();
    let mut shutter =
        Shutter::motorized(open.clone(), closed.clone(), servo.clone(), settings(), t0).unwrap();
    let e = shutter.poll(t0).unwrap_err();
    assert!(e.to_string().contains("shutter_open_sensor"), "{e}");
    assert!(e.to_string().contains("PermissionDenied"), "{e}");
    assert_eq!(shutter.position(), Jammed);
    assert!(shutter.is_jammed());
    drop(shutter);
    open.done();
    closed.done();
    servo.done();
}

#[test]
fn a_servo_that_cannot_be_driven_is_a_jam() {
    let err = MockError::Io(std::io::ErrorKind::NotConnected);
    let mut open = PinMock::new(&[]);
    let mut closed = PinMock::new(&[]);
    let mut servo = PwmMock::new(&[
        PwmTx::max_duty_cycle(MAX),
        PwmTx::set_duty_cycle(CLOSED),
        PwmTx::set_duty_cycle(OPEN).with_error(err),
        PwmTx::set_duty_cycle(CLOSED),
    ]);
    let t0 = Instant::now();
    let mut shutter =
        Shutter::motorized(open.clone(), closed.clone(), servo.clone(), settings(), t0).unwrap();
    let e = shutter.open(t0).unwrap_err();
    assert!(e.to_string().contains("hardware.pins.shutter_servo"), "{e}");
    assert_eq!(shutter.position(), Jammed);
    drop(shutter);
    open.done();
    closed.done();
    servo.done();
}

#[test]
fn servo_settings_that_cannot_work_are_refused() {
    let mut pin = PinMock::new(&[]);
    let bad_pulse = ShutterSettings {
        open_pulse: Duration::from_millis(3),
        ..settings()
    };
    let mut servo = PwmMock::new(&[]);
    let e = Shutter::motorized(
        pin.clone(),
        pin.clone(),
        servo.clone(),
        bad_pulse,
        Instant::now(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("3000 µs"), "{e}");
    servo.done();

    // Five steps for a 20 ms period cannot tell a 1 ms pulse from a 2 ms one.
    let mut coarse = PwmMock::new(&[PwmTx::max_duty_cycle(5)]);
    let e = Shutter::motorized(
        pin.clone(),
        pin.clone(),
        coarse.clone(),
        settings(),
        Instant::now(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("only 5 steps"), "{e}");
    coarse.done();
    pin.done();
}

#[test]
fn kind_words_match_the_setting() {
    assert_eq!(ShutterKind::Motorized.as_str(), "motorized");
    assert_eq!(ShutterKind::Manual.as_str(), "manual");
}
