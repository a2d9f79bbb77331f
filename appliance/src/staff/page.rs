//! The staff page's HTML, made on the server: a login form, and the desk
//! (the room's state, the form that makes a link, the link made with its
//! QR code, and logout). No script is needed to use it; `staff.js` only
//! adds the browser's time zone, the copy button and the state's refresh.
//! Everything put in the page is escaped.

use crate::session::State;

/// What the room is doing, as the front desk may know it: never who.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomState {
    Free,
    Waiting,
    InSession,
    Fault,
    Unknown,
}

impl RoomState {
    /// From the session's state and the lobby's count.
    pub fn of(state: State, waiting: usize) -> Self {
        match state {
            State::Opening | State::Live | State::Paused | State::Reconnecting => {
                RoomState::InSession
            }
            State::Fault => RoomState::Fault,
            _ if waiting > 0 => RoomState::Waiting,
            _ => RoomState::Free,
        }
    }

    /// The word in `data-state` and the state's JSON.
    pub fn word(self) -> &'static str {
        match self {
            RoomState::Free => "free",
            RoomState::Waiting => "waiting",
            RoomState::InSession => "in-session",
            RoomState::Fault => "fault",
            RoomState::Unknown => "unknown",
        }
    }

    /// The sentence the desk reads.
    pub fn words(self) -> &'static str {
        match self {
            RoomState::Free => "The room is free.",
            RoomState::Waiting => "A patient is waiting.",
            RoomState::InSession => "The room is in session.",
            RoomState::Fault => "The room has a fault; IT has the details.",
            RoomState::Unknown => "The room's state is not known right now.",
        }
    }
}

/// A link just made, to show.
#[derive(Debug)]
pub struct Made {
    pub url: String,
    /// When it is for, in the desk's own words (date, time, length).
    pub when: String,
    /// The QR code, an SVG element.
    pub qr: String,
}

/// `text` safe in HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(room: &str, state: &str, body: &str) -> String {
    let room = escape(room);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <title>Front desk: {room}</title>\n<link rel=\"stylesheet\" href=\"staff.css\">\n\
         <script src=\"staff.js\" defer></script>\n</head>\n\
         <body data-page=\"{state}\">\n<main>\n<header><h1>Front desk</h1>\
         <p class=\"room\">{room}</p></header>\n{body}</main>\n</body>\n</html>\n"
    )
}

fn message(text: Option<&str>) -> String {
    text.map_or_else(String::new, |t| {
        format!(
            "<p id=\"message\" class=\"message\" role=\"alert\">{}</p>\n",
            escape(t)
        )
    })
}

/// The login form, with `csrf` in it and `problem` above it.
pub fn login(room: &str, csrf: &str, problem: Option<&str>) -> String {
    let body = format!(
        "{}<form method=\"post\" action=\"login\" id=\"login\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
         <label for=\"name\">Name</label>\
         <input id=\"name\" name=\"name\" autocomplete=\"username\" required maxlength=\"64\">\n\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required maxlength=\"128\">\n\
         <label for=\"code\">Code from your authenticator app</label>\
         <input id=\"code\" name=\"code\" inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" \
         autocomplete=\"one-time-code\" required maxlength=\"6\">\n\
         <button type=\"submit\">Log in</button>\n</form>\n",
        message(problem),
        escape(csrf)
    );
    document(room, "login", &body)
}

/// The desk: the room's state, a link just made (if any), the form for the
/// next, and logout.
pub fn desk(
    (room, name, early): (&str, &str, u64),
    csrf: &str,
    state: RoomState,
    made: Option<&Made>,
    problem: Option<&str>,
) -> String {
    let csrf = escape(csrf);
    let made = made.map_or_else(String::new, |m| {
        format!(
            "<section id=\"made\" aria-labelledby=\"made-title\">\n\
             <h2 id=\"made-title\">Link for {}</h2>\n\
             <label for=\"link\">Send this link to the patient</label>\
             <input id=\"link\" readonly value=\"{}\">\n\
             <button type=\"button\" id=\"copy\" hidden>Copy the link</button>\n\
             <p class=\"small\">Or let a patient at the desk scan it:</p>\n\
             <div class=\"qr\" role=\"img\" aria-label=\"QR code of the link\">{}</div>\n\
             </section>\n",
            escape(&m.when),
            escape(&m.url),
            m.qr
        )
    });
    let body = format!(
        "<p class=\"who\">Logged in as {}</p>\n\
         <p id=\"room-state\" class=\"state\" data-state=\"{}\" aria-live=\"polite\">{}</p>\n\
         {}{made}\
         <form method=\"post\" action=\"links\" id=\"make\">\n<h2>Make a patient link</h2>\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <input type=\"hidden\" name=\"offset\" id=\"offset\" value=\"\">\n\
         <label for=\"date\">Date</label><input id=\"date\" name=\"date\" type=\"date\" required>\n\
         <label for=\"start\">Start time</label>\
         <input id=\"start\" name=\"start\" type=\"time\" required>\n\
         <label for=\"minutes\">Length</label><select id=\"minutes\" name=\"minutes\">\
         <option value=\"30\">30 minutes</option><option value=\"45\">45 minutes</option>\
         <option value=\"50\" selected>50 minutes</option><option value=\"60\">1 hour</option>\
         <option value=\"90\">1 hour 30 minutes</option><option value=\"120\">2 hours</option>\
         </select>\n\
         <p class=\"small\">The patient can come in up to {early} minutes early; the link \
         ends with the session's time.</p>\n\
         <button type=\"submit\">Make the link</button>\n</form>\n\
         <form method=\"post\" action=\"logout\" id=\"logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" class=\"secondary\">Log out</button></form>\n",
        escape(name),
        state.word(),
        state.words(),
        message(problem),
    );
    document(room, "desk", &body)
}

/// The page while no staff account exists.
pub fn off(room: &str) -> String {
    document(
        room,
        "off",
        "<p>The front desk's page is off: this box has no staff account. IT adds one \
         with <code>appliance staff add NAME</code>.</p>\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_put_in_the_page_is_escaped() {
        let page = login("<script>x</script>", "a\"b", Some("<b>"));
        assert!(!page.contains("<script>x"));
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(page.contains("value=\"a&quot;b\""));
        assert!(page.contains("&lt;b&gt;"));
        let made = Made {
            url: "https://box/#a\"><script>".into(),
            when: "x".into(),
            qr: "<svg></svg>".into(),
        };
        let page = desk(("R", "desk", 15), "c", RoomState::Free, Some(&made), None);
        assert!(page.contains("value=\"https://box/#a&quot;&gt;&lt;script&gt;\""));
        assert!(page.contains("<svg></svg>"));
    }

    #[test]
    fn the_room_s_state_names_no_one() {
        assert_eq!(RoomState::of(State::Idle, 0), RoomState::Free);
        assert_eq!(RoomState::of(State::Lobby, 1), RoomState::Waiting);
        assert_eq!(RoomState::of(State::Live, 2), RoomState::InSession);
        assert_eq!(RoomState::of(State::Reconnecting, 0), RoomState::InSession);
        assert_eq!(RoomState::of(State::Fault, 0), RoomState::Fault);
    }
}
