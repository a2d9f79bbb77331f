//! What the tests of every crate share, written once: the real daemon
//! ([`daemon`]), with its status polled, bounded waiting, a
//! snapshot of a state directory (to show nothing about a session was
//! written), and the simulated TV's pictures (`appliance sim tv grab`).
//! Used by `config/tests`, `appliance/tests` and the end-to-end tests in
//! `tests/`; test code only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod daemon;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Polls `check` every 100 ms until it returns Some, for `limit` at most.
pub fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `check` every 100 ms until it returns Some, or panics after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, check: impl FnMut() -> Option<T>) -> T {
    poll(limit, check).unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// The `appliance` binary at `bin` (a test's `CARGO_BIN_EXE_appliance`) on
/// the state directory `state`, as IT or the tests run it: never with
/// systemd's credentials or state directory from the test's environment.
pub fn appliance(bin: &str, state: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(bin);
    command
        .arg("--state-dir")
        .arg(state)
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("STATE_DIRECTORY");
    command
}

/// Every file under `dir` with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.clone(), fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The size of `sim tv grab`'s pictures.
pub const TV_WIDTH: usize = 320;
/// See [`TV_WIDTH`].
pub const TV_HEIGHT: usize = 180;

/// A box on the TV's picture: x0, y0, x1, y1 (the last two excluded).
pub type Area = (usize, usize, usize, usize);

/// The whole picture.
pub const WHOLE: Area = (0, 0, TV_WIDTH, TV_HEIGHT);

/// The RGB pixels of a picture `sim tv grab` wrote (PPM, 320x180).
pub fn tv_picture(ppm: &[u8]) -> Vec<u8> {
    let header = format!("P6\n{TV_WIDTH} {TV_HEIGHT}\n255\n");
    assert!(ppm.starts_with(header.as_bytes()), "not the TV's picture");
    let rgb = ppm[header.len()..].to_vec();
    assert_eq!(rgb.len(), TV_WIDTH * TV_HEIGHT * 3);
    rgb
}

/// The share of a picture's pixels in `area` that `pick` picks.
fn share(rgb: &[u8], (x0, y0, x1, y1): Area, pick: impl Fn(&[u8]) -> bool) -> f64 {
    let mut picked = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let i = (y * TV_WIDTH + x) * 3;
            if pick(&rgb[i..i + 3]) {
                picked += 1;
            }
        }
    }
    picked as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

/// The share of the pixels in `area` that are not black.
pub fn lit_in(rgb: &[u8], area: Area) -> f64 {
    share(rgb, area, |p| p.iter().any(|&c| c > 40))
}

/// The share of the pixels in `area` that are clearly blue (blue above 150,
/// red and green well below).
pub fn blue_in(rgb: &[u8], area: Area) -> f64 {
    share(rgb, area, |p| {
        p[2] > 150 && p[2] > p[1].max(p[0]).saturating_add(60)
    })
}

/// The share of pixels that differ between two pictures.
pub fn differ(a: &[u8], b: &[u8]) -> f64 {
    let n = a
        .chunks(3)
        .zip(b.chunks(3))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > 40))
        .count();
    n as f64 / (a.len() / 3) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_is_read_and_measured() {
        let mut ppm = format!("P6\n{TV_WIDTH} {TV_HEIGHT}\n255\n").into_bytes();
        let mut rgb = vec![0u8; TV_WIDTH * TV_HEIGHT * 3];
        // The top left quarter blue.
        for y in 0..TV_HEIGHT / 2 {
            for x in 0..TV_WIDTH / 2 {
                rgb[(y * TV_WIDTH + x) * 3 + 2] = 255;
            }
        }
        ppm.extend_from_slice(&rgb);
        let picture = tv_picture(&ppm);
        assert_eq!(lit_in(&picture, WHOLE), 0.25);
        assert_eq!(blue_in(&picture, (0, 0, TV_WIDTH / 2, TV_HEIGHT / 2)), 1.0);
        assert_eq!(differ(&picture, &vec![0; picture.len()]), 0.25);
    }

    #[test]
    fn a_snapshot_sees_every_file_and_a_wait_ends() {
        let dir = std::env::temp_dir().join(format!("snapshot-{}", std::process::id()));
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/a"), b"x").unwrap();
        let files = snapshot(&dir);
        assert_eq!(
            files.get(&dir.join("sub/a")).map(Vec::as_slice),
            Some(&b"x"[..])
        );
        fs::remove_dir_all(&dir).unwrap();
        let mut n = 0;
        assert_eq!(
            wait_for("three", Duration::from_secs(5), || {
                n += 1;
                (n == 3).then_some(n)
            }),
            3
        );
    }
}
