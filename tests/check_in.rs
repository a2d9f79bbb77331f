//! The patient's check-in, on one daemon: a browser that cannot make the
//! call (no WebRTC, an app's built-in browser, a page not counted as
//! secure) is told why in words before anything is asked of it; a camera the
//! patient refused comes with their browser's words for allowing it, and a
//! retry that works once they do; the microphone's bar moves, the test
//! sound plays and is answered, the devices are listed, an unplugged one
//! is replaced by the browser's choice; and a browser that
//! refuses to play sound without a tap (as iOS Safari does) gets one big
//! button, whose tap starts the room's sound. Each of those pages fits a
//! phone's 360 px without scrolling sideways; their screenshots are kept
//! in target/screenshots, and axe-core finds nothing against WCAG 2.1 AA
//! in any of them (unsupported, camera refused, check-in, waiting, live,
//! live with the camera off and muted, paused, ended, denied).

use std::time::Duration;

use serde_json::{Value, json};

use super::support::webdriver::Browser;
use super::support::{self, Daemon, Driver, in_own_network, invite, start_daemon, wait_for};
use super::{NAME, heard, wait_page};

/// Before the page's own scripts: a browser without WebRTC (WebKitGTK and
/// some apps' built-in browsers have the camera but no peer connection).
const NO_WEBRTC: &str = "delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection;";

/// Before the page's own scripts: the link opened in Instagram's built-in
/// browser on an iPhone (its user agent as the app sends it: Safari's
/// engine, but only the app's name tells it apart).
const IN_AN_APP: &str = r#"Object.defineProperty(Navigator.prototype, "userAgent", { get: () =>
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 " +
  "(KHTML, like Gecko) Mobile/15E148 Instagram 312.0.0.20.112 (iPhone14,5; iOS 17_1)" });"#;

/// Before the page's own scripts: a page the browser does not count as
/// secure (the link's address rewritten to plain HTTP by a proxy or a
/// mail filter; the box itself serves only HTTPS).
const NOT_SECURE: &str =
    r#"Object.defineProperty(window, "isSecureContext", { get: () => false });"#;

/// Before the page's own scripts: `play()` as iOS Safari has it. Sound
/// starts only from within a tap (a trusted click), and an element started
/// so may play again later; muted video plays by itself.
const PLAY_ONLY_ON_A_TAP: &str = r#"
(() => {
  let tapping = false;
  addEventListener("click", (e) => {
    if (!e.isTrusted) return;
    tapping = true;
    setTimeout(() => { tapping = false; }, 0);
  }, true);
  const started = new WeakSet();
  const play = HTMLMediaElement.prototype.play;
  window.playRefused = 0;
  HTMLMediaElement.prototype.play = function () {
    if (tapping) started.add(this);
    if (this.muted || started.has(this)) return play.call(this);
    window.playRefused += 1;
    return Promise.reject(new DOMException("play() needs a tap", "NotAllowedError"));
  };
})();
"#;

/// A Chromium of its own, through the test's chromedriver.
fn chromium() -> (Browser, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    (browser, profile)
}

/// A Chromium whose camera and microphone take the permission the test
/// sets.
fn chromium_asking(setting: &str) -> (Browser, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium_asking(support::DRIVER_PORT, profile.path()).unwrap();
    permission(&browser, setting);
    (browser, profile)
}

/// Where the screenshots go: beside the build, for a person to look at.
fn screenshots() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// axe-core, installed by `scripts/setup --for-tests` beside the build.
fn axe() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/npm/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is not at {} ({e}): run scripts/setup --for-tests",
            path.display()
        )
    })
}

/// What axe-core finds against WCAG 2.1 A and AA in the page as it is now:
/// each rule broken, with the elements that break it.
fn accessibility_violations(browser: &Browser) -> Value {
    if page(browser, "return typeof window.axe") != json!("object") {
        page(browser, &format!("{}\nreturn true;", axe()));
    }
    browser
        .eval_async(
            // Once the state's fade-in is over: half faded is not what
            // the patient reads.
            "const done = arguments[arguments.length - 1]; \
             Promise.all(document.getAnimations().map(a => a.finished)).then(() => \
             axe.run(document, { runOnly: { type: 'tag', \
               values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }) \
             .then(r => done(r.violations.map(v => [v.id, v.help, \
               v.nodes.map(n => n.target.join(' '))])), e => done(String(e))));",
        )
        .unwrap()
}

