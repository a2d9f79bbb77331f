//! The encrypted settings store: a sled database in the state directory in which
//! every value is sealed under the device key with its name as associated data.
//! Called by the CLI and the daemon; guarantees that no value is written in
//! plaintext, that a wrong key or an altered value is an error and never a silent
//! loss, and that a change of several settings lands whole or not at all.
//!
//! One limit comes from sled: damage on disk to a write made since the store was
//! last opened looks to sled like a write cut short by a power failure, and it
//! rolls back to the state before it. Nothing altered is ever returned; a store
//! opened once since (every start of the appliance) reports such damage.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::key::{DeviceKey, KeySource};
use crate::schema::{SETTINGS, Setting, Value};
use crate::seal::{self, SealError};

/// The store's directory inside the state directory.
pub const STORE_DIR: &str = "config.db";
/// An entry sealed when the store is made, so a wrong key is noticed at open.
const KEY_CHECK: &str = "_meta.key_check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"appliance-config key check";
/// sled's own file in a store directory; a directory without it is not a store.
const SLED_DB_FILE: &str = "db";

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// There is no store yet.
    #[error("there is no configuration store in {0} yet; import a provisioning file first")]
    Missing(PathBuf),
    /// Another process has the store open.
    #[error(
        "the configuration store {0} is in use by another process; stop the appliance service first"
    )]
    InUse(PathBuf),
    /// sled could not open the store: damaged files or no permission.
    #[error("the configuration store {path} cannot be opened: {reason}")]
    Unreadable {
        /// The store's directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The directory holds something that is not this appliance's store.
    #[error("{0} is not an appliance configuration store")]
    Foreign(PathBuf),
    /// The key does not open the store.
    #[error(
        "the device key from {key_source} does not open the configuration store {path}: it is the wrong key, or the store belongs to another device"
    )]
    WrongKey {
        /// Where the key came from.
        key_source: KeySource,
        /// The store's directory.
        path: PathBuf,
    },
    /// A stored value failed authentication or could not be decoded.
    #[error(
        "the stored value of {name} {reason}; the store was altered or damaged: set {name} again, or reset the device"
    )]
    Damaged {
        /// The setting.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value could not be sealed.
    #[error("cannot seal {name}: {reason}")]
    Seal {
        /// The setting.
        name: String,
        /// Why.
        reason: SealError,
    },
    /// The file system holding the store has no room left: sled cannot open
    /// the store (it writes a snapshot of its log at open) or apply a change.
    #[error(
        "the file system holding the configuration store {0} is full: nothing was changed and no setting is lost; free space on it (on the box: the data partition)"
    )]
    Full(PathBuf),
    /// Writing failed.
    #[error("writing the configuration store {path} failed: {reason}")]
    Write {
        /// The store's directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Whether opening may create a new, empty store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Only an existing store; [`StoreError::Missing`] otherwise.
    Existing,
    /// Create the store if there is none.
    CreateIfMissing,
}

/// An open store. Holds an exclusive lock on it until dropped.
pub struct Store {
    db: sled::Db,
    key: DeviceKey,
    path: PathBuf,
    // Held for its lock: sled's own lock is not reported as a distinct error.
    _lock: fs::File,
}

impl std::fmt::Debug for Store {
    // sled's own Debug prints every entry; the path is all a log needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A change to one setting: a new value, or `None` to unset it.
pub type Change = (&'static Setting, Option<Value>);

impl Store {
    /// The store's directory inside `state_dir`.
    pub fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join(STORE_DIR)
    }

    /// Opens the store in `state_dir` with `key`, which came from `source`.
    pub fn open(
        state_dir: &Path,
        key: DeviceKey,
        source: &KeySource,
        mode: OpenMode,
    ) -> Result<Store, StoreError> {
        let path = Self::path_in(state_dir);
        let unreadable = |e: &dyn std::fmt::Display| StoreError::Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        };
        if !path.exists() || is_empty_dir(&path) {
            if mode == OpenMode::Existing {
                return Err(StoreError::Missing(path));
            }
            create(&path, &key).map_err(|e| unreadable(&e))?;
        } else if !path.is_dir() || !path.join(SLED_DB_FILE).is_file() {
            // Never let sled write its files into somebody else's directory.
            return Err(StoreError::Foreign(path));
        }
        let lock = lock_dir(&path)?;
        remove_unfinished_snapshots(&path).map_err(|e| unreadable(&e))?;
        let db = open_sled(&path).map_err(|e| {
            if is_full(&e) {
                StoreError::Full(path.clone())
            } else {
                unreadable(&e)
            }
        })?;
        let store = Store {
            db,
            key,
            path,
            _lock: lock,
        };
        store.check_key(source)?;
        Ok(store)
    }

