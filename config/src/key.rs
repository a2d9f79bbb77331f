//! The device key: where it comes from, and how it is kept in memory.
//! Called by the CLI and the daemon before opening the store; guarantees that key
//! material is zeroized on drop and never shown by `Debug`.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, Zeroizing};

/// The key length: 256 bits.
pub const KEY_LEN: usize = 32;
/// The name of the systemd credential that carries the key (`LoadCredentialEncrypted=`).
pub const CREDENTIAL_NAME: &str = "config.key";
/// The development key file's name inside the state directory.
pub const DEV_KEY_FILE: &str = "device.key";

/// A 256-bit device key. Zeroized on drop; `Debug` shows no key material.
#[derive(Clone, Zeroize, zeroize::ZeroizeOnDrop)]
pub struct DeviceKey([u8; KEY_LEN]);

impl DeviceKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parses a key file's contents: 32 raw bytes, or 64 hexadecimal digits
    /// (surrounding white space allowed), as `openssl rand -hex 32` writes them.
    fn parse(contents: &[u8], source: &KeySource) -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        if contents.len() == KEY_LEN {
            bytes.copy_from_slice(contents);
            return Ok(Self(bytes));
        }
        let text = contents.trim_ascii();
        if text.len() == 2 * KEY_LEN && text.iter().all(u8::is_ascii_hexdigit) {
            for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
                *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
            }
            return Ok(Self(bytes));
        }
        Err(KeyError::WrongLength {
            key_source: source.clone(),
            len: contents.len(),
        })
    }
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceKey(<redacted>)")
    }
}

/// Where the device key came from; every key error names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The systemd credential `config.key` in `$CREDENTIALS_DIRECTORY`.
    Credential(PathBuf),
    /// A key file named with `--key-file`.
    KeyFile(PathBuf),
    /// The development key file in the state directory.
    DevKeyFile(PathBuf),
}

impl KeySource {
    /// True for the development key file, which is not for production.
    pub fn is_development(&self) -> bool {
        matches!(self, KeySource::DevKeyFile(_))
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Credential(p) => {
                write!(
                    f,
                    "the systemd credential {CREDENTIAL_NAME} ({})",
                    p.display()
                )
            }
            KeySource::KeyFile(p) => write!(f, "the key file {} (--key-file)", p.display()),
            KeySource::DevKeyFile(p) => {
                write!(f, "the development key file {}", p.display())
            }
        }
    }
}