/// The page as the patient sees it now is right: it fits `width` CSS
/// pixels without scrolling sideways, axe-core finds nothing against WCAG
/// 2.1 AA, and a screenshot is kept as `name`-`width`.png.
pub(super) fn fits(browser: &Browser, name: &str, width: u32) {
    browser.window(width, 800).unwrap();
    let sizes = wait_for("the window's new size", Duration::from_secs(10), || {
        let sizes = page(
            browser,
            "return [window.innerWidth, document.documentElement.scrollWidth]",
        );
        (sizes[0].as_u64() <= Some(u64::from(width))).then_some(sizes)
    });
    assert!(
        sizes[1].as_u64() <= sizes[0].as_u64(),
        "{name} scrolls sideways at {width} px: {sizes}"
    );
    let violations = accessibility_violations(browser);
    assert_eq!(violations, json!([]), "{name} at {width} px");
    // Once the state's fade-in is over (the check above waits for it).
    let shot = screenshots().join(format!("{name}-{width}.png"));
    browser.screenshot(&shot).unwrap();
}

fn page(browser: &Browser, script: &str) -> Value {
    browser.eval(script).unwrap()
}

fn wait_true(browser: &Browser, what: &str, script: &str) {
    wait_for(what, Duration::from_secs(20), || {
        (page(browser, script) == Value::Bool(true)).then_some(())
    });
}

/// Opens a new link and waits for the page's first state.
fn open(browser: &Browser, daemon: &Daemon) -> String {
    open_link(browser, &invite(daemon, "1h"))
}

/// Opens `link` and waits for the page's first state.
fn open_link(browser: &Browser, link: &str) -> String {
    browser.goto(link).unwrap();
    wait_for("the page's first state", Duration::from_secs(20), || {
        let state = browser.state();
        (!state.is_empty() && state != "check" || ready(browser)).then_some(state)
    })
}

/// The page checked its link and settled its camera.
fn ready(browser: &Browser) -> bool {
    page(
        browser,
        "return document.body.dataset.state === 'check' && window.appliance.cameraAsked",
    ) == Value::Bool(true)
}

/// Each browser that cannot make the call is told why, in its own words,
/// and where to go instead; nothing is asked of it.
fn browsers_that_cannot_are_told_why_and_where_to_go(daemon: &Daemon) {
    let cases = [
        ("unsupported", NO_WEBRTC, "Open this link in Safari"),
        (
            "unsupported-in-app",
            IN_AN_APP,
            "choose \"Open in browser\"",
        ),
        (
            "unsupported-insecure",
            NOT_SECURE,
            "not opened over a secure connection",
        ),
    ];
    for (name, before, why) in cases {
        let (browser, _profile) = chromium();
        browser.before_each_page(before).unwrap();
        assert_eq!(open(&browser, daemon), "unsupported", "for {why}");
        let words = page(
            &browser,
            "return document.getElementById('msg-unsupported').innerText",
        );
        let words = words.as_str().unwrap();
        assert!(words.contains(why), "the page said: {words}");
        assert!(
            words.contains("Safari, Chrome, Firefox or Edge"),
            "the page said: {words}"
        );
        fits(&browser, name, 360);
        // Nothing was asked of a browser that cannot make the call.
        assert_eq!(
            page(&browser, "return window.appliance.cameraAsked"),
            Value::Bool(false)
        );
    }
}

fn permission(browser: &Browser, setting: &str) {
    for name in ["camera", "microphone"] {
        let params = json!({ "permission": { "name": name }, "setting": setting });
        browser.cdp("Browser.setPermission", params).unwrap();
    }
}

fn refused_camera_comes_with_words_and_a_retry(daemon: &Daemon) {
    let (browser, _profile) = chromium_asking("denied");
    assert_eq!(open(&browser, daemon), "check");
    wait_true(
        &browser,
        "the words for a refused camera",
        "return document.body.dataset.media === 'denied' \
           && !document.getElementById('allow-help').hidden",
    );
    let help = page(
        &browser,
        "return [document.body.dataset.browser, document.getElementById('allow-text').textContent, \
           document.getElementById('allow-list').children.length]",
    );
    assert_eq!(help[0], "chrome", "{help}");
    assert!(help[1].as_str().unwrap().starts_with("In Chrome"), "{help}");
    assert_eq!(help[2], 5, "every browser's words: {help}");
    fits(&browser, "camera-refused", 360);

    // The patient allows it, and tries again.
    permission(&browser, "granted");
    browser.click("#retry-media").unwrap();
    wait_true(
        &browser,
        "the camera's preview after the retry",
        "const v = document.getElementById('self'); \
         return !document.body.dataset.media && document.getElementById('allow-help').hidden \
           && !!v.srcObject && v.videoWidth > 0",
    );
}