    fn check_key(&self, source: &KeySource) -> Result<(), StoreError> {
        let check = self.db.get(KEY_CHECK).map_err(|e| self.unreadable(&e))?;
        match check {
            Some(sealed) => match seal::open(&self.key, KEY_CHECK, &sealed) {
                Ok(plain) if plain.as_slice() == KEY_CHECK_PLAINTEXT => Ok(()),
                Ok(_) | Err(SealError::Authentication) => Err(StoreError::WrongKey {
                    key_source: source.clone(),
                    path: self.path.clone(),
                }),
                Err(e) => Err(StoreError::Damaged {
                    name: KEY_CHECK.into(),
                    reason: e.to_string(),
                }),
            },
            None if self.db.is_empty() => Err(StoreError::Damaged {
                name: KEY_CHECK.into(),
                reason: "is missing, and so is every setting".into(),
            }),
            None => Err(StoreError::Foreign(self.path.clone())),
        }
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `setting`, `None` if unset.
    pub fn get(&self, setting: &Setting) -> Result<Option<Value>, StoreError> {
        let Some(sealed) = self.db.get(setting.name).map_err(|e| self.unreadable(&e))? else {
            return Ok(None);
        };
        let damaged = |reason: String| StoreError::Damaged {
            name: setting.name.into(),
            reason,
        };
        let plain =
            seal::open(&self.key, setting.name, &sealed).map_err(|e| damaged(e.to_string()))?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|_| damaged("cannot be decoded".into()))
    }

    /// Every setting with its value, in schema order; a damaged value is an
    /// error in its row only, so the rest can still be shown.
    pub fn list(&self) -> Vec<(&'static Setting, Result<Option<Value>, StoreError>)> {
        SETTINGS.iter().map(|s| (s, self.get(s))).collect()
    }