/// Why no device key could be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key could not be read from where it was looked for.
    #[error("cannot read the device key from {key_source}: {error}")]
    Unreadable {
        /// Where the key was looked for.
        key_source: KeySource,
        /// What the operating system said.
        error: io::Error,
    },
    /// The key has the wrong length.
    #[error(
        "the device key from {key_source} is {len} bytes; it must be 32 raw bytes or 64 hexadecimal digits"
    )]
    WrongLength {
        /// Where the key came from.
        key_source: KeySource,
        /// How long it was.
        len: usize,
    },
    /// No key anywhere, and a development key may not be made here.
    #[error(
        "no device key: the systemd credential {CREDENTIAL_NAME} is missing and no --key-file was given"
    )]
    Missing,
    /// The development key file could not be created.
    #[error("cannot create the development key file {path}: {error}")]
    CreateFailed {
        /// The file that was to be created.
        path: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// How to find the device key.
#[derive(Debug, Clone, Default)]
pub struct KeyLookup {
    /// `$CREDENTIALS_DIRECTORY`, where systemd puts the service's credentials.
    pub credentials_directory: Option<PathBuf>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// The state directory, for the development key file; `None` where a
    /// development key is not allowed (a service under systemd).
    pub dev_state_dir: Option<PathBuf>,
}

impl KeyLookup {
    /// Where the key would come from, without reading or creating anything.
    /// `None` when there is no key anywhere and none may be created.
    pub fn source(&self) -> Option<KeySource> {
        if let Some(dir) = &self.credentials_directory {
            let path = dir.join(CREDENTIAL_NAME);
            if path.exists() {
                return Some(KeySource::Credential(path));
            }
        }
        if let Some(path) = &self.key_file {
            return Some(KeySource::KeyFile(path.clone()));
        }
        self.dev_state_dir
            .as_ref()
            .map(|dir| KeySource::DevKeyFile(dir.join(DEV_KEY_FILE)))
    }

    /// Finds the key, first found wins: the systemd credential, `--key-file`,
    /// then the development key file, created (mode 0600) if `create_dev_key`
    /// and it does not exist yet.
    pub fn load(&self, create_dev_key: bool) -> Result<(DeviceKey, KeySource), KeyError> {
        let source = self.source().ok_or(KeyError::Missing)?;
        let path = match &source {
            KeySource::Credential(p) | KeySource::KeyFile(p) | KeySource::DevKeyFile(p) => p,
        };
        if let KeySource::DevKeyFile(p) = &source
            && create_dev_key
            && !p.exists()
        {
            let key = DeviceKey::generate()?;
            create_key_file(p, &key).map_err(|error| KeyError::CreateFailed {
                path: p.clone(),
                error,
            })?;
            return Ok((key, source));
        }
        let key = read_key_file(path, &source)?;
        Ok((key, source))
    }
}

fn read_key_file(path: &Path, source: &KeySource) -> Result<DeviceKey, KeyError> {
    let unreadable = |error| KeyError::Unreadable {
        key_source: source.clone(),
        error,
    };
    let file = fs::File::open(path).map_err(unreadable)?;
    // A key file is tiny; refuse to read a large file that is surely not one.
    let mut contents = Zeroizing::new(Vec::with_capacity(128));
    file.take(4096)
        .read_to_end(&mut contents)
        .map_err(unreadable)?;
    DeviceKey::parse(&contents, source)
}

fn create_key_file(path: &Path, key: &DeviceKey) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // The umask cannot widen 0600, but an inherited ACL could: set it exactly.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(key.bytes())?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Overwrites the development key file with zeros, syncs and removes it: the
/// crypto-erase half of a factory reset. A missing file is not an error.
pub fn destroy_key_file(path: &Path) -> io::Result<()> {
    let mut file = match fs::OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = usize::try_from(file.metadata()?.len())
        .unwrap_or(4096)
        .min(4096);
    file.write_all(&vec![0u8; len])?;
    file.sync_all()?;
    drop(file);
    fs::remove_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_key_material() {
        let key = DeviceKey::from_bytes([0xab; KEY_LEN]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }

    #[test]
    fn parses_raw_and_hex_and_rejects_other_lengths() {
        let src = KeySource::KeyFile("k".into());
        assert_eq!(DeviceKey::parse(&[7u8; 32], &src).unwrap().0, [7u8; 32]);
        let hex = format!("{}\n", "0A".repeat(32));
        assert_eq!(
            DeviceKey::parse(hex.as_bytes(), &src).unwrap().0,
            [10u8; 32]
        );
        for bad in [&b""[..], &[1u8; 16], &[1u8; 33], "zz".repeat(32).as_bytes()] {
            assert!(matches!(
                DeviceKey::parse(bad, &src),
                Err(KeyError::WrongLength { .. })
            ));
        }
    }

    #[test]
    fn first_found_wins_and_dev_key_is_created_0600_once() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        fs::create_dir(&creds).unwrap();
        let state = dir.path().join("state");
        let mut lookup = KeyLookup {
            credentials_directory: Some(creds.clone()),
            key_file: None,
            dev_state_dir: Some(state.clone()),
        };
        assert!(matches!(
            lookup.load(false),
            Err(KeyError::Unreadable { .. })
        ));
        let (k1, src) = lookup.load(true).unwrap();
        assert!(src.is_development());
        let mode = fs::metadata(state.join(DEV_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (k2, _) = lookup.load(true).unwrap();
        assert_eq!(
            k1.0, k2.0,
            "the development key must be stable across starts"
        );

        let key_file = dir.path().join("given.key");
        fs::write(&key_file, [9u8; 32]).unwrap();
        lookup.key_file = Some(key_file.clone());
        assert_eq!(lookup.load(true).unwrap().1, KeySource::KeyFile(key_file));

        fs::write(creds.join(CREDENTIAL_NAME), [5u8; 32]).unwrap();
        let (k, src) = lookup.load(true).unwrap();
        assert_eq!(k.0, [5u8; 32]);
        assert!(matches!(src, KeySource::Credential(_)));

        let none = KeyLookup::default();
        assert!(matches!(none.load(true), Err(KeyError::Missing)));
    }

    #[test]
    fn destroy_removes_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEV_KEY_FILE);
        fs::write(&path, [1u8; 32]).unwrap();
        destroy_key_file(&path).unwrap();
        assert!(!path.exists());
        destroy_key_file(&path).unwrap();
    }
}