fn check_in_then_a_tap_to_hear_the_room(daemon: &Daemon) {
    let (browser, _profile) = chromium();
    browser.before_each_page(PLAY_ONLY_ON_A_TAP).unwrap();
    let link = invite(daemon, "1h");
    assert_eq!(open_link(&browser, &link), "check");

    // Everything the page loaded (its HTML, script and styles, headers and
    // all) is under 100 KB: a phone on a weak network has it in seconds.
    let bytes = page(
        &browser,
        "return performance.getEntries().filter(e => 'transferSize' in e) \
           .reduce((sum, e) => sum + e.transferSize, 0)",
    );
    assert!(
        bytes.as_u64().is_some_and(|b| b > 10_000 && b < 100 * 1024),
        "{bytes} bytes"
    );

    // The microphone's bar moves with Chromium's beeping fake microphone.
    wait_true(
        &browser,
        "the microphone's bar to move",
        "return window.appliance.micLevel > 0.02 \
           && document.getElementById('mic-level').value >= 0",
    );
    let devices = page(
        &browser,
        "return [window.appliance.devices, document.getElementById('camera-choice').options.length, \
           document.getElementById('mic-choice').options.length, \
           document.getElementById('devices').hidden]",
    );
    assert!(devices[0]["cameras"].as_u64() >= Some(1), "{devices}");
    assert!(devices[0]["mics"].as_u64() >= Some(1), "{devices}");
    assert_eq!(devices[1], devices[0]["cameras"], "{devices}");
    assert_eq!(devices[3], false, "{devices}");
    fits(&browser, "check-in", 1280);
    fits(&browser, "check-in", 360);

    // The headset is unplugged mid-check (its track ends): the page takes
    // the browser's own choice again, and the check goes on.
    page(
        &browser,
        "window.before = document.getElementById('self').srcObject; \
         window.before.getAudioTracks()[0].dispatchEvent(new Event('ended'));",
    );
    wait_true(
        &browser,
        "the check to go on after the unplugging",
        "const now = document.getElementById('self').srcObject; \
         return !!now && now !== window.before && now.getAudioTracks().length === 1 \
           && document.getElementById('media-note').hidden \
           && document.body.dataset.state === 'check'",
    );

    // The test sound plays on a tap, and the patient answers.
    browser.click("#test-sound").unwrap();
    wait_true(
        &browser,
        "the test sound to play",
        "return window.appliance.testSound === 'played' \
           && !document.getElementById('sound-answer').hidden",
    );
    browser.click("#sound-heard").unwrap();
    assert_eq!(
        page(&browser, "return window.appliance.testSound"),
        json!("heard")
    );

    // Joined: the room's sound is refused without a tap, and the page asks.
    let script = format!(
        "document.getElementById('name').value = {};",
        serde_json::to_string(NAME).unwrap()
    );
    page(&browser, &script);
    browser.click("#join").unwrap();
    wait_page(&browser, "waiting");
    fits(&browser, "waiting", 360);
    assert!(daemon.cli(&["press"]).0);
    wait_page(&browser, "live");
    wait_true(
        &browser,
        "the button asking for a tap",
        "return window.appliance.tapAsked && window.playRefused > 0 \
           && !window.appliance.soundPlaying \
           && !document.getElementById('tap-to-hear').hidden",
    );
    fits(&browser, "tap-to-hear", 360);
    browser.click("#tap-to-hear").unwrap();
    wait_true(
        &browser,
        "the room's sound to play after the tap",
        "const a = document.getElementById('remote-audio'); \
         return window.appliance.soundPlaying && !a.paused && a.currentTime > 0.5 \
           && document.getElementById('tap-to-hear').hidden",
    );
    // And it is the room's sound that plays, not silence.
    wait_for("the room's sound", Duration::from_secs(20), || {
        heard(&browser).filter(|level| *level > 0.01)
    });
    fits(&browser, "live", 1280);
    mute_and_camera_off_reach_the_room(&browser, daemon);
    assert!(daemon.cli(&["press"]).0);
    wait_page(&browser, "paused");
    fits(&browser, "paused", 360);
    assert!(daemon.cli(&["press", "--long"]).0);
    wait_page(&browser, "ended");
    fits(&browser, "ended", 360);
    // The link again: spent.
    browser.goto("about:blank").unwrap();
    browser.goto(&link).unwrap();
    wait_page(&browser, "denied");
    fits(&browser, "denied", 360);
}

