//! The simulated board under the real drivers.

use super::*;
use crate::{Button, ButtonEvent, Led, LedPattern, Shutter, ShutterPosition};

const MS: Duration = Duration::from_millis(1);
const TRAVEL: Duration = Duration::from_millis(600);

fn board() -> SimBoard {
    SimBoard::new(ShutterSettings::default(), TRAVEL)
}

/// Ticks the board and polls the shutter every 10 ms from `from` for
/// `span`; returns the position at the end.
fn run(
    board: &SimBoard,
    shutter: &mut Shutter<SimInput, SimServo>,
    t0: Instant,
    from: Duration,
    span: Duration,
) -> ShutterPosition {
    let mut t = from;
    let mut position = shutter.position();
    while t <= from + span {
        board.tick(t0 + t);
        position = shutter.poll(t0 + t).unwrap();
        t += 10 * MS;
    }
    position
}

#[test]
fn the_button_driver_reads_the_simulated_button() {
    let board = board();
    let mut button = Button::new(board.button(), ActiveLevel::Low);
    let t0 = Instant::now();
    let mut events = Vec::new();
    for i in 0..400u32 {
        // Pressed from 0.1 s to 0.3 s, then from 1 s to 3.5 s.
        board.set_pressed((10..30).contains(&i) || (100..350).contains(&i));
        events.extend(button.poll(t0 + 10 * MS * i).unwrap());
    }
    assert_eq!(events, [ButtonEvent::Press, ButtonEvent::LongPress]);
}

#[test]
fn the_servo_moves_the_shutter_and_the_sensors_follow() {
    let board = board();
    let t0 = Instant::now();
    let (open, closed, servo) = (board.open_sensor(), board.closed_sensor(), board.servo());
    let mut shutter =
        Shutter::motorized(open, closed, servo, ShutterSettings::default(), t0).unwrap();
    assert_eq!(
        run(&board, &mut shutter, t0, MS, 100 * MS),
        ShutterPosition::Closed
    );

    shutter.open(t0 + 200 * MS).unwrap();
    assert_eq!(
        run(&board, &mut shutter, t0, 200 * MS, 300 * MS),
        ShutterPosition::Opening
    );
    // 600 ms of travel and the sensor's settle time.
    assert_eq!(
        run(&board, &mut shutter, t0, 510 * MS, 400 * MS),
        ShutterPosition::Open
    );

    shutter.close(t0 + 1000 * MS).unwrap();
    assert_eq!(
        run(&board, &mut shutter, t0, 1000 * MS, 700 * MS),
        ShutterPosition::Closed
    );
    drop(shutter);
    assert_eq!(
        board.take_log(),
        [
            SimWrite::Servo(1000),
            SimWrite::Servo(2000),
            SimWrite::Servo(1000),
            SimWrite::Servo(1000),
        ]
    );
}

#[test]
fn a_jammed_simulated_shutter_jams_the_driver_until_freed_and_closed() {
    let board = board();
    let t0 = Instant::now();
    let (open, closed, servo) = (board.open_sensor(), board.closed_sensor(), board.servo());
    let mut shutter =
        Shutter::motorized(open, closed, servo, ShutterSettings::default(), t0).unwrap();
    run(&board, &mut shutter, t0, MS, 100 * MS);
    shutter.open(t0 + 200 * MS).unwrap();
    run(&board, &mut shutter, t0, 200 * MS, 200 * MS);
    board.set_jammed(true);
    assert_eq!(
        run(&board, &mut shutter, t0, 410 * MS, 3000 * MS),
        ShutterPosition::Jammed
    );
    board.set_jammed(false);
    shutter.close(t0 + 3500 * MS).unwrap();
    assert_eq!(
        run(&board, &mut shutter, t0, 3500 * MS, 700 * MS),
        ShutterPosition::Closed
    );
    let log = board.take_log();
    assert!(log.contains(&SimWrite::Servo(0)), "{log:?}");
}

#[test]
fn the_led_driver_lights_the_simulated_led_and_turns_it_off_on_drop() {
    let board = board();
    let t0 = Instant::now();
    let mut led = Led::new(board.led_red(), board.led_green(), ActiveLevel::High, t0).unwrap();
    led.set(LedPattern::Waiting, t0).unwrap();
    assert_eq!(board.led(), (true, true));
    led.set(LedPattern::Live, t0 + 100 * MS).unwrap();
    assert_eq!(board.led(), (true, false));
    drop(led);
    assert_eq!(board.led(), (false, false));
    assert_eq!(
        board.take_log(),
        [
            SimWrite::Red(false),
            SimWrite::Green(false),
            SimWrite::Red(true),
            SimWrite::Green(true),
            SimWrite::Green(false),
            SimWrite::Red(false),
            SimWrite::Green(false),
        ]
    );
}

#[test]
fn the_log_is_bounded() {
    let board = board();
    let mut red = board.led_red();
    for i in 0..LOG_LIMIT + 10 {
        red.set_state((i % 2 == 0).into()).unwrap();
    }
    let log = board.take_log();
    assert_eq!(log.len(), LOG_LIMIT);
    assert!(board.take_log().is_empty());
}
