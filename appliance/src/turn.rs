//! TURN credentials in coturn's REST-API scheme (`use-auth-secret` with
//! `static-auth-secret`): minted per patient when they join, never stored.
//!
//! The user name is `<expiry, unix seconds>:<random id>` and the password
//! the base64 of HMAC-SHA1(shared secret, user name); the TURN server checks
//! both with the same secret and refuses an allocation after the expiry (a
//! running call is not cut off). The page gets them over its WebSocket only,
//! the box's own `webrtcbin` a set of its own for the same servers; neither
//! is logged (their `Debug` says only that they are there).

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::signalling::protocol::IceServer;

/// The clinic's TURN servers and the secret shared with them.
#[derive(Clone)]
pub struct Turn {
    /// `turn:` and `turns:` URLs, as the settings hold them.
    urls: Vec<String>,
    secret: Zeroizing<String>,
    /// How long each credential lasts.
    ttl: Duration,
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn")
            .field("urls", &self.urls)
            .field("secret", &"<set>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// One credential: a user name and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// `<expiry>:<random id>`.
    pub username: String,
    /// base64(HMAC-SHA1(secret, username)).
    pub password: Zeroizing<String>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(<minted>)")
    }
}

impl Turn {
    /// TURN on `urls` with `secret`; None without URLs or without a secret
    /// (the box then offers STUN only).
    pub fn new(
        urls: Vec<String>,
        secret: Option<Zeroizing<String>>,
        ttl: Duration,
    ) -> Option<Turn> {
        let secret = secret?;
        (!urls.is_empty()).then_some(Turn { urls, secret, ttl })
    }

    /// A fresh credential that expires `ttl` after `now` (unix seconds).
    pub fn mint(&self, now: u64) -> Credential {
        let mut id = [0u8; 9];
        // Without randomness the id is zeros: still a valid credential, only
        // less unique; the HMAC is what the server checks.
        let _ = getrandom::fill(&mut id);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let username = format!("{}:{id}", now + self.ttl.as_secs());
        let password = Zeroizing::new(password(&self.secret, &username));
        Credential { username, password }
    }

    /// The TURN servers for a patient's page, with a credential minted now.
    pub fn for_page(&self, now: u64) -> IceServer {
        let credential = self.mint(now);
        IceServer {
            urls: self.urls.clone(),
            username: Some(credential.username),
            credential: Some(credential.password.to_string()),
        }
    }

    /// The TURN servers for the box's own `webrtcbin` (its `add-turn-server`),
    /// with a credential minted now.
    pub fn for_webrtcbin(&self, now: u64) -> Vec<Zeroizing<String>> {
        let credential = self.mint(now);
        (self.urls.iter())
            .filter_map(|url| webrtcbin_uri(url, &credential))
            .collect()
    }
}

/// The ICE servers the settings name: STUN passed on as it is, TURN with
/// credentials minted for each use.
#[derive(Debug, Clone, Default)]
pub struct IceServers {
    /// `stun:` and `stuns:` URLs.
    pub stun_urls: Vec<String>,
    /// The TURN servers, if the clinic has any.
    pub turn: Option<Turn>,
}

impl IceServers {
    /// The servers for a patient's page, TURN with a credential minted `now`
    /// (unix seconds): the page gets them over its WebSocket as it joins.
    pub fn for_page(&self, now: u64) -> Vec<IceServer> {
        let stun = (!self.stun_urls.is_empty()).then(|| IceServer {
            urls: self.stun_urls.clone(),
            username: None,
            credential: None,
        });
        let turn = self.turn.as_ref().map(|t| t.for_page(now));
        stun.into_iter().chain(turn).collect()
    }

    /// The first STUN server as webrtcbin's `stun-server` takes it
    /// (`stun://host:port`).
    pub fn stun_for_webrtcbin(&self) -> Option<String> {
        (self.stun_urls.first())
            .and_then(|u| u.strip_prefix("stun:"))
            .map(|hostport| format!("stun://{}", hostport.trim_start_matches("//")))
    }
}

