//! The resume secret: given to a patient's page at admission, so that the
//! same patient can come back to the same session after a reload or a lost
//! connection, with no new link. The page keeps it in its `sessionStorage`;
//! the box keeps only its SHA-256, in memory, for as long as the session
//! knows the patient. It is never logged.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// What the box keeps of a resume secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResumeHash([u8; 32]);

impl std::fmt::Debug for ResumeHash {
    /// Nothing of it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeHash(..)")
    }
}

/// The secret's length in characters: 32 random bytes, base64url.
const SECRET_CHARS: usize = 43;

/// A new secret for the page, and what the box keeps of it.
pub fn new_secret() -> Result<(Zeroizing<String>, ResumeHash), getrandom::Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut bytes[..])?;
    let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(&bytes[..]));
    let hash = hash(&secret).ok_or(getrandom::Error::UNSUPPORTED)?;
    Ok((secret, hash))
}

/// What the box keeps of a secret a page presents; None for one that
/// cannot be a secret the box gave.
pub fn hash(secret: &str) -> Option<ResumeHash> {
    let decoded = Zeroizing::new(URL_SAFE_NO_PAD.decode(secret).ok()?);
    if secret.len() != SECRET_CHARS || decoded.len() != 32 {
        return None;
    }
    Some(ResumeHash(Sha256::digest(&decoded[..]).into()))
}

impl ResumeHash {
    /// Equal, in time that does not depend on where they differ.
    pub fn matches(&self, other: &ResumeHash) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_its_own_hash_only() {
        let (secret, kept) = new_secret().unwrap();
        assert_eq!(secret.len(), SECRET_CHARS);
        assert!(hash(&secret).unwrap().matches(&kept));
        let (other, _) = new_secret().unwrap();
        assert!(!hash(&other).unwrap().matches(&kept));
        // Forged, of the same length; cut; padded; not base64.
        let forged = "A".repeat(SECRET_CHARS);
        assert!(!hash(&forged).unwrap().matches(&kept));
        assert!(hash(&secret[..42]).is_none());
        assert!(hash(&format!("{}=", &*secret)).is_none());
        assert!(hash(&"!".repeat(SECRET_CHARS)).is_none());
        assert!(hash("").is_none());
        assert_eq!(format!("{kept:?}"), "ResumeHash(..)");
    }
}
