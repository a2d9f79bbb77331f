//! The front desk's accounts (`staff.accounts`): each a name, the
//! password's Argon2id hash (PHC form) and the TOTP secret of the
//! authenticator app it was enrolled in (RFC 6238: SHA-1, 6 digits, 30 s).
//! Configuration, sealed in the store like every setting. The password is
//! kept nowhere; the TOTP secret must be kept, as the box computes the
//! codes it compares.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use subtle::ConstantTimeEq;
use totp_rs::{Secret, TOTP};
use zeroize::Zeroizing;

/// The shortest password taken.
pub const MIN_PASSWORD: usize = 12;
/// The longest: more only costs the hash time.
pub const MAX_PASSWORD: usize = 128;
/// The TOTP secret's bytes: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// A code's step, seconds.
pub const STEP: u64 = 30;

/// One account.
#[derive(Clone, PartialEq, Eq)]
struct Account {
    name: String,
    /// The password's Argon2id hash, PHC form.
    password: String,
    /// The TOTP secret, base32.
    secret: Zeroizing<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("name", &self.name).finish()
    }
}

/// The front desk's accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffAccounts(Vec<Account>);

/// What a new account or a new authenticator needs: the `otpauth://` URI
/// an authenticator app takes (as a QR code or typed), and the secret alone
/// for apps that want it typed.
#[derive(Debug)]
pub struct Enrolment {
    pub uri: Zeroizing<String>,
    pub secret: Zeroizing<String>,
}

/// The hasher: Argon2id with the RustCrypto defaults (19 MiB, 2 passes),
/// OWASP's first recommended setting.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

impl StaffAccounts {
    /// From the setting's `NAME:HASH:SECRET` lines (validated by the schema;
    /// any other line is left out).
    pub fn from_setting(items: &[String]) -> Self {
        let parse = |item: &String| {
            let mut parts = item.splitn(3, ':');
            let (name, password, secret) = (parts.next()?, parts.next()?, parts.next()?);
            Some(Account {
                name: name.to_owned(),
                password: password.to_owned(),
                secret: Zeroizing::new(secret.to_owned()),
            })
        };
        StaffAccounts(items.iter().filter_map(parse).collect())
    }

    /// The setting's lines.
    pub fn to_setting(&self) -> Vec<String> {
        (self.0.iter())
            .map(|a| format!("{}:{}:{}", a.name, a.password, a.secret.as_str()))
            .collect()
    }

    /// The accounts' names, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|a| a.name.as_str())
    }

    /// Whether there is no account: the staff page is off.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether there is an account called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// Adds an account called `name` with `password`, and gives what its
    /// authenticator app needs.
    pub fn add(&mut self, name: &str, password: &str, issuer: &str) -> Result<Enrolment, String> {
        if !appliance_config::schema::valid_client_name(name) {
            return Err(format!(
                "{name:?} is not an account name: 1 to 64 letters, digits, '.', '_' or '-'"
            ));
        }
        if self.has(name) {
            return Err(format!("there is already an account called {name}"));
        }
        let hash = hash_password(password)?;
        let secret = new_secret()?;
        let enrolment = enrolment(name, &secret, issuer);
        self.0.push(Account {
            name: name.to_owned(),
            password: hash,
            secret,
        });
        Ok(enrolment)
    }

    /// Removes the account called `name`; false when there is none.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|a| a.name != name);
        self.0.len() != before
    }

    /// Gives the account called `name` a new TOTP secret (a lost phone):
    /// the old authenticator's codes are refused from then on.
    pub fn reset_totp(&mut self, name: &str, issuer: &str) -> Result<Enrolment, String> {
        let account = (self.0.iter_mut())
            .find(|a| a.name == name)
            .ok_or_else(|| format!("there is no account called {name:?}"))?;
        account.secret = new_secret()?;
        Ok(enrolment(name, &account.secret, issuer))
    }

    /// Whether `password` is the password of the account called `name`.
    /// Takes the hash's time (tens of milliseconds) whether or not there is
    /// such an account, so the time does not tell which names exist.
    pub fn password_matches(&self, name: &str, password: &str) -> bool {
        let account = self.0.iter().find(|a| a.name == name);
        let stored = account.map_or(UNKNOWN, |a| a.password.as_str());
        let Ok(hash) = PasswordHash::new(stored) else {
            return false;
        };
        let matches = argon2().verify_password(password.as_bytes(), &hash).is_ok();
        matches && account.is_some()
    }

    /// The step (Unix time / 30) whose code `code` is for the account
    /// called `name`, at `now`: this step's, the one before or the one
    /// after (a phone's clock a little off), each compared in constant time.
    pub fn totp_step(&self, name: &str, code: &str, now: u64) -> Option<u64> {
        let account = self.0.iter().find(|a| a.name == name)?;
        let bytes = Secret::Encoded(account.secret.to_string())
            .to_bytes()
            .ok()?;
        let totp = TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, STEP, bytes);
        let code = code.trim();
        let step = now / STEP;
        let mut found = None;
        for candidate in [step.saturating_sub(1), step, step + 1] {
            let expected = Zeroizing::new(totp.generate(candidate * STEP));
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(candidate);
            }
        }
        found
    }
}

