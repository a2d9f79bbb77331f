//! A note for IT on the TV's idle screen and in `appliance status`: the
//! image's scripts write a few lines into a file in /run (memory only, so it
//! is gone at the next start) when an update is refused, installed, or rolled
//! back; see image/rootfs/usr/sbin/appliance-update and boot-check. The
//! daemon only reads it, every two seconds, since it may come while the
//! daemon runs. Whatever the file holds, at most four short lines of
//! printable text reach the screen.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc;

/// How often the file is read.
const POLL: Duration = Duration::from_secs(2);
/// The most of the file that is read.
const MAX_BYTES: u64 = 1024;
/// The most lines, and characters in a line, that are kept.
const MAX_LINES: usize = 4;
const MAX_LINE: usize = 160;

/// The notice `bytes` make: control characters dropped, blank lines
/// skipped, at most four lines of 160 characters; None when nothing is left.
pub fn clean(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            line.chars()
                .filter(|c| !c.is_control())
                .take(MAX_LINE)
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .filter(|line| !line.is_empty())
        .take(MAX_LINES)
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The notice in `file` now; None when there is no such file.
async fn read(file: &Path) -> Option<String> {
    let handle = tokio::fs::File::open(file).await.ok()?;
    let mut bytes = Vec::new();
    handle.take(MAX_BYTES).read_to_end(&mut bytes).await.ok()?;
    clean(&bytes)
}

/// IT's notice came, changed (its text) or went (None).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeChanged(pub Option<String>);

/// Tells the session task about `file`'s notice at start and whenever it
/// changes; stops when the task is gone.
pub async fn watch(file: PathBuf, inputs: mpsc::Sender<NoticeChanged>) {
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = None;
    loop {
        poll.tick().await;
        let notice = read(&file).await;
        if notice != last {
            last = notice.clone();
            if inputs.send(NoticeChanged(notice)).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_few_short_printable_lines_reach_the_screen() {
        assert_eq!(clean(b""), None);
        assert_eq!(clean(b"\n  \n\t\x1b\n"), None);
        assert_eq!(
            clean(b"  Update refused.\r\n\nIT: see the journal.\n").as_deref(),
            Some("Update refused.\nIT: see the journal.")
        );
        // Terminal escapes and other control characters are dropped.
        assert_eq!(
            clean(b"\x1b[31mred\x1b[0m\x07").as_deref(),
            Some("[31mred[0m")
        );
        let many = "line\n".repeat(10);
        assert_eq!(clean(many.as_bytes()).unwrap().lines().count(), MAX_LINES);
        let long = "x".repeat(1000);
        assert_eq!(clean(long.as_bytes()).unwrap().chars().count(), MAX_LINE);
        // Not UTF-8: replaced, not refused.
        assert_eq!(clean(b"ok \xff").as_deref(), Some("ok \u{fffd}"));
    }

    async fn next(rx: &mut mpsc::Receiver<NoticeChanged>) -> Option<String> {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(NoticeChanged(notice))) => notice,
            other => panic!("no notice within 10 s: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_watch_reports_the_file_as_it_comes_changes_and_goes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notice");
        let (tx, mut rx) = mpsc::channel(4);
        let watch = tokio::spawn(watch(file.clone(), tx));
        // None at first: the session starts from None, so this is a change
        // only once there is a file.
        std::fs::write(&file, "Update installed.\n").unwrap();
        assert_eq!(next(&mut rx).await.as_deref(), Some("Update installed."));
        std::fs::write(&file, "Update refused.\n").unwrap();
        assert_eq!(next(&mut rx).await.as_deref(), Some("Update refused."));
        std::fs::remove_file(&file).unwrap();
        assert_eq!(next(&mut rx).await, None);
        watch.abort();
    }
}
