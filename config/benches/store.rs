//! Benchmark of the encrypted store: open time, get and set latency.
//! Run with `cargo bench -p appliance-config --bench store`; prints figures, asserts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use appliance_config::{
    DeviceKey, KeySource, OpenMode, Provisioning, SETTINGS, Store, Value, find,
};

const EXAMPLE: &str = include_str!("../provision.example.toml");

fn key() -> (DeviceKey, KeySource) {
    (
        DeviceKey::from_bytes([7; 32]),
        KeySource::KeyFile("bench.key".into()),
    )
}

fn open(dir: &std::path::Path, mode: OpenMode) -> Store {
    let (k, s) = key();
    Store::open(dir, k, &s, mode).unwrap()
}

struct Figures {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Figures {
    fn print(mut self) {
        self.samples.sort_unstable();
        let n = self.samples.len();
        let at = |q: f64| self.samples[((n as f64 - 1.0) * q) as usize];
        let mean = self.samples.iter().sum::<Duration>() / n as u32;
        println!(
            "{:<36} n={:<6} median {:>10.1?}  p99 {:>10.1?}  max {:>10.1?}  mean {:>10.1?}",
            self.name,
            n,
            at(0.5),
            at(0.99),
            at(1.0),
            mean
        );
    }
}

fn measure(name: &'static str, n: usize, mut f: impl FnMut(usize)) -> Figures {
    let samples = (0..n)
        .map(|i| {
            let start = Instant::now();
            f(i);
            start.elapsed()
        })
        .collect();
    Figures { name, samples }
}

fn main() {
    let root = tempfile::tempdir().unwrap();
    println!("appliance-config store benchmark (sled 0.34, XChaCha20-Poly1305)");

    // Stores that hold the example's settings, each opened once as a process
    // start would (sled keeps its file lock for a moment after a close, so
    // reopening one store in one process would measure that instead).
    let dirs: Vec<_> = (0..30).map(|i| root.path().join(format!("s{i}"))).collect();
    measure("create + provision example", dirs.len(), |i| {
        let mut store = open(&dirs[i], OpenMode::CreateIfMissing);
        Provisioning::parse("example", EXAMPLE)
            .unwrap()
            .apply(&mut store)
            .unwrap();
    })
    .print();
    std::thread::sleep(Duration::from_millis(500));
    measure("open existing store", dirs.len(), |i| {
        drop(open(&dirs[i], OpenMode::Existing));
    })
    .print();

    std::thread::sleep(Duration::from_millis(500));
    let mut store = open(&dirs[0], OpenMode::Existing);
    let room = find("room.name").unwrap();
    measure("get one setting (open + decrypt)", 10_000, |_| {
        std::hint::black_box(store.get(room).unwrap());
    })
    .print();
    measure("read all settings", 1_000, |_| {
        std::hint::black_box(store.values().unwrap());
    })
    .print();
    measure("set one setting (durable)", 300, |i| {
        store.set(room, Value::Text(format!("Room {i}"))).unwrap();
    })
    .print();
    let all: Vec<_> = SETTINGS.iter().collect();
    measure("apply 15 settings at once (durable)", 100, |_| {
        let values = store.values().unwrap();
        let changes = all
            .iter()
            .filter_map(|s| values.get(s.name).map(|v| (*s, Some(v.clone()))))
            .collect();
        store.apply(changes).unwrap();
    })
    .print();
}
