//! What the TV writes for each screen the session shows.

use crate::media::ScreenText;
use crate::session::{Fault, Screen};
use crate::signalling::protocol::PatientDevices;

/// The TV's words for a screen (docs/design.md, the session flow). Plain text: the
/// TV escapes it. The patient's name is as the session keeps it (cleaned of
/// control characters, at most 40 characters). In a call, the patient's
/// camera or microphone turned off is said: their picture is black, or
/// they are silent, on purpose.
pub(super) fn screen_text(
    screen: &Screen,
    room: &str,
    faults: &[Fault],
    (code, devices): (Option<&String>, Option<PatientDevices>),
    notice: Option<&str>,
) -> ScreenText {
    let devices = devices.unwrap_or_default();
    let title = match screen {
        Screen::Idle => format!("{room}\nReady"),
        Screen::Lobby { name, waiting } if *waiting > 1 => format!(
            "{name} is waiting\n({} more after them)\nPress the button to start",
            waiting - 1
        ),
        Screen::Lobby { name, .. } => format!("{name} is waiting\nPress the button to start"),
        Screen::Opening { open_by_hand: true } => "Open the camera shutter to start".into(),
        Screen::Opening { .. } => "Starting…".into(),
        Screen::Live if !devices.camera => "Camera off".into(),
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
            (Screen::Live, Some(code), _) if !devices.microphone => {
                format!("Security code {code}   Muted")
            }
            (Screen::Live, Some(code), _) => format!("Security code {code}"),
            (Screen::Live, None, _) if !devices.microphone => "Muted".into(),
            (Screen::Idle | Screen::Fault(_), _, Some(notice)) => notice.to_owned(),
            _ => String::new(),
        },
        self_view: live,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_s_camera_off_or_microphone_muted_is_said_in_the_call_only() {
        let code = "123 456".to_owned();
        let off = |camera, microphone| Some(PatientDevices { camera, microphone });
        let live = |devices| screen_text(&Screen::Live, "R", &[], (Some(&code), devices), None);
        assert_eq!(live(off(false, true)).title, "Camera off");
        assert_eq!(live(off(false, true)).corner, "Security code 123 456");
        assert_eq!(live(off(true, false)).title, "");
        assert_eq!(
            live(off(true, false)).corner,
            "Security code 123 456   Muted"
        );
        let both = live(off(false, false));
        assert_eq!(
            (both.title.as_str(), both.corner.as_str()),
            ("Camera off", "Security code 123 456   Muted")
        );
        // Once the code is gone, muted stays said.
        let later = screen_text(&Screen::Live, "R", &[], (None, off(true, false)), None);
        assert_eq!(later.corner, "Muted");
        assert_eq!(live(off(true, true)), live(None));
        // Not on other screens: the lobby's and the pause's words stay.
        let lobby = Screen::Lobby {
            name: "Ada".into(),
            waiting: 1,
        };
        let text = screen_text(&lobby, "R", &[], (None, off(false, false)), None);
        assert_eq!(text.title, "Ada is waiting\nPress the button to start");
        assert!(text.corner.is_empty());
    }
}
