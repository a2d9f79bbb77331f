//! The settings the appliance knows: their names, types, validation and how
//! they are shown. Called by the store, provisioning and the CLI; guarantees that
//! only a value that passed its setting's validation is ever stored.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A validated value, as sealed in the store. Zeroized on drop; `Debug` shows
/// only its shape, since the schema, not the value, knows whether it is secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(untagged)]
pub enum Value {
    /// A whole number.
    Int(i64),
    /// A string.
    Text(String),
    /// A list of strings.
    List(Vec<String>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(_) => f.write_str("Value::Int(..)"),
            Value::Text(t) => write!(f, "Value::Text(<{} chars>)", t.chars().count()),
            Value::List(l) => write!(f, "Value::List(<{} items>)", l.len()),
        }
    }
}

impl Value {
    /// The string, for text values.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The number, for integer values.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The items, for list values.
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

/// A value as it arrives, before validation: from a provisioning file or the CLI.
#[derive(Debug, Clone)]
pub enum RawValue<'a> {
    /// A string.
    Str(&'a str),
    /// A whole number.
    Int(i64),
    /// An array of strings.
    StrList(Vec<&'a str>),
    /// Anything else; the name of its type, for the error message.
    Other(&'static str),
}

/// What a setting holds, and so how it is validated.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// One line of plain text, up to `max_chars` characters.
    Text {
        /// The longest allowed text.
        max_chars: usize,
    },
    /// An `https://` URL.
    HttpsUrl,
    /// A list of ICE server URLs with one of the schemes.
    IceUrls(&'static [&'static str]),
    /// A PEM certificate chain, the server's own certificate first.
    CertificatePem,
    /// A PEM private key (PKCS#8, PKCS#1 or SEC1).
    PrivateKeyPem,
    /// A base64 key of at least `min_bytes` bytes.
    Base64Key {
        /// The shortest allowed key, in bytes after decoding.
        min_bytes: usize,
    },
    /// A shared secret of at least `min_chars` printable characters.
    SharedSecret {
        /// The shortest allowed secret.
        min_chars: usize,
    },
    /// A whole number in a range.
    Int {
        /// The smallest allowed value.
        min: i64,
        /// The largest allowed value.
        max: i64,
    },
    /// `WIDTHxHEIGHT` in pixels, both even.
    Resolution,
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// A Raspberry Pi GPIO number (BCM numbering, 0 to 27).
    Pin,
    /// A list of OpenSSH public keys.
    SshKeys,
    /// A list of IP addresses or networks (`192.0.2.7`, `10.0.0.0/8`, `fd00::/8`).
    Networks,
    /// A list of the clinic's systems allowed to make links: `NAME:HASH`,
    /// the hash the SHA-256 of the system's token in 64 hex digits.
    ApiClients,
    /// A list of the front desk's accounts, one a line:
    /// `NAME:PASSWORD_HASH:TOTP_SECRET`, the password's Argon2id hash in
    /// PHC form and the TOTP secret in base32.
    StaffAccounts,
}

/// Whether `name` is a name for an API client or a staff account: 1 to 64
/// letters, digits, `.`, `_` or `-`.
pub fn valid_client_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One setting of the appliance.
#[derive(Debug)]
pub struct Setting {
    /// Its name, also its place in a provisioning file: `section.key`.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Secrets are never shown, only whether they are set.
    pub secret: bool,
    /// One line for `--help` and the example provisioning file.
    pub help: &'static str,
    /// What the appliance does when the setting is unset.
    pub default: Fallback,
}

/// A setting's value when it is unset: the one place a default is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// No value: the appliance goes without (or, for the TLS identity and
    /// the invite key, makes one on first run).
    Nothing,
    /// This number.
    Int(i64),
    /// This text.
    Text(&'static str),
}

impl Fallback {
    /// The default as a value, if there is one.
    pub fn value(self) -> Option<Value> {
        match self {
            Fallback::Nothing => None,
            Fallback::Int(n) => Some(Value::Int(n)),
            Fallback::Text(t) => Some(Value::Text(t.to_owned())),
        }
    }
}

/// BCM GPIOs with hardware PWM on the Raspberry Pi 4 and 5, for the shutter's servo.
pub const PWM_PINS: [i64; 4] = [12, 13, 18, 19];

const fn setting(name: &'static str, kind: Kind, help: &'static str) -> Setting {
    Setting {
        name,
        kind,
        secret: false,
        help,
        default: Fallback::Nothing,
    }
}

const fn secret(name: &'static str, kind: Kind, help: &'static str) -> Setting {
    Setting {
        name,
        kind,
        secret: true,
        help,
        default: Fallback::Nothing,
    }
}

impl Setting {
    /// The same setting with a default.
    const fn or(self, default: Fallback) -> Setting {
        Setting { default, ..self }
    }
}

/// Every setting, in the order they are listed and documented.
pub static SETTINGS: &[Setting] = &[
    setting(
        "room.name",
        Kind::Text { max_chars: 64 },
        "The room's name, shown on the TV and on the patient's page.",
    )
    .or(Fallback::Text("Consulting room")),
    setting(
        "room.language",
        Kind::Choice(&["en", "nl", "de"]),
        "The language of the patient's page and the TV: en, nl or de (a patient may pick another \
         on their page).",
    )
    .or(Fallback::Text("en")),
    setting(
        "room.public_url",
        Kind::HttpsUrl,
        "How patients reach this room through the clinic's network; patient links start with it.",
    ),
    setting(
        "tls.certificate",
        Kind::CertificatePem,
        "The room's TLS certificate chain (PEM); without it a self-signed one is made.",
    ),
    secret(
        "tls.private_key",
        Kind::PrivateKeyPem,
        "The private key of the TLS certificate (PEM).",
    ),
    secret(
        "invite.signing_key",
        Kind::Base64Key { min_bytes: 32 },
        "The key that signs patient links (base64, at least 32 bytes); made on first run if unset.",
    ),
    setting(
        "invite.early_minutes",
        Kind::Int { min: 0, max: 120 },
        "How many minutes before its appointment a link made for one lets the patient into the \
         waiting room.",
    )
    .or(Fallback::Int(15)),
    setting(
        "ice.stun_urls",
        Kind::IceUrls(&["stun", "stuns"]),
        "STUN servers, as stun: or stuns: URLs.",
    ),
    setting(
        "ice.turn_urls",
        Kind::IceUrls(&["turn", "turns"]),
        "TURN servers, as turn: or turns: URLs.",
    ),
    secret(
        "ice.turn_shared_secret",
        Kind::SharedSecret { min_chars: 16 },
        "The TURN server's REST API shared secret; per-session credentials are made from it.",
    ),
    setting(
        "ice.turn_credential_ttl",
        Kind::Int {
            min: 60,
            max: 7 * 24 * 3600,
        },
        "How long the TURN credentials minted for each patient as they join last, in seconds.",
    )
    .or(Fallback::Int(7200)),
    setting(
        "http.trusted_proxies",
        Kind::Networks,
        "Reverse proxies (addresses or networks) whose X-Forwarded-For names the patient's address.",
    ),
    setting(
        "video.resolution",
        Kind::Resolution,
        "The largest video the camera sends, WIDTHxHEIGHT.",
    )
    .or(Fallback::Text("1280x720")),
    setting(
        "video.framerate",
        Kind::Int { min: 5, max: 60 },
        "The camera's frames per second.",
    )
    .or(Fallback::Int(30)),
    setting(
        "video.max_bitrate_kbps",
        Kind::Int {
            min: 200,
            max: 20_000,
        },
        "The most the video may send, in kbit/s; less when the network allows less.",
    )
    .or(Fallback::Int(2500)),
    setting(
        "shutter.kind",
        Kind::Choice(&["motorized", "manual"]),
        "motorized: a servo moves the shutter; manual: the therapist moves it, sensors only.",
    )
    .or(Fallback::Text("motorized")),
    setting(
        "session.reconnect_grace_seconds",
        Kind::Int { min: 10, max: 3600 },
        "How long a patient whose page or connection is lost may take to come back to their \
         session before it ends, in seconds.",
    )
    .or(Fallback::Int(120)),
    setting(
        "tv.standby_after_minutes",
        Kind::Int { min: 0, max: 1440 },
        "Put the TV on standby over HDMI-CEC once the room has been idle this long; 0: never.",
    )
    .or(Fallback::Int(0)),
    setting(
        "hardware.backend",
        Kind::Choice(&["sim", "rppal"]),
        "sim: simulated button, shutter and LED; rppal: the Raspberry Pi's GPIO.",
    )
    .or(Fallback::Text("rppal")),
    setting(
        "hardware.pins.button",
        Kind::Pin,
        "GPIO of the button (to ground, internal pull-up).",
    )
    .or(Fallback::Int(17)),
    setting(
        "hardware.pins.shutter_servo",
        Kind::Pin,
        "GPIO of the shutter's servo; must have hardware PWM (12, 13, 18 or 19).",
    )
    .or(Fallback::Int(18)),
    setting(
        "hardware.pins.shutter_open_sensor",
        Kind::Pin,
        "GPIO of the sensor that closes when the shutter is fully open.",
    )
    .or(Fallback::Int(23)),
    setting(
        "hardware.pins.shutter_closed_sensor",
        Kind::Pin,
        "GPIO of the sensor that closes when the shutter is fully closed.",
    )
    .or(Fallback::Int(24)),
    setting(
        "hardware.pins.led_red",
        Kind::Pin,
        "GPIO of the LED's red element.",
    )
    .or(Fallback::Int(5)),
    setting(
        "hardware.pins.led_green",
        Kind::Pin,
        "GPIO of the LED's green element (red and green make amber).",
    )
    .or(Fallback::Int(6)),
    setting(
        "admin.ssh_keys",
        Kind::SshKeys,
        "OpenSSH public keys allowed to log in for maintenance; SSH is off without them.",
    ),
    secret(
        "api.clients",
        Kind::ApiClients,
        "The clinic's systems that may make patient links: NAME:HASH, the SHA-256 of each \
         one's token; `appliance api-client add NAME` makes a token and adds it.",
    ),
    secret(
        "staff.accounts",
        Kind::StaffAccounts,
        "The front desk's accounts for https://<box>/staff/, one a line: NAME:HASH:SECRET, the \
         password's Argon2id hash and the authenticator's TOTP secret; `appliance staff add \
         NAME` makes one. The staff page is off without them.",
    ),
];

/// The setting called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The value of every setting that has one: the stored value, else the
/// schema's default. What the appliance runs with.
pub fn effective(values: &BTreeMap<&'static str, Value>) -> BTreeMap<&'static str, Value> {
    SETTINGS
        .iter()
        .filter_map(|s| {
            let value = values.get(s.name).cloned().or_else(|| s.default.value())?;
            Some((s.name, value))
        })
        .collect()
}

impl Setting {
    /// Validates a value for this setting; the error says what is wrong in plain words.
    pub fn validate(&self, input: &RawValue<'_>) -> Result<Value, String> {
        match self.kind {
            Kind::Text { max_chars } => {
                let s = want_str(input)?;
                let n = s.chars().count();
                if s.trim().is_empty() {
                    Err("must not be empty".into())
                } else if n > max_chars {
                    Err(format!(
                        "is {n} characters; at most {max_chars} are allowed"
                    ))
                } else if s.chars().any(char::is_control) {
                    Err("must be one line of text without control characters".into())
                } else {
                    Ok(Value::Text(s.trim().to_owned()))
                }
            }
            Kind::HttpsUrl => {
                let s = want_str(input)?;
                check_https_url(s)?;
                Ok(Value::Text(s.trim_end_matches('/').to_owned()))
            }
            Kind::IceUrls(schemes) => {
                let items = want_list(input)?;
                for item in &items {
                    check_ice_url(item, schemes)?;
                }
                Ok(Value::List(items.iter().map(|s| (*s).to_owned()).collect()))
            }
            Kind::CertificatePem => {
                let s = want_str(input)?;
                let certs: Result<Vec<_>, _> =
                    CertificateDer::pem_slice_iter(s.as_bytes()).collect();
                match certs {
                    Ok(c) if !c.is_empty() => Ok(Value::Text(s.to_owned())),
                    _ => Err("is not a PEM certificate (-----BEGIN CERTIFICATE-----)".into()),
                }
            }
            Kind::PrivateKeyPem => {
                let s = want_str(input)?;
                match PrivateKeyDer::from_pem_slice(s.as_bytes()) {
                    Ok(_) => Ok(Value::Text(s.to_owned())),
                    Err(_) => Err("is not a PEM private key (PKCS#8, PKCS#1 or SEC1)".into()),
                }
            }
            Kind::Base64Key { min_bytes } => {
                let s = want_str(input)?;
                let bytes = zeroize::Zeroizing::new(
                    BASE64
                        .decode(s.trim())
                        .map_err(|_| "is not valid base64".to_owned())?,
                );
                if bytes.len() < min_bytes {
                    return Err(format!(
                        "is {} bytes; at least {min_bytes} are needed",
                        bytes.len()
                    ));
                }
                Ok(Value::Text(s.trim().to_owned()))
            }
            Kind::SharedSecret { min_chars } => {
                let s = want_str(input)?;
                if s.chars().count() < min_chars {
                    Err(format!(
                        "is too short; at least {min_chars} characters are needed"
                    ))
                } else if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    Err("must not contain spaces or control characters".into())
                } else {
                    Ok(Value::Text(s.to_owned()))
                }
            }
            Kind::Int { min, max } => {
                let n = want_int(input)?;
                if (min..=max).contains(&n) {
                    Ok(Value::Int(n))
                } else {
                    Err(format!("is {n}; it must be from {min} to {max}"))
                }
            }
            Kind::Resolution => {
                let s = want_str(input)?;
                let parsed = s
                    .split_once(['x', 'X'])
                    .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)));
                match parsed {
                    Some((w, h))
                        if (160..=3840).contains(&w)
                            && (120..=2160).contains(&h)
                            && w % 2 == 0
                            && h % 2 == 0 =>
                    {
                        Ok(Value::Text(format!("{w}x{h}")))
                    }
                    _ => Err(format!(
                        "{s:?} is not WIDTHxHEIGHT with even sizes from 160x120 to 3840x2160"
                    )),
                }
            }
            Kind::Choice(choices) => {
                let s = want_str(input)?;
                if choices.contains(&s) {
                    Ok(Value::Text(s.to_owned()))
                } else {
                    Err(format!(
                        "is {s:?}; it must be one of: {}",
                        choices.join(", ")
                    ))
                }
            }
            Kind::Pin => {
                let n = want_int(input)?;
                if !(0..=27).contains(&n) {
                    Err(format!("is GPIO {n}; the header has GPIO 0 to 27"))
                } else if self.name == "hardware.pins.shutter_servo" && !PWM_PINS.contains(&n) {
                    Err(format!(
                        "is GPIO {n}, which has no hardware PWM; use 12, 13, 18 or 19"
                    ))
                } else {
                    Ok(Value::Int(n))
                }
            }
            Kind::Networks => {
                let items = want_list(input)?;
                for item in &items {
                    if parse_network(item).is_none() {
                        return Err(format!(
                            "{item:?} is not an IP address or a network such as 10.0.0.0/8"
                        ));
                    }
                }
                Ok(Value::List(
                    items.iter().map(|s| s.trim().to_owned()).collect(),
                ))
            }
            Kind::ApiClients => {
                let items = want_list(input)?;
                let mut names = std::collections::BTreeSet::new();
                for item in &items {
                    let (name, hash) = item.trim().split_once(':').unwrap_or((item.trim(), ""));
                    if !valid_client_name(name) {
                        return Err(format!(
                            "{name:?} is not a client name (1 to 64 letters, digits, ., _ or -)"
                        ));
                    }
                    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(format!("{name}: the token's hash is not 64 hex digits"));
                    }
                    if !names.insert(name) {
                        return Err(format!("{name} is named twice"));
                    }
                }
                Ok(Value::List(
                    (items.iter())
                        .filter_map(|s| s.trim().split_once(':'))
                        .map(|(name, hash)| format!("{name}:{}", hash.to_ascii_lowercase()))
                        .collect(),
                ))
            }
            Kind::StaffAccounts => {
                let items = want_list(input)?;
                let mut names = std::collections::BTreeSet::new();
                for item in &items {
                    let mut parts = item.trim().splitn(3, ':');
                    let name = parts.next().unwrap_or("");
                    if !valid_client_name(name) {
                        return Err(format!(
                            "{name:?} is not an account name (1 to 64 letters, digits, ., _ or -)"
                        ));
                    }
                    if !parts.next().is_some_and(|h| h.starts_with("$argon2id$")) {
                        return Err(format!("{name}: the password's hash is not Argon2id"));
                    }
                    let secret = parts.next().unwrap_or("");
                    if secret.len() < 32
                        || !secret
                            .bytes()
                            .all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7'))
                    {
                        return Err(format!(
                            "{name}: the TOTP secret is not 32 or more base32 letters"
                        ));
                    }
                    if !names.insert(name) {
                        return Err(format!("{name} is named twice"));
                    }
                }
                Ok(Value::List(
                    items.iter().map(|s| s.trim().to_owned()).collect(),
                ))
            }
            Kind::SshKeys => {
                let items = want_list(input)?;
                for (i, item) in items.iter().enumerate() {
                    check_ssh_key(item).map_err(|e| format!("key {} {e}", i + 1))?;
                }
                Ok(Value::List(
                    items.iter().map(|s| s.trim().to_owned()).collect(),
                ))
            }
        }
    }

    /// Validates a value typed on the command line: numbers for numeric settings,
    /// lists separated by commas (or by lines, for SSH keys and multi-line input).
    pub fn validate_text(&self, text: &str) -> Result<Value, String> {
        let text = text.trim_end_matches(['\n', '\r']);
        match self.kind {
            Kind::Int { .. } | Kind::Pin => match text.trim().parse::<i64>() {
                Ok(n) => self.validate(&RawValue::Int(n)),
                Err(_) => Err(format!("{:?} is not a whole number", text.trim())),
            },
            Kind::IceUrls(_)
            | Kind::SshKeys
            | Kind::Networks
            | Kind::ApiClients
            | Kind::StaffAccounts => {
                let one_a_line = matches!(self.kind, Kind::SshKeys | Kind::StaffAccounts);
                let sep = if text.contains('\n') || one_a_line {
                    '\n'
                } else {
                    ','
                };
                let items: Vec<&str> = text
                    .split(sep)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                self.validate(&RawValue::StrList(items))
            }
            _ => self.validate(&RawValue::Str(text)),
        }
    }

    /// The value as `config get` prints it: secrets as `<set>`, others in full.
    pub fn show(&self, value: Option<&Value>) -> String {
        match (value, self.secret) {
            (None, _) => "<unset>".into(),
            (Some(_), true) => "<set>".into(),
            (Some(Value::Int(n)), false) => n.to_string(),
            (Some(Value::Text(t)), false) => t.clone(),
            (Some(Value::List(l)), false) => l.join("\n"),
        }
    }

    /// The value as `config list` prints it: on one line.
    pub fn summary(&self, value: Option<&Value>) -> String {
        match (value, self.kind) {
            (Some(_), _) if self.secret => "<set>".into(),
            (Some(Value::Text(t)), Kind::CertificatePem) => {
                let n = CertificateDer::pem_slice_iter(t.as_bytes()).count();
                format!("<PEM, {n} certificate{}>", if n == 1 { "" } else { "s" })
            }
            (Some(Value::List(l)), _) => l.join(", "),
            _ => self.show(value),
        }
    }
}

