//! Benchmark of the servo's pulses timed in software (`soft_servo`): how much
//! longer than asked each pulse is, and how far apart pulses come, on an idle
//! machine and with every core kept busy. Run with
//! `cargo bench -p appliance-hardware --bench servo`; prints figures, asserts
//! nothing.
//!
//! The line is a stand-in that notes the time of each edge, so the figures
//! are the timing thread's alone; a real GPIO line adds the few microseconds
//! of its ioctl to both edges alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use appliance_hardware::soft_servo::SoftServo;
use embedded_hal::digital::{ErrorType, OutputPin};
use embedded_hal::pwm::SetDutyCycle;

/// How long each case sends pulses: 250 of them.
const RUN: Duration = Duration::from_secs(5);

/// 1500 µs, the servo's middle.
const PULSE_US: u16 = 1500;

type Edges = Arc<Mutex<Vec<(Instant, bool)>>>;

struct Recorder(Edges);

impl ErrorType for Recorder {
    type Error = Infallible;
}

impl OutputPin for Recorder {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0.lock().unwrap().push((Instant::now(), false));
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.0.lock().unwrap().push((Instant::now(), true));
        Ok(())
    }
}

fn quantiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let n = samples.len();
    let at = |q: f64| samples[((n as f64 - 1.0) * q) as usize];
    println!(
        "{name:<44} n={n:<4} median {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn case(name: &str, busy_threads: usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..busy_threads)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    let edges = Edges::default();
    let mut servo = SoftServo::spawn(Recorder(Arc::clone(&edges)), RUN).unwrap();
    servo.set_duty_cycle(PULSE_US).unwrap();
    // The drop waits for the run to end.
    drop(servo);
    stop.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    let edges = edges.lock().unwrap();
    let mut rises = Vec::new();
    let mut over = Vec::new();
    let mut high = None;
    for &(at, level) in edges.iter() {
        match (high, level) {
            (None, true) => high = Some(at),
            (Some(since), false) => {
                rises.push(since);
                over.push((at - since).saturating_sub(Duration::from_micros(PULSE_US.into())));
                high = None;
            }
            _ => {}
        }
    }
    let periods = rises.windows(2).map(|w| w[1] - w[0]).collect();
    println!("{name}:");
    quantiles("  pulse longer than asked (1500 µs)", over);
    quantiles("  rising edge to rising edge (20 ms asked)", periods);
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "servo pulses timed in software, {cores} cores, {} s per case",
        RUN.as_secs()
    );
    case("idle", 0);
    case(&format!("{cores} threads busy"), cores);
    case(&format!("{} threads busy", 2 * cores), 2 * cores);
}
