//! What the benchmarks share: bounded waits that give a reason rather than
//! panic (a benchmark counts failures and goes on), and a patient brought
//! into a live call the way a person does it.

use std::time::{Duration, Instant};

use super::webdriver::Browser;
use super::{Daemon, invite};

/// The frames the patient's page decoded of the room's video.
const FRAMES_DECODED: &str = r#"
    const done = arguments[arguments.length - 1];
    const pc = window.appliance && window.appliance.pc;
    if (!pc) return done(0);
    pc.getStats().then(r => {
      let frames = 0;
      r.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0; });
      done(frames);
    }, () => done(0));
"#;

/// Waits up to `limit` for `check`, or says what did not happen.
pub fn within<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if start.elapsed() > limit {
            return Err(format!("no {what} within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn page_is(browser: &Browser, state: &str, limit: Duration) -> Result<(), String> {
    within(&format!("page {state}"), limit, || {
        (browser.state() == state).then_some(())
    })
}

pub fn counted(daemon: &Daemon, name: &str) -> u64 {
    daemon
        .try_status()
        .map_or(0, |s| s["media"][name].as_u64().unwrap_or(0))
}

pub fn decoded(browser: &Browser) -> u64 {
    browser
        .eval_async(FRAMES_DECODED)
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

/// A patient joins with a fresh link and the room lets them in: the link
/// opened, the name given, the press. Gives join → live (from the Join
/// button to the page showing live), or why it failed.
pub fn join_and_press(daemon: &Daemon, browser: &Browser) -> Result<Duration, String> {
    let link = invite(daemon, "1h");
    browser.goto("about:blank")?;
    browser.goto(&link)?;
    page_is(browser, "check", Duration::from_secs(10))?;
    let joined = Instant::now();
    browser.eval(
        "document.getElementById('name').value = 'Ada'; document.getElementById('join').click();",
    )?;
    page_is(browser, "waiting", Duration::from_secs(10))?;
    let (ok, text) = daemon.cli(&["press"]);
    if !ok {
        return Err(format!("press refused: {text}"));
    }
    page_is(browser, "live", Duration::from_secs(15))?;
    Ok(joined.elapsed())
}
