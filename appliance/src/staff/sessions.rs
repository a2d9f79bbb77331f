//! Logged-in front-desk sessions: in memory only, gone at logout, after 15
//! minutes without a request, or when the daemon stops. The cookie holds a
//! random 256-bit id; the box keeps only its SHA-256, with the account's
//! name and the session's CSRF token.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// Sessions held at once; past it the least recently used goes.
const MOST: usize = 32;

/// One logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account's name.
    pub name: String,
    /// The token every form of the session carries.
    pub csrf: Zeroizing<String>,
    seen: Instant,
}

impl Session {
    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes()))
    }
}

/// The sessions, by the hash of their cookie.
#[derive(Debug, Default)]
pub struct Sessions(HashMap<[u8; 32], Session>);

/// A random token of 256 bits, URL-safe base64.
pub fn random_token() -> Option<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice()).ok()?;
    Some(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice())))
}

fn key(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

impl Sessions {
    /// Opens a session for `name`; gives the cookie's value.
    pub fn open(&mut self, name: &str, now: Instant) -> Option<Zeroizing<String>> {
        self.0.retain(|_, s| now.duration_since(s.seen) < IDLE);
        if self.0.len() >= MOST
            && let Some(oldest) = (self.0.iter()).min_by_key(|(_, s)| s.seen).map(|(k, _)| *k)
        {
            self.0.remove(&oldest);
        }
        let cookie = random_token()?;
        let session = Session {
            name: name.to_owned(),
            csrf: random_token()?,
            seen: now,
        };
        self.0.insert(key(&cookie), session);
        Some(cookie)
    }

    /// The session whose cookie is `cookie`, if it is still open; counts
    /// as a request (the idle time starts again) when `used`. The page's
    /// own refresh of the room's state is not a use: a desk left open ends
    /// its session like any other.
    pub fn get(&mut self, cookie: &str, now: Instant, used: bool) -> Option<Session> {
        let key = key(cookie);
        let session = self.0.get_mut(&key)?;
        if now.duration_since(session.seen) >= IDLE {
            self.0.remove(&key);
            return None;
        }
        if used {
            session.seen = now;
        }
        Some(session.clone())
    }

    /// Ends the session whose cookie is `cookie`.
    pub fn close(&mut self, cookie: &str) {
        self.0.remove(&key(cookie));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lasts_while_used_and_ends_after_15_idle_minutes_or_at_logout() {
        let mut sessions = Sessions::default();
        let t0 = Instant::now();
        let cookie = sessions.open("desk", t0).unwrap();
        let minute = Duration::from_secs(60);
        let session = sessions.get(&cookie, t0 + 14 * minute, true).unwrap();
        assert_eq!(session.name, "desk");
        assert!(session.csrf_matches(&session.csrf) && !session.csrf_matches("guess"));
        let later = sessions.get(&cookie, t0 + 28 * minute, false);
        assert!(later.is_some(), "used, so kept");
        let refreshed = sessions.get(&cookie, t0 + 29 * minute, false);
        assert!(
            refreshed.is_none(),
            "a refresh is not a use: 15 idle minutes"
        );

        let cookie = sessions.open("desk", t0).unwrap();
        sessions.close(&cookie);
        assert!(sessions.get(&cookie, t0, true).is_none(), "logged out");
        assert!(sessions.get("made-up", t0, true).is_none());
    }

    #[test]
    fn a_flood_of_logins_keeps_a_bounded_number_of_sessions() {
        let mut sessions = Sessions::default();
        let t0 = Instant::now();
        let first = sessions.open("desk", t0).unwrap();
        for i in 1..100u64 {
            sessions.open("desk", t0 + Duration::from_millis(i));
        }
        assert_eq!(sessions.0.len(), MOST);
        assert!(
            sessions.get(&first, t0, true).is_none(),
            "the oldest went first"
        );
    }
}
