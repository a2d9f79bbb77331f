//! The messages between the patient's page and the box, over the WebSocket,
//! and the security code both sides derive from the DTLS fingerprints.
//! Pure: no I/O. Used by the server (decoding what a browser sends, which may be
//! anything) and by media (the code).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ice_path::PairView;
use crate::session::PatientView;

/// The largest message a page may send; an SDP answer is a few KiB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What the patient's page sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Enter the lobby with an invite.
    Join {
        /// The invite token from the link.
        token: String,
        /// The patient's first name.
        name: String,
        /// Video codecs the browser can send and receive, e.g. "H264", "VP8".
        #[serde(default)]
        video_codecs: Vec<String>,
    },
    /// Back in the session after a reload or a lost connection, with the
    /// resume secret the box gave at admission.
    Resume {
        /// The secret from the first welcome.
        secret: String,
    },
    /// Ask for a new connection: the page has none (it reloaded) or its
    /// connection failed.
    Reconnect {},
    /// The page checks that its socket still reaches the box (browsers do
    /// not show a page the socket's own pings); the box answers `pong`.
    Ping {},
    /// The answer to the box's offer.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// An ICE candidate of the browser's.
    Ice {
        /// The candidate line.
        candidate: String,
        /// Which m-line it belongs to.
        sdp_m_line_index: u32,
    },
    /// The patient leaves.
    Leave {},
    /// The page's selected candidate pair, when it changes.
    Path(PairView),
    /// Whether the patient's camera and microphone are on: they may turn
    /// either off, or join without a camera.
    Devices(PatientDevices),
}

/// What the patient sends of themselves, as their page says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientDevices {
    /// Their camera is on.
    pub camera: bool,
    /// Their microphone is on.
    pub microphone: bool,
}

impl PatientDevices {
    /// What the patient turned off, in words for IT ("camera off, muted");
    /// None when both are on.
    pub fn off(self) -> Option<String> {
        let off = [(!self.camera, "camera off"), (!self.microphone, "muted")];
        let off: Vec<&str> = off.iter().filter(|o| o.0).map(|o| o.1).collect();
        (!off.is_empty()).then(|| off.join(", "))
    }
}

impl Default for PatientDevices {
    /// Until their page says otherwise.
    fn default() -> Self {
        PatientDevices {
            camera: true,
            microphone: true,
        }
    }
}

/// An ICE server for the page's RTCPeerConnection.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    /// stun:, turn: or turns: URLs.
    pub urls: Vec<String>,
    /// TURN user name (per session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password (per session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl std::fmt::Debug for IceServer {
    /// The URLs; of a TURN credential only whether there is one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("credential", &self.credential.as_ref().map(|_| "<minted>"))
            .finish()
    }
}

/// What the box sends to the patient's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The link is not valid; nothing else follows.
    Denied,
    /// The invite (or the resume secret) was good: the room's name and how
    /// to reach it.
    Welcome {
        /// The room's name.
        room: String,
        /// STUN and TURN servers.
        ice_servers: Vec<IceServer>,
        /// The resume secret, at admission only: the page keeps it in its
        /// `sessionStorage` to come back to this session after a reload.
        #[serde(skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// Where the session stands, for `body[data-state]`.
    State {
        /// waiting, starting, live, paused, ended or error.
        state: PatientView,
        /// Why, for some errors: `unreachable` when the patient's network
        /// could not reach the room.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
    },
    /// The answer to a page's `ping`.
    Pong,
    /// The box's offer.
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// An ICE candidate of the box's.
    Ice {
        /// The candidate line.
        candidate: String,
        /// Which m-line it belongs to.
        sdp_m_line_index: u32,
    },
    /// Whether the box finds the connection weak (`media/quality.rs`), when
    /// that changes.
    Connection {
        /// Weak, or good again.
        weak: bool,
    },
}

/// Decodes a message from a page. Anything malformed is an error, never a panic.
pub fn decode(text: &str) -> Result<ClientMessage, String> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(format!("message of {} bytes is too large", text.len()));
    }
    serde_json::from_str(&mend_lone_surrogates(text))
        .map_err(|e| format!("bad message: {}", e.classify_name()))
}

