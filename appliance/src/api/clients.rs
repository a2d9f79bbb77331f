//! The clinic's systems that may make links (`api.clients`): each a name
//! and the SHA-256 of its bearer token. The token itself is shown once, when
//! `appliance api-client add` makes it, and kept nowhere on the box.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The random bytes in a token: 256 bits.
const TOKEN_BYTES: usize = 32;

/// The systems allowed to make links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiClients(Vec<(String, [u8; 32])>);

impl ApiClients {
    /// From the setting's `NAME:HASH` items (validated by the schema; any
    /// other item is left out).
    pub fn from_setting(items: &[String]) -> Self {
        let parse = |item: &String| {
            let (name, hex) = item.split_once(':')?;
            let mut hash = [0u8; 32];
            for (byte, pair) in hash.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
                *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
            }
            (hex.len() == 64).then(|| (name.to_owned(), hash))
        };
        ApiClients(items.iter().filter_map(parse).collect())
    }

    /// The setting's items.
    pub fn to_setting(&self) -> Vec<String> {
        (self.0.iter())
            .map(|(name, hash)| {
                let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                format!("{name}:{hex}")
            })
            .collect()
    }

    /// The clients' names, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }

    /// Adds a client called `name` with a new token, and gives the token.
    pub fn add(&mut self, name: &str) -> Result<Zeroizing<String>, String> {
        if !appliance_config::schema::valid_client_name(name) {
            return Err(format!(
                "{name:?} is not a client name: 1 to 64 letters, digits, '.', '_' or '-'"
            ));
        }
        if self.names().any(|n| n == name) {
            return Err(format!(
                "there is already a client called {name}; remove it first to give it a new token"
            ));
        }
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| format!("no randomness: {e}"))?;
        let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice()));
        self.0.push((name.to_owned(), hash(&token)));
        Ok(token)
    }

    /// Removes the client called `name`; false when there is none.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|(n, _)| n != name);
        self.0.len() != before
    }

    /// The client whose token `token` is, if any. Every client's hash is
    /// compared, each in constant time.
    pub fn who(&self, token: &str) -> Option<&str> {
        let presented = hash(token);
        let mut found = None;
        for (name, hash) in &self.0 {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_known_by_its_token_until_removed() {
        let mut clients = ApiClients::default();
        let ehr = clients.add("ehr").unwrap();
        let desk = clients.add("front-desk").unwrap();
        assert!(ehr.len() >= 43, "at least 256 bits: {}", ehr.len());
        assert_ne!(*ehr, *desk);
        assert_eq!(clients.who(&ehr), Some("ehr"));
        assert_eq!(clients.who(&desk), Some("front-desk"));
        assert_eq!(clients.who("not a token"), None);
        assert_eq!(clients.who(""), None);
        // What the store keeps names no token.
        let kept = clients.to_setting();
        assert!(kept.iter().all(|item| !item.contains(ehr.as_str())));
        let again = ApiClients::from_setting(&kept);
        assert_eq!(again, clients);
        assert!(clients.remove("ehr"));
        assert!(!clients.remove("ehr"));
        assert_eq!(clients.who(&ehr), None);
        assert_eq!(clients.who(&desk), Some("front-desk"));
    }

    #[test]
    fn names_are_checked_and_unique() {
        let mut clients = ApiClients::default();
        assert!(clients.add("").is_err());
        assert!(clients.add("the ehr").is_err());
        assert!(clients.add(&"x".repeat(65)).is_err());
        clients.add("ehr").unwrap();
        assert!(clients.add("ehr").is_err());
        assert_eq!(clients.names().collect::<Vec<_>>(), ["ehr"]);
    }

    #[test]
    fn the_store_s_items_round_trip_and_bad_ones_are_left_out() {
        let hex = "0f".repeat(32);
        let clients = ApiClients::from_setting(&[
            format!("ehr:{hex}"),
            "broken".into(),
            "short:abcd".into(),
            format!("odd:{}", "zz".repeat(32)),
        ]);
        assert_eq!(clients.names().collect::<Vec<_>>(), ["ehr"]);
        assert_eq!(clients.to_setting(), [format!("ehr:{hex}")]);
    }
}
