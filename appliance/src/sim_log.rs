//! The simulated room's command log: every command the simulated shutter and
//! LED are given, one per line, appended to a file the test names outside the
//! state directory (`run --sim --sim-log FILE`). A test reads it to see what
//! the box did last, for instance that stopping it mid-call closed the
//! shutter and put the LED out. Without the option nothing is written.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

static LOG: OnceLock<Mutex<File>> = OnceLock::new();

/// Starts the log at `path` (appending). Once per process.
pub fn open(path: &Path) -> std::io::Result<()> {
    let file = File::options().create(true).append(true).open(path)?;
    let _ = LOG.set(Mutex::new(file));
    Ok(())
}

/// Records one command, if there is a log. Safe from the panic hook: a
/// poisoned lock is still written through, and errors are dropped (the log
/// is for tests; the room must not stop over it).
pub fn record(command: &str) {
    if let Some(log) = LOG.get() {
        let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "{command}");
    }
}
