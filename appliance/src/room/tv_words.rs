//! What the TV writes for each screen the session shows, in the room's
//! language: one table per language.

use crate::language::Language;
use crate::media::ScreenText;
use crate::session::{Fault, Screen};
use crate::signalling::protocol::PatientDevices;

/// The TV's words in one language. `{name}`, `{n}` and `{code}` are filled
/// in.
struct Words {
    ready: &'static str,
    waiting: &'static str,
    more: &'static str,
    press_to_start: &'static str,
    open_shutter: &'static str,
    starting: &'static str,
    camera_off: &'static str,
    paused: &'static str,
    ended: &'static str,
    reconnecting: &'static str,
    unreachable: &'static str,
    code: &'static str,
    muted: &'static str,
    weak: &'static str,
    /// Each fault's words, in `Fault`'s order (see `fault`).
    faults: [&'static str; 5],
}

const ENGLISH: Words = Words {
    ready: "Ready",
    waiting: "{name} is waiting",
    more: "({n} more after them)",
    press_to_start: "Press the button to start",
    open_shutter: "Open the camera shutter to start",
    starting: "Starting…",
    camera_off: "Camera off",
    paused: "Paused\nPress the button to resume, hold it to end",
    ended: "Session ended",
    reconnecting: "{name} is reconnecting\nHold the button to end the session",
    unreachable: "The connection to {name} failed\nTheir network could not reach the room",
    code: "Security code {code}",
    muted: "Muted",
    weak: "Weak connection",
    faults: [
        "The camera shutter did not move. Check that nothing blocks it.",
        "The camera shutter is stuck. Check that nothing blocks it, then press the button.",
        "The camera is not connected. Check its cable.",
        "The button is stuck or cannot be read. Check that nothing presses on it and its cable.",
        "The provisioning file has errors and was not applied. IT: see provision-error.txt on \
         the boot partition.",
    ],
};

const DUTCH: Words = Words {
    ready: "Gereed",
    waiting: "{name} wacht",
    more: "(daarna nog {n})",
    press_to_start: "Druk op de knop om te beginnen",
    open_shutter: "Open de camerasluiter om te beginnen",
    starting: "Bezig met starten…",
    camera_off: "Camera uit",
    paused: "Gepauzeerd\nDruk op de knop om verder te gaan, houd hem ingedrukt om te stoppen",
    ended: "Sessie beëindigd",
    reconnecting: "{name} maakt opnieuw verbinding\nHoud de knop ingedrukt om de sessie te \
                   beëindigen",
    unreachable: "De verbinding met {name} is mislukt\nHun netwerk kon de kamer niet bereiken",
    code: "Beveiligingscode {code}",
    muted: "Microfoon uit",
    weak: "Zwakke verbinding",
    faults: [
        "De camerasluiter bewoog niet. Controleer of niets hem blokkeert.",
        "De camerasluiter zit vast. Controleer of niets hem blokkeert en druk dan op de knop.",
        "De camera is niet aangesloten. Controleer de kabel.",
        "De knop zit vast of kan niet worden gelezen. Controleer of er niets op drukt, en de \
         kabel.",
        "Het provisioningbestand bevat fouten en is niet toegepast. IT: zie \
         provision-error.txt op de opstartpartitie.",
    ],
};

const GERMAN: Words = Words {
    ready: "Bereit",
    waiting: "{name} wartet",
    more: "(danach noch {n})",
    press_to_start: "Zum Starten die Taste drücken",
    open_shutter: "Zum Starten die Kameraabdeckung öffnen",
    starting: "Wird gestartet…",
    camera_off: "Kamera aus",
    paused: "Pausiert\nZum Fortsetzen die Taste drücken, zum Beenden gedrückt halten",
    ended: "Sitzung beendet",
    reconnecting: "{name} verbindet sich neu\nZum Beenden der Sitzung die Taste gedrückt halten",
    unreachable: "Die Verbindung zu {name} ist fehlgeschlagen\nIhr Netzwerk konnte den Raum \
                  nicht erreichen",
    code: "Sicherheitscode {code}",
    muted: "Stummgeschaltet",
    weak: "Schwache Verbindung",
    faults: [
        "Die Kameraabdeckung hat sich nicht bewegt. Prüfen Sie, ob sie blockiert ist.",
        "Die Kameraabdeckung klemmt. Prüfen Sie, ob sie blockiert ist, und drücken Sie dann die \
         Taste.",
        "Die Kamera ist nicht angeschlossen. Prüfen Sie das Kabel.",
        "Die Taste klemmt oder kann nicht gelesen werden. Prüfen Sie, ob etwas darauf drückt, \
         und das Kabel.",
        "Die Provisionierungsdatei enthält Fehler und wurde nicht angewendet. IT: siehe \
         provision-error.txt auf der Boot-Partition.",
    ],
};

fn words(language: Language) -> &'static Words {
    match language {
        Language::En => &ENGLISH,
        Language::Nl => &DUTCH,
        Language::De => &GERMAN,
    }
}

