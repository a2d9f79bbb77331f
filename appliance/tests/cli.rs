//! The command line as IT uses it: the real binary, real sled files, real key
//! files. Checks exit codes, the one-line errors, and that no secret is printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use appliance_test_support::daemon::{Daemon, Start};
use appliance_test_support::{TV_HEIGHT, TV_WIDTH, appliance, lit_in, poll, tv_picture, wait_for};
use serde_json::Value;

const TURN_SECRET: &str = "turn-secret-never-printed-4471";

/// A fresh appliance: its own state directory.
struct Appliance {
    _dir: tempfile::TempDir,
    state: PathBuf,
    root: PathBuf,
}

impl Appliance {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Appliance {
            state: dir.path().join("state"),
            root: dir.path().to_owned(),
            _dir: dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, "")
    }

    fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = appliance(BIN, &self.state)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The command may exit before reading its input; that is its answer.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        child.wait_with_output().unwrap()
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.root.join(name);
        fs::write(&path, contents).unwrap();
        path
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/provision.example.toml")
}

#[test]
fn the_example_provisioning_file_imports() {
    let a = Appliance::new();
    // The example is a Raspberry Pi's: the Pi's build imports it as it is,
    // other builds only when told.
    let example = example();
    let example = example.to_str().unwrap();
    let o = if cfg!(feature = "rpi") {
        a.run(&["provision", example])
    } else {
        assert_exit(&a.run(&["provision", example]), 3);
        a.run(&["provision", "--allow-other-board", example])
    };
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("imported 16 settings"),
        "{}",
        stdout(&o)
    );
    let list = a.run(&["config", "list"]);
    assert_exit(&list, 0);
    let list = stdout(&list);
    assert!(
        list.contains("room.name                           = Consulting room 3"),
        "{list}"
    );
    assert!(
        list.contains("ice.turn_shared_secret              = <unset>"),
        "{list}"
    );
    assert!(
        list.contains("hardware.pins.shutter_servo         = 18"),
        "{list}"
    );
    let get = a.run(&["config", "get", "video.resolution"]);
    assert_eq!(stdout(&get), "1280x720\n");
}

#[test]
fn the_development_key_is_made_0600_and_warned_about_every_time() {
    let a = Appliance::new();
    let o = a.run(&["config", "set", "room.name", "Room 3"]);
    assert_exit(&o, 0);
    let key = a.state.join("device.key");
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for o in [o, a.run(&["config", "get", "room.name"])] {
        assert!(stderr(&o).contains("not for production"), "{}", stderr(&o));
    }
}

#[test]
fn secrets_are_never_printed() {
    let a = Appliance::new();
    let o = a.run_with_input(&["config", "set", "ice.turn_shared_secret"], TURN_SECRET);
    assert_exit(&o, 0);
    let outputs = [
        o,
        a.run(&["config", "get", "ice.turn_shared_secret"]),
        a.run(&["config", "list"]),
    ];
    assert_eq!(stdout(&outputs[1]), "<set>\n");
    for o in &outputs {
        assert_exit(o, 0);
        for text in [stdout(o), stderr(o)] {
            assert!(!text.contains(TURN_SECRET), "a secret was printed: {text}");
        }
    }
}