    /// The values of all set settings; fails on the first damaged one.
    pub fn values(&self) -> Result<BTreeMap<&'static str, Value>, StoreError> {
        let mut values = BTreeMap::new();
        for setting in SETTINGS {
            if let Some(v) = self.get(setting)? {
                values.insert(setting.name, v);
            }
        }
        Ok(values)
    }

    /// Sets one setting; durable when it returns.
    pub fn set(&mut self, setting: &'static Setting, value: Value) -> Result<(), StoreError> {
        self.apply(vec![(setting, Some(value))])
    }

    /// Applies several changes at once: after a crash the store holds either
    /// all of them or none. Durable when it returns.
    pub fn apply(&mut self, changes: Vec<Change>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (setting, value) in changes {
            match value {
                Some(value) => {
                    let plain = zeroize::Zeroizing::new(
                        serde_json::to_vec(&value).map_err(|e| self.write_error(&e))?,
                    );
                    let sealed = seal::seal(&self.key, setting.name, &plain).map_err(|reason| {
                        StoreError::Seal {
                            name: setting.name.into(),
                            reason,
                        }
                    })?;
                    batch.insert(setting.name, sealed);
                }
                None => batch.remove(setting.name),
            }
        }
        self.db
            .apply_batch(batch)
            .map_err(|e| self.sled_write_error(&e))?;
        self.db.flush().map_err(|e| self.sled_write_error(&e))?;
        Ok(())
    }

    fn unreadable(&self, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Unreadable {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn write_error(&self, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn sled_write_error(&self, e: &sled::Error) -> StoreError {
        if is_full(e) {
            StoreError::Full(self.path.clone())
        } else {
            self.write_error(e)
        }
    }

    /// Deletes the store in `state_dir`, refusing while another process has it
    /// open. Returns whether there was one.
    pub fn destroy(state_dir: &Path) -> Result<bool, StoreError> {
        let path = Self::path_in(state_dir);
        if !path.exists() {
            return Ok(false);
        }
        let lock = lock_dir(&path)?;
        fs::remove_dir_all(&path).map_err(|e| StoreError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        drop(lock);
        if let Some(parent) = path.parent() {
            // Make the removal itself durable; an error here changes nothing for the caller.
            let _ = fs::File::open(parent).and_then(|d| d.sync_all());
        }
        Ok(true)
    }
}

/// Opens sled. Our own lock on the directory is held, so no other process has
/// the store; sled's lock can still be busy for a moment after this process
/// closed the store, while sled's threads let go of its files. That shows as an
/// `Other` I/O error, retried for up to a second.
fn open_sled(path: &Path) -> sled::Result<sled::Db> {
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(1 << 20)
        // Every write is flushed before it returns, so sled's background
        // flusher is not needed.
        .flush_every_ms(None);
    let mut attempts = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if e.kind() == io::ErrorKind::Other && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Makes a new store at `path` holding only its key record. It is built beside
/// `path` and renamed into place, so a store at `path` always has its key
/// record: one without it is damaged and is never quietly replaced by an
/// empty one, and a power cut while it is built leaves no store at all.
fn create(path: &Path, key: &DeviceKey) -> Result<(), Box<dyn std::error::Error>> {
    let building = path.with_extension("db.new");
    if building.exists() {
        fs::remove_dir_all(&building)?;
    }
    if path.exists() {
        fs::remove_dir(path)?;
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&building)?;
    {
        let db = open_sled(&building)?;
        db.insert(KEY_CHECK, seal::seal(key, KEY_CHECK, KEY_CHECK_PLAINTEXT)?)?;
        db.flush()?;
    }
    fs::rename(&building, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Whether sled failed because the file system is full.
fn is_full(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == io::ErrorKind::StorageFull)
}

/// Removes the snapshots sled began and did not finish (`snap.*.generating`):
/// it writes a snapshot of its log under that name, syncs it and renames it,
/// so such a file is one cut short by a full disk or a power cut. sled 0.34
/// reads it as a snapshot all the same and then refuses the whole store as
/// corrupt (its issue 1527); the log itself, the `db` file, is intact. Only
/// called with the store's lock held, so no other process is writing one.
fn remove_unfinished_snapshots(path: &Path) -> io::Result<()> {
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

fn lock_dir(path: &Path) -> Result<fs::File, StoreError> {
    let dir = fs::File::open(path).map_err(|e| StoreError::Unreadable {
        path: path.into(),
        reason: e.to_string(),
    })?;
    match dir.try_lock() {
        Ok(()) => Ok(dir),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::InUse(path.into())),
        Err(fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => Ok(dir),
        Err(fs::TryLockError::Error(e)) => Err(StoreError::Unreadable {
            path: path.into(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::find;

    fn key(b: u8) -> (DeviceKey, KeySource) {
        (
            DeviceKey::from_bytes([b; 32]),
            KeySource::KeyFile(format!("key-{b}").into()),
        )
    }

    fn open(dir: &Path, b: u8, mode: OpenMode) -> Result<Store, StoreError> {
        let (k, s) = key(b);
        Store::open(dir, k, &s, mode)
    }

    #[test]
    fn set_get_unset_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            open(dir.path(), 1, OpenMode::Existing),
            Err(StoreError::Missing(_))
        ));
        let room = find("room.name").unwrap();
        {
            let mut store = open(dir.path(), 1, OpenMode::CreateIfMissing).unwrap();
            assert_eq!(store.get(room).unwrap(), None);
            store.set(room, Value::Text("Room 3".into())).unwrap();
        }
        let mut store = open(dir.path(), 1, OpenMode::Existing).unwrap();
        assert_eq!(store.get(room).unwrap(), Some(Value::Text("Room 3".into())));
        store.apply(vec![(room, None)]).unwrap();
        assert_eq!(store.get(room).unwrap(), None);
    }

    #[test]
    fn second_open_is_refused_while_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = open(dir.path(), 1, OpenMode::CreateIfMissing).unwrap();
        assert!(matches!(
            open(dir.path(), 1, OpenMode::Existing),
            Err(StoreError::InUse(_))
        ));
        assert!(matches!(
            Store::destroy(dir.path()),
            Err(StoreError::InUse(_))
        ));
    }

    #[test]
    fn wrong_key_names_its_source() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path(), 1, OpenMode::CreateIfMissing).unwrap());
        let err = open(dir.path(), 2, OpenMode::Existing).unwrap_err();
        assert!(err.to_string().contains("key-2"), "{err}");
        assert!(open(dir.path(), 1, OpenMode::Existing).is_ok());
    }

    #[test]
    fn a_snapshot_cut_short_loses_nothing() {
        // What a full disk or a power cut during sled's snapshot leaves: an
        // empty snap.*.generating, newer than the store's real snapshot.
        let dir = tempfile::tempdir().unwrap();
        let room = find("room.name").unwrap();
        {
            let mut store = open(dir.path(), 1, OpenMode::CreateIfMissing).unwrap();
            store.set(room, Value::Text("Room 3".into())).unwrap();
        }
        let store_dir = Store::path_in(dir.path());
        let unfinished = store_dir.join("snap.00000000FFFFFFF0.generating");
        fs::write(&unfinished, b"").unwrap();
        let store = open(dir.path(), 1, OpenMode::Existing).unwrap();
        assert_eq!(store.get(room).unwrap(), Some(Value::Text("Room 3".into())));
        assert!(!unfinished.exists());
    }

    #[test]
    fn someone_elses_directory_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store_dir = Store::path_in(dir.path());
        fs::create_dir(&store_dir).unwrap();
        fs::write(store_dir.join("notes.txt"), "mine").unwrap();
        assert!(matches!(
            open(dir.path(), 1, OpenMode::CreateIfMissing),
            Err(StoreError::Foreign(_))
        ));
        assert_eq!(fs::read_dir(&store_dir).unwrap().count(), 1);
    }

    #[test]
    fn destroy_removes_the_store() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path(), 1, OpenMode::CreateIfMissing).unwrap());
        assert!(Store::destroy(dir.path()).unwrap());
        assert!(!Store::path_in(dir.path()).exists());
        assert!(!Store::destroy(dir.path()).unwrap());
    }
}