/// Checks that go across settings, on the configuration as it would be after a
/// change: each GPIO drives one thing only.
pub fn check_together(values: &BTreeMap<&'static str, Value>) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    let mut used: BTreeMap<i64, &'static str> = BTreeMap::new();
    for s in SETTINGS.iter().filter(|s| matches!(s.kind, Kind::Pin)) {
        if let Some(Value::Int(pin)) = values.get(s.name)
            && let Some(other) = used.insert(*pin, s.name)
        {
            errors.push((s.name, format!("GPIO {pin} is already used by {other}")));
        }
    }
    errors
}

fn want_str<'a>(input: &RawValue<'a>) -> Result<&'a str, String> {
    match input {
        RawValue::Str(s) => Ok(s),
        other => Err(format!("must be a string, not {}", type_name(other))),
    }
}

fn want_int(input: &RawValue<'_>) -> Result<i64, String> {
    match input {
        RawValue::Int(n) => Ok(*n),
        other => Err(format!("must be a whole number, not {}", type_name(other))),
    }
}

fn want_list<'a>(input: &RawValue<'a>) -> Result<Vec<&'a str>, String> {
    match input {
        RawValue::StrList(l) => Ok(l.clone()),
        other => Err(format!(
            "must be a list of strings, not {}",
            type_name(other)
        )),
    }
}

