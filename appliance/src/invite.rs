//! One-time patient links (only a patient with a link the box made gets in,
//! once): HMAC-signed, expiring tokens. Nothing is
//! stored per invite: a token carries its own expiry and a random nonce, and the
//! nonces of redeemed tokens are remembered in memory only, until they expire.
//! Called by the control socket (`appliance invite`) and signalling (a join).

use std::collections::HashMap;
use std::time::Duration;

/// Unix time now, in seconds: what links and TURN credentials count in.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// A link valid until its expiry: `version, expires, nonce`. Still
/// accepted; every link is made as [`WINDOW`] now.
const EXPIRY_ONLY: u8 = 1;
/// A link with its appointment's window: `version, not before, expires,
/// nonce`.
const WINDOW: u8 = 2;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 32;
/// The longest token accepted for decoding; anything longer is refused unread.
const MAX_TOKEN_CHARS: usize = 128;
/// Domain separation from anything else the key might ever sign.
const CONTEXT: &[u8] = b"appliance-invite-v1";

/// The longest an invite may be valid.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why a token was refused. The patient sees only "this link is not valid";
/// the reason is for the log, which never shows the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Not a token at all.
    #[error("malformed token")]
    Malformed,
    /// Not signed by this room's key.
    #[error("bad signature")]
    BadSignature,
    /// Past its expiry.
    #[error("expired token")]
    Expired,
    /// Before its appointment's window opens (less the early minutes).
    #[error("a link used before its appointment")]
    Early,
    /// Already used.
    #[error("token already used")]
    Used,
}

/// When a link admits: from `not_before` (less the early minutes) until
/// `expires`, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The appointment's start.
    pub not_before: u64,
    /// The end of the link's validity.
    pub expires: u64,
}

/// Issues and redeems invites with the room's signing key.
pub struct Invites {
    key: Zeroizing<Vec<u8>>,
    /// How long before its window a link admits, seconds.
    early: u64,
    /// Nonces of redeemed tokens, with their expiry (Unix seconds).
    used: HashMap<[u8; NONCE_LEN], u64>,
}

impl std::fmt::Debug for Invites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invites")
            .field("used", &self.used.len())
            .finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

impl Invites {
    /// Invites signed with `key` (at least 32 bytes), admitting 15 minutes
    /// before their window.
    pub fn new(key: Zeroizing<Vec<u8>>) -> Self {
        Invites {
            key,
            early: 15 * 60,
            used: HashMap::new(),
        }
    }

