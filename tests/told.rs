//! Nobody left waiting for nothing: a page that never answers the box's
//! offer is told why when the box gives up on it, as is one whose answer
//! the box refuses before GStreamer parses it, and a page whose camera
//! prompt is still open does not join until it is settled (the box's wait
//! for an answer starts with the join). Both on one daemon, which then
//! makes a whole call with the second page.

use std::time::Duration;

use super::support::webdriver::Browser;
use super::support::{self, Driver, in_own_network, invite, start_daemon, wait_for};
use super::{NAME, wait_page};

/// Opens `link` and waits for the page to check it.
fn open(browser: &Browser, link: &str) {
    browser.goto("about:blank").unwrap();
    browser.goto(link).unwrap();
    wait_page(browser, "check");
}

fn join(browser: &Browser) {
    let script = format!(
        "document.getElementById('name').value = {}; document.getElementById('join').click();",
        serde_json::to_string(NAME).unwrap()
    );
    browser.eval(&script).unwrap();
}

#[test]
fn a_page_that_never_answers_is_told_why_and_one_waiting_on_its_camera_joins_when_it_can() {
    if !in_own_network(
        "told::a_page_that_never_answers_is_told_why_and_one_waiting_on_its_camera_joins_when_it_can",
    ) {
        return;
    }
    let daemon = start_daemon();
    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();

    // A page whose answer never comes (a browser stuck making it).
    open(&browser, &invite(&daemon, "1h"));
    browser
        .eval("RTCPeerConnection.prototype.createAnswer = () => new Promise(() => {});")
        .unwrap();
    join(&browser);
    wait_for("the page told why", Duration::from_secs(20), || {
        (browser.state() == "error").then_some(())
    });
    let reason = browser.eval("return document.body.dataset.reason").unwrap();
    assert_eq!(reason, "media");
    super::check_in::fits(&browser, "error", 360);
    let words = browser.eval("return document.getElementById('error-text').textContent");
    assert!(words.unwrap().to_string().contains("new link"));
    let status = daemon.wait_status("state", "idle");
    assert_eq!(status["waiting"], 0, "{status}");

    // A page whose answer carries what GStreamer's C code asserts on (an
    // SSRC of 0): refused in Rust, and the page told.
    open(&browser, &invite(&daemon, "1h"));
    browser
        .eval(
            "const real = RTCPeerConnection.prototype.createAnswer; \
             RTCPeerConnection.prototype.createAnswer = async function (...a) { \
               const answer = await real.apply(this, a); \
               return { type: 'answer', sdp: answer.sdp.replace(/a=ssrc:\\d+ /g, 'a=ssrc:0 ') }; };",
        )
        .unwrap();
    join(&browser);
    wait_for("the page told why", Duration::from_secs(20), || {
        (browser.state() == "error").then_some(())
    });
    daemon.wait_status("state", "idle");

    // A page whose camera prompt is still open when the patient presses
    // Join: it joins only once the prompt is answered.
    open(&browser, &invite(&daemon, "1h"));
    browser
        .eval(
            "const devices = navigator.mediaDevices; \
             const real = devices.getUserMedia.bind(devices); \
             devices.getUserMedia = (asked) => new Promise((resolve) => { \
               window.answerPrompt = () => resolve(real(asked)); }); \
             document.getElementById('retry-media').click();",
        )
        .unwrap();
    join(&browser);
    std::thread::sleep(Duration::from_secs(3));
    let status = daemon.status();
    assert_eq!(
        status["waiting"], 0,
        "joined with the prompt open: {status}"
    );
    assert_eq!(browser.state(), "check");
    browser.eval("window.answerPrompt()").unwrap();
    wait_page(&browser, "waiting");
    assert!(daemon.cli(&["press"]).0);
    wait_page(&browser, "live");
    daemon.wait_status("state", "live");
    assert!(daemon.cli(&["press", "--long"]).0);
    wait_page(&browser, "ended");

    let output = daemon.stop();
    assert!(output.contains("did not answer the offer"), "{output}");
    assert!(
        output.contains("unusable answer: media section 0: SSRC 0"),
        "{output}"
    );
    assert!(!output.contains("CRITICAL"), "{output}");
}
