//! Helpers shared by the store's integration tests: real sled files in a
//! temporary state directory, opened with a key from a real key file.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use appliance_config::{DeviceKey, KeyLookup, KeySource, OpenMode, Store};

/// Writes a key file of 32 bytes of `byte` and returns its path.
pub fn key_file(dir: &Path, name: &str, byte: u8) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, [byte; 32]).unwrap();
    path
}

/// Loads the key the way the CLI does, from `--key-file`.
pub fn load(key_file: &Path) -> (DeviceKey, KeySource) {
    KeyLookup {
        key_file: Some(key_file.to_owned()),
        ..KeyLookup::default()
    }
    .load(false)
    .unwrap()
}

pub fn open(
    state: &Path,
    key_file: &Path,
    mode: OpenMode,
) -> Result<Store, appliance_config::StoreError> {
    let (key, source) = load(key_file);
    Store::open(state, key, &source, mode)
}

#[allow(unused_imports)] // not every test uses it
pub use appliance_test_support::snapshot;

/// Opens the raw sled database of a closed store, as an attacker with the
/// disk would, without the background flusher so that closing it releases
/// its lock at once.
pub fn raw_sled(state: &Path) -> sled::Db {
    let config = sled::Config::new()
        .path(Store::path_in(state))
        .flush_every_ms(None);
    // sled lets go of its lock a moment after a store in this process closes.
    for _ in 0..100 {
        match config.open() {
            Err(sled::Error::Io(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            result => return result.unwrap(),
        }
    }
    panic!("sled's lock on {} was never released", state.display());
}

/// Every entry of a closed store, as stored: names and sealed bytes.
pub fn raw_entries(state: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    raw_sled(state)
        .iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}
