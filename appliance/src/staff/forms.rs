//! What the staff page's forms send: read, checked, and turned into what
//! the box does (a link's window), with the desk's own words for what is
//! wrong.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use subtle::ConstantTimeEq;
use time::{Date, PrimitiveDateTime, Time};

use crate::api::request::checked;
use crate::invite::Window;

/// The message for a form that cannot be read.
pub const UNREADABLE: &str = "The form could not be read. Please try again.";

/// The shortest and longest session a link is made for, minutes.
const MINUTES: std::ops::RangeInclusive<u64> = 5..=240;

/// A form's fields, as sent (`application/x-www-form-urlencoded`).
#[derive(Debug)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The form in a request's body, if it is one (a body over the limit
    /// is not).
    pub fn read(body: Result<Bytes, BytesRejection>) -> Option<Self> {
        let body = body.ok()?;
        serde_urlencoded::from_bytes(&body).ok().map(Form)
    }

    /// The first value of the field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        (self.0.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether a login form's token matches its cookie's (both present, equal,
/// compared in constant time).
pub fn same_token(cookie: Option<&str>, form: Option<&str>) -> bool {
    match (cookie, form) {
        (Some(c), Some(f)) if !c.is_empty() => bool::from(c.as_bytes().ct_eq(f.as_bytes())),
        _ => false,
    }
}

/// The window a link form asks for at `now` (Unix seconds), and the desk's
/// words for it: its date and start time in the desk's own time zone (the
/// page's script sends the browser's offset from UTC; without it, UTC),
/// and its length.
pub fn appointment(form: &Form, now: u64) -> Result<(Window, String), String> {
    let field = |name: &str| form.get(name).unwrap_or("").trim();
    let date = parse_date(field("date")).ok_or("Please give the session's date.")?;
    let start = parse_time(field("start")).ok_or("Please give the session's start time.")?;
    let minutes: u64 = (field("minutes").parse().ok())
        .filter(|m| MINUTES.contains(m))
        .ok_or("Please choose the session's length.")?;
    let offset: i64 = match field("offset") {
        "" => 0,
        text => (text.parse().ok())
            .filter(|o: &i64| o.abs() <= 16 * 60)
            .ok_or("The browser's time zone could not be read. Please reload the page.")?,
    };
    let local = PrimitiveDateTime::new(date, start)
        .assume_utc()
        .unix_timestamp();
    let not_before = u64::try_from(local + offset * 60)
        .map_err(|_| "Please give a date from today on.".to_owned())?;
    let expires = not_before + minutes * 60;
    let window = checked(not_before, expires, now).map_err(|bad| {
        if bad.message.contains("30 days") {
            "Links can be made for the next 30 days only.".to_owned()
        } else {
            "That time has passed. Please give a start time from now on.".to_owned()
        }
    })?;
    let zone = if field("offset").is_empty() {
        " (UTC)"
    } else {
        ""
    };
    let when = format!(
        "{} at {}{zone}, {minutes} minutes",
        field("date"),
        &field("start")[..5.min(field("start").len())]
    );
    Ok((window, when))
}

/// `YYYY-MM-DD`, as a browser's date input sends it.
fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let year = parts.next()?.parse().ok()?;
    let month = time::Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    let day = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Date::from_calendar_date(year, month, day).ok()
}

/// `HH:MM` or `HH:MM:SS`, as a browser's time input sends it.
fn parse_time(text: &str) -> Option<Time> {
    let mut parts = text.split(':').map(|p| p.parse::<u8>().ok());
    let hour = parts.next()??;
    let minute = parts.next()??;
    let second = parts.next().unwrap_or(Some(0))?;
    if parts.next().is_some() {
        return None;
    }
    Time::from_hms(hour, minute, second).ok()
}

/// The link as a QR code, an `<svg>` element to put in the page.
pub fn qr_svg(url: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(url.as_bytes()) else {
        return String::new();
    };
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    // Without the XML declaration: the element goes inside the page.
    match svg.find("<svg") {
        Some(at) => svg[at..].to_owned(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_000_000; // 2026-11-29T...

    fn form(fields: &[(&str, &str)]) -> Form {
        Form(
            (fields.iter())
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_date_a_start_and_a_length_in_the_desk_s_time_zone_make_the_window() {
        // 2026-12-01 14:00 in Amsterdam (UTC+1, so an offset of -60).
        let asked = form(&[
            ("date", "2026-12-01"),
            ("start", "14:00"),
            ("minutes", "50"),
            ("offset", "-60"),
        ]);
        let (window, when) = appointment(&asked, NOW).unwrap();
        let utc = PrimitiveDateTime::new(
            Date::from_calendar_date(2026, time::Month::December, 1).unwrap(),
            Time::from_hms(13, 0, 0).unwrap(),
        )
        .assume_utc()
        .unix_timestamp() as u64;
        assert_eq!(window.not_before, utc);
        assert_eq!(window.expires, utc + 50 * 60);
        assert_eq!(when, "2026-12-01 at 14:00, 50 minutes");
    }

    #[test]
    fn bad_fields_are_named_in_the_desk_s_words() {
        let base = [
            ("date", "2026-12-01"),
            ("start", "14:00"),
            ("minutes", "50"),
        ];
        let with = |name: &str, value: &'static str| {
            let mut fields = base.to_vec();
            fields.retain(|(n, _)| *n != name);
            fields.push((name, value));
            appointment(&form(&fields), NOW).unwrap_err()
        };
        assert!(with("date", "tomorrow").contains("date"));
        assert!(with("start", "25:00").contains("start time"));
        assert!(with("minutes", "1000").contains("length"));
        assert!(with("offset", "abc").contains("time zone"));
        assert!(with("date", "2026-11-01").contains("passed"));
        assert!(with("date", "2027-06-01").contains("30 days"));
        let (_, when) = appointment(&form(&base), NOW).unwrap();
        assert!(when.contains("(UTC)"));
    }

    #[test]
    fn tokens_match_only_when_both_are_there_and_equal() {
        assert!(same_token(Some("abc"), Some("abc")));
        assert!(!same_token(Some("abc"), Some("abd")));
        assert!(!same_token(None, Some("abc")));
        assert!(!same_token(Some(""), Some("")));
        assert!(!same_token(Some("abc"), None));
    }

    #[test]
    fn the_qr_code_is_an_svg_element() {
        let svg = qr_svg("https://127.0.0.1:8443/#AAAA");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    }
}
