//! The local control socket: how `appliance status`, `invite` and `press`
//! reach the running daemon. One JSON request line, one JSON reply line.
//! The socket is a Unix socket with mode 0600: only the daemon's user (and
//! root) can use it.

pub mod status_text;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use appliance_hardware::{LedPattern, ShutterPosition};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::ice_path::{PathKind, RelayTransport};
use crate::session::State;
use crate::signalling::protocol::PatientDevices;

/// The longest request line read.
const MAX_REQUEST: usize = 4096;
/// How long a client or the daemon waits for the other side.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The default socket path: systemd's runtime directory, else /run/appliance.
pub fn default_path() -> PathBuf {
    crate::notify::systemd_directory("RUNTIME_DIRECTORY")
        .unwrap_or_else(|| PathBuf::from("/run/appliance"))
        .join("control.sock")
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The daemon's status.
    Status,
    /// A new patient link.
    Invite {
        /// How long it is valid, in seconds.
        ttl_secs: u64,
    },
    /// Press the simulated button.
    Press {
        /// A long press.
        long: bool,
    },
    /// Inject a fault into the simulated room.
    Sim(SimFault),
    /// Simulation: a small copy of what the TV shows now.
    TvGrab,
    /// IT changed the clinic's systems allowed to make links: the new list,
    /// as the store keeps it (names and hashes, never a token).
    ApiClients {
        /// `NAME:HASH` items.
        clients: Vec<String>,
    },
    /// IT changed the front desk's accounts: the new list, as the store
    /// keeps it (password hashes and TOTP secrets; the socket is root's).
    StaffAccounts {
        /// `NAME:HASH:SECRET` lines.
        accounts: Vec<String>,
    },
}

/// Faults the simulation can be told to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimFault {
    /// The shutter sticks where it is.
    ShutterJam,
    /// The shutter moves again.
    ShutterFree,
    /// The camera is pulled out.
    CameraUnplug,
    /// The camera is plugged back in.
    CameraPlug,
    /// Every patient's video stops on its way out of the box.
    MediaStall,
    /// The daemon panics, as a bug would make it.
    Panic,
}

/// Media counters in `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaStatus {
    /// Video frames sent while the camera gate was open.
    pub video_frames_sent: u64,
    /// Video frames received from the patient.
    pub video_frames_received: u64,
    /// RTP packets of the patient's video that reached the box, decoded
    /// or not.
    #[serde(default)]
    pub video_packets_received: u64,
    /// Keyframes the box asked the patient's browser for while it had no
    /// picture to decode.
    #[serde(default)]
    pub keyframes_asked: u64,
    /// Audio buffers received from the patient.
    pub audio_frames_received: u64,
    /// Of those, the buffers with sound in them (not silence).
    pub audio_frames_audible: u64,
    /// The video encoder's target, kbit/s: the configured cap, or less when
    /// congestion control finds the path carries less.
    pub bitrate_kbps: u64,
    /// What congestion control estimates the path to the patient carries
    /// (audio and video), kbit/s; null until it has an estimate.
    #[serde(default)]
    pub estimate_kbps: Option<u64>,
    /// Round-trip time to the patient, when known.
    pub rtt_ms: Option<u64>,
    /// Times a patient's call came back after its media was lost (a
    /// reload, a network blip), since the daemon started.
    #[serde(default)]
    pub reconnects: u64,
    /// Which path the call took (host, srflx or relay), once connected.
    #[serde(default)]
    pub path: Option<PathKind>,
    /// With a relay: how the relaying party reaches its TURN server (udp,
    /// tcp or tls).
    #[serde(default)]
    pub relay_transport: Option<RelayTransport>,
    /// When the box's TURN servers gave the call no relay address, what to
    /// check, in plain words.
    #[serde(default)]
    pub relay_problem: Option<String>,
    /// The connection with the patient in the session is weak: too little
    /// bandwidth, a long round trip or loss, for seconds
    /// (`media/quality.rs`).
    #[serde(default)]
    pub weak_connection: bool,
}

