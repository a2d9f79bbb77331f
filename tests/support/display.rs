//! A virtual X display for the TV window test: Xvfb on a display number it
//! picks itself, grabbed with gst-launch-1.0, stopped on drop.

use std::io::BufRead;
use std::time::Duration;

/// A virtual X display for the TV window, on a display number Xvfb picks
/// (a fixed one may be held by a stale lock file), stopped on drop.
pub struct Display {
    server: std::process::Child,
    pub name: String,
}

impl Display {
    pub fn start() -> Display {
        let mut server = std::process::Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x720x24"])
            .args(["-nolisten", "tcp"])
            // No reset when the last client leaves: a sink that tries the
            // display and closes (xvimagesink, without XVideo here) would
            // leave the next one (ximagesink) a server that is resetting.
            .arg("-noreset")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Xvfb (package xvfb) is needed for the TV window test");
        // Xvfb writes the number once it is ready, or exits (end of file);
        // read on a thread so that a server that does neither cannot hang
        // the test.
        let stdout = server.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut number = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut number);
            let _ = tx.send(number);
        });
        let number = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("Xvfb did not start within 20 s");
        assert!(!number.trim().is_empty(), "Xvfb did not start");
        Display {
            server,
            name: format!(":{}", number.trim()),
        }
    }

    /// The whole screen as grey levels, grabbed through GStreamer.
    pub fn grab(&self) -> Vec<u8> {
        let file = tempfile::NamedTempFile::new().unwrap();
        let status = std::process::Command::new("timeout")
            .args([
                "20",
                "gst-launch-1.0",
                "-q",
                "ximagesrc",
                &format!("display-name={}", self.name),
            ])
            .args([
                "num-buffers=1",
                "use-damage=false",
                "!",
                "videoconvert",
                "!",
            ])
            .args(["video/x-raw,format=GRAY8", "!", "filesink"])
            .arg(format!("location={}", file.path().display()))
            .status()
            .expect("gst-launch-1.0 (package gstreamer1.0-tools) is needed");
        assert!(status.success(), "could not grab the screen");
        std::fs::read(file.path()).unwrap()
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        // SIGTERM, so that Xvfb removes its lock file and socket.
        let _ = std::process::Command::new("kill")
            .arg(self.server.id().to_string())
            .status();
        let _ = self.server.wait();
    }
}