fn type_name(input: &RawValue<'_>) -> &'static str {
    match input {
        RawValue::Str(_) => "a string",
        RawValue::Int(_) => "a number",
        RawValue::StrList(_) => "a list",
        RawValue::Other(name) => name,
    }
}

fn check_host_port(hostport: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{hostport:?} has an unclosed '['"))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !host_ok {
        return Err(format!("{hostport:?} has no valid host name"));
    }
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(p) if p > 0)
    {
        return Err(format!("{port:?} is not a port number"));
    }
    Ok(())
}

fn check_https_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .ok_or_else(|| format!("{s:?} does not start with https://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    check_host_port(authority)
}

fn check_ice_url(s: &str, schemes: &[&str]) -> Result<(), String> {
    let (scheme, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not a URL"))?;
    if !schemes.contains(&scheme) {
        return Err(format!(
            "{s:?} must start with {}",
            schemes
                .iter()
                .map(|x| format!("{x}:"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    let (hostport, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    check_host_port(hostport).map_err(|e| format!("in {s:?}: {e}"))?;
    match query {
        None | Some("transport=udp") | Some("transport=tcp") => Ok(()),
        Some(q) => Err(format!(
            "in {s:?}: {q:?} is not transport=udp or transport=tcp"
        )),
    }
}

/// An IP address, or a network as address/prefix length: the network's
/// address and its prefix length (32 or 128 for an address alone).
pub fn parse_network(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: std::net::IpAddr = address.parse().ok()?;
    let most = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= most)?,
        None => most,
    };
    Some((address, prefix))
}

fn check_ssh_key(line: &str) -> Result<(), String> {
    const TYPES: [&str; 7] = [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    let mut parts = line.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    if !TYPES.contains(&kind) {
        return Err(format!(
            "does not start with a known key type ({})",
            TYPES.join(", ")
        ));
    }
    let blob = parts
        .next()
        .and_then(|b| BASE64.decode(b).ok())
        .ok_or("has no base64 key after its type")?;
    // The blob starts with the key type again, as a length-prefixed string.
    let named = blob
        .get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
        .and_then(|len| blob.get(4..4 + len));
    if named != Some(kind.as_bytes()) {
        return Err(format!("is not a valid {kind} key"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str) -> &'static Setting {
        find(name).unwrap()
    }

    #[test]
    fn names_are_unique_and_dotted() {
        let mut names: Vec<_> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len());
        assert!(names.iter().all(|n| n.contains('.') && !n.starts_with('_')));
    }

    #[test]
    fn every_default_is_a_valid_value_of_its_setting() {
        for setting in SETTINGS {
            let Some(default) = setting.default.value() else {
                continue;
            };
            let input = match &default {
                Value::Int(n) => RawValue::Int(*n),
                Value::Text(t) => RawValue::Str(t),
                Value::List(_) => panic!("{}: no list has a default", setting.name),
            };
            assert_eq!(setting.validate(&input), Ok(default), "{}", setting.name);
            assert!(!setting.secret, "{}: a secret has no default", setting.name);
        }
    }

    #[test]
    fn what_runs_is_the_stored_value_else_the_default() {
        let stored = BTreeMap::from([("video.framerate", Value::Int(15))]);
        let effective = effective(&stored);
        assert_eq!(effective.get("video.framerate"), Some(&Value::Int(15)));
        assert_eq!(
            effective.get("video.max_bitrate_kbps"),
            Some(&Value::Int(2500))
        );
        assert_eq!(effective.get("tls.private_key"), None);
    }

    #[test]
    fn text_values() {
        let room = s("room.name");
        assert_eq!(
            room.validate_text("Room 3").unwrap(),
            Value::Text("Room 3".into())
        );
        assert!(room.validate_text("").is_err());
        assert!(room.validate_text(&"x".repeat(65)).is_err());
        assert!(room.validate(&RawValue::Str("a\u{7}b")).is_err());
        assert!(
            room.validate(&RawValue::Int(3))
                .unwrap_err()
                .contains("a number")
        );
    }

    #[test]
    fn urls() {
        let url = s("room.public_url");
        assert!(
            url.validate_text("https://room3.clinic.example:8443")
                .is_ok()
        );
        assert!(url.validate_text("http://room3.clinic.example").is_err());
        assert!(url.validate_text("https://").is_err());
        let turn = s("ice.turn_urls");
        assert!(
            turn.validate_text("turn:turn.clinic.example:3478?transport=udp, turns:[::1]:5349")
                .is_ok()
        );
        assert!(turn.validate_text("stun:turn.clinic.example").is_err());
        assert!(turn.validate_text("turn:host:99999").is_err());
        assert!(turn.validate_text("turn:host?transport=sctp").is_err());
    }

    #[test]
    fn networks() {
        let proxies = s("http.trusted_proxies");
        assert_eq!(
            proxies
                .validate_text("192.0.2.7, 10.0.0.0/8,fd00::/8")
                .unwrap(),
            Value::List(vec![
                "192.0.2.7".into(),
                "10.0.0.0/8".into(),
                "fd00::/8".into()
            ])
        );
        for bad in ["10.0.0.0/33", "clinic.example", "10.0.0/8", "::1/129"] {
            assert!(proxies.validate_text(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_network("10.1.0.0/16"),
            Some(("10.1.0.0".parse().unwrap(), 16))
        );
        assert_eq!(parse_network("::1"), Some(("::1".parse().unwrap(), 128)));
    }

    #[test]
    fn numbers_pins_and_choices() {
        assert!(s("video.framerate").validate_text("30").is_ok());
        assert!(s("video.framerate").validate_text("61").is_err());
        assert!(s("video.framerate").validate_text("thirty").is_err());
        assert!(s("hardware.pins.shutter_servo").validate_text("18").is_ok());
        assert!(
            s("hardware.pins.shutter_servo")
                .validate_text("17")
                .is_err()
        );
        assert!(s("hardware.pins.button").validate_text("28").is_err());
        assert!(s("shutter.kind").validate_text("manual").is_ok());
        assert!(s("shutter.kind").validate_text("automatic").is_err());
        assert_eq!(
            s("video.resolution").validate_text("1280X720").unwrap(),
            Value::Text("1280x720".into())
        );
        assert!(s("video.resolution").validate_text("1281x720").is_err());
    }

    #[test]
    fn secrets_are_never_shown() {
        let secret = s("ice.turn_shared_secret");
        let v = secret.validate_text("a-long-enough-secret").unwrap();
        assert_eq!(secret.show(Some(&v)), "<set>");
        assert_eq!(secret.summary(Some(&v)), "<set>");
        assert_eq!(secret.show(None), "<unset>");
        assert!(!format!("{v:?}").contains("secret"));
        assert!(secret.validate_text("short").is_err());
    }

    #[test]
    fn ssh_keys() {
        let blob = {
            let mut b = Vec::new();
            b.extend_from_slice(&11u32.to_be_bytes());
            b.extend_from_slice(b"ssh-ed25519");
            b.extend_from_slice(&32u32.to_be_bytes());
            b.extend_from_slice(&[7u8; 32]);
            BASE64.encode(b)
        };
        let clients = s("api.clients");
        let hash = "AB".repeat(32);
        let v = clients.validate_text(&format!("ehr:{hash}, front-desk.2:{}", "0".repeat(64)));
        assert_eq!(
            v.unwrap(),
            Value::List(vec![
                format!("ehr:{}", hash.to_lowercase()),
                format!("front-desk.2:{}", "0".repeat(64))
            ])
        );
        assert!(
            clients
                .validate_text(&format!("ehr:{hash},ehr:{hash}"))
                .is_err()
        );
        assert!(clients.validate_text("ehr:abc").is_err());
        assert!(clients.validate_text(&format!("no spaces:{hash}")).is_err());
        assert!(clients.validate_text(&hash).is_err());
        let keys = s("admin.ssh_keys");
        assert!(
            keys.validate_text(&format!("ssh-ed25519 {blob} it@clinic"))
                .is_ok()
        );
        assert!(keys.validate_text(&format!("ssh-rsa {blob}")).is_err());
        assert!(keys.validate_text("ssh-ed25519 notbase64!").is_err());
    }

    #[test]
    fn staff_accounts_are_one_a_line_with_an_argon2id_hash_and_a_base32_secret() {
        let staff = s("staff.accounts");
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$AAAA,with+commas/";
        let secret = "JBSWY3DPEHPK3PXP".repeat(2);
        let two = format!("desk:{hash}:{secret}\nevening:{hash}:{secret}");
        assert_eq!(
            staff.validate_text(&two).unwrap(),
            Value::List(vec![
                format!("desk:{hash}:{secret}"),
                format!("evening:{hash}:{secret}")
            ])
        );
        let bcrypt = format!("desk:$2b$12$abc:{secret}");
        let short = format!("desk:{hash}:JBSWY3DP");
        let twice = format!("desk:{hash}:{secret}\ndesk:{hash}:{secret}");
        for bad in [bcrypt.as_str(), &short, &twice, "desk", "front desk:x:y"] {
            assert!(staff.validate_text(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pins_must_differ() {
        let mut values = BTreeMap::new();
        values.insert("hardware.pins.button", Value::Int(17));
        values.insert("hardware.pins.led_red", Value::Int(17));
        let errors = check_together(&values);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].1.contains("GPIO 17"));
    }
}