/// The daemon's status (docs/design.md, Interfaces).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The room's name, as provisioned (`room.name`).
    pub room: String,
    /// idle, lobby, opening, live, paused, reconnecting, ending or fault.
    pub state: State,
    /// closed, opening, open, closing or jammed.
    pub shutter: ShutterPosition,
    /// off, waiting, live or fault.
    pub led: LedPattern,
    /// Patients in the lobby.
    pub waiting: usize,
    /// Whether camera frames may leave the box now.
    pub camera_gate: bool,
    /// The security code of the call, null outside one.
    pub security_code: Option<String>,
    /// What is wrong, in plain words, when in fault.
    pub faults: Vec<String>,
    /// IT's notice (an update refused, installed or rolled back), if any.
    pub notice: Option<String>,
    /// What went wrong with the last patient's call (their network could
    /// not reach the room), until the next patient joins.
    #[serde(default)]
    pub call_problem: Option<String>,
    /// Whether the patient in the call has their camera and microphone
    /// on, as their page says; null outside a call.
    #[serde(default)]
    pub patient_devices: Option<PatientDevices>,
    /// Messages between the daemon's parts that a full queue made it drop,
    /// each logged: 0 in a healthy box.
    pub messages_dropped: u64,
    /// Media counters.
    pub media: MediaStatus,
}

/// The daemon's reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The status.
    Status(Box<Status>),
    /// A patient link.
    Invite {
        /// The link.
        link: String,
    },
    /// Done.
    Ok,
    /// A picture from the TV: packed RGB, base64.
    Frame {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// The pixels.
        rgb: String,
    },
    /// Refused, with the reason.
    Error {
        /// Why.
        message: String,
    },
}

/// Why the daemon could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No daemon listens.
    #[error("cannot reach the appliance at {path}: {error}; is it running (appliance run)?")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The daemon did not answer properly.
    #[error("the appliance did not answer: {0}")]
    Answer(String),
    /// The daemon refused.
    #[error("{0}")]
    Refused(String),
}

/// Sends one request and waits for the reply.
pub async fn request(path: &Path, request: &Request) -> Result<Reply, ControlError> {
    let exchange = async {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|error| ControlError::Connect {
                path: path.to_owned(),
                error,
            })?;
        let (read, mut write) = stream.into_split();
        let mut line =
            serde_json::to_string(request).map_err(|e| ControlError::Answer(e.to_string()))?;
        line.push('\n');
        write
            .write_all(line.as_bytes())
            .await
            .map_err(|e| ControlError::Answer(e.to_string()))?;
        let mut reply = String::new();
        BufReader::new(read)
            .read_line(&mut reply)
            .await
            .map_err(|e| ControlError::Answer(e.to_string()))?;
        match serde_json::from_str(&reply) {
            Ok(Reply::Error { message }) => Err(ControlError::Refused(message)),
            Ok(reply) => Ok(reply),
            Err(e) => Err(ControlError::Answer(e.to_string())),
        }
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(ControlError::Answer("timed out".into())))
}

/// Listens on `path` (replacing a stale socket) and hands each request to the
/// session task.
pub fn listen(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        // A socket left by a daemon that died; a live one would answer.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another appliance is running on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// A request for the session task, with where its reply goes.
#[derive(Debug)]
pub struct ControlCall(pub Request, pub oneshot::Sender<Reply>);

/// Serves control requests until the process ends.
pub async fn serve(listener: UnixListener, session: mpsc::Sender<ControlCall>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let session = session.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(TIMEOUT, client(stream, session)).await;
        });
    }
}

async fn client(stream: UnixStream, session: mpsc::Sender<ControlCall>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            let (tx, rx) = oneshot::channel();
            if session.send(ControlCall(request, tx)).await.is_err() {
                return;
            }
            rx.await.unwrap_or(Reply::Error {
                message: "the session ended".into(),
            })
        }
        Err(_) => Reply::Error {
            message: "not a control request".into(),
        },
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_default();
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
}
