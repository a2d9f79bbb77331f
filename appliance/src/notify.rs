//! What systemd tells a service and hears from it: the readiness and watchdog
//! protocol (sd_notify, a datagram per message to `$NOTIFY_SOCKET`, nothing
//! when not under systemd) and the directories it makes for the service.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Sends one notification, e.g. `READY=1`. Returns false when not under
/// systemd or when sending failed; neither stops the daemon.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    notify_to(&path.to_string_lossy(), state)
}

/// Sends one notification to the socket at `path` (`@` for an abstract name).
fn notify_to(path: &str, state: &str) -> bool {
    let address = match path.strip_prefix('@') {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes()),
        None => SocketAddr::from_pathname(path),
    };
    let Ok(address) = address else { return false };
    let Ok(socket) = UnixDatagram::unbound() else {
        return false;
    };
    socket.send_to_addr(state.as_bytes(), &address).is_ok()
}

/// The directory systemd made for the service in `var` (`STATE_DIRECTORY`,
/// `RUNTIME_DIRECTORY`): the first of its colon-separated list.
pub fn systemd_directory(var: &str) -> Option<std::path::PathBuf> {
    let value = std::env::var_os(var)?;
    let first = value.to_string_lossy().split(':').next()?.to_owned();
    (!first.is_empty()).then(|| first.into())
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC`, if set for us.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_a_notify_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        assert!(notify_to(path.to_str().unwrap(), "READY=1"));
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        assert!(!notify_to("/nonexistent/socket", "READY=1"));
    }
}