#[test]
fn a_bad_provisioning_file_is_rejected_with_lines_and_changes_nothing() {
    let a = Appliance::new();
    assert_exit(&a.run(&["config", "set", "room.name", "Before"]), 0);
    let before = stdout(&a.run(&["config", "list"]));
    let bad = a.file(
        "bad.toml",
        "[room]\nname = \"After\"\nfloor = 3\n\n[video]\nframerate = \"fast\"\n\n\
         [ice]\nturn_urls = [\"turn:203.0.113.3:3478\", \"turn://203.0.113.3?transport=sctp\"]\n\
         \n[http]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
    );
    let o = a.run(&["provision", bad.to_str().unwrap()]);
    assert_exit(&o, 3);
    let err = stderr(&o);
    assert!(
        err.contains("bad.toml: line 3: unknown setting room.floor"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml: line 6: video.framerate: must be a whole number, not a string"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml: line 9: ice.turn_urls:") && err.contains("transport=sctp"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml: line 12: http.trusted_proxies:") && err.contains("10.0.0.0/33"),
        "{err}"
    );
    assert_eq!(stdout(&a.run(&["config", "list"])), before);

    // A file for a Raspberry Pi, on a build without Raspberry Pi support.
    #[cfg(not(feature = "rpi"))]
    {
        let pi = a.file(
            "pi.toml",
            "[room]\nname = \"After\"\n\n[hardware]\nbackend = \"rppal\"\n",
        );
        let o = a.run(&["provision", pi.to_str().unwrap()]);
        assert_exit(&o, 3);
        assert!(
            stderr(&o).contains("pi.toml: line 5: hardware.backend: is rppal")
                && stderr(&o).contains("the file is for another board"),
            "{}",
            stderr(&o)
        );
        assert_eq!(stdout(&a.run(&["config", "list"])), before);
    }

    let syntax = a.file("syntax.toml", "[room\nname = 1\n");
    let o = a.run(&["provision", syntax.to_str().unwrap()]);
    assert_exit(&o, 3);
    assert!(
        stderr(&o).contains("line 1: not valid TOML"),
        "{}",
        stderr(&o)
    );

    let o = a.run(&["provision", "/nonexistent/provision.toml"]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("cannot read the provisioning file"));
    assert_eq!(stdout(&a.run(&["config", "list"])), before);
}

#[test]
fn bad_values_and_names_are_refused() {
    let a = Appliance::new();
    let o = a.run(&["config", "set", "video.framerate", "500"]);
    assert_exit(&o, 3);
    assert_eq!(
        stderr(&o).trim(),
        "appliance: error: video.framerate: is 500; it must be from 5 to 60"
    );
    let o = a.run(&["config", "set", "room.colour", "blue"]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("unknown setting \"room.colour\""));
    assert_exit(&a.run(&["config", "set", "hardware.pins.button", "17"]), 0);
    let o = a.run(&["config", "set", "hardware.pins.led_red", "17"]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("GPIO 17 is already used by hardware.pins.button"));
    assert_exit(&a.run(&["config", "unset", "hardware.pins.button"]), 0);
    assert_exit(&a.run(&["config", "set", "hardware.pins.led_red", "17"]), 0);
}

#[test]
fn key_problems_name_where_the_key_came_from() {
    let a = Appliance::new();
    let right = a.root.join("right.key");
    fs::write(&right, [1u8; 32]).unwrap();
    let wrong = a.root.join("wrong.key");
    fs::write(&wrong, "ab".repeat(32)).unwrap();
    let short = a.root.join("short.key");
    fs::write(&short, [1u8; 16]).unwrap();
    let with = |key: &Path, args: &[&str]| {
        let mut all = vec!["--key-file", key.to_str().unwrap()];
        all.extend_from_slice(args);
        a.run(&all)
    };
    assert_exit(&with(&right, &["config", "set", "room.name", "Room 3"]), 0);

    let o = with(&wrong, &["config", "list"]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("wrong.key"), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not open the configuration store"));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    let o = with(&short, &["config", "list"]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("short.key"));
    assert!(stderr(&o).contains("is 16 bytes"));

    let o = with(&a.root.join("missing.key"), &["config", "list"]);
    assert_exit(&o, 4);
    assert!(stderr(&o).contains("missing.key"));

    let o = with(&right, &["config", "get", "room.name"]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "Room 3\n");
}

#[test]
fn missing_foreign_and_damaged_stores_are_errors() {
    let a = Appliance::new();
    let o = a.run(&["config", "list"]);
    assert_exit(&o, 5);
    assert!(stderr(&o).contains("no configuration store"));
    assert!(
        !a.state.join("config.db").exists(),
        "reading must not create a store"
    );

    fs::create_dir_all(a.state.join("config.db")).unwrap();
    fs::write(a.state.join("config.db/photo.jpg"), "not ours").unwrap();
    let o = a.run(&["config", "set", "room.name", "Room 3"]);
    assert_exit(&o, 5);
    assert!(stderr(&o).contains("is not an appliance configuration store"));
    assert_eq!(fs::read_dir(a.state.join("config.db")).unwrap().count(), 1);
}

#[test]
fn a_byte_damaged_on_disk_is_reported_never_returned() {
    let a = Appliance::new();
    assert_exit(
        &a.run(&["config", "set", "room.name", "Zebra Room 4471"]),
        0,
    );
    assert_exit(&a.run(&["config", "set", "video.framerate", "25"]), 0);
    // Each start of the appliance opens the store; sled then records what its
    // log holds, which is how it tells damage from a write cut short.
    assert_exit(&a.run(&["config", "get", "room.name"]), 0);
    let db = a.state.join("config.db/db");
    let mut bytes = fs::read(&db).unwrap();
    let at = bytes.windows(9).position(|w| w == b"room.name").unwrap() + 20;
    bytes[at] ^= 0x01;
    fs::write(&db, &bytes).unwrap();
    for args in [&["config", "list"][..], &["run", "--sim"]] {
        let o = a.run(args);
        assert_exit(&o, 5);
        assert!(stderr(&o).contains("cannot be opened"), "{}", stderr(&o));
        assert!(!stdout(&o).contains("Zebra"));
    }
}

#[test]
fn factory_reset_asks_then_erases_store_and_key() {
    let a = Appliance::new();
    assert_exit(&a.run(&["config", "set", "room.name", "Room 3"]), 0);
    let o = a.run_with_input(&["reset", "--factory"], "no\n");
    assert_exit(&o, 6);
    assert!(stderr(&o).contains("Type 'erase'"));
    assert_exit(&a.run(&["config", "get", "room.name"]), 0);

    let o = a.run_with_input(&["reset", "--factory"], "erase\n");
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("settings store destroyed; development key destroyed"));
    let left: Vec<_> = fs::read_dir(&a.state).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_exit(&a.run(&["config", "get", "room.name"]), 5);

    assert_exit(&a.run(&["config", "set", "room.name", "Room 4"]), 0);
    assert_exit(&a.run(&["reset", "--factory", "--yes"]), 0);
    assert!(!a.state.join("config.db").exists());
    assert_exit(&a.run(&["reset"]), 2);
}

#[test]
fn every_command_explains_itself() {
    let a = Appliance::new();
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["provision", "--help"],
        &["config", "--help"],
        &["config", "set", "--help"],
        &["reset", "--help"],
        &["hw-test", "--help"],
    ] {
        let o = a.run(args);
        assert_exit(&o, 0);
        assert!(stdout(&o).contains("Usage: appliance"), "{}", stdout(&o));
    }
    let top = stdout(&a.run(&["--help"]));
    assert!(top.contains("Exit codes:"));
    let config = stdout(&a.run(&["config", "--help"]));
    assert!(config.contains("ice.turn_shared_secret (secret)"));
    assert!(!a.state.exists(), "help must not touch the state directory");
}