/// base64(HMAC-SHA1(secret, username)), coturn's REST-API password.
fn password(secret: &str, username: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(username.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// A settings URL (`turn:host:port?transport=tcp`, `turns:host:443`) as
/// webrtcbin takes it: `turn://user:password@host:port?transport=tcp`.
/// webrtcbin splits the user from the password at the first `:` and
/// percent-decodes each, so both are percent-encoded (the user name has a
/// `:`, the password base64's `+ / =`).
fn webrtcbin_uri(url: &str, credential: &Credential) -> Option<Zeroizing<String>> {
    let (scheme, rest) = url.split_once(':')?;
    if !matches!(scheme, "turn" | "turns") {
        return None;
    }
    let rest = rest.trim_start_matches("//");
    Some(Zeroizing::new(format!(
        "{scheme}://{}:{}@{rest}",
        percent_encode(&credential.username),
        percent_encode(&credential.password)
    )))
}

/// Every byte but the URI's unreserved characters, percent-encoded (TURN
/// URIs' credentials, an authenticator's enrolment URI).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(urls: &[&str]) -> Turn {
        Turn::new(
            urls.iter().map(|u| (*u).to_owned()).collect(),
            Some(Zeroizing::new("north-wing-turn-secret".into())),
            Duration::from_secs(7200),
        )
        .unwrap()
    }

    #[test]
    fn the_password_is_coturn_s_rest_api_hmac() {
        // openssl: printf %s '1700007200:abc' |
        //   openssl dgst -sha1 -hmac north-wing-turn-secret -binary | base64
        assert_eq!(
            password("north-wing-turn-secret", "1700007200:abc"),
            "8Dy42FBxim82JN5N++Z7Q7c6yOM="
        );
    }

    #[test]
    fn a_credential_expires_ttl_after_its_minting_and_each_is_new() {
        let turn = turn(&["turn:203.0.113.3:3478"]);
        let a = turn.mint(1_700_000_000);
        let b = turn.mint(1_700_000_000);
        let (expiry, id) = a.username.split_once(':').unwrap();
        assert_eq!(expiry, "1700007200");
        assert_eq!(id.len(), 18);
        assert_ne!(a.username, b.username, "a random id each time");
        assert_eq!(*a.password, password("north-wing-turn-secret", &a.username));
    }

    #[test]
    fn webrtcbin_gets_each_url_with_the_credential_percent_encoded() {
        let turn = turn(&[
            "turn:203.0.113.3:3478",
            "turn:203.0.113.3:3478?transport=tcp",
            "turns:turn.clinic.example:443",
            "stun:203.0.113.3:3478",
        ]);
        let uris = turn.for_webrtcbin(1_700_000_000);
        assert_eq!(uris.len(), 3, "stun: is not a TURN server");
        for uri in &uris {
            let (userinfo, _) = uri.split_once('@').unwrap();
            let (_, userinfo) = userinfo.split_once("://").unwrap();
            assert_eq!(userinfo.matches(':').count(), 1, "{uri:?}");
            assert!(!userinfo.contains(['+', '/', '=']), "{uri:?}");
        }
        assert!(uris[0].starts_with("turn://1700007200%3A"));
        assert!(uris[1].ends_with("@203.0.113.3:3478?transport=tcp"));
        assert!(uris[2].starts_with("turns://") && uris[2].ends_with("@turn.clinic.example:443"));
    }

    #[test]
    fn the_page_gets_the_urls_as_set_with_a_fresh_credential() {
        let turn = turn(&["turn:203.0.113.3:3478", "turns:turn.clinic.example:443"]);
        let server = turn.for_page(1_700_000_000);
        assert_eq!(server.urls, turn.urls);
        let username = server.username.unwrap();
        assert!(username.starts_with("1700007200:"));
        assert_eq!(
            server.credential.unwrap(),
            password("north-wing-turn-secret", &username)
        );
    }

    #[test]
    fn nothing_of_a_secret_or_a_credential_shows_in_debug() {
        let turn = turn(&["turn:203.0.113.3:3478"]);
        let credential = turn.mint(1);
        let shown = format!("{turn:?} {credential:?}");
        assert!(!shown.contains("north-wing"), "{shown}");
        assert!(!shown.contains(&credential.username), "{shown}");
        assert!(!shown.contains(credential.password.as_str()), "{shown}");
    }

    #[test]
    fn a_page_gets_stun_as_set_and_turn_with_a_credential() {
        let ice = IceServers {
            stun_urls: vec!["stun:203.0.113.3:3478".into()],
            turn: Some(turn(&["turn:203.0.113.3:3478"])),
        };
        let servers = ice.for_page(1_700_000_000);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].urls, ["stun:203.0.113.3:3478"]);
        assert!(servers[0].credential.is_none());
        assert!(servers[1].credential.is_some());
        assert_eq!(
            ice.stun_for_webrtcbin().as_deref(),
            Some("stun://203.0.113.3:3478")
        );
        assert!(IceServers::default().for_page(0).is_empty());
    }

    #[test]
    fn no_turn_without_urls_or_a_secret() {
        let secret = Some(Zeroizing::new("north-wing-turn-secret".into()));
        let ttl = Duration::from_secs(60);
        assert!(Turn::new(Vec::new(), secret, ttl).is_none());
        assert!(Turn::new(vec!["turn:192.0.2.1".into()], None, ttl).is_none());
    }
}