    /// The same, admitting `early` before a link's window.
    pub fn early(self, early: Duration) -> Self {
        Invites {
            early: early.as_secs(),
            ..self
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; new_from_slice cannot fail for it.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(CONTEXT);
        mac
    }

    /// A new token valid from `now` (Unix seconds) for `ttl`, capped at [`MAX_TTL`].
    pub fn issue(&self, now: u64, ttl: Duration) -> Result<String, getrandom::Error> {
        let expires = now.saturating_add(ttl.min(MAX_TTL).as_secs());
        self.issue_for(Window {
            not_before: now,
            expires,
        })
    }

    /// A new token for `window`; the caller keeps it within [`MAX_TTL`].
    pub fn issue_for(&self, window: Window) -> Result<String, getrandom::Error> {
        let mut payload = Vec::with_capacity(1 + 16 + NONCE_LEN + TAG_LEN);
        payload.push(WINDOW);
        payload.extend_from_slice(&window.not_before.to_be_bytes());
        payload.extend_from_slice(&window.expires.to_be_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)?;
        payload.extend_from_slice(&nonce);
        let mut mac = self.mac();
        mac.update(&payload);
        payload.extend_from_slice(&mac.finalize().into_bytes());
        Ok(URL_SAFE_NO_PAD.encode(payload))
    }

    /// Reads a token this room signed: its window and its nonce. Nothing
    /// is marked used.
    pub fn read(&self, token: &str) -> Result<(Window, [u8; NONCE_LEN]), Denied> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(Denied::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| Denied::Malformed)?;
        let times = match bytes.first() {
            Some(&EXPIRY_ONLY) => 1,
            Some(&WINDOW) => 2,
            _ => return Err(Denied::Malformed),
        };
        let payload_len = 1 + 8 * times + NONCE_LEN;
        if bytes.len() != payload_len + TAG_LEN {
            return Err(Denied::Malformed);
        }
        let (payload, tag) = bytes.split_at(payload_len);
        let mut mac = self.mac();
        mac.update(payload);
        // verify_slice compares in constant time.
        mac.verify_slice(tag).map_err(|_| Denied::BadSignature)?;
        let time = |n: usize| {
            let mut t = [0u8; 8];
            t.copy_from_slice(&payload[1 + 8 * n..9 + 8 * n]);
            u64::from_be_bytes(t)
        };
        let window = match times {
            1 => Window {
                not_before: 0,
                expires: time(0),
            },
            _ => Window {
                not_before: time(0),
                expires: time(1),
            },
        };
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&payload[payload_len - NONCE_LEN..]);
        Ok((window, nonce))
    }

    /// What a token would do now, without using it: its window, or why it
    /// admits no one (forged, expired, already used). A window still ahead
    /// is no refusal here; see [`Self::opens`].
    pub fn peek(&self, token: &str, now: u64) -> Result<Window, Denied> {
        let (window, nonce) = self.read(token)?;
        if now >= window.expires {
            return Err(Denied::Expired);
        }
        if self.used.get(&nonce).is_some_and(|&expires| expires > now) {
            return Err(Denied::Used);
        }
        Ok(window)
    }

    /// How many minutes before its start a link admits.
    pub fn early_minutes(&self) -> u64 {
        self.early / 60
    }

    /// When a link with `window` first admits: its early minutes before it.
    pub fn opens(&self, window: &Window) -> u64 {
        window.not_before.saturating_sub(self.early)
    }

    /// Checks a token and, if it is good, marks it used: it admits once,
    /// within its window (opened the early minutes before it).
    pub fn redeem(&mut self, token: &str, now: u64) -> Result<(), Denied> {
        let (window, nonce) = self.read(token)?;
        if now >= window.expires {
            return Err(Denied::Expired);
        }
        if now.saturating_add(self.early) < window.not_before {
            return Err(Denied::Early);
        }
        self.used.retain(|_, exp| *exp > now);
        if self.used.insert(nonce, window.expires).is_some() {
            return Err(Denied::Used);
        }
        Ok(())
    }
}