/// A fault's words on the TV (`Fault::describe` keeps IT's, in English).
fn fault(words: &Words, fault: Fault) -> &'static str {
    words.faults[match fault {
        Fault::ShutterTimeout => 0,
        Fault::ShutterJammed => 1,
        Fault::CameraMissing => 2,
        Fault::Button => 3,
        Fault::Provisioning => 4,
    }]
}

/// The TV's words for a screen (docs/design.md, the session flow), in the
/// room's language. Plain text: the TV escapes it. The patient's name is
/// as the session keeps it (cleaned of control characters, at most 40
/// characters), filled in last. In a call, the patient's camera or
/// microphone turned off is said: their picture is black, or they are
/// silent, on purpose.
pub(super) fn screen_text(
    language: Language,
    screen: &Screen,
    room: &str,
    faults: &[Fault],
    (code, devices, weak): (Option<&String>, Option<PatientDevices>, bool),
    notice: Option<&str>,
) -> ScreenText {
    let w = words(language);
    let devices = devices.unwrap_or_default();
    let named = |text: &str, name: &str| text.replace("{name}", name);
    let title = match screen {
        Screen::Idle => format!("{room}\n{}", w.ready),
        Screen::Lobby { name, waiting } if *waiting > 1 => format!(
            "{}\n{}\n{}",
            named(w.waiting, name),
            w.more.replace("{n}", &(waiting - 1).to_string()),
            w.press_to_start
        ),
        Screen::Lobby { name, .. } => format!("{}\n{}", named(w.waiting, name), w.press_to_start),
        Screen::Opening { open_by_hand: true } => w.open_shutter.into(),
        Screen::Opening { .. } => w.starting.into(),
        Screen::Live if !devices.camera => w.camera_off.into(),
        Screen::Live => String::new(),
        Screen::Paused => w.paused.into(),
        Screen::Ended => w.ended.into(),
        Screen::Reconnecting { name } => named(w.reconnecting, name),
        Screen::Unreachable { name } => named(w.unreachable, name),
        Screen::Fault(first) => {
            let mut said: Vec<&str> = faults.iter().map(|f| fault(w, *f)).collect();
            if said.is_empty() {
                said.push(fault(w, *first));
            }
            said.join("\n")
        }
    };
    let live = *screen == Screen::Live;
    let code = code.map(|code| w.code.replace("{code}", code));
    // In a call: the code while it shows, then what the room should know.
    let call = [
        code,
        (!devices.microphone).then(|| w.muted.to_owned()),
        weak.then(|| w.weak.to_owned()),
    ];
    let call: Vec<String> = call.into_iter().flatten().collect();
    ScreenText {
        title,
        // IT's notice only where no patient is waiting or seen: idle, fault.
        corner: match (screen, notice) {
            (Screen::Live, _) => call.join("   "),
            (Screen::Idle | Screen::Fault(_), Some(notice)) => notice.to_owned(),
            _ => String::new(),
        },
        self_view: live,
    }
}