/// JSON from a page may escape half of a character (`"\ud83d"`: a
/// JavaScript string cut inside an emoji), which is no text and which
/// serde_json refuses, message and all. Each such half becomes U+FFFD, which
/// the name's cleaning drops: a join is never refused for what is in a name.
fn mend_lone_surrogates(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let escaped = |at: usize| -> Option<u16> {
        let digits = bytes.get(at + 2..at + 6)?;
        (bytes.get(at..at + 2)? == b"\\u")
            .then(|| u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok())
            .flatten()
    };
    let mut mended = String::new();
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        let lone = match escaped(i) {
            Some(0xD800..=0xDBFF) => {
                if matches!(escaped(i + 6), Some(0xDC00..=0xDFFF)) {
                    i += 12;
                    continue;
                }
                true
            }
            Some(0xDC00..=0xDFFF) => true,
            Some(_) => false,
            // Any other escape is two characters; a lone backslash at the
            // end is serde_json's to refuse.
            None => {
                i += 2;
                continue;
            }
        };
        if lone {
            mended.push_str(&text[copied..i]);
            mended.push_str("\\ufffd");
            copied = i + 6;
        }
        i += 6;
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    mended.push_str(&text[copied..]);
    std::borrow::Cow::Owned(mended)
}

trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    // The error's own text may quote what the peer sent; the class never does.
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "i/o",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected fields or types",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// The first DTLS fingerprint value in an SDP, upper-cased (`AB:CD:...`).
pub fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("a=fingerprint:")?;
        let (_, value) = rest.split_once(' ')?;
        Some(value.trim().to_ascii_uppercase())
    })
}

