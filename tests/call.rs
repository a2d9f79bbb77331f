//! End to end: the real daemon in simulation and a real headless Chromium as
//! the patient, over real HTTPS and WebRTC on loopback, each test in a network
//! namespace of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "check_in.rs"]
mod check_in;
#[path = "hostile.rs"]
mod hostile;
#[path = "staff_desk.rs"]
mod staff_desk;
#[path = "support/mod.rs"]
mod support;
#[path = "told.rs"]
mod told;
#[path = "uptime.rs"]
mod uptime;

use std::time::Duration;

use appliance_test_support::{Area, WHOLE, blue_in, differ, lit_in, tv_picture};
use serde_json::Value;
use support::blips::{self, cut, mend};
use support::display::Display;
use support::nat::{self, HomeNat, Topology};
use support::webdriver::Browser;
use support::{
    Daemon, Driver, Start, StatusLatency, in_own_network, invite, snapshot, start_daemon,
    start_daemon_as, start_daemon_logged, start_daemon_with, wait_for,
};

const NAME: &str = "Zebulon";

/// The remote video as the patient sees it: brightness (0–255) and frames
/// decoded (from WebRTC's statistics: headless Firefox presents none).
const REMOTE_VIDEO: &str = r#"
    const done = arguments[arguments.length - 1];
    const v = document.getElementById('remote');
    const pc = window.appliance && window.appliance.pc;
    if (!v || !v.videoWidth || !pc) return done(null);
    const c = document.createElement('canvas');
    c.width = 64; c.height = 36;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 64, 36);
    const d = g.getImageData(0, 0, 64, 36).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    pc.getStats().then(r => {
      let frames = 0;
      r.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0; });
      done({ brightness: sum / (d.length / 4), frames });
    }, () => done(null));
"#;

fn remote_video(browser: &Browser) -> Option<(f64, u64)> {
    let v = browser.eval_async(REMOTE_VIDEO).ok()?;
    Some((v["brightness"].as_f64()?, v["frames"].as_u64()?))
}

fn wait_page(browser: &Browser, state: &str) {
    wait_for(
        &format!("the page to show {state}"),
        Duration::from_secs(30),
        || (browser.state() == state).then_some(()),
    );
}

