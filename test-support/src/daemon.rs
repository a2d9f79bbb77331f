//! The real daemon, as the tests of `appliance` and the end-to-end tests
//! start it: `appliance run --headless` on a directory of its own, with its
//! state in `ROOT/state`, its control socket at `ROOT/control.sock` and what
//! it prints in `ROOT/daemon.out` and `ROOT/daemon.err`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{appliance, poll, wait_for};

/// A running daemon; killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    bin: String,
    root: PathBuf,
    child: Child,
    /// A temporary directory that lives as long as the daemon.
    _dir: Option<tempfile::TempDir>,
}

/// How to start one.
#[derive(Debug, Default, Clone, Copy)]
pub struct Start<'a> {
    /// Settings set first, with `appliance config set`.
    pub settings: &'a [(&'a str, &'a str)],
    /// Arguments after `run`.
    pub args: &'a [&'a str],
    /// An X display for the TV's window; None runs `--headless`.
    pub display: Option<&'a str>,
    /// A network namespace (`ip netns`) to run the daemon in; its control
    /// socket, a file, is reached from anywhere.
    pub netns: Option<&'a str>,
}

impl Daemon {
    /// The binary `bin` (a test's `CARGO_BIN_EXE_appliance`) on the state
    /// directory and control socket of a daemon in `root`.
    pub fn command(bin: &str, root: &Path) -> Command {
        let mut command = appliance(bin, &root.join("state"));
        command.arg("--control").arg(root.join("control.sock"));
        command
    }

    /// Starts the daemon in `root`; it does not wait for it to answer.
    pub fn spawn(bin: &str, root: &Path, start: Start<'_>) -> Daemon {
        for (name, value) in start.settings {
            let status = Self::command(bin, root)
                .args(["config", "set", name, value])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "config set {name} {value} failed");
        }
        let out = fs::File::create(root.join("daemon.out")).unwrap();
        let err = fs::File::create(root.join("daemon.err")).unwrap();
        let mut command = match start.netns {
            Some(ns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", ns, bin]);
                command
                    .arg("--state-dir")
                    .arg(root.join("state"))
                    .arg("--control")
                    .arg(root.join("control.sock"))
                    .env_remove("CREDENTIALS_DIRECTORY")
                    .env_remove("STATE_DIRECTORY");
                command
            }
            None => Self::command(bin, root),
        };
        command.arg("run").args(start.args).stdout(out).stderr(err);
        match start.display {
            Some(display) => command.env("DISPLAY", display),
            None => command.arg("--headless"),
        };
        Daemon {
            bin: bin.to_owned(),
            root: root.to_owned(),
            child: command.spawn().unwrap(),
            _dir: None,
        }
    }

    /// Starts the daemon in a temporary directory of its own and waits
    /// until it answers `status`.
    pub fn start(bin: &str, start: Start<'_>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut daemon = Self::spawn(bin, dir.path(), start);
        daemon._dir = Some(dir);
        daemon
            .status_when(Duration::from_secs(30), |_| true)
            .expect("the daemon did not answer within 30 s");
        daemon
    }

    /// The directory it runs in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs an `appliance` client command against it: success, and what it
    /// printed on both outputs.
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        let output = Self::command(&self.bin, &self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    }

    /// Like [`Daemon::cli`], with `input` on the command's standard input
    /// (a password, say).
    pub fn cli_with_input(&self, args: &[&str], input: &str) -> (bool, String) {
        use std::io::Write as _;
        let mut child = Self::command(&self.bin, &self.root)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).unwrap();
        }
        let output = child.wait_with_output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    }

    /// `appliance status --json`, if it answers.
    pub fn try_status(&self) -> Option<Value> {
        let (ok, text) = self.cli(&["status", "--json"]);
        ok.then(|| serde_json::from_str(&text).ok()).flatten()
    }

    /// `appliance status --json`.
    pub fn status(&self) -> Value {
        self.try_status().expect("the daemon stopped answering")
    }

    /// Its status once `wanted` says so, asked every 100 ms for `limit` at
    /// most; it must not exit meanwhile.
    pub fn status_when(
        &mut self,
        limit: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        poll(limit, || {
            if let Some(status) = self.exited() {
                panic!("the daemon exited with {status}: {}", self.output());
            }
            self.try_status().filter(&wanted)
        })
    }

    /// Waits until `status` has `field` equal to `value`, for 20 s at most.
    pub fn wait_status(&self, field: &str, value: &str) -> Value {
        wait_for(
            &format!("status {field} = {value}"),
            Duration::from_secs(20),
            || {
                let s = self.status();
                (s[field].as_str() == Some(value)).then_some(s)
            },
        )
    }

    /// How it exited, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// What it printed on standard error.
    pub fn errors(&self) -> String {
        fs::read_to_string(self.root.join("daemon.err")).unwrap_or_default()
    }

    /// Everything it printed.
    pub fn output(&self) -> String {
        fs::read_to_string(self.root.join("daemon.out")).unwrap_or_default() + &self.errors()
    }

    /// Waits for it to exit by itself, for `limit` at most.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        poll(limit, || self.exited())
    }

    /// SIGTERM, then waits for a clean exit; everything it printed.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self
            .wait_exit(Duration::from_secs(15))
            .expect("the daemon did not stop within 15 s of SIGTERM");
        assert!(
            status.success(),
            "the daemon exited with {status}: {}",
            self.output()
        );
        self.output()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