/// [`screen_text`] in English, for the tests.
#[cfg(test)]
pub(super) fn english(
    screen: &Screen,
    room: &str,
    faults: &[Fault],
    patient: (Option<&String>, Option<PatientDevices>, bool),
    notice: Option<&str>,
) -> ScreenText {
    screen_text(Language::En, screen, room, faults, patient, notice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_s_camera_off_or_microphone_muted_is_said_in_the_call_only() {
        let code = "123 456".to_owned();
        let off = |camera, microphone| Some(PatientDevices { camera, microphone });
        let live = |devices| english(&Screen::Live, "R", &[], (Some(&code), devices, false), None);
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
        let later = english(
            &Screen::Live,
            "R",
            &[],
            (None, off(true, false), false),
            None,
        );
        assert_eq!(later.corner, "Muted");
        assert_eq!(live(off(true, true)), live(None));
        // A weak connection is said in the corner, after the rest.
        let weak = english(
            &Screen::Live,
            "R",
            &[],
            (None, off(true, false), true),
            None,
        );
        assert_eq!(weak.corner, "Muted   Weak connection");
        // Not on other screens: the lobby's and the pause's words stay.
        let lobby = Screen::Lobby {
            name: "Ada".into(),
            waiting: 1,
        };
        let text = english(&lobby, "R", &[], (None, off(false, false), false), None);
        assert_eq!(text.title, "Ada is waiting\nPress the button to start");
        assert!(text.corner.is_empty());
    }

    /// Every screen in every language: words of their own (no English left
    /// in Dutch or German but the room's name, the patient's and the code),
    /// with what is filled in filled in.
    #[test]
    fn every_screen_has_words_in_every_language() {
        let code = "123 456".to_owned();
        let name = || "Ada".to_owned();
        let screens = [
            Screen::Idle,
            Screen::Lobby {
                name: name(),
                waiting: 3,
            },
            Screen::Opening { open_by_hand: true },
            Screen::Opening {
                open_by_hand: false,
            },
            Screen::Paused,
            Screen::Ended,
            Screen::Reconnecting { name: name() },
            Screen::Unreachable { name: name() },
        ];
        let faults = [
            Fault::ShutterTimeout,
            Fault::ShutterJammed,
            Fault::CameraMissing,
            Fault::Button,
            Fault::Provisioning,
        ];
        let off = Some(PatientDevices {
            camera: false,
            microphone: false,
        });
        let all = |language| {
            let mut texts: Vec<String> = screens
                .iter()
                .map(|s| screen_text(language, s, "R", &[], (Some(&code), None, false), None).title)
                .collect();
            let live = screen_text(
                language,
                &Screen::Live,
                "R",
                &[],
                (Some(&code), off, true),
                None,
            );
            texts.extend([live.title, live.corner]);
            texts.extend(faults.iter().map(|f| {
                screen_text(
                    language,
                    &Screen::Fault(*f),
                    "R",
                    &[*f],
                    (None, None, false),
                    None,
                )
                .title
            }));
            texts
        };
        let english = all(Language::En);
        for language in [Language::Nl, Language::De] {
            let theirs = all(language);
            for (mine, en) in theirs.iter().zip(&english) {
                assert!(!mine.contains('{'), "{language:?}: {mine}");
                for line in en.lines().filter(|l| l.len() > 3) {
                    let left = line.replace("Ada", "").replace("123 456", "");
                    assert!(
                        left.trim().is_empty() || !mine.contains(left.trim()),
                        "{language:?} says {mine:?}, English {en:?}"
                    );
                }
            }
            assert!(
                theirs[1].contains("Ada") && theirs[1].contains('2'),
                "{theirs:?}"
            );
            assert!(
                theirs[6].contains("Ada") && theirs[7].contains("Ada"),
                "{theirs:?}"
            );
            assert!(theirs[9].contains("123 456"), "{theirs:?}");
        }
    }
}
