//! What the session hears ([`Event`]) and what it asks for ([`Command`]),
//! with the words both use: timers, the TV's power, what a patient's page
//! shows and what the TV shows.

use std::time::Duration;

use appliance_hardware::{LedPattern, ShutterPosition};

use super::{Fault, PeerId};

/// Timers the session asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The shutter must be sensed open or closed before this fires.
    Shutter,
    /// The security code's time on the TV is up.
    SecurityCode,
    /// A patient who went away has not come back in time: their place or
    /// their session ends.
    Grace(PeerId),
}

/// What the TV's power (HDMI-CEC) is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TvPower {
    /// A patient arrived in the waiting room: wake the TV, switch to the box.
    Wake,
    /// The room is idle: the TV may go to standby.
    MaySleep,
}

/// Everything that can happen to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A short press of the button.
    ShortPress,
    /// A long press (2 s) of the button.
    LongPress,
    /// The shutter's sensors changed.
    ShutterSensed(ShutterPosition),
    /// A patient with a valid invite arrived in the lobby.
    PatientJoined {
        /// Their connection.
        peer: PeerId,
        /// Their first name, as typed.
        name: String,
    },
    /// A patient left: they said so, or their page is gone for good.
    PatientLeft(PeerId),
    /// A patient's page or their call's connection is lost; they may come
    /// back (a reload, a network blip).
    PatientAway(PeerId),
    /// A patient who was away is back: their page is here and their call's
    /// media flows again.
    PatientBack(PeerId),
    /// Media with a patient failed for good.
    MediaFailed(PeerId),
    /// No network path between a patient's page and the box.
    MediaUnreachable(PeerId),
    /// A fault began.
    FaultRaised(Fault),
    /// A fault ended.
    FaultCleared(Fault),
    /// A timer fired.
    TimerFired(Timer),
}

/// What the patient's page is told: its `body[data-state]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatientView {
    /// In the waiting room.
    Waiting,
    /// Admitted; the shutter is opening.
    Starting,
    /// The therapist's video flows.
    Live,
    /// The therapist paused the video.
    Paused,
    /// The session is over.
    Ended,
    /// The box has a technical problem.
    Error,
    /// The patient's network could not reach the room: the page shows
    /// `error`, with this reason.
    #[serde(rename = "error")]
    Unreachable,
    /// The box gave up on the patient's media (their page did not answer
    /// in time, answered with nothing usable, or the media failed): the
    /// page shows `error`, with this reason.
    #[serde(rename = "error")]
    MediaFailed,
}

impl PatientView {
    /// Why the page shows `error`, when it can say.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            PatientView::Unreachable => Some("unreachable"),
            PatientView::MediaFailed => Some("media"),
            _ => None,
        }
    }
}

/// What the TV shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// The room name and "ready".
    Idle,
    /// "<name> is waiting, press the button".
    Lobby {
        /// The first waiting patient's name.
        name: String,
        /// How many wait in all.
        waiting: usize,
    },
    /// "starting...", or a request to open the manual shutter.
    Opening {
        /// True when the therapist must open the shutter by hand.
        open_by_hand: bool,
    },
    /// The patient full screen.
    Live,
    /// "paused".
    Paused,
    /// "session ended".
    Ended,
    /// What is wrong.
    Fault(Fault),
    /// "<name> is reconnecting": the patient in the session is away.
    Reconnecting {
        /// Their name.
        name: String,
    },
    /// A patient's connection could not be made.
    Unreachable {
        /// Their name.
        name: String,
    },
}

/// What the session asks the rest of the daemon to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Move the motorized shutter.
    Shutter {
        /// True to open, false to close.
        open: bool,
    },
    /// Show a pattern on the LED.
    Led(LedPattern),
    /// Let camera frames and the microphone through, or send black and silence.
    CameraGate {
        /// True to let them through.
        open: bool,
    },
    /// Negotiate media with a patient (gated until live).
    StartMedia(PeerId),
    /// End media with a patient and drop everything about the call.
    StopMedia(PeerId),
    /// Tell a patient's page where things stand.
    Notify(PeerId, PatientView),
    /// Show a screen on the TV.
    Show(Screen),
    /// Who is seen and heard in the room (the TV's picture and speakers):
    /// the admitted patient while live, or nobody.
    OnTv(Option<PeerId>),
    /// Show the security code on the TV, or stop showing it.
    ShowCode(bool),
    /// Wake the TV or let it sleep.
    Tv(TvPower),
    /// Start (or restart) a timer.
    StartTimer(Timer, Duration),
    /// Cancel a timer.
    CancelTimer(Timer),
}
