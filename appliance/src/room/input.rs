//! What the session task hears: each producer's events, turned into one
//! [`Input`] by a forwarding task per producer, so that no producer imports
//! the room.

use tokio::sync::mpsc;

use crate::control::ControlCall;
use crate::media::MediaEvent;
use crate::notice::NoticeChanged;
use crate::room_io::RoomEvent;
use crate::session::Timer;
use crate::signalling::server::PatientEvent;

/// Everything the session task hears: each producer's own events, and the
/// task's own timers. Producers know only their own type (none imports this
/// module); a forwarding task per producer turns them into this.
#[derive(Debug)]
pub enum Input {
    /// From a patient's connection.
    Patient(PatientEvent),
    /// Media reported.
    Media(MediaEvent),
    /// The room's hardware thread reported.
    Room(RoomEvent),
    /// A control request.
    Control(ControlCall),
    /// IT's notice (see notice.rs) came, changed or went.
    Notice(NoticeChanged),
    /// A timer the session asked for fired; stale generations (a timer
    /// started again or cancelled since) are ignored.
    Timer(Timer, u64),
    /// SIGTERM or SIGINT.
    Shutdown,
}

impl From<PatientEvent> for Input {
    fn from(event: PatientEvent) -> Self {
        Input::Patient(event)
    }
}

impl From<MediaEvent> for Input {
    fn from(event: MediaEvent) -> Self {
        Input::Media(event)
    }
}

impl From<RoomEvent> for Input {
    fn from(event: RoomEvent) -> Self {
        Input::Room(event)
    }
}

impl From<ControlCall> for Input {
    fn from(call: ControlCall) -> Self {
        Input::Control(call)
    }
}

impl From<NoticeChanged> for Input {
    fn from(notice: NoticeChanged) -> Self {
        Input::Notice(notice)
    }
}

/// A producer's queue into the session task: its events are forwarded as
/// [`Input`]s, waiting for room, until either side is gone. Returns the
/// producer's end, bounded at `bound`.
pub fn forwarded<T: Into<Input> + Send + 'static>(
    bound: usize,
    inputs: &mpsc::Sender<Input>,
) -> mpsc::Sender<T> {
    let (tx, mut rx) = mpsc::channel::<T>(bound);
    let inputs = inputs.clone();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if inputs.send(event.into()).await.is_err() {
                break;
            }
        }
    });
    tx
}
