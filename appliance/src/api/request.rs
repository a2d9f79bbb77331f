//! What a clinic's system asks for (an appointment's window) and what it
//! gets back: the link, its window, and the link as a FHIR R5
//! `VirtualServiceDetail`, ready for an `Appointment`'s `virtualService`.
//! Pure: times in, JSON out.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::invite::{MAX_TTL, Window};

/// How long a link lasts when the request names no expiry.
const DEFAULT_LENGTH: u64 = 24 * 3600;

/// How far in the past an appointment may start: a clock a little behind
/// the box's, or a request made as the session begins.
const PAST_SLACK: u64 = 300;

/// The coding of `channelType`: this product's own, as the value set is an
/// example one and names only other services.
pub const CHANNEL_SYSTEM: &str = "urn:therapy-room-appliance:virtual-service-type";

/// The fields a request's body may have, every one optional.
const FIELDS: [&str; 2] = ["not_before", "expires"];

/// Why a request was refused: a message, and the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    /// The field at fault, or `body` for the body as a whole.
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
}

impl BadRequest {
    fn of(field: &str, message: impl Into<String>) -> Self {
        BadRequest {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The JSON error body.
    pub fn to_json(&self) -> Value {
        json!({ "error": self.message, "field": self.field })
    }
}

/// The body's fields: a JSON object with none but [`FIELDS`], each a
/// string or null.
fn fields(body: &[u8]) -> Result<serde_json::Map<String, Value>, BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(BadRequest::of("body", "the body is not a JSON object"));
    };
    for (name, value) in &fields {
        if !FIELDS.contains(&name.as_str()) {
            let shown: String = name.chars().take(40).collect();
            return Err(BadRequest::of(
                &shown,
                format!("{shown} is not a field of this API; it takes not_before and expires"),
            ));
        }
        if !(value.is_string() || value.is_null()) {
            return Err(BadRequest::of(name, format!("{name} must be a string")));
        }
    }
    Ok(fields)
}

/// The window a request's body asks for, at `now` (Unix seconds).
pub fn window(body: &[u8], now: u64) -> Result<Window, BadRequest> {
    let fields = fields(body)?;
    let time = |field: &'static str| {
        fields
            .get(field)
            .and_then(Value::as_str)
            .map(|t| {
                let at = OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
                    BadRequest::of(
                        field,
                        format!(
                            "{field} is not an RFC 3339 time such as 2026-12-04T14:00:00+01:00"
                        ),
                    )
                })?;
                u64::try_from(at.unix_timestamp())
                    .map_err(|_| BadRequest::of(field, format!("{field} is before 1970")))
            })
            .transpose()
    };
    let not_before = time("not_before")?.unwrap_or(now);
    let expires = time("expires")?.unwrap_or_else(|| not_before.saturating_add(DEFAULT_LENGTH));
    checked(not_before, expires, now)
}

/// A window from `not_before` to `expires`, if a link may be made for it
/// at `now`: it starts no earlier than a few minutes ago, ends in the
/// future after it starts, and lies within 30 days. Errors name
/// `not_before` or `expires`.
pub fn checked(not_before: u64, expires: u64, now: u64) -> Result<Window, BadRequest> {
    let latest = now.saturating_add(MAX_TTL.as_secs());
    if not_before.saturating_add(PAST_SLACK) < now {
        return Err(BadRequest::of("not_before", "not_before is in the past"));
    }
    if not_before > latest {
        return Err(BadRequest::of(
            "not_before",
            "not_before is more than 30 days ahead",
        ));
    }
    if expires <= not_before || expires <= now {
        return Err(BadRequest::of(
            "expires",
            "expires must be after not_before and in the future",
        ));
    }
    if expires > latest {
        return Err(BadRequest::of(
            "expires",
            "expires is more than 30 days ahead",
        ));
    }
    Ok(Window {
        not_before,
        expires,
    })
}