/// Waits like `wait_for`, but on a timeout says where the call stood.
fn wait_call<T>(
    what: &str,
    browser: &Browser,
    daemon: &Daemon,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        if start.elapsed() > limit {
            let page = browser.eval(
                "const a = window.appliance || {}; const p = a.pc; \
                 return [a.lastError || null, p ? [p.signalingState, p.iceConnectionState, p.connectionState] : null, \
                   p && p.remoteDescription ? p.remoteDescription.sdp.split('\\r\\n').filter(l => /^(m=|a=rtpmap|a=fmtp|a=ssrc|a=mid|a=msid|a=sendrecv|a=recvonly|a=sendonly|a=inactive|a=extmap|a=rtcp-fb)/.test(l)) : null, \
                   p ? p.getTransceivers().map(t => [t.mid, t.direction, t.currentDirection, t.receiver.track.kind]) : null]",
            );
            let stats = browser.eval_async(
                "const done = arguments[arguments.length - 1]; \
                 const p = window.appliance && window.appliance.pc; \
                 if (!p) return done(null); \
                 p.getStats().then(r => { const out = []; r.forEach(s => { \
                   if (s.type.endsWith('candidate')) out.push([s.type, s.address, s.port, s.protocol]); \
                   if (s.type === 'candidate-pair') out.push(['pair', s.state, s.nominated]); \
                   if (s.type === 'inbound-rtp') out.push([s.kind, s.packetsReceived, \
                     s.framesReceived, s.framesDecoded, s.keyFramesDecoded, s.pliCount, \
                     s.decoderImplementation, s.frameWidth]); \
                   if (s.type === 'outbound-rtp' && s.kind === 'video') out.push(['sent', s.packetsSent, \
                     s.framesEncoded, s.keyFramesEncoded, s.pliCount, s.firCount, \
                     s.qualityLimitationReason, s.frameWidth, s.encoderImplementation]); }); \
                 const v = document.getElementById('remote'); \
                 out.push(['element', v.videoWidth, v.readyState, v.paused, \
                   v.srcObject && v.srcObject.getTracks().map(t => t.kind + ':' + t.readyState)]); \
                 done(out); });",
            );
            let log = browser.eval("return (window.appliance || {}).log || null");
            panic!(
                "timed out after {limit:?} waiting for {what}\npage: {} {page:?}\npage's log: {log:?}\nstats: {stats:?}\nstatus: {}\ndaemon:\n{}\nthe daemon's threads:\n{}",
                browser.state(),
                daemon.status(),
                daemon.output(),
                support::threads_of(daemon.pid()),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The loudness (RMS, 0–1) of the room's sound as the patient hears it: a
/// Web Audio analyser on the stream the page plays.
const HEARD: &str = r#"
    const done = arguments[arguments.length - 1];
    const el = document.getElementById('remote-audio');
    const stream = el && el.srcObject;
    if (!stream || !stream.getAudioTracks().length) return done(null);
    let m = window.testMeter;
    if (!m || m.stream !== stream) {
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      ctx.createMediaStreamSource(stream).connect(analyser);
      m = window.testMeter = { ctx, analyser, stream };
    }
    m.ctx.resume().then(() => {
      const d = new Float32Array(m.analyser.fftSize);
      m.analyser.getFloatTimeDomainData(d);
      let sum = 0;
      for (const x of d) sum += x * x;
      done(Math.sqrt(sum / d.length));
    }, () => done(null));
"#;

fn heard(browser: &Browser) -> Option<f64> {
    browser.eval_async(HEARD).ok()?.as_f64()
}

/// The page's audio packets from WebRTC's statistics: (received, sent).
fn page_audio_packets(browser: &Browser) -> Option<(u64, u64)> {
    let v = browser
        .eval_async(
            "const done = arguments[arguments.length - 1]; \
             const p = window.appliance && window.appliance.pc; if (!p) return done(null); \
             p.getStats().then(r => { let got = 0, sent = 0; r.forEach(s => { \
               if (s.type === 'inbound-rtp' && s.kind === 'audio') got += s.packetsReceived || 0; \
               if (s.type === 'outbound-rtp' && s.kind === 'audio') sent += s.packetsSent || 0; }); \
               done([got, sent]); }, () => done(null));",
        )
        .ok()?;
    Some((v[0].as_u64()?, v[1].as_u64()?))
}

/// The offer the page answered.
fn offer(browser: &Browser) -> String {
    browser
        .eval("const p = window.appliance.pc; return p && p.remoteDescription ? p.remoteDescription.sdp : ''")
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What an offer says, without what changes from call to call (addresses,
/// keys, SSRCs, session and stream identifiers): its media sections, codecs
/// and their parameters.
fn offer_shape(sdp: &str) -> Vec<String> {
    sdp.lines()
        .map(str::trim)
        .filter(|l| {
            [
                "m=",
                "a=rtpmap",
                "a=fmtp",
                "a=rtcp-fb",
                "a=extmap",
                "a=group",
                "a=send",
                "a=recv",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(|l| match l.strip_prefix("m=") {
            // The port is the first candidate's, different in every call.
            Some(media) => {
                let mut words: Vec<&str> = media.split_whitespace().collect();
                if words.len() > 1 {
                    words.remove(1);
                }
                format!("m={}", words.join(" "))
            }
            None => l.to_owned(),
        })
        .collect()
}

fn counter(status: &Value, name: &str) -> u64 {
    status["media"][name].as_u64().unwrap_or(0)
}

fn join(browser: &Browser, link: &str) {
    join_as(browser, link, NAME);
}

/// Follows `link` and joins with `name`, typed as a person would.
fn join_as(browser: &Browser, link: &str, name: &str) {
    // From a blank page, so that a link differing only after '#' loads anew.
    browser.goto("about:blank").unwrap();
    browser.goto(link).unwrap();
    // A link the box refuses is refused as the page opens: nothing to join.
    let state = wait_for("the page's first state", Duration::from_secs(30), || {
        let state = browser.state();
        matches!(state.as_str(), "check" | "denied").then_some(state)
    });
    if state == "denied" {
        return;
    }
    let script = format!(
        "document.getElementById('name').value = {}; \
         document.getElementById('join').click();",
        serde_json::to_string(name).unwrap()
    );
    browser.eval(&script).unwrap();
}

/// A patient (headless Chromium) who joined and was admitted: the call is
/// live. Dropped in field order: the browser's session first, then the
/// driver.
struct Patient {
    browser: Browser,
    profile: tempfile::TempDir,
    _driver: Driver,
}

/// A patient who followed a new link and waits in the lobby.
fn waiting_patient(daemon: &Daemon) -> Patient {
    waiting_patient_named(daemon, NAME)
}

/// A patient who followed a new link, gave `name` and waits in the lobby.
fn waiting_patient_named(daemon: &Daemon, name: &str) -> Patient {
    let link = invite(daemon, "1h");
    let driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    join_as(&browser, &link, name);
    wait_page(&browser, "waiting");
    Patient {
        browser,
        profile,
        _driver: driver,
    }
}

/// A waiting patient whose video already reaches the box (not the room).
fn waiting_patient_seen_by_the_box(daemon: &Daemon, name: &str) -> Patient {
    let patient = waiting_patient_named(daemon, name);
    wait_call(
        "the waiting patient's video at the box",
        &patient.browser,
        daemon,
        Duration::from_secs(20),
        || (counter(&daemon.status(), "video_frames_received") > 30).then_some(()),
    );
    patient
}

fn admitted_patient(daemon: &Daemon) -> Patient {
    let patient = waiting_patient(daemon);
    assert!(daemon.cli(&["press"]).0);
    wait_page(&patient.browser, "live");
    daemon.wait_status("state", "live");
    patient
}

/// The whole call, as the patient and the room see it: the lobby shows black
/// and is silent, the press opens the shutter and then the video, pictures
/// and sound flow both ways (by packets and by energy), both sides show the
/// same security code, and the long press ends it. The box's counters run
/// over the daemon's life: each call is measured from where it found them.
fn call(browser: &Browser, daemon: &Daemon, link: &str) -> Call {
    let before = daemon.status();
    join(browser, link);
    // The lobby: waiting, media negotiated, and only black arrives.
    wait_page(browser, "waiting");
    let status = daemon.wait_status("state", "lobby");
    assert_eq!(status["waiting"], 1);
    assert_eq!(status["led"], "waiting");
    let (brightness, _) = wait_call(
        "video in the lobby",
        browser,
        daemon,
        Duration::from_secs(20),
        || remote_video(browser).filter(|(_, frames)| *frames > 10),
    );
    assert!(
        brightness < 25.0,
        "before the press the patient sees black, not {brightness}"
    );
    let sent_before = counter(&before, "video_frames_sent");
    assert_eq!(counter(&daemon.status(), "video_frames_sent"), sent_before);
    assert_eq!(daemon.status()["camera_gate"], false);
    // And only silence, though the sound's packets flow: the microphone is
    // gated too.
    let (got, _) = wait_call(
        "the lobby's sound packets",
        browser,
        daemon,
        Duration::from_secs(10),
        || page_audio_packets(browser).filter(|(got, sent)| *got > 10 && *sent > 10),
    );
    let lobby = wait_for("the lobby's sound", Duration::from_secs(10), || {
        heard(browser)
    });
    assert!(lobby < 0.001, "the patient hears {lobby} in the lobby");

    // The press: the shutter opens, and only then video flows.
    let (ok, text) = daemon.cli(&["press"]);
    assert!(ok, "{text}");
    wait_page(browser, "live");
    let status = daemon.wait_status("state", "live");
    assert_eq!(status["shutter"], "open");
    assert_eq!(status["led"], "live");
    assert_eq!(status["camera_gate"], true);
    let (brightness, frames) = wait_call(
        "the room's video",
        browser,
        daemon,
        Duration::from_secs(20),
        || remote_video(browser).filter(|(b, _)| *b > 60.0),
    );
    assert!(brightness > 60.0);
    wait_for("more frames", Duration::from_secs(10), || {
        remote_video(browser).filter(|(_, f)| *f > frames + 15)
    });
    // The patient's picture and voice reach the box, and the voice is sound,
    // not silence (both browsers' fake microphones make a tone).
    let more = |s: &Value, name: &str, n: u64| counter(s, name) > counter(&before, name) + n;
    let status = wait_call(
        "pictures and sound both ways",
        browser,
        daemon,
        Duration::from_secs(20),
        || {
            let s = daemon.status();
            (more(&s, "video_frames_sent", 30)
                && more(&s, "video_frames_received", 30)
                && more(&s, "audio_frames_received", 25)
                && more(&s, "audio_frames_audible", 5))
            .then_some(s)
        },
    );
    // The path, once both sides have seen it (the page reports its own
    // pair; the box reads its own from webrtcbin).
    let path = wait_for("the call's path in status", Duration::from_secs(10), || {
        let s = daemon.status();
        let page: Option<String> = browser
            .eval("return window.appliance.path ? window.appliance.path.local : null")
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        (s["media"]["path"].is_string() && page.is_some()).then_some(s)
    });

    // The room's sound (the simulation's test tone) reaches the patient:
    // more packets each way, and a tone the page can hear.
    wait_call(
        "the room's sound at the page",
        browser,
        daemon,
        Duration::from_secs(10),
        || page_audio_packets(browser).filter(|(g, _)| *g > got + 25),
    );
    wait_call(
        "the room's tone, heard",
        browser,
        daemon,
        Duration::from_secs(10),
        || heard(browser).filter(|l| *l > 0.01),
    );

    // Both sides computed the same security code, each on its own.
    let page_code = wait_for("the page's security code", Duration::from_secs(10), || {
        browser
            .eval("return document.getElementById('security-code').textContent")
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .filter(|t| t.chars().filter(char::is_ascii_digit).count() == 6)
    });
    let box_code = status["security_code"].as_str().unwrap().to_owned();
    assert!(
        page_code.contains(&box_code),
        "page {page_code:?} vs box {box_code:?}"
    );
    // The box asked the browser for a keyframe as the patient's video
    // started: without one a lost first keyframe leaves the TV dark.
    let asked = browser.eval_async(PLI).unwrap();
    assert!(asked.as_u64().is_some_and(|n| n >= 1), "PLIs: {asked}");
    let offer = offer(browser);
    let page_path = browser.eval("return window.appliance.path").unwrap();

    // A long press ends it: shutter closed, LED off, idle, the patient told.
    let (ok, text) = daemon.cli(&["press", "--long"]);
    assert!(ok, "{text}");
    wait_page(browser, "ended");
    let status = daemon.wait_status("state", "idle");
    assert_eq!(status["shutter"], "closed");
    assert_eq!(status["led"], "off");
    assert_eq!(status["camera_gate"], false);
    assert_eq!(status["security_code"], Value::Null);
    Call {
        offer,
        path: path["media"].clone(),
        page_path,
    }
}

/// What a call showed.
struct Call {
    /// The offer the page answered.
    offer: String,
    /// `status`'s media while the call was live: its path among it.
    path: Value,
    /// The selected pair the page reported.
    page_path: Value,
}

/// The lines of the daemon's output where GLib or GStreamer warned or
/// complained, or media left PLAYING: none belongs in a normal call.
fn glib_warnings(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| {
            l.contains("WARNING **") || l.contains("CRITICAL **") || l.contains("left PLAYING")
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Chromium,
    Firefox,
}

/// A clinic's day on one daemon: three patients one after the other, in
/// Chromium, Firefox and Chromium again, each with the whole call, pictures
/// and sound both ways. The offer does not change from one call to the next
/// (apart from its identifiers), GLib and GStreamer stay quiet, nothing is
/// stored and nothing the patients gave is logged.
#[test]
fn three_calls_in_a_row_on_one_daemon_each_have_pictures_and_sound_both_ways() {
    if !in_own_network("three_calls_in_a_row_on_one_daemon_each_have_pictures_and_sound_both_ways")
    {
        return;
    }
    let daemon = start_daemon();
    let before = snapshot(&daemon.state_dir());
    let latency = StatusLatency::start(&daemon);
    let mut tokens = Vec::new();
    let mut offers = Vec::new();
    for (n, kind) in [Kind::Chromium, Kind::Firefox, Kind::Chromium]
        .into_iter()
        .enumerate()
    {
        let link = invite(&daemon, "1h");
        tokens.push(link.split_once('#').unwrap().1.to_owned());
        let profile = tempfile::tempdir().unwrap();
        let (driver, browser) = match kind {
            Kind::Chromium => (
                Driver::chromium(),
                Browser::chromium(support::DRIVER_PORT, profile.path()),
            ),
            Kind::Firefox => (Driver::firefox(), Browser::firefox(support::DRIVER_PORT)),
        };
        let browser = browser.unwrap();
        let Call { offer, path, .. } = call(&browser, &daemon, &link);
        // On loopback the call is host to host, as both sides see it.
        assert_eq!(path["path"], "host", "{path}");
        assert!(path["relay_transport"].is_null(), "{path}");
        println!("call {} ({kind:?}): {:?}", n + 1, offer_shape(&offer));
        assert!(
            offer.contains("a=rtpmap:111 OPUS/48000/2"),
            "call {}: the offer's Opus line lost its channels:\n{offer}",
            n + 1
        );
        offers.push(offer);
        // The browser's session first, then its driver.
        drop(browser);
        drop(driver);
        let codec = match kind {
            Kind::Chromium => "H264",
            Kind::Firefox => "Vp8",
        };
        let joined = format!("patient {} joined the lobby ({codec})", n + 1);
        assert!(daemon.output().contains(&joined), "{}", daemon.output());
    }
    assert_eq!(
        offer_shape(&offers[0]),
        offer_shape(&offers[2]),
        "the third call's offer differs from the first's"
    );
    let warnings = glib_warnings(&daemon.output()).join("\n");
    assert!(warnings.is_empty(), "GLib or GStreamer warned:\n{warnings}");
    // Each page closed after its session was over: none was logged as a
    // page lost from a session that still holds its patient.
    assert!(
        !daemon.output().contains("they may come back"),
        "{}",
        daemon.output()
    );
    assert_eq!(
        daemon.status()["messages_dropped"],
        0,
        "{}",
        daemon.output()
    );
    // The control socket answered at once throughout, each patient's
    // teardown included: nothing held the daemon's async workers.
    let (answers, slowest) = latency.finish();
    println!("status answered {answers} times, the slowest in {slowest:?}");
    assert!(answers > 100, "status answered only {answers} times");
    assert!(
        slowest < Duration::from_millis(200),
        "status took {slowest:?}"
    );

    // Nothing about the sessions was stored, and nothing of them was logged.
    assert!(
        snapshot(&daemon.state_dir()) == before,
        "the state directory changed"
    );
    let output = daemon.stop();
    for token in &tokens {
        assert!(
            !output.contains(token.as_str()),
            "the daemon printed a token"
        );
    }
    assert!(
        !output.contains(NAME),
        "the daemon printed the patient's name"
    );
    assert!(output.contains("stopped; camera gated, shutter closed, LED off"));
}

/// Narrows the path media takes to `rate` with a token bucket on the
/// namespace's loopback, which every packet crosses: UDP (the media) goes
/// through the bucket, everything else (signalling, WebDriver) past it, so
/// the test's own control of the browser does not starve.
fn narrow_media_path(rate: &str) {
    let lo = ["dev", "lo"];
    tc(&["qdisc", "add"], &lo, "root handle 1: htb default 10");
    tc(
        &["class", "add"],
        &lo,
        "parent 1: classid 1:10 htb rate 10gbit quantum 1514",
    );
    tc(
        &["class", "add"],
        &lo,
        "parent 1: classid 1:20 htb rate 10gbit quantum 1514",
    );
    tc(
        &["qdisc", "add"],
        &lo,
        &format!("parent 1:20 handle 20: tbf rate {rate} burst 16kb latency 200ms"),
    );
    tc(
        &["filter", "add"],
        &lo,
        "parent 1: protocol ip prio 1 u32 match ip protocol 17 0xff flowid 1:20",
    );
    tc(
        &["filter", "add"],
        &lo,
        "parent 1: protocol ipv6 prio 2 u32 match ip6 protocol 17 0xff flowid 1:20",
    );
}

fn open_media_path() {
    tc(&["qdisc", "del"], &["dev", "lo"], "root");
}

fn tc(verb: &[&str], dev: &[&str], rest: &str) {
    let status = std::process::Command::new("tc")
        .args(verb)
        .args(dev)
        .args(rest.split_whitespace())
        .status()
        .expect("tc (iproute2) is needed");
    assert!(status.success(), "tc {verb:?} {rest} failed");
}

fn media(daemon: &Daemon, name: &str) -> Option<u64> {
    daemon.status()["media"][name].as_u64()
}

#[test]
fn the_bitrate_follows_the_network() {
    if !in_own_network("the_bitrate_follows_the_network") {
        return;
    }
    const CAP: u64 = 1200;
    let daemon = start_daemon_with(&[("video.max_bitrate_kbps", "1200")]);
    let patient = admitted_patient(&daemon);
    let browser = &patient.browser;
    wait_call(
        "the room's video",
        browser,
        &daemon,
        Duration::from_secs(20),
        || remote_video(browser).filter(|(b, _)| *b > 60.0),
    );
    // An open path: congestion control has an estimate, the video runs at
    // the cap, and the browser's reports give a round-trip time.
    let twenty = Duration::from_secs(20);
    wait_call("an estimate at the cap", browser, &daemon, twenty, || {
        (media(&daemon, "estimate_kbps")? >= CAP && media(&daemon, "bitrate_kbps")? == CAP)
            .then_some(())
    });
    wait_call("a round-trip time", browser, &daemon, twenty, || {
        media(&daemon, "rtt_ms")
    });

    // The path narrows to 400 kbit/s (both directions share it): the video
    // comes down well below the cap.
    narrow_media_path("400kbit");
    let narrow = wait_call(
        "the bitrate to fall",
        browser,
        &daemon,
        Duration::from_secs(30),
        || media(&daemon, "bitrate_kbps").filter(|&b| b <= CAP / 2),
    );
    println!("narrowed: video at {narrow} kbit/s of {CAP}");
    // Both sides say the connection is weak, in words.
    let weak = |daemon: &Daemon, browser: &Browser| {
        let page = "return !document.getElementById('weak-notice').hidden \
                    && document.body.dataset.connection === 'weak'";
        let page = browser.eval(page).ok() == Some(Value::Bool(true));
        let status = daemon.status()["media"]["weak_connection"] == Value::Bool(true);
        (page, status)
    };
    wait_call(
        "both sides to say it is weak",
        browser,
        &daemon,
        twenty,
        || (weak(&daemon, browser) == (true, true)).then_some(()),
    );

    // The path opens again: the video climbs back to the cap, and the
    // notice goes on both sides.
    open_media_path();
    wait_call(
        "the bitrate to recover",
        browser,
        &daemon,
        Duration::from_secs(90),
        || media(&daemon, "bitrate_kbps").filter(|&b| b * 10 >= CAP * 9),
    );
    wait_call("the weak notice to go", browser, &daemon, twenty, || {
        (weak(&daemon, browser) == (false, false)).then_some(())
    });
    let status = daemon.status();
    assert_eq!(status["state"], "live", "the call carried on throughout");
    drop(patient);
    daemon.stop();
}

#[test]
fn video_that_stops_leaving_the_box_is_renegotiated() {
    if !in_own_network("video_that_stops_leaving_the_box_is_renegotiated") {
        return;
    }
    let daemon = start_daemon();
    let patient = admitted_patient(&daemon);
    let browser = &patient.browser;
    let twenty = Duration::from_secs(20);
    wait_call("the room's video", browser, &daemon, twenty, || {
        remote_video(browser).filter(|(b, f)| *b > 60.0 && *f > 30)
    });
    let latency = StatusLatency::start(&daemon);
    let first_code = daemon.status()["security_code"].clone();
    assert!(first_code.is_string(), "no security code before the stall");
    browser
        .eval("window.firstPc = window.appliance.pc")
        .unwrap();

    // The box's video stops on its way out: within seconds the box notices,
    // offers again, the page connects anew, and the room shows again.
    assert!(daemon.cli(&["sim", "media", "stall"]).0);
    wait_call("a new connection", browser, &daemon, twenty, || {
        browser
            .eval("return window.appliance.pc !== window.firstPc")
            .ok()
            .filter(|v| v == &Value::Bool(true))
    });
    wait_call("the room's video again", browser, &daemon, twenty, || {
        remote_video(browser).filter(|(b, f)| *b > 60.0 && *f > 30)
    });
    let status = daemon.status();
    assert_eq!(status["state"], "live", "the session carried on");
    assert!(
        daemon
            .output()
            .contains("video to patient 1 stopped flowing; negotiating anew")
    );

    // New keys, a new code, still computed equal on both sides.
    let box_code = wait_call("the new code", browser, &daemon, twenty, || {
        let code = daemon.status()["security_code"].clone();
        (code != first_code && code.is_string()).then_some(code)
    });
    let page_code = wait_call("the page's new code", browser, &daemon, twenty, || {
        browser
            .eval("return document.getElementById('security-code').textContent")
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .filter(|t| t.contains(box_code.as_str().unwrap()))
    });
    assert!(!page_code.contains(first_code.as_str().unwrap()));
    // The control socket answered at once through the repair, the old
    // webrtcbin's teardown included.
    let (answers, slowest) = latency.finish();
    println!("status answered {answers} times, the slowest in {slowest:?}");
    assert!(
        slowest < Duration::from_millis(200),
        "status took {slowest:?}"
    );
    drop(patient);
    daemon.stop();
}

/// Reloads the page as a patient's tap on refresh would, and waits until
/// the new page has loaded.
fn reload(browser: &Browser) {
    browser
        .eval("window.beforeReload = true; setTimeout(() => location.reload(), 0)")
        .unwrap();
    wait_for("the page to load again", Duration::from_secs(20), || {
        browser
            .eval("return !window.beforeReload && document.readyState === 'complete'")
            .ok()
            .filter(|v| v == &Value::Bool(true))
    });
}

/// The security code the page shows, once it shows one.
fn page_code(browser: &Browser, daemon: &Daemon) -> String {
    wait_call(
        "the page's security code",
        browser,
        daemon,
        Duration::from_secs(20),
        || {
            browser
                .eval("return document.getElementById('security-code').textContent")
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .filter(|t| t.chars().filter(char::is_ascii_digit).count() == 6)
        },
    )
}

/// 25 sockets one after another, each presenting a forged resume secret;
/// what the box said to each (`null`: closed without a word).
const RESUME_FLOOD: &str = r#"
    const done = arguments[arguments.length - 1];
    const url = new URL("ws", location.href);
    url.protocol = "wss:";
    url.hash = "";
    const said = [];
    function next() {
      if (said.length >= 25) return done(said);
      const ws = new WebSocket(url.href);
      let word = null;
      const limit = setTimeout(() => ws.close(), 3000);
      ws.onopen = () => ws.send(JSON.stringify({ type: "resume", secret: "B".repeat(43) }));
      ws.onmessage = (e) => { try { word = JSON.parse(e.data).type; } catch (_) {} };
      ws.onclose = () => { clearTimeout(limit); said.push(word); next(); };
    }
    next();
"#;

/// Presents `secret` as a page's resume secret from `browser` (a reload
/// with it in the tab's storage) and waits for the page's verdict.
fn resume_with(browser: &Browser, secret: &str) -> String {
    let script = format!(
        "sessionStorage.setItem('appliance-resume', {});",
        serde_json::to_string(secret).unwrap()
    );
    browser.eval(&script).unwrap();
    reload(browser);
    wait_for("the page's verdict", Duration::from_secs(20), || {
        let state = browser.state();
        matches!(state.as_str(), "denied" | "waiting" | "live").then_some(state)
    })
}

/// Waits until the page is live again with the room's picture on it.
fn live_again(browser: &Browser, daemon: &Daemon, what: &str) {
    wait_call(what, browser, daemon, Duration::from_secs(20), || {
        (browser.state() == "live")
            .then(|| remote_video(browser))
            .flatten()
            .filter(|(b, f)| *b > 60.0 && *f > 5)
    });
}

/// A patient's page that reloads keeps its place in the lobby and comes
/// back to its live session with no new link and no press, with a new
/// connection and a new security code equal on both sides. Nobody else gets
/// in with the spent link, a forged secret or the patient's own secret
/// while their page is there; a page closed for good ends the session after
/// the reconnect grace, and its secret is no good after that.
#[test]
fn a_page_that_reloads_comes_back_to_its_session_and_no_one_else_can() {
    if !in_own_network("a_page_that_reloads_comes_back_to_its_session_and_no_one_else_can") {
        return;
    }
    let daemon = start_daemon_with(&[("session.reconnect_grace_seconds", "12")]);
    let link = invite(&daemon, "1h");
    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    let twenty = Duration::from_secs(20);
    join(&browser, &link);
    wait_page(&browser, "waiting");
    let secret = browser
        .eval("return sessionStorage.getItem('appliance-resume')")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 43, "{secret:?}");

    // In the lobby: the reload keeps the patient's place.
    reload(&browser);
    wait_page(&browser, "waiting");
    let status = daemon.status();
    assert_eq!(
        (status["state"].as_str(), status["waiting"].as_u64()),
        (Some("lobby"), Some(1))
    );

    // Live, then a reload: the same session, with no press and no new link.
    assert!(daemon.cli(&["press"]).0);
    wait_page(&browser, "live");
    wait_call("the room's video", &browser, &daemon, twenty, || {
        remote_video(&browser).filter(|(b, f)| *b > 60.0 && *f > 30)
    });
    let first_code = page_code(&browser, &daemon);
    let received = counter(&daemon.status(), "video_frames_received");
    let reloaded = std::time::Instant::now();
    reload(&browser);
    let loaded = reloaded.elapsed();
    live_again(&browser, &daemon, "the room's video after the reload");
    println!(
        "back in the call {:?} after the page loaded again",
        reloaded.elapsed() - loaded
    );
    // A second tap on refresh at once: the new connection it asks for, so
    // soon after the last began, is made once a short wait is over, not
    // dropped (the page would wait 10 s for nothing and ask again).
    reload(&browser);
    live_again(&browser, &daemon, "the room's video after a second reload");
    let asked = browser
        .eval("return window.appliance.reconnectsAsked")
        .unwrap();
    assert_eq!(
        asked,
        1,
        "{}",
        browser.eval("return window.appliance.log").unwrap()
    );
    let status = wait_call(
        "the patient's video at the box",
        &browser,
        &daemon,
        twenty,
        || {
            let s = daemon.status();
            (counter(&s, "video_frames_received") > received + 30).then_some(s)
        },
    );
    assert_eq!(status["state"], "live");
    assert_eq!(status["led"], "live");
    assert!(counter(&status, "reconnects") >= 1, "{status}");
    let code = page_code(&browser, &daemon);
    assert_ne!(code, first_code, "a new connection has a new code");
    let box_code = status["security_code"].as_str().unwrap().to_owned();
    assert!(
        code.contains(&box_code),
        "page {code:?} vs box {box_code:?}"
    );

    // Another browser: the spent link, a forged secret, and the patient's
    // own secret while their page is there are all denied.
    let other_profile = tempfile::tempdir().unwrap();
    let other = Browser::chromium(support::DRIVER_PORT, other_profile.path()).unwrap();
    join(&other, &link);
    wait_page(&other, "denied");
    assert_eq!(resume_with(&other, &"A".repeat(43)), "denied");
    assert_eq!(resume_with(&other, &secret), "denied");
    let received = counter(&daemon.status(), "video_frames_received");
    let status = wait_call("the call going on", &browser, &daemon, twenty, || {
        let s = daemon.status();
        (counter(&s, "video_frames_received") > received + 30).then_some(s)
    });
    assert_eq!(status["state"], "live");
    assert_eq!(status["security_code"].as_str(), Some(box_code.as_str()));
    assert_eq!(browser.state(), "live");

    // The page closed without a word: the session waits for the patient,
    // camera gated and the LED no longer live, then ends by itself.
    browser.goto("about:blank").unwrap();
    let status = daemon.wait_status("state", "reconnecting");
    assert_eq!(status["led"], "waiting");
    assert_eq!(status["camera_gate"], false);
    let sent = counter(&status, "video_frames_sent");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(counter(&daemon.status(), "video_frames_sent"), sent);
    let status = daemon.wait_status("state", "idle");
    assert_eq!(status["shutter"], "closed");
    assert_eq!(status["led"], "off");
    // Its secret is no good now; the next patient gets in as ever.
    assert_eq!(resume_with(&other, &secret), "denied");
    let next = invite(&daemon, "1h");
    join(&other, &next);
    wait_page(&other, "waiting");
    assert!(daemon.cli(&["press"]).0);
    wait_page(&other, "live");

    // A page that tries secrets in a tight loop: denied while the box
    // still answers its address, then its sockets are closed without a word
    // for the rest of the minute; the call goes on.
    browser
        .goto(&format!("https://127.0.0.1:{}/", support::PORT))
        .unwrap();
    let said = browser.eval_async(RESUME_FLOOD).unwrap();
    let said: Vec<Option<&str>> = said.as_array().unwrap().iter().map(Value::as_str).collect();
    let denied = said.iter().take_while(|s| **s == Some("denied")).count();
    assert!(
        denied <= 20 && said[denied..].iter().all(Option::is_none),
        "{said:?}"
    );
    assert!(
        said.len() == 25 && said[20..].iter().all(Option::is_none),
        "{said:?}"
    );
    let received = counter(&daemon.status(), "video_frames_received");
    wait_call("the call after the flood", &other, &daemon, twenty, || {
        (counter(&daemon.status(), "video_frames_received") > received + 30).then_some(())
    });
    assert_eq!(other.state(), "live");

    let output = daemon.stop();
    assert!(
        output.contains("patient 1's page is gone; they may come back"),
        "the reload was not logged as a page that may come back:\n{output}"
    );
    assert!(
        !output.contains(&secret),
        "the daemon printed a resume secret"
    );
    assert!(
        !output.contains(NAME),
        "the daemon printed the patient's name"
    );
}

/// Waits until pictures flow both ways again (the page's decoded frames and
/// the box's received frames move), and gives how long that took.
fn flowing_again(browser: &Browser, daemon: &Daemon, what: &str) -> Duration {
    let start = std::time::Instant::now();
    let page = remote_video(browser).map_or(0, |(_, f)| f);
    let at_box = counter(&daemon.status(), "video_frames_received");
    wait_call(what, browser, daemon, Duration::from_secs(20), || {
        let page_now = remote_video(browser).map_or(0, |(_, f)| f);
        let box_now = counter(&daemon.status(), "video_frames_received");
        // A new connection counts its frames from zero.
        let page_moved = page_now > page + 5 || (page_now < page && page_now > 5);
        (page_moved && box_now > at_box + 5).then_some(())
    });
    start.elapsed()
}

/// How many pictures the box asked the page's video encoder for (RTCP
/// picture loss indications, or full intra requests).
const PLI: &str = r#"
    const done = arguments[arguments.length - 1];
    window.appliance.pc.getStats().then(r => { let n = 0; r.forEach(s => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') n += (s.pliCount || 0) + (s.firCount || 0); });
      done(n); });
"#;

/// What the patient's page sent of its video, for a failure's message.
const SENT: &str = r#"
    const done = arguments[arguments.length - 1];
    window.appliance.pc.getStats().then(r => { const out = []; r.forEach(s => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') out.push([s.framesEncoded, s.framesSent,
        s.packetsSent, s.qualityLimitationReason, s.frameWidth, s.framesPerSecond, s.targetBitrate]); });
      done(out); });
"#;

/// A live call rides out real life with no one touching anything: media cut
/// for 5 s comes back by itself; the signalling lost for 20 s while media
/// flows interrupts nothing, and the page opens its socket again by itself;
/// media cut for 45 s (past ICE consent) puts the room in "reconnecting",
/// camera gated, and a new connection brings the call back once the
/// network is back.
#[test]
fn a_live_call_rides_out_network_blips() {
    if !in_own_network("a_live_call_rides_out_network_blips") {
        return;
    }
    let daemon = start_daemon();
    let patient = admitted_patient(&daemon);
    let browser = &patient.browser;
    let live = |what: &str| {
        let s = daemon.status();
        assert_eq!(s["state"], "live", "{what}: {s}");
        assert_eq!(browser.state(), "live", "{what}");
    };
    flowing_again(browser, &daemon, "the call's video");

    // 5 s without media.
    let page_now = || browser.eval("return Date.now()").unwrap();
    let cut_at = page_now();
    cut("meta l4proto udp drop");
    std::thread::sleep(Duration::from_secs(5));
    mend();
    let mended_at = page_now();
    let back = flowing_again(browser, &daemon, "video after a 5 s cut");
    println!("cut from {cut_at} to {mended_at}");
    println!(
        "after a 5 s cut, video flowed again in {back:?}; the page: {}",
        browser.eval("return window.appliance.log").unwrap()
    );
    daemon.wait_status("state", "live");

    // 20 s without signalling: every packet to or from the box's HTTPS port
    // is refused, so the page's socket breaks at its next word.
    let sockets = |b: &Browser| {
        b.eval("return window.appliance.sockets")
            .unwrap()
            .as_u64()
            .unwrap()
    };
    let opened = sockets(browser);
    cut(
        "tcp dport 8443 tcp flags & rst == 0 reject with tcp reset; \
         tcp sport 8443 tcp flags & rst == 0 reject with tcp reset",
    );
    for second in 0..20 {
        let received = counter(&daemon.status(), "video_frames_received");
        std::thread::sleep(Duration::from_secs(1));
        live(&format!("{second} s into the signalling cut"));
        assert!(
            counter(&daemon.status(), "video_frames_received") > received,
            "no video {second} s into the signalling cut; the page's ICE: {}; sent: {}\n{}",
            browser.eval("return window.appliance.log").unwrap(),
            browser.eval_async(SENT).unwrap(),
            daemon.output()
        );
    }
    mend();
    wait_call(
        "the page's socket again",
        browser,
        &daemon,
        Duration::from_secs(30),
        || {
            (sockets(browser) > opened + 1 && daemon.output().contains("patient 1 is back"))
                .then_some(())
        },
    );
    flowing_again(browser, &daemon, "video after the signalling cut");
    live("after the signalling cut");

    // 45 s without media: past consent, so a new connection is needed. All
    // of it: UDP, and TCP (ICE over TCP would carry the call) but for the
    // signalling and the test's own control of the browser (WebDriver, and
    // the browser's DevTools port).
    let reconnects = counter(&daemon.status(), "reconnects");
    let devtools = std::fs::read_to_string(patient.profile.path().join("DevToolsActivePort"))
        .expect("Chromium's DevTools port");
    let devtools: u16 = devtools.lines().next().unwrap().trim().parse().unwrap();
    cut(&blips::all_but(&[
        support::PORT,
        support::DRIVER_PORT,
        devtools,
    ]));
    let status = daemon.wait_status("state", "reconnecting");
    assert_eq!(status["led"], "waiting");
    assert_eq!(status["camera_gate"], false);
    wait_page(browser, "reconnecting");
    check_in::fits(browser, "reconnecting", 360);
    // No way through the whole time: the room stays reconnecting, no camera
    // frame leaves, and the page keeps asking for a new connection.
    let sent = counter(&status, "video_frames_sent");
    let asked = browser
        .eval("return window.appliance.reconnectsAsked")
        .unwrap();
    std::thread::sleep(Duration::from_secs(40));
    let status = daemon.status();
    assert_eq!(status["state"], "reconnecting", "{status}");
    assert_eq!(counter(&status, "video_frames_sent"), sent);
    assert_eq!(browser.state(), "reconnecting");
    let asked_since = browser
        .eval("return window.appliance.reconnectsAsked")
        .unwrap();
    assert!(
        asked_since.as_u64() > asked.as_u64(),
        "{asked} {asked_since}"
    );
    mend();
    let back = flowing_again(browser, &daemon, "video after a 45 s cut");
    println!("after a 45 s cut, video flowed again in {back:?}");
    daemon.wait_status("state", "live");
    wait_page(browser, "live");
    let status = daemon.status();
    assert!(counter(&status, "reconnects") > reconnects, "{status}");
    assert_eq!(status["led"], "live");
    let code = page_code(browser, &daemon);
    let box_code = status["security_code"].as_str().unwrap().to_owned();
    assert!(
        code.contains(&box_code),
        "page {code:?} vs box {box_code:?}"
    );
    drop(patient);
    daemon.stop();
}

/// The share of the screen's pixels that are not black.
fn lit(screen: &[u8]) -> f64 {
    screen.iter().filter(|&&p| p > 40).count() as f64 / screen.len().max(1) as f64
}

#[test]
fn the_tv_shows_the_patient_only_once_let_in() {
    if !in_own_network("the_tv_shows_the_patient_only_once_let_in") {
        return;
    }
    let display = Display::start();
    let daemon = start_daemon_as(Start {
        display: Some(&display.name),
        ..Start::default()
    });
    // The idle screen: a few words on black.
    let idle = wait_for("the TV's window", Duration::from_secs(20), || {
        Some(lit(&display.grab())).filter(|l| *l > 0.002)
    });
    assert!(
        idle < 0.05,
        "the TV shows {idle:.3} lit before anyone joins"
    );

    // A waiting patient's picture reaches the box but not the room: the
    // therapist has not let them in.
    let patient = waiting_patient_seen_by_the_box(&daemon, NAME);
    let browser = &patient.browser;
    std::thread::sleep(Duration::from_secs(1));
    let lobby = lit(&display.grab());
    assert!(
        lobby < 0.05,
        "the TV shows a waiting patient ({lobby:.3} lit)"
    );

    assert!(daemon.cli(&["press"]).0);
    wait_page(browser, "live");
    // Chromium's fake camera is a bright picture, full screen.
    let shown = wait_call(
        "the patient on the TV",
        browser,
        &daemon,
        Duration::from_secs(10),
        || Some(lit(&display.grab())).filter(|l| *l > 0.5),
    );
    println!("the patient lights {:.0} % of the TV", shown * 100.0);
    daemon.stop();
}

/// What the simulated TV shows now: a 320x180 RGB picture (`sim tv grab`).
/// With TV_GRABS set to a directory, each picture is kept there as
/// NAME.ppm, for a person to look at.
/// None until the TV has drawn its first picture.
fn tv(daemon: &Daemon, name: &str) -> Option<Vec<u8>> {
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().display().to_string();
    let (ok, text) = daemon.cli(&["sim", "tv", "grab", &path]);
    if text.contains("shown nothing yet") {
        return None;
    }
    assert!(ok, "sim tv grab: {text}");
    let ppm = std::fs::read(file.path()).unwrap();
    if let Some(dir) = std::env::var_os("TV_GRABS") {
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.ppm")), &ppm).unwrap();
    }
    Some(tv_picture(&ppm))
}

/// Where the self view sits: the bottom right corner, 80x45 of 320x180.
const SELF_VIEW: Area = (234, 127, 312, 172);

/// Waits for the TV to show what `check` wants, then returns that picture.
fn tv_until(daemon: &Daemon, name: &str, check: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    wait_for(
        &format!("the TV's {name} screen"),
        Duration::from_secs(15),
        || tv(daemon, name).filter(|picture| check(picture)),
    )
}

#[test]
fn the_tv_shows_each_screen_of_the_session() {
    if !in_own_network("the_tv_shows_each_screen_of_the_session") {
        return;
    }
    let daemon = start_daemon();
    // Idle: the room's name and "ready", on black.
    let idle = tv_until(&daemon, "idle", |p| lit_in(p, WHOLE) > 0.005);
    assert!(lit_in(&idle, WHOLE) < 0.1, "{}", lit_in(&idle, WHOLE));
    assert!(
        lit_in(&idle, (60, 60, 260, 120)) > 0.03,
        "no words mid-screen"
    );

    // Lobby: the patient's name, but not their picture. A hostile but real
    // name: a right-to-left override (which turned the TV's own words
    // around) and an emoji with a skin tone as its 40th character (which
    // the page once cut in half, and the box refused the join).
    let hostile = "Zo\u{202E}ë Maria-Antonietta Josephine Magdale👍🏽 Smith";
    let patient = waiting_patient_seen_by_the_box(&daemon, hostile);
    let browser = &patient.browser;
    // The page sent it cut after 40 characters as a person counts them (the
    // emoji whole, the space after it trimmed), without the override.
    let sent = browser.eval("return window.appliance.name").unwrap();
    assert_eq!(sent, "Zoë Maria-Antonietta Josephine Magdale👍🏽");
    let lobby = tv_until(&daemon, "lobby", |p| differ(p, &idle) > 0.005);
    assert!(
        lit_in(&lobby, WHOLE) < 0.1,
        "the TV shows a waiting patient ({:.3} lit)",
        lit_in(&lobby, WHOLE)
    );
    // (By colour: the name's words may reach that corner.)
    assert!(
        blue_in(&lobby, SELF_VIEW) < 0.01,
        "a self view in the lobby"
    );

    // Live: the patient full screen, and the room's own camera (the
    // simulated colour bars) small in the corner.
    assert!(daemon.cli(&["press"]).0);
    wait_page(browser, "live");
    // Chromium's fake camera is green; the bars have blue in them.
    let live = tv_until(&daemon, "live", |p| {
        lit_in(p, WHOLE) > 0.5 && lit_in(p, SELF_VIEW) > 0.6 && blue_in(p, SELF_VIEW) > 0.1
    });
    assert!(
        blue_in(&live, (20, 30, 200, 120)) < 0.01,
        "the patient is not full screen"
    );
    let status = daemon.status();
    assert!(status["security_code"].is_string(), "{status}");

    // Paused: the patient is taken off the TV, not frozen on it.
    assert!(daemon.cli(&["press"]).0);
    daemon.wait_status("state", "paused");
    let paused = tv_until(&daemon, "paused", |p| lit_in(p, WHOLE) < 0.1);
    assert!(differ(&paused, &idle) > 0.005 && differ(&paused, &lobby) > 0.005);
    assert!(
        lit_in(&paused, SELF_VIEW) < 0.01,
        "a self view while paused"
    );

    // Ended, then idle again: the same words as before the session.
    assert!(daemon.cli(&["press", "--long"]).0);
    daemon.wait_status("state", "idle");
    tv_until(&daemon, "idle-again", |p| differ(p, &idle) < 0.002);

    // A fault says what is wrong, in words of its own.
    assert!(daemon.cli(&["sim", "camera", "unplug"]).0);
    daemon.wait_status("state", "fault");
    let fault = tv_until(&daemon, "fault", |p| differ(p, &idle) > 0.005);
    assert!(lit_in(&fault, WHOLE) < 0.1);
    assert!(daemon.cli(&["sim", "camera", "plug"]).0);
    tv_until(&daemon, "idle-after-fault", |p| differ(p, &idle) < 0.002);

    // The hostile name was shown as the name a person typed without the
    // override and the emoji: a patient of that plain name gets the very
    // same words on the TV.
    drop(patient);
    let plain = waiting_patient_named(&daemon, "Zoë Maria-Antonietta Josephine Magdale");
    tv_until(&daemon, "lobby-plain-name", |p| differ(p, &lobby) < 0.0005);
    drop(plain);
    daemon.stop();
}

#[test]
fn a_shutter_that_jams_while_opening_is_a_fault_with_no_camera_frames() {
    if !in_own_network("a_shutter_that_jams_while_opening_is_a_fault_with_no_camera_frames") {
        return;
    }
    // A slow shutter (2 s of travel), so the jam lands on its way open.
    let daemon = start_daemon_as(Start {
        args: &["--sim-shutter-travel-ms", "2000"],
        ..Start::default()
    });
    let patient = waiting_patient(&daemon);
    let browser = &patient.browser;
    assert!(daemon.cli(&["press"]).0);
    daemon.wait_status("shutter", "opening");
    assert!(daemon.cli(&["sim", "shutter", "jam"]).0);
    // The driver gives up when the open sensor is not made in time (3 s).
    let status = daemon.wait_status("state", "fault");
    // The patient is told plainly, and never saw the room.
    wait_page(browser, "error");
    // Stuck half way: jammed, or trying to close again.
    assert!(
        matches!(status["shutter"].as_str(), Some("jammed" | "closing")),
        "{status}"
    );
    assert_eq!(status["led"], "fault");
    assert_eq!(status["camera_gate"], false);
    assert!(
        status["faults"][0]
            .as_str()
            .is_some_and(|f| f.contains("shutter is stuck")),
        "{status}"
    );
    // The TV says so in words, and shows nobody.
    let words = tv_until(&daemon, "jammed", |p| lit_in(p, WHOLE) > 0.005);
    assert!(lit_in(&words, WHOLE) < 0.1, "more than words on the TV");
    // It stays a fault while it cannot move, however often it tries.
    std::thread::sleep(Duration::from_secs(4));
    let status = daemon.status();
    assert_eq!(status["state"], "fault", "{status}");
    assert_eq!(
        counter(&status, "video_frames_sent"),
        0,
        "camera frames left the box with the shutter jammed"
    );
    // Freed, it recovers without a restart, and the camera stays dark until
    // the shutter is sensed open in a live session again.
    assert!(daemon.cli(&["sim", "shutter", "free"]).0);
    let status = wait_for("the fault to clear", Duration::from_secs(20), || {
        let s = daemon.status();
        (s["state"] != "fault").then_some(s)
    });
    assert_eq!(status["faults"], serde_json::json!([]), "{status}");
    // The fault ended the session (the patient was told); the room is idle,
    // the shutter back closed.
    assert_eq!(status["state"], "idle", "{status}");
    assert_eq!(status["shutter"], "closed", "{status}");
    assert_eq!(status["led"], "off", "{status}");
    assert_eq!(status["camera_gate"], false);
    daemon.stop();
}

#[test]
fn stopping_the_daemon_mid_call_closes_the_shutter_and_puts_the_led_out() {
    if !in_own_network("stopping_the_daemon_mid_call_closes_the_shutter_and_puts_the_led_out") {
        return;
    }
    // The simulated room's commands, outside the state directory.
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("room.log");
    let daemon = start_daemon_logged(&log);
    // The patient stays connected until the box stops.
    let _patient = admitted_patient(&daemon);

    // systemd stops the box (SIGTERM) in the middle of the session.
    let output = daemon.stop();
    assert!(output.contains("stopped; camera gated, shutter closed, LED off"));
    let (shutter, led, closed_after_live) = last_room_commands(&log);
    assert_eq!(shutter, "shutter close");
    assert!(led == "led off" || led == "led fault", "{led}");
    assert!(
        closed_after_live,
        "the shutter was not closed after the call went live"
    );
}

/// The simulated room's commands as the room's thread gave them to the
/// drivers: (the last shutter command, the last LED command, whether the
/// shutter was commanded closed after the LED last showed live).
fn last_room_commands(log: &std::path::Path) -> (String, String, bool) {
    let commands = std::fs::read_to_string(log).unwrap();
    let lines: Vec<&str> = commands.lines().collect();
    let live = lines.iter().rposition(|l| *l == "led live");
    assert!(live.is_some(), "the LED never showed live: {lines:?}");
    let last = |prefix: &str| {
        lines
            .iter()
            .rev()
            .find(|l| l.starts_with(prefix))
            .map_or_else(String::new, |l| (*l).to_owned())
    };
    let closed_after = lines.iter().rposition(|l| *l == "shutter close") > live;
    (last("shutter "), last("led "), closed_after)
}

#[test]
fn a_panic_mid_call_closes_the_shutter_and_shows_the_fault_through_the_drivers() {
    if !in_own_network(
        "a_panic_mid_call_closes_the_shutter_and_shows_the_fault_through_the_drivers",
    ) {
        return;
    }
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("room.log");
    let mut daemon = start_daemon_logged(&log);
    let _patient = admitted_patient(&daemon);

    // A bug in the session task, mid-call: the daemon stops with an error,
    // and the room's thread has given its drivers the panic's safe state.
    daemon.cli(&["sim", "panic"]);
    let status = daemon
        .wait_exit(Duration::from_secs(15))
        .expect("the daemon did not exit within 15 s of the panic");
    let output = daemon.output();
    assert!(!status.success(), "{output}");
    assert!(output.contains("a simulated failure"), "{output}");
    let (shutter, led, closed_after_live) = last_room_commands(&log);
    assert_eq!(shutter, "shutter close");
    assert_eq!(led, "led fault");
    assert!(
        closed_after_live,
        "the shutter was not closed after the call went live"
    );
}

#[test]
fn bad_expired_and_reused_links_are_denied() {
    if !in_own_network("bad_expired_and_reused_links_are_denied") {
        return;
    }
    let daemon = start_daemon();
    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    let base = format!("https://127.0.0.1:{}/", support::PORT);

    let used = invite(&daemon, "1h");
    join(&browser, &used);
    wait_page(&browser, "waiting");
    browser.goto("about:blank").unwrap();
    daemon.wait_status("state", "idle");

    let expired = invite(&daemon, "1s");
    std::thread::sleep(Duration::from_millis(2100));
    let garbage = format!("{base}#{}", "A".repeat(76));
    for link in [used, expired, garbage] {
        join(&browser, &link);
        wait_page(&browser, "denied");
        assert_eq!(daemon.status()["waiting"], 0);
        let asked = browser.eval("return window.appliance.cameraAsked").unwrap();
        assert_eq!(asked, false, "the page asked for the camera for {link}");
    }
    browser.goto("about:blank").unwrap();
    browser.goto(&base).unwrap();
    wait_page(&browser, "denied");
    // Each refused as the page opened, before it asked for the camera.
    let output = daemon.stop();
    for why in ["token already used", "expired token", "malformed token"] {
        assert!(
            output.contains(&format!("a page opened with a link it cannot use: {why}")),
            "{output}"
        );
    }
}

#[test]
fn faults_show_on_the_led_and_clear_without_a_restart() {
    if !in_own_network("faults_show_on_the_led_and_clear_without_a_restart") {
        return;
    }
    let daemon = start_daemon();
    let (ok, text) = daemon.cli(&["sim", "camera", "unplug"]);
    assert!(ok, "{text}");
    let status = daemon.wait_status("state", "fault");
    assert_eq!(status["led"], "fault");
    assert_eq!(status["camera_gate"], false);
    assert!(
        status["faults"][0]
            .as_str()
            .is_some_and(|f| f.contains("camera is not connected")),
        "{status}"
    );
    let (ok, text) = daemon.cli(&["sim", "camera", "plug"]);
    assert!(ok, "{text}");
    let status = daemon.wait_status("state", "idle");
    assert_eq!(status["led"], "off");
    assert_eq!(status["faults"], serde_json::json!([]));
    // A shutter blocked while it rests closed is no fault: nothing moves
    // and the camera stays covered. It shows when it next has to move.
    assert!(daemon.cli(&["sim", "shutter", "jam"]).0);
    std::thread::sleep(Duration::from_millis(500));
    let status = daemon.status();
    assert_eq!(status["state"], "idle", "{status}");
    assert_eq!(status["shutter"], "closed", "{status}");
    assert!(daemon.cli(&["sim", "shutter", "free"]).0);
    daemon.stop();
}

/// A whole call from the patient's home to the clinic's box, across both
/// NATs, in a new browser of `kind`; what it showed.
fn call_across(daemon: &Daemon, kind: Kind) -> Call {
    call_at(daemon, kind, &format!("https://{}/", nat::CLINIC))
}

/// A whole call from the patient's home to the room at `room` (where links
/// point), in a new browser of `kind`; what it showed.
fn call_at(daemon: &Daemon, kind: Kind, room: &str) -> Call {
    let link = invite(daemon, "1h");
    call_with_link(daemon, kind, room, &link)
}

/// A whole call with `link`, to the room at `room`, in a new browser of
/// `kind`; what it showed.
fn call_with_link(daemon: &Daemon, kind: Kind, room: &str, link: &str) -> Call {
    assert!(link.starts_with(&format!("{room}#")), "{link}");
    let profile = tempfile::tempdir().unwrap();
    let (driver, browser) = match kind {
        Kind::Chromium => (
            Driver::chromium(),
            Browser::chromium(support::DRIVER_PORT, profile.path()),
        ),
        Kind::Firefox => (Driver::firefox(), Browser::firefox(support::DRIVER_PORT)),
    };
    let browser = browser.unwrap();
    let shown = call(&browser, daemon, link);
    drop(browser);
    drop(driver);
    let warnings = glib_warnings(&daemon.output()).join("\n");
    assert!(warnings.is_empty(), "GLib or GStreamer warned:\n{warnings}");
    // No credential of the relay's in the box's log or the relay's own.
    let output = daemon.output();
    assert!(!output.contains(nat::TURN_SECRET), "{output}");
    shown
}

/// A room behind the clinic's NAT with the clinic's coturn, for a patient
/// behind a home router that maps as `home`.
fn clinic_with_relay(home: HomeNat) -> (Topology, Daemon) {
    let mut topology = Topology::build(home);
    topology.start_turn();
    let daemon = topology.start_box(nat::ALL_TURN, &[]);
    (topology, daemon)
}

#[test]
fn across_two_cone_nats_the_call_goes_direct_without_the_relay() {
    if !in_own_network("across_two_cone_nats_the_call_goes_direct_without_the_relay") {
        return;
    }
    let (topology, daemon) = clinic_with_relay(HomeNat::Cone);
    // Whatever the box sends to UPnP's port, on any of its interfaces.
    let upnp = topology.capture("box", "any", &["udp", "port", "1900"]);
    let shown = call_across(&daemon, Kind::Chromium);
    assert_eq!(shown.path["path"], "srflx", "{}", shown.path);
    assert!(shown.path["relay_transport"].is_null(), "{}", shown.path);
    // No SSDP search for the clinic's router: a pcap file's header alone.
    let pcap = upnp.stop();
    assert_eq!(pcap.len(), 24, "the box asked the LAN for a UPnP gateway");
    daemon.stop();
}

#[test]
fn behind_a_symmetric_nat_the_call_goes_through_the_relay() {
    if !in_own_network("behind_a_symmetric_nat_the_call_goes_through_the_relay") {
        return;
    }
    let (topology, daemon) = clinic_with_relay(HomeNat::Symmetric);
    let capture = topology.capture_internet();
    let mut sps = Vec::new();
    for kind in [Kind::Chromium, Kind::Firefox] {
        let shown = call_across(&daemon, kind);
        assert_eq!(shown.path["path"], "relay", "{kind:?}: {}", shown.path);
        assert_eq!(
            shown.path["relay_transport"], "udp",
            "{kind:?}: {}",
            shown.path
        );
        sps.extend(first_sps(&shown.offer));
    }
    daemon.stop();

    // The relay never holds the keys: on the internet segment there are
    // DTLS handshakes and SRTP, and none of the box's video in the clear
    // (its H.264 sequence parameter set, from the offer, is in every
    // keyframe; a VP8 keyframe at 1280x720 starts 9d 01 2a 00 05 d0 02).
    let pcap = capture.stop();
    let seen = nat::seen(&pcap);
    println!("on the internet: {seen:?}");
    assert!(seen.dtls_handshakes >= 2, "{seen:?}");
    assert!(seen.srtp > 500, "{seen:?}");
    assert!(sps.len() >= 6, "the offer named no H.264 parameter sets");
    assert!(
        !nat::contains(&pcap, &sps[..8.min(sps.len())]),
        "H.264 in the clear"
    );
    let vp8_keyframe = [0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02];
    assert!(!nat::contains(&pcap, &vp8_keyframe), "VP8 in the clear");
}

/// The first H.264 sequence parameter set an offer names
/// (`sprop-parameter-sets`), as bytes.
fn first_sps(offer: &str) -> Vec<u8> {
    use base64::Engine as _;
    offer
        .split("sprop-parameter-sets=")
        .nth(1)
        .and_then(|rest| rest.split([',', ';', '\r', '\n']).next())
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .unwrap_or_default()
}

#[test]
fn a_network_without_udp_reaches_the_relay_over_tcp_or_tls() {
    if !in_own_network("a_network_without_udp_reaches_the_relay_over_tcp_or_tls") {
        return;
    }
    let (_topology, daemon) = clinic_with_relay(HomeNat::NoUdp);
    let shown = call_across(&daemon, Kind::Chromium);
    assert_eq!(shown.path["path"], "relay", "{}", shown.path);
    let transport = shown.path["relay_transport"].as_str().unwrap_or_default();
    assert!(
        transport == "tcp" || transport == "tls",
        "{}; page {}",
        shown.path,
        shown.page_path
    );
    daemon.stop();
}

#[test]
fn behind_the_clinic_s_reverse_proxy_the_room_lives_under_its_path() {
    if !in_own_network("behind_the_clinic_s_reverse_proxy_the_room_lives_under_its_path") {
        return;
    }
    let mut topology = Topology::build(HomeNat::Cone);
    topology.start_turn();
    topology.start_proxy();
    let room = format!("https://{}{}", nat::CLINIC, nat::ROOM_PATH);
    let daemon = topology.start_box(
        nat::ALL_TURN,
        &[
            ("room.public_url", room.trim_end_matches('/')),
            ("http.trusted_proxies", "10.10.0.1"),
        ],
    );
    // The clinic's scheduling system makes the link through the API, under
    // the proxy's path; the page, its files and its WebSocket are all there
    // too.
    let (ok, text) = daemon.cli(&["api-client", "add", "scheduler"]);
    assert!(ok, "{text}");
    let token = text.lines().next().unwrap().trim().to_owned();
    let (status, made) = api("POST", &format!("{room}api/v1/invites"), Some(&token), "{}");
    assert_eq!(status, 201, "{made}");
    let link = made["url"].as_str().unwrap();
    // The front desk's page is there too, its cookies for that path only.
    staff_desk::add_account(&daemon, "desk", "correct horse battery staple");
    let jar = tempfile::tempdir().unwrap();
    let desk = staff_desk::Curl::new(jar.path(), &format!("{room}staff/")).get("");
    assert_eq!(desk.status, 200, "{}", desk.headers);
    assert!(
        desk.headers.contains("Path=/room3/staff/;"),
        "{}",
        desk.headers
    );
    let shown = call_with_link(&daemon, Kind::Chromium, &room, link);
    assert_eq!(shown.path["path"], "srflx", "{}", shown.path);
    let log = topology.proxy_log();
    for request in [
        "POST /room3/api/v1/invites HTTP/1.1\" 201",
        "GET /room3/ HTTP",
        "GET /room3/app.js",
        "GET /room3/ws HTTP/1.1\" 101",
        "GET /room3/staff/ HTTP/1.1\" 200",
    ] {
        assert!(
            log.contains(request),
            "{request} not in the proxy's log:\n{log}"
        );
    }

    // A stranger at the patient's address guessing links is turned away
    // after ten: the box tells addresses apart by the proxy's
    // X-Forwarded-For, so another address still gets in.
    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    for n in 0..10 {
        join(&browser, &format!("{room}#not-a-link-{n}"));
        wait_page(&browser, "denied");
    }
    join(&browser, &format!("{room}#not-a-link-10"));
    wait_page(&browser, "error");
    assert!(
        topology
            .proxy_log()
            .contains("GET /room3/ws HTTP/1.1\" 429"),
        "{}",
        topology.proxy_log()
    );
    let upgrade = topology
        .command(
            "turn",
            &[
                "curl",
                "-sk",
                "--http1.1",
                "--max-time",
                "3",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                "Connection: Upgrade",
                "-H",
                "Upgrade: websocket",
                "-H",
                "Sec-WebSocket-Version: 13",
                "-H",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                &format!("{room}ws"),
            ],
        )
        .output()
        .expect("curl is needed for the NAT tests");
    assert_eq!(String::from_utf8_lossy(&upgrade.stdout), "101");
    // And the patient's address is not in the box's log.
    assert!(
        !daemon.output().contains("203.0.113.20"),
        "{}",
        daemon.output()
    );
    drop(browser);
    daemon.stop();
}

#[test]
fn without_a_relay_a_symmetric_nat_cannot_connect_and_both_sides_say_so() {
    if !in_own_network("without_a_relay_a_symmetric_nat_cannot_connect_and_both_sides_say_so") {
        return;
    }
    let mut topology = Topology::build(HomeNat::Symmetric);
    topology.start_turn(); // as the clinic's STUN server only
    let daemon = topology.start_box("", &[]);
    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    let idle_tv = tv_until(&daemon, "no-path-idle", |_| true);
    for attempt in 1..=2 {
        let link = invite(&daemon, "1h");
        join(&browser, &link);
        let joined = std::time::Instant::now();
        wait_page(&browser, "waiting");
        // Both sides say so in plain words within 15 s of the join.
        wait_for(
            "the page to say the network could not reach the room",
            Duration::from_secs(15).saturating_sub(joined.elapsed()),
            || (browser.state() == "error").then_some(()),
        );
        let page = browser
            .eval(
                "return [document.body.dataset.reason, \
                 document.getElementById('error-text').textContent]",
            )
            .unwrap();
        assert_eq!(page[0], "unreachable", "{page}");
        assert!(
            page[1]
                .as_str()
                .unwrap()
                .contains("could not reach the room"),
            "{page}"
        );
        let status = daemon.wait_status("state", "idle");
        assert!(
            status["call_problem"]
                .as_str()
                .is_some_and(|p| p.contains("could not reach the room")),
            "{status}"
        );
        assert!(
            joined.elapsed() < Duration::from_secs(15),
            "attempt {attempt}"
        );
        // The TV says so, in place of its idle words.
        tv_until(&daemon, "no-path-failed", |shown| {
            differ(shown, &idle_tv) > 0.01
        });
        let (_, plain) = daemon.cli(&["status"]);
        assert!(plain.contains("last call:"), "{plain}");
        // And the box is ready for the next patient (who fares the same).
    }
    assert_eq!(daemon.status()["camera_gate"], false);
    let output = daemon.output();
    assert!(output.contains("no network path"), "{output}");
    drop(browser);
    daemon.stop();
}

/// A patient let in whose call shows the room (`what`), and `status` once
/// it knows the call's path.
fn call_with_its_path(daemon: &Daemon, what: &str) -> (Patient, Value) {
    let patient = admitted_patient(daemon);
    wait_call(
        what,
        &patient.browser,
        daemon,
        Duration::from_secs(30),
        || remote_video(&patient.browser).filter(|(b, _)| *b > 60.0),
    );
    let status = wait_for("the call's path", Duration::from_secs(10), || {
        let s = daemon.status();
        s["media"]["path"].is_string().then_some(s)
    });
    (patient, status)
}

/// The long press, and the room at rest again.
fn end_call(daemon: &Daemon, patient: Patient) {
    assert!(daemon.cli(&["press", "--long"]).0);
    wait_page(&patient.browser, "ended");
    drop(patient);
    daemon.wait_status("state", "idle");
}

#[test]
fn a_relay_that_refuses_the_box_is_named_in_status_and_the_call_goes_direct() {
    if !in_own_network("a_relay_that_refuses_the_box_is_named_in_status_and_the_call_goes_direct") {
        return;
    }
    let mut topology = Topology::build(HomeNat::Cone);
    // A TURN server that refuses the box's credentials (another secret).
    topology.start_turn_with("a-secret-that-is-not-the-box-s");
    let daemon = topology.start_box(nat::ALL_TURN, &[]);
    // The call goes on by the direct path through both NATs all the same.
    let (patient, status) = call_with_its_path(&daemon, "the room's video");
    assert_eq!(status["media"]["path"], "srflx", "{status}");
    assert!(
        status["media"]["relay_problem"]
            .as_str()
            .is_some_and(|p| p.contains("TURN relay")),
        "{status}"
    );
    let (_, plain) = daemon.cli(&["status"]);
    assert!(plain.contains("relay:         The TURN relay"), "{plain}");
    end_call(&daemon, patient);

    // Slow, its answers queued behind each other at 16 kbit/s (a TLS
    // handshake takes about a second): the call goes on all the same, by
    // whichever path comes first.
    topology.stop_turn();
    topology.start_turn();
    topology.slow_turn("16kbit");
    let (patient, status) = call_with_its_path(&daemon, "the room's video with a slow relay");
    println!("with a slow relay the call went {}", status["media"]);
    end_call(&daemon, patient);

    // Down, and the clinic's STUN with it: no path through two NATs is left,
    // and the patient is told so.
    topology.stop_turn();
    let patient = waiting_patient(&daemon);
    wait_page(&patient.browser, "error");
    let reason = patient
        .browser
        .eval("return document.body.dataset.reason")
        .unwrap();
    assert_eq!(reason, "unreachable");
    let status = daemon.wait_status("state", "idle");
    assert!(status["call_problem"].is_string(), "{status}");
    let output = daemon.output();
    assert!(output.contains("negotiating again without it"), "{output}");
    assert!(!output.contains(nat::TURN_SECRET), "{output}");
    assert!(!output.contains("left PLAYING"), "{output}");
    drop(patient);
    daemon.stop();
}

/// A clinic whose STUN and TURN servers are two, with the TURN servers down
/// (no host answers at their address): the call goes direct all the same,
/// and status names the relay that gave nothing. (libnice gathered no public
/// address from the STUN server while its TURN servers failed, here, so
/// the box negotiates once more without TURN, as with a relay that refuses
/// it.)
#[test]
fn a_relay_that_is_down_beside_its_own_stun_server_is_named_and_the_call_goes_direct() {
    if !in_own_network(
        "a_relay_that_is_down_beside_its_own_stun_server_is_named_and_the_call_goes_direct",
    ) {
        return;
    }
    let mut topology = Topology::build(HomeNat::Cone);
    topology.start_stun();
    let mut daemon = topology.start_box(nat::GONE_TURN, &[]);
    let (patient, status) = call_with_its_path(&daemon, "the room's video");
    assert_eq!(status["media"]["path"], "srflx", "{status}");
    assert!(status["media"]["relay_transport"].is_null(), "{status}");
    let named = |s: &Value| {
        s["media"]["relay_problem"]
            .as_str()
            .is_some_and(|p| p.contains("TURN relay"))
    };
    let status = daemon.status_when(Duration::from_secs(20), named);
    assert!(
        status.is_some(),
        "the relay is not named: {}",
        daemon.status()
    );
    end_call(&daemon, patient);
    let output = daemon.stop();
    assert!(!output.contains(nat::TURN_SECRET), "{output}");
    assert!(!output.contains("left PLAYING"), "{output}");
}

/// A phone moving from Wi-Fi to mobile data: mid-call, the patient's
/// address changes (a new one comes, the old one goes) and the call is back
/// by itself, through the same NATs, in the same session.
#[test]
fn a_patient_whose_address_changes_mid_call_comes_back_by_itself() {
    if !in_own_network("a_patient_whose_address_changes_mid_call_comes_back_by_itself") {
        return;
    }
    let (_topology, daemon) = clinic_with_relay(HomeNat::Cone);
    let link = invite(&daemon, "1h");
    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    join(&browser, &link);
    wait_page(&browser, "waiting");
    assert!(daemon.cli(&["press"]).0);
    wait_page(&browser, "live");
    flowing_again(&browser, &daemon, "the call's video");
    let code = page_code(&browser, &daemon);

    let changed = std::time::Instant::now();
    blips::move_address("192.168.1.2", "192.168.1.3");
    let at = browser.eval("return Date.now()").unwrap();
    flowing_again(&browser, &daemon, "video after the address changed");
    println!(
        "the address changed; video flowed again {:?} later; the page's ICE: {} from {at}",
        changed.elapsed(),
        browser.eval("return window.appliance.log").unwrap()
    );
    let status = daemon.wait_status("state", "live");
    wait_page(&browser, "live");
    assert!(counter(&status, "reconnects") >= 1, "{status}");
    let new_code = page_code(&browser, &daemon);
    assert_ne!(new_code, code, "a new connection has a new code");
    let box_code = daemon.status()["security_code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        new_code.contains(&box_code),
        "page {new_code:?} vs box {box_code:?}"
    );

    // And back again soon after (Wi-Fi found once more): the page drops
    // its dead socket and opens a new one at once, not after a wait that
    // grew with the last change.
    let since = browser.eval("return Date.now()").unwrap().as_i64().unwrap();
    blips::move_address("192.168.1.3", "192.168.1.2");
    flowing_again(&browser, &daemon, "video after the address changed back");
    let log = browser.eval("return window.appliance.log").unwrap();
    let noted = |what: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e[0].as_i64().unwrap() > since && e[1] == what)
            .map(|e| e[0].as_i64().unwrap())
            .next()
    };
    let (dropped, opening) = (noted("socket dropped"), noted("socket opening"));
    assert!(
        matches!((dropped, opening), (Some(d), Some(o)) if o - d < 500),
        "{log}"
    );
    wait_page(&browser, "live");
    daemon.stop();
}

/// A request to the clinic's API, with curl: `method` to `url`, with the
/// bearer `token` if any and `body`; the status and the JSON answer (null
/// when there is none).
fn api(method: &str, url: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    use std::io::Write as _;
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec![
        "-sk",
        "--max-time",
        "5",
        "-X",
        method,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "@-",
        "-w",
        "\n%{http_code}",
    ];
    if let Some(auth) = &auth {
        args.extend(["-H", auth]);
    }
    args.push(url);
    let mut curl = std::process::Command::new("curl")
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl is needed for the API's tests");
    curl.stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = curl.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let (json, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(json).unwrap_or(Value::Null),
    )
}

/// An RFC 3339 time `seconds` from now (before now when negative), to the
/// second.
fn rfc3339_in(seconds: i64) -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    (now + time::Duration::seconds(seconds))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The clinic's scheduling system makes links through the API with its own
/// token: one for now, one for an appointment later (which `invite inspect`
/// reads back); every bad request is refused with a clear status and makes
/// nothing; a removed client is refused at once, with no restart, and an
/// address that keeps presenting wrong tokens is turned away.
#[test]
fn the_clinic_s_systems_make_links_through_the_api() {
    if !in_own_network("the_clinic_s_systems_make_links_through_the_api") {
        return;
    }
    let daemon = start_daemon();
    let url = format!("https://127.0.0.1:{}/api/v1/invites", support::PORT);
    // Every answer carries the security headers, errors included; no HSTS
    // with the room's own self-signed certificate.
    let jar = tempfile::tempdir().unwrap();
    let base = format!("https://127.0.0.1:{}/", support::PORT);
    for (path, status) in [("no-such-page", 404), ("api/v1/invites", 405), ("", 200)] {
        let got = staff_desk::Curl::new(jar.path(), &base).get(path);
        assert_eq!(got.status, status, "{path}");
        let headers = got.headers.to_ascii_lowercase();
        for header in [
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: no-referrer",
            "content-security-policy: default-src 'none'",
            "permissions-policy: camera=(self), microphone=(self), display-capture=()",
        ] {
            assert!(
                headers.contains(header),
                "{path}: no {header} in\n{headers}"
            );
        }
        assert!(!headers.contains("strict-transport-security"), "{headers}");
    }
    let mut failures = 0;
    // No client yet: nobody gets in.
    assert_eq!(api("POST", &url, Some("anything"), "").0, 401);
    failures += 1;
    let (ok, text) = daemon.cli(&["api-client", "add", "scheduler"]);
    assert!(ok, "{text}");
    let token = text.lines().next().unwrap().trim().to_owned();
    assert!(token.len() >= 43, "{text}");
    let (ok, text) = daemon.cli(&["api-client", "list"]);
    assert!(ok && text.lines().next() == Some("scheduler"), "{text}");

    // A link for now, which the box signed and which admits now.
    let (status, made) = api("POST", &url, Some(&token), "");
    assert_eq!(status, 201, "{made}");
    let link = made["url"].as_str().unwrap().to_owned();
    let room = format!("https://127.0.0.1:{}/#", support::PORT);
    assert!(link.starts_with(&room), "{link}");
    assert_eq!(made["virtual_service"]["addressUrl"], link.as_str());
    assert_eq!(made["virtual_service"]["maxParticipants"], 2);
    let (ok, text) = daemon.cli(&["invite", "inspect", &link]);
    assert!(ok, "{text}");
    assert!(text.contains("signature: valid"), "{text}");
    assert!(text.contains("now:       open"), "{text}");

    // An appointment in two days, for an hour.
    let start = rfc3339_in(2 * 86_400);
    let end = rfc3339_in(2 * 86_400 + 3600);
    let body = format!(r#"{{"not_before": "{start}", "expires": "{end}"}}"#);
    let (status, later) = api("POST", &url, Some(&token), &body);
    assert_eq!(status, 201, "{later}");
    assert_eq!(
        (later["not_before"].as_str(), later["expires"].as_str()),
        (Some(start.as_str()), Some(end.as_str()))
    );
    let later_link = later["url"].as_str().unwrap().to_owned();
    let (ok, text) = daemon.cli(&["invite", "inspect", &later_link]);
    assert!(
        ok && text.contains(&format!("starts:    {start}")),
        "{text}"
    );
    assert!(text.contains("not yet open"), "{text}");
    // A link altered by a character is no link of this room's.
    let mut forged = later_link.clone().into_bytes();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let (ok, text) = daemon.cli(&["invite", "inspect", &String::from_utf8(forged).unwrap()]);
    assert!(!ok && text.contains("not signed by this room"), "{text}");

    // Bad requests: each refused, naming what is wrong.
    let refused = |body: &str| {
        let (status, error) = api("POST", &url, Some(&token), body);
        (status, error["field"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(
        refused(r#"{"patient": "Zebulon"}"#),
        (400, "patient".into())
    );
    assert_eq!(
        refused(r#"{"not_before": "tomorrow"}"#),
        (400, "not_before".into())
    );
    assert_eq!(refused("[1, 2]"), (400, "body".into()));
    let past = format!(r#"{{"not_before": "{}"}}"#, rfc3339_in(-3600));
    assert_eq!(refused(&past), (400, "not_before".into()));
    let far = format!(r#"{{"expires": "{}"}}"#, rfc3339_in(31 * 86_400));
    assert_eq!(refused(&far), (400, "expires".into()));
    let big = format!(r#"{{"not_before": "{}"}}"#, "9".repeat(5000));
    assert_eq!(refused(&big).0, 413);
    assert_eq!(api("GET", &url, Some(&token), "").0, 405);
    assert_eq!(api("POST", &url, Some("not-the-token"), "").0, 401);
    failures += 1;

    // Removed: refused at once.
    let (ok, text) = daemon.cli(&["api-client", "remove", "scheduler"]);
    assert!(ok, "{text}");
    assert_eq!(api("POST", &url, Some(&token), "").0, 401);
    failures += 1;
    // Ten wrong tokens from one address in a minute, and it is turned away,
    // even with a good token.
    while failures < 10 {
        assert_eq!(api("POST", &url, None, "").0, 401);
        failures += 1;
    }
    let (ok, text) = daemon.cli(&["api-client", "add", "front-desk"]);
    assert!(ok, "{text}");
    let desk = text.lines().next().unwrap().trim().to_owned();
    assert_eq!(api("POST", &url, Some(&desk), "").0, 429);

    // Nothing secret, nothing sent, in the log.
    let output = daemon.stop();
    for secret in [
        token.as_str(),
        desk.as_str(),
        link.split_once('#').unwrap().1,
        "Zebulon",
    ] {
        assert!(!output.contains(secret), "{output}");
    }
    assert!(
        output.contains("API client scheduler made a patient link"),
        "{output}"
    );
}

/// A link made for later says when the session starts and opens by itself:
/// the page checks camera and microphone meanwhile, and a patient who gave
/// their name is let into the waiting room when the link opens, with no
/// second click. The same link, spent, and a forged one are refused as soon
/// as the page opens, before it asks for the camera.
#[test]
fn a_link_for_later_opens_by_itself_and_a_spent_one_is_refused_at_once() {
    if !in_own_network("a_link_for_later_opens_by_itself_and_a_spent_one_is_refused_at_once") {
        return;
    }
    let daemon = start_daemon_with(&[("invite.early_minutes", "1")]);
    let (ok, text) = daemon.cli(&["api-client", "add", "scheduler"]);
    assert!(ok, "{text}");
    let token = text.lines().next().unwrap().trim().to_owned();
    let url = format!("https://127.0.0.1:{}/api/v1/invites", support::PORT);
    // The appointment starts in 80 s: the link opens a minute before, in 20.
    let body = format!(r#"{{"not_before": "{}"}}"#, rfc3339_in(80));
    let (status, made) = api("POST", &url, Some(&token), &body);
    assert_eq!(status, 201, "{made}");
    let link = made["url"].as_str().unwrap().to_owned();

    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    browser.goto(&link).unwrap();
    wait_page(&browser, "early");
    check_in::fits(&browser, "early", 360);
    let said = browser
        .eval("return document.getElementById('early-text').textContent")
        .unwrap();
    let said = said.as_str().unwrap();
    assert!(
        said.starts_with("Your session starts at ")
            && said.contains(". This page will let you in from "),
        "{said}"
    );
    wait_for("the camera's preview", Duration::from_secs(10), || {
        browser
            .eval("return document.getElementById('self').videoWidth > 0")
            .ok()
            .filter(|v| v == &Value::Bool(true))
    });
    // Ready early: the name given and Join pressed; nobody is let in yet.
    browser
        .eval("document.getElementById('name').value = 'Zebulon'; document.getElementById('join').click();")
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(browser.state(), "early");
    assert_eq!(daemon.status()["waiting"], 0);
    // In by itself once it opens.
    wait_for("the waiting room", Duration::from_secs(40), || {
        (browser.state() == "waiting").then_some(())
    });
    assert_eq!(daemon.wait_status("state", "lobby")["waiting"], 1);

    // The same link in another browser, and a forged one: refused before
    // the camera is asked for.
    let other_profile = tempfile::tempdir().unwrap();
    let other = Browser::chromium(support::DRIVER_PORT, other_profile.path()).unwrap();
    let forged = format!("https://127.0.0.1:{}/#{}", support::PORT, "A".repeat(87));
    for refused in [&link, &forged] {
        other.goto("about:blank").unwrap();
        other.goto(refused).unwrap();
        wait_page(&other, "denied");
        let asked = other.eval("return window.appliance.cameraAsked").unwrap();
        assert_eq!(asked, false);
    }
    assert_eq!(browser.state(), "waiting");
    let output = daemon.stop();
    assert!(
        !output.contains(&token) && !output.contains("Zebulon"),
        "{output}"
    );
}