#[test]
fn the_simulation_log_exists_only_in_simulation() {
    let a = Appliance::new();
    let log = a.root.join("room.log");
    let o = a.run(&["run", "--sim-log", &log.display().to_string()]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--sim"), "{}", stderr(&o));
    assert!(!log.exists(), "a real box must never write the room's log");
    assert!(!a.state.exists());
}

#[test]
fn the_wiring_check_walks_every_part_and_says_what_to_fix() {
    let a = Appliance::new();
    let control = a.root.join("control.sock");
    let control = control.display().to_string();
    // The simulated hands press and hold; the eyes see every LED pattern.
    let o = a.run_with_input(
        &["--control", &control, "hw-test", "--sim"],
        "press\nhold\ny\ny\ny\ny\n",
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert_eq!(out.matches("  ok").count(), 9, "{out}");
    assert!(out.contains("all 9 steps passed"), "{out}");
    assert!(!a.state.exists(), "the wiring check stores nothing");

    // A hold that is too short and an LED the person does not see: each
    // failed step names the setting and the header pin to check.
    let o = a.run_with_input(
        &["--control", &control, "hw-test", "--sim"],
        "press\npress\nn\ny\ny\ny\n",
    );
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.contains("released too soon"), "{out}");
    assert!(
        out.contains("hardware.pins.led_red (GPIO 5, header pin 29)"),
        "{out}"
    );
    assert!(out.contains("2 of 9 steps failed"), "{out}");
    assert!(stderr(&o).contains("found 2 problem(s)"), "{}", stderr(&o));

    // Input that ends early is an error, not a row of silent "no"s.
    let o = a.run_with_input(&["--control", &control, "hw-test", "--sim"], "press\n");
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("standard input ended"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_wiring_check_leaves_a_running_appliance_alone() {
    let a = Appliance::new();
    let control = a.root.join("control.sock");
    let _running = std::os::unix::net::UnixListener::bind(&control).unwrap();
    let control = control.display().to_string();
    let o = a.run_with_input(&["--control", &control, "hw-test", "--sim"], "");
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("stop it first"), "{}", stderr(&o));
}

#[cfg(not(feature = "rpi"))]
#[test]
fn a_build_without_the_pi_backend_says_so() {
    let a = Appliance::new();
    let o = a.run(&["config", "set", "hardware.backend", "rppal"]);
    assert_exit(&o, 0);
    let control = a.root.join("control.sock").display().to_string();
    let o = a.run_with_input(&["--control", &control, "hw-test"], "");
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("--features rpi"), "{}", stderr(&o));
    let o = a.run(&["--control", &control, "run", "--headless"]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("--features rpi"), "{}", stderr(&o));
}

/// The Pi's build on a computer that is not a Pi: the wiring check and the
/// daemon both stop with the reason and the way out, and panic nowhere.
#[cfg(feature = "rpi")]
#[test]
fn the_pi_build_off_a_pi_names_what_is_missing() {
    let model = std::fs::read_to_string("/proc/device-tree/model").unwrap_or_default();
    if model.contains("Raspberry Pi") {
        eprintln!("skipped: this is a Raspberry Pi ({model}), whose pins hw-test would drive");
        return;
    }
    let a = Appliance::new();
    assert_exit(&a.run(&["config", "set", "hardware.backend", "rppal"]), 0);
    let control = a.root.join("control.sock").display().to_string();
    let reason = "this does not look like a Raspberry Pi 4, 400, CM4 or 5";
    let way_out = "on any other computer set hardware.backend = \"sim\"";
    let o = a.run_with_input(&["--control", &control, "hw-test"], "");
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains(reason) && stderr(&o).contains(way_out),
        "{}",
        stderr(&o)
    );
    let o = a.run(&[
        "--control",
        &control,
        "run",
        "--headless",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("cannot start the room's button, shutter and LED")
            && stderr(&o).contains(reason),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_appliance");

/// Starts `appliance run --headless` on loopback in `a`, with `args` added.
fn start_daemon(a: &Appliance, args: &[&str]) -> Daemon {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend(args);
    Daemon::spawn(
        BIN,
        &a.root,
        Start {
            args: &all,
            ..Start::default()
        },
    )
}

/// The daemon's status once `wanted` says so, for 20 s at most.
fn status_when(daemon: &mut Daemon, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
    daemon.status_when(Duration::from_secs(20), wanted)
}

#[test]
fn a_box_without_its_camera_says_so_and_restarts_when_it_comes() {
    let a = Appliance::new();
    let o = a.run(&["config", "set", "hardware.backend", "sim"]);
    assert_exit(&o, 0);
    // `status` says the room's name (the image's flash test reads it).
    let o = a.run(&["config", "set", "room.name", "Room <7>"]);
    assert_exit(&o, 0);
    let camera = a.root.join("video0");
    let camera_arg = camera.display().to_string();
    let mut daemon = start_daemon(&a, &["--camera", &camera_arg]);
    // Not a crash and a restart loop: up, with the fault in plain words.
    let status =
        status_when(&mut daemon, |s| s["state"] == "fault").expect("no camera fault within 20 s");
    assert!(
        status["faults"]
            .to_string()
            .contains("The camera is not connected"),
        "{status}"
    );
    assert_eq!(status["room"], "Room <7>", "{status}");
    let (ok, plain) = daemon.cli(&["status"]);
    assert!(ok, "{plain}");
    assert!(plain.contains("room:          Room <7>\n"), "{plain}");
    // The camera is plugged in: the daemon stops so that systemd starts it
    // again with the camera, and says so; exit 1 is what systemd restarts.
    fs::write(&camera, "").unwrap();
    let exit = daemon
        .wait_exit(Duration::from_secs(10))
        .expect("the daemon did not restart for the camera within 10 s");
    let err = daemon.errors();
    assert_eq!(exit.code(), Some(1), "{err}");
    assert!(err.contains("restarting to use it"), "{err}");
}

#[test]
fn a_refused_provisioning_file_is_a_fault_on_the_led_and_the_tv() {
    let a = Appliance::new();
    assert_exit(&a.run(&["config", "set", "room.name", "Room 3"]), 0);
    // What the image's first-boot unit leaves when it refused the file.
    let flag = a.file("provision-failed", "");
    let flag_arg = flag.display().to_string();
    let args = ["--sim", "--provision-failed-flag", &flag_arg];
    let mut daemon = start_daemon(&a, &args);
    let status = status_when(&mut daemon, |s| {
        s["faults"].to_string().contains("provision-error.txt")
    });
    drop(daemon);
    let status = status.expect("no provisioning fault within 20 s");
    assert_eq!(status["state"], "fault", "{status}");
    assert_eq!(status["led"], "fault", "{status}");
    assert_eq!(status["room"], "Room 3", "{status}");

    // Without the flag, the same store starts idle.
    fs::remove_file(&flag).unwrap();
    let mut daemon = start_daemon(&a, &args);
    let idle = status_when(&mut daemon, |s| s["state"] == "idle");
    assert!(
        idle.is_some(),
        "the daemon did not start idle without the flag"
    );
}

#[test]
fn a_notice_for_it_reaches_status_while_the_daemon_runs_and_goes_with_its_file() {
    let a = Appliance::new();
    assert_exit(&a.run(&["config", "set", "room.name", "Room 3"]), 0);
    // Where the image's update scripts write it; not there at start.
    let notice = a.root.join("notice");
    let notice_arg = notice.display().to_string();
    let mut daemon = start_daemon(&a, &["--sim", "--notice-file", &notice_arg]);
    let idle = status_when(&mut daemon, |s| s["state"] == "idle");
    assert!(
        idle.as_ref().is_some_and(|s| s["notice"].is_null()),
        "{idle:?}"
    );
    let top_before = tv_top_lit(&daemon);
    // It comes while the daemon runs, with a terminal escape in it.
    fs::write(
        &notice,
        "The update was refused.\n\x1b[2JIT: see the journal.\n",
    )
    .unwrap();
    let shown = status_when(&mut daemon, |s| s["notice"].to_string().contains("refused"));
    let (plain_ok, plain) = daemon.cli(&["status"]);
    // The TV writes it at the top of the idle screen, where nothing was:
    // within 20 s (5 s was not always enough on a loaded machine in CI).
    let top_after = poll(Duration::from_secs(20), || {
        let lit = tv_top_lit(&daemon);
        (lit > top_before + 0.01).then_some(lit)
    });
    fs::remove_file(&notice).unwrap();
    let gone = status_when(&mut daemon, |s| s["notice"].is_null());
    drop(daemon);
    let shown = shown.expect("the notice did not reach status within 20 s");
    assert_eq!(
        shown["notice"], "The update was refused.\n[2JIT: see the journal.",
        "{shown}"
    );
    assert_eq!(shown["state"], "idle", "not a fault: {shown}");
    assert!(plain_ok, "{plain}");
    assert!(
        plain.contains(
            "notice:        The update was refused.\n               [2JIT: see the journal.\n"
        ),
        "{plain}"
    );
    assert!(
        top_after.is_some(),
        "the TV's top did not light up from {top_before:.3}"
    );
    assert!(gone.is_some(), "the notice stayed after its file went");
}

/// The share of lit pixels in the top sixth of what the simulated TV shows
/// (`sim tv grab`: 320x180 RGB), where the idle screen writes IT's notice.
fn tv_top_lit(daemon: &Daemon) -> f64 {
    let file = daemon.root().join("tv.ppm");
    let path = file.display().to_string();
    // Until the TV has drawn its first picture, there is none to grab.
    let ppm = wait_for("the TV's first picture", Duration::from_secs(10), || {
        let (ok, _) = daemon.cli(&["sim", "tv", "grab", &path]);
        ok.then(|| fs::read(&file).ok()).flatten()
    });
    lit_in(&tv_picture(&ppm), (0, 0, TV_WIDTH, TV_HEIGHT / 6))
}
