//! Reliability benchmark: whole calls back to back on one daemon, as a
//! clinic's day has them, with no second try. Each call: the link opened,
//! the name given, the press, 5 s live with the room's frames counted at
//! the patient and the patient's at the box, the long press, the page
//! ended and the box idle. Prints how many failed and why, and the slowest
//! join → live (from the Join button to the page showing live).
//! Run with `cargo bench -p appliance --bench reliability`, or
//! `... --bench reliability -- CHROMIUM FIREFOX` for other counts than 50
//! and 20; it asserts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::bench::{counted, decoded, join_and_press, page_is, within};
use support::webdriver::Browser;
use support::{Daemon, Driver, start_daemon};

/// One whole call; join → live, or why it failed.
fn whole_call(daemon: &Daemon, browser: &Browser) -> Result<Duration, String> {
    let join_to_live = join_and_press(daemon, browser)?;
    // 5 s live: the room's frames at the patient, the patient's at the box.
    let page_before = decoded(browser);
    let box_before = counted(daemon, "video_frames_received");
    std::thread::sleep(Duration::from_secs(5));
    let page_frames = decoded(browser).saturating_sub(page_before);
    let box_frames = counted(daemon, "video_frames_received").saturating_sub(box_before);
    if page_frames < 75 || box_frames < 75 {
        return Err(format!(
            "in 5 s live the patient decoded {page_frames} frames and the box received {box_frames}"
        ));
    }
    if browser.state() != "live" {
        return Err(format!(
            "the page showed {} during the call",
            browser.state()
        ));
    }
    let (ok, text) = daemon.cli(&["press", "--long"]);
    if !ok {
        return Err(format!("long press refused: {text}"));
    }
    page_is(browser, "ended", Duration::from_secs(10))?;
    within("idle box", Duration::from_secs(15), || {
        (daemon.try_status()?["state"] == "idle").then_some(())
    })?;
    Ok(join_to_live)
}

/// `count` calls with the browser `kind`; a JSON summary.
fn calls(daemon: &Daemon, kind: &str, count: usize) -> Value {
    let profile = tempfile::tempdir().unwrap();
    let (driver, browser) = match kind {
        "firefox" => (Driver::firefox(), Browser::firefox(support::DRIVER_PORT)),
        _ => (
            Driver::chromium(),
            Browser::chromium(support::DRIVER_PORT, profile.path()),
        ),
    };
    let browser = browser.unwrap();
    let mut failures: Vec<String> = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut total = Duration::ZERO;
    for n in 1..=count {
        match whole_call(daemon, &browser) {
            Ok(join_to_live) => {
                slowest = slowest.max(join_to_live);
                total += join_to_live;
            }
            Err(why) => {
                println!("{kind} call {n} failed: {why}");
                // Where the box stood, for whoever finds out why.
                let status = daemon.try_status().unwrap_or_default();
                println!("status: {status}\n{}", support::threads_of(daemon.pid()));
                failures.push(format!("call {n}: {why}"));
                // The next call starts from a room at rest.
                let _ = daemon.cli(&["press", "--long"]);
                let _ = within("idle box", Duration::from_secs(15), || {
                    (daemon.try_status()?["state"] == "idle").then_some(())
                });
            }
        }
    }
    drop(browser);
    drop(driver);
    let good = count - failures.len();
    json!({
        "browser": kind,
        "calls": count,
        "failed": failures.len(),
        "why": failures,
        "slowest_join_to_live_ms": slowest.as_millis() as u64,
        "mean_join_to_live_ms": if good > 0 { (total.as_millis() as u64) / good as u64 } else { 0 },
    })
}

fn main() {
    // `cargo bench` passes --bench; counts are the plain numbers.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let passed: Vec<&str> = args.iter().map(String::as_str).collect();
    if !support::run_in_own_network(&passed, "the reliability benchmark") {
        return;
    }
    let counts: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let chromium = counts.first().copied().unwrap_or(50);
    let firefox = counts.get(1).copied().unwrap_or(20);
    let daemon = start_daemon();
    let started = Instant::now();
    let results = [
        calls(&daemon, "chromium", chromium),
        calls(&daemon, "firefox", firefox),
    ];
    println!("reliability benchmark: whole calls back to back on one daemon, no second try");
    for r in &results {
        println!(
            "{:<9} {:>3} calls, {:>2} failed; join → live mean {} ms, slowest {} ms",
            r["browser"].as_str().unwrap_or(""),
            r["calls"],
            r["failed"],
            r["mean_join_to_live_ms"],
            r["slowest_join_to_live_ms"]
        );
    }
    println!(
        "in {:?}, {} messages dropped",
        started.elapsed(),
        counted_dropped(&daemon)
    );
    println!("{}", json!({ "results": results }));
    daemon.stop();
}

fn counted_dropped(daemon: &Daemon) -> u64 {
    daemon
        .try_status()
        .map_or(0, |s| s["messages_dropped"].as_u64().unwrap_or(0))
}
