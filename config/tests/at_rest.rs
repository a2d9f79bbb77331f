//! Promise 4, "config is encrypted at rest", tested on real sled files: no
//! provisioned value is readable on disk, a wrong key or an altered value is a
//! clear error, and a bad provisioning file changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use appliance_config::provision::ProvisionError;
use appliance_config::{OpenMode, Provisioning, StoreError, Value, find};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{key_file, open, raw_entries, raw_sled, snapshot};

const ROOM: &str = "Zebra Room 4471";
const TURN_SECRET: &str = "TURN-secret-recognizable-9f8e7d6c";
const SIGNING_KEY: &[u8] = b"invite-signing-key-recognizable!!";

struct Provisioned {
    text: String,
    /// Values that must appear nowhere on disk.
    needles: Vec<Vec<u8>>,
}

fn provisioning_file() -> Provisioned {
    let certified =
        rcgen::generate_simple_self_signed(vec!["room3.clinic.example".into()]).unwrap();
    let cert_pem = certified.cert.pem();
    let key_pem = certified.signing_key.serialize_pem();
    let key_der = certified.signing_key.serialize_der();
    let text = format!(
        r#"
[room]
name = "{ROOM}"
public_url = "https://zebra-4471.clinic.example"

[tls]
certificate = """
{cert_pem}"""
private_key = """
{key_pem}"""

[invite]
signing_key = "{signing}"

[ice]
turn_urls = ["turn:zebra-turn-4471.clinic.example:3478"]
turn_shared_secret = "{TURN_SECRET}"
"#,
        signing = STANDARD.encode(SIGNING_KEY)
    );
    // The middle of the PEM key's base64 body, which no header shares with other PEM files.
    let key_body: String = key_pem.lines().nth(2).unwrap().to_owned();
    let needles = vec![
        ROOM.as_bytes().to_vec(),
        b"zebra-4471".to_vec(),
        b"zebra-turn-4471".to_vec(),
        TURN_SECRET.as_bytes().to_vec(),
        SIGNING_KEY.to_vec(),
        STANDARD.encode(SIGNING_KEY).into_bytes(),
        key_body.into_bytes(),
        key_der[key_der.len() - 24..].to_vec(),
    ];
    Provisioned { text, needles }
}

/// Every form in which `needle` could show up in a file: raw, as hex, and as
/// base64 at each of the three alignments it could have inside a longer text.
fn encodings(needle: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = vec![needle.to_vec()];
    let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
    forms.push(hex.clone().into_bytes());
    forms.push(hex.to_uppercase().into_bytes());
    for pad in 0..3 {
        let mut padded = vec![0u8; pad];
        padded.extend_from_slice(needle);
        for encoded in [STANDARD.encode(&padded), URL_SAFE_NO_PAD.encode(&padded)] {
            // Drop the characters that depend on the bytes around the needle.
            let start = (pad * 4).div_ceil(3) + 1;
            let stable = &encoded.trim_end_matches('=')[start..encoded.len().saturating_sub(4)];
            forms.push(stable.as_bytes().to_vec());
        }
    }
    forms
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_provisioned_value_is_readable_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key = key_file(dir.path(), "k", 1);
    let p = provisioning_file();
    let mut store = open(&state, &key, OpenMode::CreateIfMissing).unwrap();
    let count = Provisioning::parse("p.toml", &p.text)
        .unwrap()
        .apply(&mut store)
        .unwrap();
    assert_eq!(count, 7);
    assert_eq!(
        store.get(find("room.name").unwrap()).unwrap(),
        Some(Value::Text(ROOM.into()))
    );
    drop(store);

    let files = snapshot(&state);
    assert!(!files.is_empty());
    for needle in &p.needles {
        for form in encodings(needle) {
            for (path, bytes) in &files {
                assert!(
                    !contains(bytes, &form),
                    "{} holds a provisioned value in the clear: {:?}",
                    path.display(),
                    String::from_utf8_lossy(&form)
                );
            }
        }
    }
    // And the scan itself finds what it looks for.
    let plain = format!(
        "xx{}yy",
        STANDARD.encode([&b"ab"[..], SIGNING_KEY].concat())
    );
    assert!(
        encodings(SIGNING_KEY)
            .iter()
            .any(|f| contains(plain.as_bytes(), f))
    );
}

