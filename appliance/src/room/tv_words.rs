//! What the TV writes for each screen the session shows.

use crate::media::ScreenText;
use crate::session::{Fault, Screen};

/// The TV's words for a screen (docs/design.md, the session flow). Plain text: the
/// TV escapes it. The patient's name is as the session keeps it (cleaned of
/// control characters, at most 40 characters).
pub(super) fn screen_text(
    screen: &Screen,
    room: &str,
    faults: &[Fault],
    code: Option<&String>,
    notice: Option<&str>,
) -> ScreenText {
    let title = match screen {
        Screen::Idle => format!("{room}\nReady"),
        Screen::Lobby { name, waiting } if *waiting > 1 => format!(
            "{name} is waiting\n({} more after them)\nPress the button to start",
            waiting - 1
        ),
        Screen::Lobby { name, .. } => format!("{name} is waiting\nPress the button to start"),
        Screen::Opening { open_by_hand: true } => "Open the camera shutter to start".into(),
        Screen::Opening { .. } => "Starting…".into(),
        Screen::Live => String::new(),
        Screen::Paused => "Paused\nPress the button to resume, hold it to end".into(),
        Screen::Ended => "Session ended".into(),
        Screen::Reconnecting { name } => {
            format!("{name} is reconnecting\nHold the button to end the session")
        }
        Screen::Unreachable { name } => {
            format!("The connection to {name} failed\nTheir network could not reach the room")
        }
        Screen::Fault(first) => {
            let mut words: Vec<&str> = faults.iter().map(|f| f.describe()).collect();
            if words.is_empty() {
                words.push(first.describe());
            }
            words.join("\n")
        }
    };
    let live = *screen == Screen::Live;
    ScreenText {
        title,
        // IT's notice only where no patient is waiting or seen: idle, fault.
        corner: match (screen, code, notice) {
            (Screen::Live, Some(code), _) => format!("Security code {code}"),
            (Screen::Idle | Screen::Fault(_), _, Some(notice)) => notice.to_owned(),
            _ => String::new(),
        },
        self_view: live,
    }
}
