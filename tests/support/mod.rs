//! What the end-to-end tests share: a network namespace of their own, the real
//! daemon in simulation, chromedriver, and bounded waiting.

#![allow(dead_code)]

pub mod bench;
pub mod blips;
pub mod display;
pub mod nat;
pub mod page_socket;
pub mod webdriver;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon's HTTPS port inside the test's network namespace.
pub const PORT: u16 = 8443;
/// chromedriver's port.
pub const DRIVER_PORT: u16 = 9515;

const IN_NETNS: &str = "APPLIANCE_E2E_IN_NETNS";

/// Runs the calling test again in a network namespace of its own, where only
/// loopback exists, so that neither the daemon nor the browser can reach
/// anything else. Returns true in the namespace (go on with the test), false
/// in the parent once the child passed.
pub fn in_own_network(test: &str) -> bool {
    run_in_own_network(&["--exact", test, "--nocapture", "--test-threads=1"], test)
}

/// Like [`in_own_network`], for a program that is not a test: reruns it with
/// `args` in its own network namespace.
pub fn run_in_own_network(args: &[&str], name: &str) -> bool {
    let test = name;
    if std::env::var_os(IN_NETNS).is_some() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        assert!(up.is_ok_and(|s| s.success()), "cannot bring up loopback");
        return true;
    }
    // One call at a time: on two cores, two daemons and two browsers at once
    // starve each other's encoders (see the README's known limits).
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // No second try: a call that fails once is a bug to find, not noise.
    let mut unshare = Command::new("unshare");
    if !is_root() {
        unshare.arg("--map-root-user");
    }
    let output = unshare
        .args(["--net", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(args)
        .env(IN_NETNS, "1")
        .output()
        .expect("unshare (util-linux) is needed for the end-to-end tests");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    if output.status.success() {
        return false;
    }
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    panic!("{test} failed in its network namespace");
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[allow(unused_imports)] // not every test uses both
pub use appliance_test_support::{poll, snapshot, wait_for};

pub use appliance_test_support::daemon::{Daemon, Start};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_appliance");

/// The real daemon in simulation, on loopback in the test's namespace, with
/// `start`'s settings and arguments added, answering `status`.
pub fn start_daemon_as(start: Start<'_>) -> Daemon {
    let listen = format!("127.0.0.1:{PORT}");
    let mut args = vec!["--sim", "--ice-address", "127.0.0.1", "--listen", &listen];
    if !start.args.contains(&"--sim-shutter-travel-ms") {
        args.extend(["--sim-shutter-travel-ms", "300"]);
    }
    args.extend(start.args);
    Daemon::start(
        BIN,
        Start {
            args: &args,
            ..start
        },
    )
}

/// The daemon with nothing set.
pub fn start_daemon() -> Daemon {
    start_daemon_as(Start::default())
}

/// The daemon with settings set first (`appliance config set`).
pub fn start_daemon_with(settings: &[(&str, &str)]) -> Daemon {
    start_daemon_as(Start {
        settings,
        ..Start::default()
    })
}

/// The daemon with the simulated room's command log in `log`.
pub fn start_daemon_logged(log: &Path) -> Daemon {
    let log = log.display().to_string();
    start_daemon_as(Start {
        args: &["--sim-log", &log],
        ..Start::default()
    })
}

/// A new patient link from `daemon`.
pub fn invite(daemon: &Daemon, ttl: &str) -> String {
    let (ok, text) = daemon.cli(&["invite", "--ttl", ttl]);
    assert!(ok, "invite failed: {text}");
    text.trim().to_owned()
}

/// How long the daemon's control socket takes to answer `status`, asked
/// every 50 ms from a thread of its own while a test goes on: the slowest
/// answer tells whether anything held the daemon's async workers.
pub struct StatusLatency {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Duration>>>,
}

impl StatusLatency {
    /// Starts asking the daemon whose control socket is `daemon`'s.
    pub fn start(daemon: &Daemon) -> StatusLatency {
        let socket = daemon.root().join("control.sock");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut answers = Vec::new();
            // At most 20 minutes of asking, whatever the test does.
            for _ in 0..24_000 {
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                match ask_status(&socket) {
                    Some(took) => answers.push(took),
                    None => break,
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            answers
        });
        StatusLatency {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops asking; how many answers came and the slowest.
    pub fn finish(mut self) -> (usize, Duration) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let answers = self
            .thread
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default();
        let slowest = answers.iter().max().copied().unwrap_or_default();
        (answers.len(), slowest)
    }
}

/// One `status` over the control socket, as the command line asks it; how
/// long the answer took, or None if the daemon is not there.
fn ask_status(socket: &Path) -> Option<Duration> {
    use std::io::{BufRead, Write};
    let start = Instant::now();
    let mut stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"{\"cmd\":\"status\"}\n").ok()?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).ok()?;
    line.contains("\"state\"").then(|| start.elapsed())
}

/// Where each thread of the process `pid` stands (gdb's backtraces, the
/// media threads' only: those in GStreamer or libnice, named after their
/// element; Debian's libraries give no function names), for a failure's
/// message: a stream that stops inside the daemon shows where it waits.
pub fn threads_of(pid: u32) -> String {
    let output = Command::new("timeout")
        .args(["30", "gdb", "-p", &pid.to_string(), "-batch", "-nx"])
        .args(["-ex", "set pagination off", "-ex", "thread apply all bt 30"])
        .output();
    let Ok(output) = output else {
        return "(gdb is not there)".into();
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let mut kept = String::new();
    for thread in text.split("\nThread ").skip(1) {
        if ["gst_", "g_main", "nice_", "webrtc"]
            .iter()
            .any(|w| thread.contains(w))
        {
            kept.push_str("Thread ");
            kept.push_str(thread.trim_end());
            kept.push('\n');
        }
    }
    if kept.is_empty() {
        String::from_utf8_lossy(&output.stderr).into_owned()
    } else {
        kept
    }
}

/// A WebDriver server (chromedriver or geckodriver), for as long as the value
/// lives; for Firefox, with speakers of its own.
pub struct Driver {
    child: Child,
    _speakers: Option<Speakers>,
}

impl Driver {
    /// chromedriver, from Debian's chromium-driver. Headless Chromium plays
    /// sound to a device of its own.
    pub fn chromium() -> Driver {
        Self::start("chromedriver", &[&format!("--port={DRIVER_PORT}")], None)
    }

    /// geckodriver, installed with cargo by scripts/setup. Firefox plays its
    /// sound through PulseAudio: without a server its Web Audio never runs,
    /// and a test could not hear what the patient hears.
    pub fn firefox() -> Driver {
        // scripts/setup builds it with cargo install, which may not be on PATH.
        let installed = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .map(|home| home.join("bin/geckodriver"))
            .filter(|p| p.exists());
        let program = installed.map_or_else(|| "geckodriver".into(), |p| p.display().to_string());
        let speakers = Speakers::start();
        Self::start(
            &program,
            &["--port", &DRIVER_PORT.to_string()],
            Some(speakers),
        )
    }

    fn start(program: &str, args: &[&str], speakers: Option<Speakers>) -> Driver {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(speakers) = &speakers {
            command.env("PULSE_SERVER", speakers.server());
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{program} is needed for the end-to-end tests: {e}"));
        wait_for(program, Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", DRIVER_PORT)).ok()
        });
        Driver {
            child,
            _speakers: speakers,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PulseAudio server with one null sink, on a socket in a directory of its
/// own: the patient's speakers, which play into nothing.
pub struct Speakers {
    dir: tempfile::TempDir,
    child: Child,
}

impl Speakers {
    pub fn start() -> Speakers {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("native");
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
            ])
            .arg("--load=module-null-sink sink_name=speakers")
            .arg(format!(
                "--load=module-native-protocol-unix auth-anonymous=1 socket={}",
                socket.display()
            ))
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("pulseaudio is needed for the Firefox tests: {e}"));
        wait_for("PulseAudio's socket", Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect(&socket).ok()
        });
        Speakers { dir, child }
    }

    /// The server's address, for `PULSE_SERVER`.
    pub fn server(&self) -> String {
        format!("unix:{}", self.dir.path().join("native").display())
    }
}

impl Drop for Speakers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
