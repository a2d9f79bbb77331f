//! Sealing of single values: XChaCha20-Poly1305 under the device key, with the
//! entry's name bound in as associated data. Called only by the store; it
//! guarantees that a value opens only under the key and the name it was sealed with.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::key::DeviceKey;

/// The first byte of every sealed value. A later format (another cipher, or a
/// rotated key) gets a new number, so both can be read while a store is rekeyed.
pub const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Domain separation: a value sealed by this format under a name can never be
/// mistaken for anything else sealed with the same key.
const AAD_PREFIX: &[u8] = b"appliance-config/v1\0";

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The value is too short to be a sealed value.
    #[error("it is too short to be a sealed value ({0} bytes)")]
    Truncated(usize),
    /// The value was written by an unknown format.
    #[error("it has an unknown format version {0} (written by a newer release?)")]
    UnknownFormat(u8),
    /// Authentication failed: wrong key, wrong name, or changed bytes.
    #[error("it failed authentication (wrong key, moved, or altered)")]
    Authentication,
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

fn aad(name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + name.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// Seals `plaintext` as the value of entry `name`, with a fresh random nonce.
pub fn seal(key: &DeviceKey, name: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let aad = aad(name);
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        // Encryption fails only for messages larger than the cipher's limit
        // (256 GiB); settings are a few KiB at most.
        .map_err(|_| SealError::Authentication)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens a value sealed by [`seal`] for entry `name`; the plaintext is zeroized on drop.
pub fn open(key: &DeviceKey, name: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let Some((&version, rest)) = sealed.split_first() else {
        return Err(SealError::Truncated(0));
    };
    if version != FORMAT_V1 {
        return Err(SealError::UnknownFormat(version));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Truncated(sealed.len()));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let aad = aad(name);
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> DeviceKey {
        DeviceKey::from_bytes([byte; 32])
    }

    #[test]
    fn round_trip() {
        let sealed = seal(&key(1), "room.name", b"Room 3").unwrap();
        assert_eq!(sealed[0], FORMAT_V1);
        assert_eq!(&*open(&key(1), "room.name", &sealed).unwrap(), b"Room 3");
    }

    #[test]
    fn fresh_nonce_per_write() {
        let a = seal(&key(1), "room.name", b"Room 3").unwrap();
        let b = seal(&key(1), "room.name", b"Room 3").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_key_wrong_name_and_flipped_bits_fail() {
        let sealed = seal(&key(1), "room.name", b"Room 3").unwrap();
        assert_eq!(
            open(&key(2), "room.name", &sealed),
            Err(SealError::Authentication)
        );
        assert_eq!(
            open(&key(1), "ice.turn_shared_secret", &sealed),
            Err(SealError::Authentication)
        );
        for i in 1..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open(&key(1), "room.name", &bad),
                Err(SealError::Authentication),
                "flipped byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn short_and_unknown_values_are_errors_not_panics() {
        for len in 0..(1 + NONCE_LEN + TAG_LEN) {
            let mut v = vec![0u8; len];
            if let Some(first) = v.first_mut() {
                *first = FORMAT_V1;
            }
            assert!(open(&key(1), "x", &v).is_err());
        }
        let mut sealed = seal(&key(1), "x", b"").unwrap();
        sealed[0] = 2;
        assert_eq!(
            open(&key(1), "x", &sealed),
            Err(SealError::UnknownFormat(2))
        );
    }
}