/// Waits until the box has the patient's camera and microphone as said.
fn box_hears(daemon: &Daemon, what: &str, camera: bool, microphone: bool) {
    let want = json!({ "camera": camera, "microphone": microphone });
    wait_for(what, Duration::from_secs(10), || {
        (daemon.status()["patient_devices"] == want).then_some(())
    });
}

/// The patient mutes: the room hears nothing more from them, and its status
/// (and TV) says so; the camera off likewise; then both on again.
fn mute_and_camera_off_reach_the_room(browser: &Browser, daemon: &Daemon) {
    let audible = || {
        daemon.status()["media"]["audio_frames_audible"]
            .as_u64()
            .unwrap()
    };
    // A call on loopback is not weak, on either side.
    assert_eq!(daemon.status()["media"]["weak_connection"], false);
    let notice = "return document.getElementById('weak-notice').hidden";
    assert_eq!(page(browser, notice), true);
    box_hears(daemon, "both on at the start", true, true);
    browser.click("#mic-toggle").unwrap();
    box_hears(daemon, "the room to hear of the mute", true, false);
    // What was on its way is in; from then on, silence.
    std::thread::sleep(Duration::from_secs(1));
    let before = audible();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(audible(), before, "sound from a muted patient");
    browser.click("#camera-toggle").unwrap();
    box_hears(daemon, "the room to hear of the camera", false, false);
    let buttons = page(
        browser,
        "return [document.getElementById('mic-toggle').textContent, \
           document.getElementById('camera-toggle').textContent]",
    );
    assert_eq!(buttons, json!(["Unmute", "Turn camera on"]));
    fits(browser, "camera-off-muted", 360);
    let tv = screenshots().join("tv-camera-off-muted.ppm");
    assert!(daemon.cli(&["sim", "tv", "grab", tv.to_str().unwrap()]).0);
    browser.click("#mic-toggle").unwrap();
    browser.click("#camera-toggle").unwrap();
    box_hears(daemon, "the room to hear of both on", true, true);
    wait_for("the patient's sound again", Duration::from_secs(10), || {
        let before = audible();
        std::thread::sleep(Duration::from_secs(1));
        (audible() > before).then_some(())
    });
}

#[test]
fn the_check_in_hears_and_is_heard_and_every_browser_is_told_what_to_do() {
    if !in_own_network(
        "check_in::the_check_in_hears_and_is_heard_and_every_browser_is_told_what_to_do",
    ) {
        return;
    }
    let daemon = start_daemon();
    let _driver = Driver::chromium();
    browsers_that_cannot_are_told_why_and_where_to_go(&daemon);
    refused_camera_comes_with_words_and_a_retry(&daemon);
    check_in_then_a_tap_to_hear_the_room(&daemon);
    let output = daemon.stop();
    assert!(!output.contains(NAME), "the name in the log:\n{output}");
}

/// Words of another language the page shows now (its text, title and
/// labels): each table's words that differ from the page's own language's,
/// whole or, for words with something filled in, each part of four letters
/// or more. Also the keys the page's table lacks.
const WORDS_LEFT: &str = r#"
  const all = window.APPLIANCE_WORDS, here = document.documentElement.lang, mine = all[here];
  const shown = [document.body.innerText, document.title,
    ...[...document.querySelectorAll('[aria-label]')].map(e => e.getAttribute('aria-label'))].join('\n');
  const left = [];
  for (const [other, table] of Object.entries(all)) {
    if (other === here) continue;
    for (const [key, words] of Object.entries(table)) {
      if (key === 'language_name' || words === mine[key]) continue;
      for (const part of words.split(/\{\w+\}/)) {
        if (part.trim().length >= 4 && shown.includes(part.trim())) left.push([other, key, part.trim()]);
      }
    }
  }
  const missing = Object.keys(all.en).filter(k => !(k in mine));
  return { here, left, missing };
"#;

/// The page speaks `language` and nothing else in its state now.
fn speaks(browser: &Browser, language: &str, state: &str) {
    let found = page(browser, WORDS_LEFT);
    assert_eq!(
        found,
        json!({"here": language, "left": [], "missing": []}),
        "in {state}"
    );
}

