//! Benchmark of a call: the real daemon in simulation and a real headless
//! Chromium on loopback, in a network namespace of their own. Prints the time
//! to join and to see the room, the time from the press to live video, the
//! glass-to-glass latency read from the capture time the simulation draws into
//! each frame, and the daemon's CPU and memory during a live call.
//! Run with `cargo bench -p appliance --bench call`; it asserts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::webdriver::Browser;
use support::{Daemon, Driver, wait_for};

/// Reads the stamp from the newest frame: 32 blocks of width/40 pixels across
/// the top 16 rows, the same bits inverted below; returns (stamp, now) as the
/// low 32 bits of Unix milliseconds, or null if the frame has none.
const READ_STAMP: &str = r#"
    const done = arguments[arguments.length - 1];
    const v = document.getElementById('remote');
    v.requestVideoFrameCallback(() => {
        const now = Date.now();
        const w = v.videoWidth, block = Math.floor(w / 40);
        const c = document.createElement('canvas');
        c.width = w; c.height = 32;
        const g = c.getContext('2d');
        g.drawImage(v, 0, 0, w, 32, 0, 0, w, 32);
        const top = g.getImageData(0, 8, w, 1).data, bottom = g.getImageData(0, 24, w, 1).data;
        let stamp = 0;
        for (let bit = 0; bit < 32; bit++) {
            const x = (bit * block + (block >> 1)) * 4;
            const one = top[x + 1] > 128, inverted = bottom[x + 1] > 128;
            if (one === inverted) return done(null);
            stamp = (stamp * 2) + (one ? 1 : 0);
        }
        done([stamp, now % 4294967296]);
    });
"#;

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !support::run_in_own_network(&[], "the call benchmark") {
        return;
    }
    let daemon = Daemon::start();
    let link = daemon.invite("1h");
    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    let limit = Duration::from_secs(30);
    let frames = || -> u64 {
        browser
            .eval("const v = document.getElementById('remote'); return v && v.videoWidth ? v.getVideoPlaybackQuality().totalVideoFrames : 0")
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    };

    browser.goto(&link).unwrap();
    wait_for("the page", limit, || {
        (browser.state() == "check").then_some(())
    });
    let start = Instant::now();
    browser
        .eval("document.getElementById('name').value = 'Bench'; document.getElementById('join').click();")
        .unwrap();
    wait_for("the lobby", limit, || {
        (browser.state() == "waiting").then_some(())
    });
    let to_lobby = start.elapsed();
    wait_for("the first frame", limit, || (frames() > 0).then_some(()));
    let to_media = start.elapsed();

    let press = Instant::now();
    assert!(daemon.cli(&["press"]).0);
    wait_for("live video", limit, || {
        let s = daemon.status();
        (s["media"]["video_frames_sent"].as_u64().unwrap_or(0) > 0).then_some(())
    });
    let to_live = press.elapsed();

    let mut latencies = Vec::new();
    for _ in 0..60 {
        if let Ok(v) = browser.eval_async(READ_STAMP)
            && let (Some(stamp), Some(now)) = (v[0].as_u64(), v[1].as_u64())
        {
            latencies.push(now.wrapping_sub(stamp) as f64);
        }
    }

    let pid = daemon.pid();
    let ticks = cpu_ticks(pid);
    let cpu_start = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let hz = 100.0; // USER_HZ on Linux
    let cpu = (cpu_ticks(pid) - ticks) as f64 / hz / cpu_start.elapsed().as_secs_f64() * 100.0;

    println!("call benchmark (simulation, 1280x720, headless Chromium, loopback)");
    println!(
        "join to lobby (signalling)      {:>8.0} ms",
        to_lobby.as_secs_f64() * 1000.0
    );
    println!(
        "join to first frame (media)     {:>8.0} ms",
        to_media.as_secs_f64() * 1000.0
    );
    println!(
        "press to live (300 ms shutter)  {:>8.0} ms",
        to_live.as_secs_f64() * 1000.0
    );
    if latencies.is_empty() {
        println!("glass-to-glass latency          (no stamp could be read)");
    } else {
        println!(
            "glass-to-glass latency median   {:>8.0} ms  ({} frames)",
            median(latencies.clone()),
            latencies.len()
        );
    }
    println!("daemon CPU during a live call   {cpu:>8.1} % of one core");
    println!(
        "daemon memory (RSS)             {:>8.1} MiB",
        rss_kib(pid) as f64 / 1024.0
    );
    drop(browser);
    daemon.stop();
}
