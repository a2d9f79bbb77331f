//! Recovery benchmark: how soon a live call comes back by itself after what
//! real life does to a patient's connection, with no one touching anything.
//! One Chromium patient in a live call on one daemon goes through, round
//! after round: a reload of the page, media cut for 5 s, media cut for 45 s
//! (past ICE consent: a new connection is needed); then, behind two NATs, the
//! patient's address changing mid-call. Each figure runs from the moment the
//! network is back (the page reloads, the address changes) to pictures
//! moving both ways again: the patient's page decoding the room's, the box
//! receiving the patient's. The aims: 2 s after a 5 s cut, 5 s after a 45 s
//! cut or an address change.
//! Run with `cargo bench -p appliance --bench recovery`, or
//! `... --bench recovery -- ROUNDS LONG` for other counts than 5 rounds of
//! each and 2 of the 45 s cut; it asserts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::bench::{counted, decoded, join_and_press};
use support::blips::{all_but, cut, mend, move_address};
use support::nat::{ALL_TURN, HomeNat, Topology};
use support::webdriver::Browser;
use support::{Daemon, Driver, start_daemon};

/// The longest a call is given to come back before the round counts as
/// failed.
const GIVE_UP: Duration = Duration::from_secs(30);

/// How long after `since` pictures moved both ways again: more than five
/// frames decoded at the page (a new connection counts from zero) and more
/// than five received at the box.
fn flowing_since(since: Instant, daemon: &Daemon, browser: &Browser) -> Result<Duration, String> {
    let page = decoded(browser);
    let at_box = counted(daemon, "video_frames_received");
    loop {
        let page_now = decoded(browser);
        let box_now = counted(daemon, "video_frames_received");
        let page_moved = page_now > page + 5 || (page_now < page && page_now > 5);
        if page_moved && box_now > at_box + 5 {
            return Ok(since.elapsed());
        }
        if since.elapsed() > GIVE_UP {
            return Err(format!(
                "not back within {GIVE_UP:?}: the page shows {}, the box is {}",
                browser.state(),
                daemon
                    .try_status()
                    .map_or(Value::Null, |s| s["state"].clone())
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The page's clock, in milliseconds, to read its log against.
fn page_clock(browser: &Browser) -> i64 {
    browser
        .eval("return Date.now()")
        .ok()
        .and_then(|v| v.as_i64())
        .unwrap_or(0)
}

/// Prints one round's figure; one slower than `aim` with what the page
/// noted since `page_since` (its clock), to see where the time went.
fn report(
    what: &str,
    result: &Result<Duration, String>,
    aim: Duration,
    browser: &Browser,
    page_since: i64,
) {
    match result {
        Ok(took) if *took <= aim => println!("{what}: back in {} ms", took.as_millis()),
        Ok(took) => {
            let log = browser
                .eval("return window.appliance.log || []")
                .unwrap_or_default();
            let noted: Vec<String> = log
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| Some((e[0].as_i64()? - page_since, e[1].as_str()?.to_owned())))
                .filter(|(at, _)| *at >= -2000)
                .map(|(at, what)| format!("{at} ms {what}"))
                .collect();
            println!(
                "{what}: back in {} ms, over the aim of {} ms; the page noted: {}",
                took.as_millis(),
                aim.as_millis(),
                noted.join(", ")
            );
        }
        Err(why) => println!("{what}: failed: {why}"),
    }
}

/// The page reloads, as a tap on refresh does.
fn reload(daemon: &Daemon, browser: &Browser) -> Result<Duration, String> {
    let (since, page_since) = (Instant::now(), page_clock(browser));
    browser.eval("setTimeout(() => location.reload(), 0)")?;
    // The old page's figures are gone with it: count from the new one's.
    std::thread::sleep(Duration::from_millis(200));
    let result = flowing_since(since, daemon, browser);
    report(
        "reload",
        &result,
        Duration::from_secs(3),
        browser,
        page_since,
    );
    result
}

/// The patient's media cut for `length` by `rules`, then mended; back
/// within `aim`, the issue asks.
fn cut_for(
    daemon: &Daemon,
    browser: &Browser,
    (rules, length): (&str, Duration),
    aim: Duration,
) -> Result<Duration, String> {
    cut(rules);
    std::thread::sleep(length);
    mend();
    let (since, page_since) = (Instant::now(), page_clock(browser));
    let result = flowing_since(since, daemon, browser);
    report(
        &format!("a {length:?} cut"),
        &result,
        aim,
        browser,
        page_since,
    );
    result
}

/// A figure's summary: how many rounds, how many failed and why, and the
/// fastest, mean and slowest recovery in milliseconds.
fn summary(what: &str, rounds: &[Result<Duration, String>]) -> Value {
    let good: Vec<u128> = rounds
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(Duration::as_millis)
        .collect();
    let why: Vec<&String> = rounds.iter().filter_map(|r| r.as_ref().err()).collect();
    let mean = if good.is_empty() {
        0
    } else {
        good.iter().sum::<u128>() / good.len() as u128
    };
    json!({
        "what": what,
        "rounds": rounds.len(),
        "failed": why.len(),
        "why": why,
        "fastest_ms": good.iter().min().copied().unwrap_or(0) as u64,
        "mean_ms": mean as u64,
        "slowest_ms": good.iter().max().copied().unwrap_or(0) as u64,
    })
}

/// A patient in a live call on `daemon`, in a fresh Chromium.
fn live_patient(daemon: &Daemon) -> (Driver, Browser, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::chromium();
    let browser = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    join_and_press(daemon, &browser).expect("a live call to start from");
    flowing_since(Instant::now(), daemon, &browser).expect("pictures both ways");
    (driver, browser, profile)
}

/// On loopback: reloads, 5 s cuts, 45 s cuts.
fn on_loopback(rounds: usize, long: usize) -> Vec<Value> {
    let daemon = start_daemon();
    let (driver, browser, profile) = live_patient(&daemon);
    let devtools = std::fs::read_to_string(profile.path().join("DevToolsActivePort"))
        .expect("Chromium's DevTools port");
    let devtools: u16 = devtools.lines().next().unwrap().trim().parse().unwrap();
    let everything = all_but(&[support::PORT, support::DRIVER_PORT, devtools]);
    let settle = || std::thread::sleep(Duration::from_secs(2));
    let mut reloads = Vec::new();
    let mut short = Vec::new();
    let mut past_consent = Vec::new();
    for n in 0..rounds {
        reloads.push(reload(&daemon, &browser));
        settle();
        let udp = "meta l4proto udp drop";
        let (five, two) = (Duration::from_secs(5), Duration::from_secs(2));
        short.push(cut_for(&daemon, &browser, (udp, five), two));
        settle();
        if n < long {
            let length = Duration::from_secs(45);
            past_consent.push(cut_for(&daemon, &browser, (&everything, length), five));
            settle();
        }
        println!("round {} of {rounds} on loopback done", n + 1);
    }
    let reconnects = counted(&daemon, "reconnects");
    drop(browser);
    drop(driver);
    daemon.stop();
    println!("the box counted {reconnects} reconnections");
    vec![
        summary("reload", &reloads),
        summary("media cut 5 s", &short),
        summary("everything cut 45 s", &past_consent),
    ]
}

/// Behind a cone NAT at home and the clinic's NAT: the patient's address
/// changes, back and forth.
fn across_nats(rounds: usize) -> Value {
    let mut topology = Topology::build(HomeNat::Cone);
    topology.start_turn();
    let daemon = topology.start_box(ALL_TURN, &[]);
    let (driver, browser, _profile) = live_patient(&daemon);
    let addresses = ["192.168.1.2", "192.168.1.3"];
    let mut moves = Vec::new();
    for n in 0..rounds {
        let (since, page_since) = (Instant::now(), page_clock(&browser));
        move_address(addresses[n % 2], addresses[(n + 1) % 2]);
        let result = flowing_since(since, &daemon, &browser);
        let aim = Duration::from_secs(5);
        report("address changed", &result, aim, &browser, page_since);
        moves.push(result);
        std::thread::sleep(Duration::from_secs(2));
        println!("round {} of {rounds} across NATs done", n + 1);
    }
    drop(browser);
    drop(driver);
    daemon.stop();
    summary("address changed", &moves)
}

fn main() {
    // `cargo bench` passes --bench; counts are the plain numbers.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let passed: Vec<&str> = args.iter().map(String::as_str).collect();
    if !support::run_in_own_network(&passed, "the recovery benchmark") {
        return;
    }
    let counts: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let rounds = counts.first().copied().unwrap_or(5);
    let long = counts.get(1).copied().unwrap_or(2);
    let started = Instant::now();
    let mut results = on_loopback(rounds, long);
    results.push(across_nats(rounds));
    println!("recovery benchmark: a live call, from the network back to pictures both ways");
    for r in &results {
        println!(
            "{:<20} {:>2} rounds, {} failed; fastest {} ms, mean {} ms, slowest {} ms",
            r["what"].as_str().unwrap_or(""),
            r["rounds"],
            r["failed"],
            r["fastest_ms"],
            r["mean_ms"],
            r["slowest_ms"]
        );
    }
    println!("in {:?}", started.elapsed());
    println!("{}", json!({ "results": results }));
}
