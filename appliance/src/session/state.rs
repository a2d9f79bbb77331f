//! The session's state and the room's faults, as `status` and the TV show them.

use appliance_hardware::LedPattern;

/// The session's state, as `status` and the TV show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// No patient.
    Idle,
    /// Patients wait; the first one's media is negotiated, gated.
    Lobby,
    /// The button was pressed; waiting for the shutter to be sensed open.
    Opening,
    /// Camera frames leave the box.
    Live,
    /// The therapist paused: shutter closed, camera gated.
    Paused,
    /// The patient in the session is away (their page reloaded, their
    /// network dropped): camera gated until they are back, or the session
    /// ends after the reconnect grace.
    Reconnecting,
    /// The session ended; waiting for the shutter to be sensed closed.
    Ending,
    /// Something is wrong; see [`Fault`].
    Fault,
}

impl std::fmt::Display for State {
    /// The word `status` uses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Idle => "idle",
            State::Lobby => "lobby",
            State::Opening => "opening",
            State::Live => "live",
            State::Paused => "paused",
            State::Reconnecting => "reconnecting",
            State::Ending => "ending",
            State::Fault => "fault",
        })
    }
}

impl State {
    /// The LED pattern of each state: the LED shows the truth, red whenever
    /// camera frames can leave.
    pub fn led(self) -> LedPattern {
        match self {
            State::Idle | State::Ending => LedPattern::Off,
            State::Lobby | State::Opening | State::Paused | State::Reconnecting => {
                LedPattern::Waiting
            }
            State::Live => LedPattern::Live,
            State::Fault => LedPattern::Fault,
        }
    }
}

/// What is wrong, in words the therapist can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The shutter did not reach its position in time.
    ShutterTimeout,
    /// The shutter's sensors say it is stuck, or both sensors are made.
    ShutterJammed,
    /// The camera is gone.
    CameraMissing,
    /// The button is held down for good, or its pin cannot be read.
    Button,
    /// IT's provisioning file had errors, so none of it was applied; until
    /// a fixed one is imported (at the next start).
    Provisioning,
}

impl Fault {
    /// Plain words for the TV.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::ShutterTimeout => {
                "The camera shutter did not move. Check that nothing blocks it."
            }
            Fault::ShutterJammed => {
                "The camera shutter is stuck. Check that nothing blocks it, then press the button."
            }
            Fault::CameraMissing => "The camera is not connected. Check its cable.",
            Fault::Button => {
                "The button is stuck or cannot be read. Check that nothing presses on it and its cable."
            }
            Fault::Provisioning => {
                "The provisioning file has errors and was not applied. IT: see provision-error.txt on the boot partition."
            }
        }
    }
}