/// An RFC 3339 time in UTC, to the second.
pub fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The `201` body: the link, its window, and the link as a FHIR R5
/// `VirtualServiceDetail`.
pub fn created(url: &str, window: Window) -> Value {
    json!({
        "url": url,
        "not_before": rfc3339(window.not_before),
        "expires": rfc3339(window.expires),
        "virtual_service": {
            "channelType": {
                "system": CHANNEL_SYSTEM,
                "code": "browser-video-room",
                "display": "Video session in the patient's browser",
            },
            "addressUrl": url,
            "maxParticipants": 2,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_000_000; // 2026-11-29T...

    fn at(text: &str) -> u64 {
        OffsetDateTime::parse(text, &Rfc3339)
            .unwrap()
            .unix_timestamp()
            .try_into()
            .unwrap()
    }

    #[test]
    fn an_empty_body_is_a_link_for_now_and_the_next_day() {
        for body in [&b""[..], b"{}", b"  \n"] {
            let w = window(body, NOW).unwrap();
            assert_eq!((w.not_before, w.expires), (NOW, NOW + 24 * 3600));
        }
    }

    #[test]
    fn an_appointment_s_window_is_taken_as_asked() {
        let start = rfc3339(NOW + 3600);
        let end = rfc3339(NOW + 7200);
        let body = format!(r#"{{"not_before": "{start}", "expires": "{end}"}}"#);
        let w = window(body.as_bytes(), NOW).unwrap();
        assert_eq!((w.not_before, w.expires), (NOW + 3600, NOW + 7200));
        // Offsets are times like any other.
        let body = br#"{"not_before": "2026-12-04T14:00:00+01:00"}"#;
        let w = window(body, at("2026-12-04T10:00:00Z")).unwrap();
        assert_eq!(w.not_before, at("2026-12-04T13:00:00Z"));
        assert_eq!(w.expires, w.not_before + 24 * 3600);
    }

    #[test]
    fn bad_bodies_name_their_field() {
        let field = |body: &str| window(body.as_bytes(), NOW).unwrap_err().field;
        assert_eq!(field("not json"), "body");
        assert_eq!(field("[]"), "body");
        assert_eq!(field(r#"{"patient": "Ada"}"#), "patient");
        assert_eq!(field(r#"{"not_before": 5}"#), "not_before");
        assert!(window(br#"{"not_before": null}"#, NOW).is_ok());
        assert_eq!(field(r#"{"not_before": "tomorrow"}"#), "not_before");
        assert_eq!(field(r#"{"expires": "2026-13-01T00:00:00Z"}"#), "expires");
        let past = rfc3339(NOW - 3600);
        assert_eq!(
            field(&format!(r#"{{"not_before": "{past}"}}"#)),
            "not_before"
        );
        assert_eq!(field(&format!(r#"{{"expires": "{past}"}}"#)), "expires");
        let far = rfc3339(NOW + 31 * 86_400);
        assert_eq!(
            field(&format!(r#"{{"not_before": "{far}"}}"#)),
            "not_before"
        );
        assert_eq!(field(&format!(r#"{{"expires": "{far}"}}"#)), "expires");
        let start = rfc3339(NOW + 7200);
        let end = rfc3339(NOW + 3600);
        let backwards = format!(r#"{{"not_before": "{start}", "expires": "{end}"}}"#);
        assert_eq!(field(&backwards), "expires");
        // A request made as the session begins is no error.
        let just_now = rfc3339(NOW - 60);
        assert!(window(format!(r#"{{"not_before": "{just_now}"}}"#).as_bytes(), NOW).is_ok());
    }

    #[test]
    fn the_answer_holds_a_fhir_virtual_service_detail() {
        let url = "https://room3.clinic.example/#token";
        let body = created(
            url,
            Window {
                not_before: at("2026-12-04T13:00:00Z"),
                expires: at("2026-12-04T14:00:00Z"),
            },
        );
        assert_eq!(body["url"], url);
        assert_eq!(body["not_before"], "2026-12-04T13:00:00Z");
        assert_eq!(body["expires"], "2026-12-04T14:00:00Z");
        let service = &body["virtual_service"];
        assert_eq!(service["addressUrl"], url);
        assert_eq!(service["maxParticipants"], 2);
        assert_eq!(service["channelType"]["system"], CHANNEL_SYSTEM);
        assert!(service["channelType"]["code"].is_string());
    }
}