/// The security code shown on the TV and the patient's page: both compute it
/// from the two DTLS fingerprints, so a party in the middle, who must present
/// its own fingerprints to each side, makes the two codes differ.
pub fn security_code(local_sdp: &str, remote_sdp: &str) -> Option<String> {
    let mut prints = [fingerprint(local_sdp)?, fingerprint(remote_sdp)?];
    prints.sort();
    let digest = Sha256::digest(format!(
        "appliance-security-code-v1\n{}\n{}",
        prints[0], prints[1]
    ));
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000;
    Some(format!("{:03} {:03}", n / 1000, n % 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_pages_send() {
        assert_eq!(
            decode(r#"{"type":"join","token":"t","name":"Ada","video_codecs":["VP8"]}"#),
            Ok(ClientMessage::Join {
                token: "t".into(),
                name: "Ada".into(),
                video_codecs: vec!["VP8".into()]
            })
        );
        assert_eq!(
            decode(r#"{"type":"ice","candidate":"candidate:1","sdp_m_line_index":1}"#),
            Ok(ClientMessage::Ice {
                candidate: "candidate:1".into(),
                sdp_m_line_index: 1
            })
        );
        assert_eq!(decode(r#"{"type":"leave"}"#), Ok(ClientMessage::Leave {}));
        assert_eq!(
            decode(r#"{"type":"reconnect"}"#),
            Ok(ClientMessage::Reconnect {})
        );
        assert_eq!(
            decode(r#"{"type":"resume","secret":"s"}"#),
            Ok(ClientMessage::Resume { secret: "s".into() })
        );
        assert_eq!(decode(r#"{"type":"ping"}"#), Ok(ClientMessage::Ping {}));
        assert!(decode(r#"{"type":"resume"}"#).is_err());
        assert!(decode(r#"{"type":"resume","secret":7}"#).is_err());
        assert_eq!(
            decode(r#"{"type":"path","local":"relay","remote":"srflx","relay":"tls"}"#),
            Ok(ClientMessage::Path(crate::ice_path::PairView {
                local: crate::ice_path::CandidateType::Relay,
                remote: crate::ice_path::CandidateType::Srflx,
                relay: Some(crate::ice_path::RelayTransport::Tls),
            }))
        );
        assert!(decode(r#"{"type":"path","local":"host","remote":"host","extra":1}"#).is_err());
        assert!(decode(r#"{"type":"path","local":"elsewhere","remote":"host"}"#).is_err());
        assert_eq!(
            decode(r#"{"type":"devices","camera":false,"microphone":true}"#),
            Ok(ClientMessage::Devices(PatientDevices {
                camera: false,
                microphone: true
            }))
        );
        assert!(decode(r#"{"type":"devices","camera":"off","microphone":true}"#).is_err());
        assert!(decode(r#"{"type":"devices","camera":true}"#).is_err());
    }

    #[test]
    fn a_name_cut_inside_an_emoji_still_joins() {
        let join = |name: &str| {
            decode(&format!(r#"{{"type":"join","token":"t","name":"{name}"}}"#)).map(|m| match m {
                ClientMessage::Join { name, .. } => name,
                other => panic!("{other:?}"),
            })
        };
        // Half an emoji at the end, at the start, and the second half alone.
        assert_eq!(join(r"Ada\ud83d"), Ok("Ada\u{FFFD}".into()));
        assert_eq!(join(r"\uD83DAda"), Ok("\u{FFFD}Ada".into()));
        assert_eq!(join(r"Ada\udc4d!"), Ok("Ada\u{FFFD}!".into()));
        // Whole pairs and other escapes are left as they are.
        assert_eq!(join(r"Ada\ud83d\udc4d"), Ok("Ada👍".into()));
        assert_eq!(join(r#"A\\ud83d\"\n"#), Ok("A\\ud83d\"\n".into()));
        assert_eq!(join(r"\ud83d\ud83d\udc4d"), Ok("\u{FFFD}👍".into()));
        // Still refused: what is not JSON.
        assert!(decode(r#"{"type":"join","token":"t","name":"Ada\ud8"}"#).is_err());
        assert!(decode("\\").is_err());
        assert!(decode(r#"{"type":"join","token":"t","name":"\"#).is_err());
    }

    #[test]
    fn garbage_is_an_error_that_quotes_nothing() {
        let secret = "SECRET-TOKEN-123";
        for bad in [
            "".to_owned(),
            "{".to_owned(),
            "[]".to_owned(),
            r#"{"type":"join"}"#.to_owned(),
            format!(r#"{{"type":"{secret}"}}"#),
            format!(r#"{{"type":"join","token":"{secret}","name":3}}"#),
            format!(r#"{{"type":"leave","extra":"{secret}"}}"#),
            "x".repeat(MAX_MESSAGE_BYTES + 1),
        ] {
            let err = decode(&bad).unwrap_err();
            assert!(!err.contains(secret), "{err}");
        }
    }

    #[test]
    fn messages_to_pages_have_their_type() {
        let json = serde_json::to_string(&ServerMessage::State {
            state: PatientView::Waiting,
            reason: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"type":"state","state":"waiting"}"#);
        let unreachable = PatientView::Unreachable;
        let json = serde_json::to_string(&ServerMessage::State {
            state: unreachable,
            reason: unreachable.reason(),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"state","state":"error","reason":"unreachable"}"#
        );
        let json = serde_json::to_string(&ServerMessage::Denied).unwrap();
        assert_eq!(json, r#"{"type":"denied"}"#);
    }

    const A: &str = "v=0\r\na=fingerprint:sha-256 ab:CD:01\r\nm=video\r\n";
    const B: &str = "v=0\r\nm=audio\r\na=fingerprint:sha-256 99:88:77\r\n";

    #[test]
    fn the_code_is_the_same_from_both_sides_and_six_digits() {
        let ours = security_code(A, B).unwrap();
        assert_eq!(ours, security_code(B, A).unwrap());
        assert_eq!(ours.len(), 7);
        assert!(ours.chars().all(|c| c.is_ascii_digit() || c == ' '));
        // Pinned: the page's computation (web/app.js) gives the same.
        assert_eq!(ours, "268 357");
        let mitm = "a=fingerprint:sha-256 11:22:33\r\n";
        assert_ne!(security_code(A, mitm), Some(ours));
        assert_eq!(security_code(A, "v=0\r\n"), None);
    }
}
