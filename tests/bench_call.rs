//! Benchmark of a call: the real daemon in simulation and a real headless
//! Chromium on loopback, in a network namespace of their own, at 720p30 and
//! 1080p30. Prints, as a table and as JSON: link opened → waiting, press →
//! first live frame at the patient, glass-to-glass latency (median and p95)
//! read from the capture time the simulation draws into each frame, and the
//! daemon's CPU and peak memory during a live call. In the same run it
//! measures Chromium's own WebRTC stack (two peer connections in one page
//! sending a stamped 720p canvas) as the reference for latency.
//! Run with `cargo bench -p appliance --bench call`; it asserts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::webdriver::Browser;
use support::{Driver, invite, start_daemon, start_daemon_with, wait_for};

/// Reads the stamp (docs/design.md, Interfaces) from the next frame the patient's
/// `video#remote` presents: 32 blocks of width/40 pixels across the top 16
/// rows, the same bits inverted below. Returns [stamp, now] as the low 32 bits
/// of Unix milliseconds, or null if the frame has none.
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

/// Watches every frame the patient's page presents and keeps the wall-clock
/// time of the first one that is not black: the first live frame.
const WATCH_FIRST_LIVE: &str = r#"
    const v = document.getElementById('remote');
    window.firstLive = null;
    const c = document.createElement('canvas');
    c.width = 32; c.height = 18;
    const g = c.getContext('2d');
    const look = () => {
        g.drawImage(v, 0, 0, 32, 18);
        const d = g.getImageData(0, 0, 32, 18).data;
        let sum = 0;
        for (let i = 0; i < d.length; i += 4) sum += d[i + 1];
        if (sum / (d.length / 4) > 60) { window.firstLive = Date.now(); return; }
        v.requestVideoFrameCallback(look);
    };
    v.requestVideoFrameCallback(look);
"#;

/// Chromium's own WebRTC stack as the reference: a 1280x720 canvas, stamped
/// like the simulation's frames at 30 fps, sent from one peer connection to
/// another in the same page and shown in `video#remote`.
const REFERENCE_CALL: &str = r#"
    const done = arguments[arguments.length - 1];
    document.body.innerHTML = '<canvas id="src" width="1280" height="720"></canvas><video id="remote" autoplay muted playsinline></video>';
    const canvas = document.getElementById('src'), g = canvas.getContext('2d');
    const draw = () => {
        const stamp = Date.now() % 4294967296, block = Math.floor(1280 / 40);
        g.fillStyle = '#3050a0'; g.fillRect(0, 0, 1280, 720);
        for (let bit = 0; bit < 32; bit++) {
            const one = ((stamp >>> (31 - bit)) & 1) === 1;
            g.fillStyle = one ? '#fff' : '#000'; g.fillRect(bit * block, 0, block, 16);
            g.fillStyle = one ? '#000' : '#fff'; g.fillRect(bit * block, 16, block, 16);
        }
    };
    draw();
    setInterval(draw, 1000 / 30);
    const stream = canvas.captureStream(30);
    // Keep 720p: the stamp is read at fixed rows, so Chromium must not scale
    // the picture down while its bandwidth estimate ramps up.
    stream.getVideoTracks()[0].contentHint = 'detail';
    const a = new RTCPeerConnection(), b = new RTCPeerConnection();
    a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
    b.ontrack = e => { document.getElementById('remote').srcObject = e.streams[0]; };
    stream.getTracks().forEach(t => a.addTrack(t, stream));
    window.reference = [a, b];
    (async () => {
        await a.setLocalDescription(await a.createOffer());
        await b.setRemoteDescription(a.localDescription);
        await b.setLocalDescription(await b.createAnswer());
        await a.setRemoteDescription(b.localDescription);
        done(true);
    })().catch(e => done(String(e)));
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

/// A `/proc/PID/status` figure in kB: VmRSS now, VmHWM the peak.
fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The median and 95th percentile, or None for no samples.
fn percentiles(mut v: Vec<f64>) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    Some((at(0.5), at(0.95)))
}

/// Glass-to-glass latencies of `samples` frames of the page's `video#remote`.
fn latencies(browser: &Browser, samples: usize) -> Vec<f64> {
    (0..samples)
        .filter_map(|_| {
            let v = browser.eval_async(READ_STAMP).ok()?;
            let (stamp, now) = (v[0].as_u64()?, v[1].as_u64()?);
            let ms = now.wrapping_sub(stamp);
            // A misread stamp gives nonsense; a frame is never a minute late.
            (ms < 60_000).then_some(ms as f64)
        })
        .collect()
}