/// Parses a duration such as `90s`, `30m`, `2h` or `7d`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30m, 2h or 7d"))?;
    let seconds = match unit {
        "s" => n,
        "m" | "" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("{text:?} has an unknown unit; use s, m, h or d")),
    };
    let ttl = Duration::from_secs(seconds);
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(format!("{text:?} must be more than 0 and at most 30 days"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invites(byte: u8) -> Invites {
        Invites::new(Zeroizing::new(vec![byte; 32]))
    }

    #[test]
    fn a_token_admits_once() {
        let mut inv = invites(1);
        let token = inv.issue(1000, Duration::from_secs(60)).unwrap();
        assert!(token.len() >= 22, "at least 128 bits");
        assert_eq!(inv.redeem(&token, 1001), Ok(()));
        assert_eq!(inv.redeem(&token, 1002), Err(Denied::Used));
    }

    #[test]
    fn tokens_expire() {
        let mut inv = invites(1);
        let token = inv.issue(1000, Duration::from_secs(60)).unwrap();
        assert_eq!(inv.redeem(&token, 1060), Err(Denied::Expired));
    }

    #[test]
    fn other_keys_and_altered_tokens_are_refused() {
        let mut inv = invites(1);
        let token = invites(2).issue(1000, Duration::from_secs(60)).unwrap();
        assert_eq!(inv.redeem(&token, 1001), Err(Denied::BadSignature));
        let good = inv.issue(1000, Duration::from_secs(60)).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
        bytes[11] ^= 1; // a later expiry
        assert_eq!(
            inv.redeem(&URL_SAFE_NO_PAD.encode(&bytes), 1001),
            Err(Denied::BadSignature)
        );
        for garbage in ["", "x", "!!!!", &"A".repeat(76), &"A".repeat(5000)] {
            assert_eq!(
                inv.redeem(garbage, 1001),
                Err(Denied::Malformed),
                "{garbage:.10}"
            );
        }
        assert_eq!(
            inv.redeem(&good, 1001),
            Ok(()),
            "refusals do not use up good tokens"
        );
    }

    #[test]
    fn ttl_is_capped_and_parsed() {
        let inv = invites(1);
        let token = inv.issue(0, Duration::from_secs(u64::MAX)).unwrap();
        let (window, _) = inv.read(&token).unwrap();
        assert_eq!(window.expires, MAX_TTL.as_secs());
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_ttl("31d").is_err());
        assert!(parse_ttl("0m").is_err());
        assert!(parse_ttl("soon").is_err());
        assert!(parse_ttl("5y").is_err());
    }

    #[test]
    fn a_window_admits_from_its_early_minutes_until_it_expires() {
        let mut inv = invites(1).early(Duration::from_secs(600));
        let window = Window {
            not_before: 10_000,
            expires: 13_600,
        };
        let token = inv.issue_for(window).unwrap();
        assert_eq!(inv.read(&token).unwrap().0, window);
        assert_eq!(inv.redeem(&token, 9_399), Err(Denied::Early));
        assert_eq!(inv.redeem(&token, 13_600), Err(Denied::Expired));
        assert_eq!(inv.redeem(&token, 9_400), Ok(()));
        assert_eq!(inv.redeem(&token, 9_401), Err(Denied::Used));
    }

    #[test]
    fn a_peek_tells_what_a_link_would_do_and_uses_nothing() {
        let mut inv = invites(1).early(Duration::from_secs(600));
        let window = Window {
            not_before: 10_000,
            expires: 13_600,
        };
        let token = inv.issue_for(window).unwrap();
        assert_eq!(inv.peek(&token, 5_000), Ok(window));
        assert_eq!(inv.opens(&window), 9_400);
        assert_eq!(inv.peek(&token, 9_500), Ok(window));
        inv.redeem(&token, 9_500).unwrap();
        assert_eq!(inv.peek(&token, 9_501), Err(Denied::Used));
        assert_eq!(inv.peek(&token, 13_600), Err(Denied::Expired));
        assert_eq!(inv.peek("forged", 9_501), Err(Denied::Malformed));
    }

    #[test]
    fn links_made_before_windows_still_admit() {
        // Version 1: version, expiry, nonce, then the tag.
        let inv = invites(1);
        let mut payload = vec![EXPIRY_ONLY];
        payload.extend_from_slice(&2_000u64.to_be_bytes());
        payload.extend_from_slice(&[7; NONCE_LEN]);
        let mut mac = inv.mac();
        mac.update(&payload);
        payload.extend_from_slice(&mac.finalize().into_bytes());
        let token = URL_SAFE_NO_PAD.encode(&payload);
        let mut inv = inv;
        assert_eq!(inv.redeem(&token, 1_000), Ok(()));
        assert_eq!(inv.read(&token).unwrap().0.expires, 2_000);
    }

    #[test]
    fn used_nonces_are_forgotten_once_expired() {
        let mut inv = invites(1);
        for i in 0..10 {
            let t = inv.issue(1000 + i, Duration::from_secs(10)).unwrap();
            inv.redeem(&t, 1000 + i).unwrap();
        }
        let t = inv.issue(5000, Duration::from_secs(10)).unwrap();
        inv.redeem(&t, 5000).unwrap();
        assert_eq!(inv.used.len(), 1);
    }
}