#[test]
fn wrong_key_is_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let right = key_file(dir.path(), "right.key", 1);
    let wrong = key_file(dir.path(), "wrong.key", 2);
    let p = provisioning_file();
    {
        let mut store = open(&state, &right, OpenMode::CreateIfMissing).unwrap();
        Provisioning::parse("p.toml", &p.text)
            .unwrap()
            .apply(&mut store)
            .unwrap();
    }
    let before = raw_entries(&state);
    let err = open(&state, &wrong, OpenMode::Existing).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("wrong.key"),
        "the error must name the key's source: {message}"
    );
    assert!(message.contains("wrong key"), "{message}");
    assert!(
        raw_entries(&state) == before,
        "a failed open must not change the store"
    );

    let store = open(&state, &right, OpenMode::Existing).unwrap();
    let values = store.values().unwrap();
    assert_eq!(values.len(), 7);
    assert_eq!(
        values["ice.turn_shared_secret"],
        Value::Text(TURN_SECRET.into())
    );
}

#[test]
fn a_value_moved_under_another_name_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key = key_file(dir.path(), "k", 1);
    {
        let mut store = open(&state, &key, OpenMode::CreateIfMissing).unwrap();
        let p = provisioning_file();
        Provisioning::parse("p.toml", &p.text)
            .unwrap()
            .apply(&mut store)
            .unwrap();
    }
    {
        let db = raw_sled(&state);
        let secret = db.get("ice.turn_shared_secret").unwrap().unwrap();
        db.insert("room.name", secret).unwrap();
        db.flush().unwrap();
    }
    let store = open(&state, &key, OpenMode::Existing).unwrap();
    let err = store.get(find("room.name").unwrap()).unwrap_err();
    assert!(
        matches!(err, StoreError::Damaged { ref name, .. } if name == "room.name"),
        "{err}"
    );
    assert!(!err.to_string().contains(TURN_SECRET));
    // The original is untouched.
    assert_eq!(
        store.get(find("ice.turn_shared_secret").unwrap()).unwrap(),
        Some(Value::Text(TURN_SECRET.into()))
    );
}

#[test]
fn every_flipped_byte_is_detected_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key = key_file(dir.path(), "k", 1);
    let room = find("room.name").unwrap();
    {
        let mut store = open(&state, &key, OpenMode::CreateIfMissing).unwrap();
        store.set(room, Value::Text(ROOM.into())).unwrap();
    }
    let original = raw_sled(&state).get("room.name").unwrap().unwrap().to_vec();
    for i in 0..original.len() {
        {
            let db = raw_sled(&state);
            let mut bad = original.clone();
            bad[i] ^= 0x40;
            db.insert("room.name", bad).unwrap();
            db.flush().unwrap();
        }
        let store = open(&state, &key, OpenMode::Existing).unwrap();
        match store.get(room) {
            Err(StoreError::Damaged { name, .. }) => assert_eq!(name, "room.name"),
            other => panic!("byte {i} flipped: expected a damaged-value error, got {other:?}"),
        }
    }
}

#[test]
fn a_bad_provisioning_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key = key_file(dir.path(), "k", 1);
    {
        let mut store = open(&state, &key, OpenMode::CreateIfMissing).unwrap();
        let good = "[room]\nname = \"Before\"\n[hardware.pins]\nbutton = 17\n";
        Provisioning::parse("good.toml", good)
            .unwrap()
            .apply(&mut store)
            .unwrap();
    }
    let before = raw_entries(&state);
    // Valid settings mixed with an invalid one: none of them may land.
    let bad = "[room]\nname = \"After\"\n[video]\nframerate = 500\n";
    let err = Provisioning::parse("bad.toml", bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.toml: line 4: video.framerate: is 500; it must be from 5 to 60"
    );
    // Each setting valid alone, but two of them on one pin: found only against
    // the store, and still nothing lands.
    let clash = "[room]\nname = \"After\"\n[hardware.pins]\nled_red = 17\n";
    let mut store = open(&state, &key, OpenMode::Existing).unwrap();
    let err = Provisioning::parse("clash.toml", clash)
        .unwrap()
        .apply(&mut store)
        .unwrap_err();
    assert!(matches!(err, ProvisionError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("line 4: hardware.pins.led_red: GPIO 17 is already used"),
        "{err}"
    );
    assert_eq!(
        store.get(find("room.name").unwrap()).unwrap(),
        Some(Value::Text("Before".into()))
    );
    drop(store);
    assert!(
        raw_entries(&state) == before,
        "a rejected file must not change the store"
    );
}

#[test]
fn a_store_that_lost_its_key_record_is_damaged_not_new() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key = key_file(dir.path(), "k", 1);
    drop(open(&state, &key, OpenMode::CreateIfMissing).unwrap());
    {
        let db = raw_sled(&state);
        db.remove("_meta.key_check").unwrap();
        db.flush().unwrap();
    }
    let err = open(&state, &key, OpenMode::CreateIfMissing).unwrap_err();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    assert!(
        raw_entries(&state).is_empty(),
        "the damaged store must not be re-initialized"
    );
}