/// A hash that no password matches in practice, checked for unknown names
/// so that they take as long as known ones (made with the same parameters).
const UNKNOWN: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                       pP2XWbvLnmJb1nYuVYN6xuZ/N9Y+VVmq1e0rZtjS4GM";

/// The Argon2id hash of `password`, PHC form, after checking its length.
pub fn hash_password(password: &str) -> Result<String, String> {
    let length = password.chars().count();
    if length < MIN_PASSWORD {
        return Err(format!(
            "the password is too short: at least {MIN_PASSWORD} characters"
        ));
    }
    if password.len() > MAX_PASSWORD {
        return Err(format!(
            "the password is too long: at most {MAX_PASSWORD} bytes"
        ));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    (argon2().hash_password(password.as_bytes(), &salt))
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// A new TOTP secret, base32.
fn new_secret() -> Result<Zeroizing<String>, String> {
    let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|e| format!("no randomness: {e}"))?;
    match &Secret::Raw(bytes.to_vec()).to_encoded() {
        Secret::Encoded(text) => Ok(Zeroizing::new(text.clone())),
        Secret::Raw(_) => Err("cannot encode the secret".into()),
    }
}

/// The `otpauth://totp/` URI of Google's key-URI format, which every
/// authenticator app reads.
fn enrolment(name: &str, secret: &str, issuer: &str) -> Enrolment {
    let issuer = crate::turn::percent_encode(issuer);
    Enrolment {
        uri: Zeroizing::new(format!(
            "otpauth://totp/{issuer}:{name}?secret={secret}&issuer={issuer}\
             &algorithm=SHA1&digits=6&period={STEP}"
        )),
        secret: Zeroizing::new(secret.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_logs_in_with_its_password_and_a_current_code_only() {
        let mut accounts = StaffAccounts::default();
        let enrolment = accounts
            .add("desk", "correct horse battery", "Room 1")
            .unwrap();
        assert!(
            enrolment
                .uri
                .starts_with("otpauth://totp/Room%201:desk?secret=")
        );
        assert!(enrolment.uri.contains("&digits=6&period=30"));
        assert!(accounts.password_matches("desk", "correct horse battery"));
        assert!(!accounts.password_matches("desk", "correct horse batterY"));
        assert!(!accounts.password_matches("nobody", "correct horse battery"));

        let now = 1_796_000_000;
        let bytes = Secret::Encoded(enrolment.secret.to_string())
            .to_bytes()
            .unwrap();
        let totp = TOTP::new(totp_rs::Algorithm::SHA1, 6, 0, 30, bytes).unwrap();
        let code = totp.generate(now);
        assert_eq!(accounts.totp_step("desk", &code, now), Some(now / 30));
        assert_eq!(accounts.totp_step("desk", &code, now + 30), Some(now / 30));
        assert_eq!(accounts.totp_step("desk", &code, now + 90), None);
        assert_eq!(accounts.totp_step("nobody", &code, now), None);
        assert_eq!(accounts.totp_step("desk", "12345", now), None);

        // Kept in the setting and read back the same.
        let again = StaffAccounts::from_setting(&accounts.to_setting());
        assert_eq!(again, accounts);
        let schema = appliance_config::schema::find("staff.accounts").unwrap();
        assert!(
            schema
                .validate_text(&accounts.to_setting().join("\n"))
                .is_ok()
        );

        // A new authenticator: the old codes are refused.
        accounts.reset_totp("desk", "Room 1").unwrap();
        assert_ne!(accounts.totp_step("desk", &code, now), Some(now / 30));
        assert!(accounts.remove("desk") && accounts.is_empty());
    }

    #[test]
    fn bad_names_and_passwords_are_refused() {
        let mut accounts = StaffAccounts::default();
        assert!(
            accounts
                .add("front desk", "a long enough one", "R")
                .is_err()
        );
        assert!(accounts.add("desk", "short", "R").is_err());
        assert!(accounts.add("desk", &"x".repeat(129), "R").is_err());
        accounts.add("desk", "a long enough one", "R").unwrap();
        assert!(accounts.add("desk", "a long enough one", "R").is_err());
        assert!(accounts.reset_totp("nobody", "R").is_err());
    }

    #[test]
    fn the_stand_in_hash_is_a_valid_argon2id_hash() {
        assert!(PasswordHash::new(UNKNOWN).is_ok());
        assert!(!StaffAccounts::default().password_matches("x", "anything at all"));
    }
}