/// One call at `resolution`: its figures as JSON.
fn measure_call(resolution: &str, browser: &Browser) -> Value {
    let daemon = start_daemon_with(&[("video.resolution", resolution)]);
    let link = invite(&daemon, "1h");
    let limit = Duration::from_secs(30);

    browser.goto("about:blank").unwrap();
    let opened = Instant::now();
    browser.goto(&link).unwrap();
    wait_for("the page", limit, || {
        (browser.state() == "check").then_some(())
    });
    browser
        .eval("document.getElementById('name').value = 'Bench'; document.getElementById('join').click();")
        .unwrap();
    wait_for("the lobby", limit, || {
        (browser.state() == "waiting").then_some(())
    });
    let to_waiting = opened.elapsed();
    wait_for("media in the lobby", limit, || {
        browser
            .eval("const v = document.getElementById('remote'); return !!(v && v.videoWidth)")
            .ok()
            .filter(|v| v == &json!(true))
    });

    browser.eval(WATCH_FIRST_LIVE).unwrap();
    let pressed_at = unix_ms();
    assert!(daemon.cli(&["press"]).0);
    let first_live = wait_for("the first live frame", limit, || {
        browser.eval("return window.firstLive").ok()?.as_u64()
    });
    let press_to_live = first_live.saturating_sub(pressed_at);

    let latency = latencies(browser, 90);
    let pid = daemon.pid();
    let ticks = cpu_ticks(pid);
    let cpu_start = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let hz = 100.0; // USER_HZ on Linux
    let cpu = (cpu_ticks(pid) - ticks) as f64 / hz / cpu_start.elapsed().as_secs_f64() * 100.0;
    let peak_rss = memory_kib(pid, "VmHWM:");
    browser.goto("about:blank").unwrap();
    daemon.stop();

    let (median, p95) = percentiles(latency.clone()).unwrap_or((f64::NAN, f64::NAN));
    json!({
        "resolution": resolution,
        "link_to_waiting_ms": to_waiting.as_millis() as u64,
        "press_to_first_live_frame_ms": press_to_live,
        "shutter_travel_ms": 300,
        "latency_median_ms": median,
        "latency_p95_ms": p95,
        "latency_frames": latency.len(),
        "daemon_cpu_percent_of_one_core": (cpu * 10.0).round() / 10.0,
        "daemon_peak_rss_mib": (peak_rss as f64 / 1024.0 * 10.0).round() / 10.0,
    })
}

/// Chromium sending to itself: the latency it achieves on the same machine.
fn measure_reference(browser: &Browser) -> Value {
    // Any page of the daemon's origin: a secure context, like the patient's.
    let daemon = start_daemon();
    browser.goto("about:blank").unwrap();
    browser
        .goto(&format!("https://127.0.0.1:{}/", support::PORT))
        .unwrap();
    let started = browser.eval_async(REFERENCE_CALL).unwrap();
    assert_eq!(started, json!(true), "the reference call did not start");
    wait_for(
        "the reference video at 720p",
        Duration::from_secs(30),
        || {
            browser
                .eval("const v = document.getElementById('remote'); return v.videoWidth === 1280")
                .ok()
                .filter(|v| v == &json!(true))
        },
    );
    let latency = latencies(browser, 90);
    browser.goto("about:blank").unwrap();
    daemon.stop();
    let (median, p95) = percentiles(latency.clone()).unwrap_or((f64::NAN, f64::NAN));
    json!({
        "resolution": "1280x720",
        "latency_median_ms": median,
        "latency_p95_ms": p95,
        "latency_frames": latency.len(),
    })
}

fn main() {
    if !support::run_in_own_network(&[], "the call benchmark") {
        return;
    }
    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    let calls: Vec<Value> = ["1280x720", "1920x1080"]
        .iter()
        .map(|r| measure_call(r, &browser))
        .collect();
    let reference = measure_reference(&browser);
    drop(browser);

    let ms = |v: &Value| {
        v.as_f64()
            .filter(|f| f.is_finite())
            .map_or_else(|| "n/a".to_owned(), |f| format!("{f:.0}"))
    };
    println!("call benchmark: simulation, 30 fps, headless Chromium, loopback");
    println!(
        "{:<48} {:>12} {:>12} {:>12}",
        "", "720p30", "1080p30", "Chromium ref"
    );
    let row = |label: &str, key: &str, unit: &str| {
        println!(
            "{:<48} {:>12} {:>12} {:>12}",
            format!("{label} ({unit})"),
            ms(&calls[0][key]),
            ms(&calls[1][key]),
            reference.get(key).map_or_else(|| "".to_owned(), ms)
        );
    };
    row("link opened to waiting", "link_to_waiting_ms", "ms");
    row(
        "press to first live frame (300 ms shutter)",
        "press_to_first_live_frame_ms",
        "ms",
    );
    row("glass-to-glass latency median", "latency_median_ms", "ms");
    row("glass-to-glass latency p95", "latency_p95_ms", "ms");
    row("latency samples", "latency_frames", "frames");
    println!(
        "{:<48} {:>12.1} {:>12.1}",
        "daemon CPU (% of one core)",
        calls[0]["daemon_cpu_percent_of_one_core"]
            .as_f64()
            .unwrap_or(f64::NAN),
        calls[1]["daemon_cpu_percent_of_one_core"]
            .as_f64()
            .unwrap_or(f64::NAN),
    );
    println!(
        "{:<48} {:>12.1} {:>12.1}",
        "daemon peak memory (MiB RSS)",
        calls[0]["daemon_peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
        calls[1]["daemon_peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
    );
    println!(
        "{}",
        json!({ "calls": calls, "chromium_reference": reference })
    );
}