fn choose_language(browser: &Browser, language: &str) {
    let script = format!(
        "const s = document.getElementById('language'); s.value = {language:?}; \
         s.dispatchEvent(new Event('change'));"
    );
    page(browser, &script);
}

/// Waits for the page to show `state`; on a timeout, says where the call
/// stood.
fn in_call(browser: &Browser, daemon: &Daemon, state: &str) {
    super::wait_call(
        &format!("the page to show {state}"),
        browser,
        daemon,
        Duration::from_secs(30),
        || (browser.state() == state).then_some(()),
    );
}

#[test]
fn the_page_speaks_the_room_s_language_or_the_patient_s_and_nothing_else() {
    if !in_own_network(
        "check_in::the_page_speaks_the_room_s_language_or_the_patient_s_and_nothing_else",
    ) {
        return;
    }
    let daemon = support::start_daemon_with(&[("room.language", "nl")]);
    let _driver = Driver::chromium();

    // A browser that cannot make the call is told so in the room's language.
    let (browser, _profile) = chromium();
    browser.before_each_page(NO_WEBRTC).unwrap();
    assert_eq!(open(&browser, &daemon), "unsupported");
    speaks(&browser, "nl", "unsupported");
    drop(browser);

    // The room's language; a language there is no table for is passed over.
    let (browser, _profile) = chromium();
    let link = invite(&daemon, "1h");
    let odd = link.replacen("/#", "/?lang=xx#", 1);
    assert_eq!(open_link(&browser, &odd), "check");
    speaks(&browser, "nl", "check");
    let options = page(
        &browser,
        "return [...document.getElementById('language').options].map(o => o.textContent)",
    );
    assert_eq!(options, json!(["English", "Nederlands", "Deutsch"]));

    // The patient picks German, and the rest of the session speaks it.
    choose_language(&browser, "de");
    speaks(&browser, "de", "check");
    let script = format!(
        "document.getElementById('name').value = {};",
        serde_json::to_string(NAME).unwrap()
    );
    page(&browser, &script);
    browser.click("#join").unwrap();
    in_call(&browser, &daemon, "waiting");
    speaks(&browser, "de", "waiting");
    assert!(daemon.cli(&["press"]).0);
    in_call(&browser, &daemon, "live");
    browser.click("#mic-toggle").unwrap();
    speaks(&browser, "de", "live");
    assert!(daemon.cli(&["press"]).0);
    in_call(&browser, &daemon, "paused");
    speaks(&browser, "de", "paused");
    assert!(daemon.cli(&["press", "--long"]).0);
    in_call(&browser, &daemon, "ended");
    speaks(&browser, "de", "ended");
    // The pick holds in this tab: the spent link is refused in German.
    browser.goto("about:blank").unwrap();
    browser.goto(&link).unwrap();
    wait_page(&browser, "denied");
    speaks(&browser, "de", "denied");
    // And in Dutch, once the patient picks it again: a whole session, by a
    // patient whose name is markup and ten thousand letters long.
    choose_language(&browser, "nl");
    speaks(&browser, "nl", "denied");
    browser.goto("about:blank").unwrap();
    assert_eq!(open(&browser, &daemon), "check");
    speaks(&browser, "nl", "check");
    let hostile = format!("<b id=x onmouseover=alert(1)>Ann</b>{}", "é".repeat(10_000));
    let script = format!(
        "document.getElementById('name').value = {};",
        serde_json::to_string(&hostile).unwrap()
    );
    page(&browser, &script);
    browser.click("#join").unwrap();
    in_call(&browser, &daemon, "waiting");
    speaks(&browser, "nl", "waiting");
    let sent = page(
        &browser,
        "return [window.appliance.name, document.getElementById('x') === null]",
    );
    let cut: String = hostile.chars().take(40).collect();
    assert_eq!(
        sent,
        json!([cut, true]),
        "the name as sent, and no markup made"
    );
    assert!(daemon.cli(&["press"]).0);
    in_call(&browser, &daemon, "live");
    speaks(&browser, "nl", "live");
    assert!(daemon.cli(&["press"]).0);
    in_call(&browser, &daemon, "paused");
    speaks(&browser, "nl", "paused");
    assert!(daemon.cli(&["press", "--long"]).0);
    in_call(&browser, &daemon, "ended");
    speaks(&browser, "nl", "ended");
    drop(browser);
    let output = daemon.stop();
    assert!(!output.contains("Ann"), "the name in the log:\n{output}");
}
