//! A writer killed with SIGKILL at random points, hundreds of times, always
//! leaves a store that opens and holds, for each setting, either the value it
//! had or the one being written, and never half of an atomic change.
//!
//! The writer is this test binary itself, started again to run the ignored
//! test `crash_writer` with the store's location in its environment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use appliance_config::{OpenMode, Store, Value, find};
use common::{key_file, open};

const WRITER_ENV: &str = "APPLIANCE_CRASH_WRITER_STATE";
const KEY_ENV: &str = "APPLIANCE_CRASH_WRITER_KEY";
const KILLS: usize = 200;

/// The generation a setting's value encodes.
fn generation(name: &str, value: &Value) -> u64 {
    let parsed = match (name, value) {
        ("room.name", Value::Text(t)) => t.strip_prefix("gen ").and_then(|g| g.parse().ok()),
        ("video.max_bitrate_kbps", Value::Int(n)) => u64::try_from(n - 200).ok(),
        ("ice.turn_shared_secret", Value::Text(t)) => {
            t.strip_prefix("secret-gen-").and_then(|g| g.parse().ok())
        }
        ("room.public_url", Value::Text(t)) => t
            .strip_prefix("https://gen")
            .and_then(|g| g.strip_suffix(".clinic.example"))
            .and_then(|g| g.parse().ok()),
        _ => None,
    };
    parsed.unwrap_or_else(|| panic!("{name} holds a value no writer wrote: {value:?}"))
}

fn value_for(name: &str, g: u64) -> Value {
    match name {
        "room.name" => Value::Text(format!("gen {g}")),
        "video.max_bitrate_kbps" => Value::Int(200 + i64::try_from(g).unwrap()),
        "ice.turn_shared_secret" => Value::Text(format!("secret-gen-{g:08}")),
        "room.public_url" => Value::Text(format!("https://gen{g}.clinic.example")),
        _ => unreachable!(),
    }
}

/// The writes: two single settings, then a pair that must land together.
const STEPS: [&[&str]; 3] = [
    &["room.name"],
    &["video.max_bitrate_kbps"],
    &["ice.turn_shared_secret", "room.public_url"],
];

fn generations(store: &Store) -> BTreeMap<&'static str, u64> {
    STEPS
        .iter()
        .flat_map(|step| step.iter())
        .map(|name| {
            let value = store.get(find(name).unwrap()).unwrap().unwrap();
            (*name, generation(name, &value))
        })
        .collect()
}

/// Runs only as the child of `sigkill_at_random_points_never_loses_or_mixes_values`.
#[test]
#[ignore = "the writer half of the SIGKILL test; runs as its child process"]
fn crash_writer() {
    let (Some(state), Some(key)) = (std::env::var_os(WRITER_ENV), std::env::var_os(KEY_ENV)) else {
        return;
    };
    let mut store = open(Path::new(&state), Path::new(&key), OpenMode::Existing).unwrap();
    let mut g = generations(&store).values().copied().max().unwrap();
    // Bounded: the parent kills the writer long before this ends.
    for _ in 0..10_000 {
        g += 1;
        for step in STEPS {
            println!("@@ begin {g} {}", step.join(" "));
            let changes = step
                .iter()
                .map(|name| (find(name).unwrap(), Some(value_for(name, g))))
                .collect();
            store.apply(changes).unwrap();
            println!("@@ done {g} {}", step.join(" "));
        }
    }
}

/// A small, seedable generator for the kill times, so a failure can be replayed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[test]
fn sigkill_at_random_points_never_loses_or_mixes_values() {
    let seed = std::env::var("APPLIANCE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed {seed} (set APPLIANCE_CRASH_SEED to replay)");
    let mut rng = SplitMix(seed);

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key = key_file(dir.path(), "k", 7);
    {
        let mut store = open(&state, &key, OpenMode::CreateIfMissing).unwrap();
        let changes = STEPS
            .iter()
            .flat_map(|step| step.iter())
            .map(|name| (find(name).unwrap(), Some(value_for(name, 0))))
            .collect();
        store.apply(changes).unwrap();
    }

    // What each setting must hold: the last value whose write finished...
    let mut committed: BTreeMap<&str, u64> = STEPS
        .iter()
        .flat_map(|step| step.iter())
        .map(|name| (*name, 0))
        .collect();
    let mut killed_mid_write = 0;
    let mut writes_done = 0;
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, &state)
            .env(KEY_ENV, &key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Let it open the store and write a while: from nothing to a few writes.
        let wait = Duration::from_micros(rng.next() % 200_000);
        std::thread::sleep(wait);
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();

        // ...or the one being written when the writer died.
        let mut pending: BTreeMap<&str, u64> = BTreeMap::new();
        for line in rx.try_iter() {
            // libtest may print its own words before ours on the same line.
            let Some((_, ours)) = line.split_once("@@ ") else {
                continue;
            };
            let mut words = ours.split(' ');
            let (Some(what @ ("begin" | "done")), Some(g)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(g) = g.parse::<u64>() else { continue };
            for name in words {
                let name = *committed.keys().find(|k| **k == name).unwrap();
                match what {
                    "begin" => {
                        pending.insert(name, g);
                    }
                    "done" => {
                        pending.remove(name);
                        committed.insert(name, g);
                        writes_done += 1;
                    }
                    _ => {}
                }
            }
        }
        if !pending.is_empty() {
            killed_mid_write += 1;
        }

        let store = open(&state, &key, OpenMode::Existing).unwrap_or_else(|e| {
            panic!("round {round}: the store does not open after SIGKILL: {e}")
        });
        let found = generations(&store);
        for (name, g) in &found {
            let allowed = [Some(committed[name]), pending.get(name).copied()];
            assert!(
                allowed.contains(&Some(*g)),
                "round {round} (seed {seed}): {name} holds generation {g}; \
                 expected {} or the pending {:?}",
                committed[name],
                pending.get(name)
            );
        }
        assert_eq!(
            found["ice.turn_shared_secret"], found["room.public_url"],
            "round {round} (seed {seed}): half of an atomic change landed"
        );
        committed = found;
    }
    eprintln!(
        "{KILLS} kills: {killed_mid_write} in the middle of a write, {writes_done} writes finished"
    );
    // The test means something only if the kills landed among the writes.
    assert!(
        writes_done > KILLS / 2,
        "only {writes_done} writes finished: the writer is too slow"
    );
    assert!(
        killed_mid_write > KILLS / 10,
        "only {killed_mid_write} kills hit a write"
    );
}
