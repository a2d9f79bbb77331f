//! The HTTPS server: the patient page and the signalling WebSocket on one port,
//! TLS by rustls. Each patient's socket is one task that relays between the
//! page and the session task and the media thread. Every wait has a timeout; nothing a
//! page sends can panic the daemon; logs never carry a token or a name.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;

use super::client::{JoinGuard, TrustedProxies};
use super::limits::Connections;
use super::protocol::{self, ClientMessage, ServerMessage};
use super::resume::ResumeHash;
use super::sockets::{PROBE_WAIT, Probe, Sockets};
use crate::ice_path::PairView;
use crate::invite::Invites;
use crate::language::Language;
use crate::media::{Codec, MediaCommand};
use crate::session::PeerId;
use crate::turn::IceServers;

/// A page must say who it is this soon after connecting.
pub(super) const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The TLS handshake must finish this soon.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The server pings every socket this often; browsers answer on their own.
const PING_EVERY: Duration = Duration::from_secs(15);
/// A socket silent this long (not even a pong) is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Messages queued to one page. A page reads them as fast as they come;
/// a full queue means it is gone, and its messages are dropped.
pub(super) const OUTBOX: usize = 64;
/// Refused joins (a bad, spent or expired link) one address may make in a
/// minute before it is turned away for the rest of it: a patient who
/// mistypes tries a few times, a stranger guessing links many.
const REFUSED_JOINS: u32 = 10;
/// Resumes (good or not) one address may make in a minute: a page coming
/// back after a reload or a drop waits longer and longer between tries.
const RESUMES: u32 = 20;

/// What the patients' connections tell the session task.
#[derive(Debug)]
pub enum PatientEvent {
    /// A patient's invite was good; they wait in the lobby.
    Joined {
        /// Their connection.
        peer: PeerId,
        /// Their first name, as their page sent it (the session cleans it).
        name: String,
        /// The video codec their browser takes.
        codec: Codec,
        /// Messages to their page.
        outbox: mpsc::Sender<ServerMessage>,
        /// What the box keeps of the resume secret their page was given.
        resume: ResumeHash,
        /// Their socket's number.
        socket: u64,
    },
    /// A page presents a resume secret: the session task answers with the
    /// patient it brings back, if it is good and their page is away.
    Resume {
        /// What the box keeps of the secret presented.
        resume: ResumeHash,
        /// Messages to the page, from now on.
        outbox: mpsc::Sender<ServerMessage>,
        /// The page's socket's number.
        socket: u64,
        /// The patient, or why not.
        reply: oneshot::Sender<Resumed>,
    },
    /// A patient's page reported the path its call took.
    Path(PeerId, PairView),
    /// A patient turned their camera or microphone off or on.
    Devices(PeerId, protocol::PatientDevices),
    /// A patient said they leave.
    Left(PeerId),
    /// A patient's socket closed without a word: a reload, a dropped
    /// connection, or a page closed. They may come back.
    Lost {
        /// The patient.
        peer: PeerId,
        /// The socket's number: a socket that closes after another took
        /// over from it says nothing about the patient.
        socket: u64,
    },
}

/// The session task's answer to a resume secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// The patient is back: the page speaks for them from now on.
    Back(PeerId),
    /// The secret is good, but the patient's page has a socket that is
    /// still open, as far as the box knows.
    Busy(PeerId),
    /// The secret is no patient's the session knows.
    Refused,
}

/// What every connection shares.
#[derive(Debug)]
pub struct App {
    /// The room's name, for the page.
    pub room: String,
    /// The room's language, the page's unless the patient picks another.
    pub language: Language,
    /// STUN and TURN servers for the page; TURN credentials are minted for
    /// each patient as they join.
    pub ice: IceServers,
    /// Invites, redeemed here.
    pub invites: Arc<Mutex<Invites>>,
    /// The session task.
    pub session: mpsc::Sender<PatientEvent>,
    /// The media thread.
    pub media: mpsc::Sender<MediaCommand>,
    /// Whose `X-Forwarded-For` names the client.
    pub proxies: TrustedProxies,
    pub(super) next_peer: AtomicU64,
    pub(super) refusals: RateLimit,
    pub(super) joins: JoinGuard,
    pub(super) resumes: JoinGuard,
    pub(super) sockets: Sockets,
}

impl App {
    /// The shared state of the server.
    pub fn new(
        (room, language): (String, Language),
        ice: IceServers,
        invites: Arc<Mutex<Invites>>,
        session: mpsc::Sender<PatientEvent>,
        media: mpsc::Sender<MediaCommand>,
        proxies: TrustedProxies,
    ) -> Self {
        App {
            room,
            language,
            ice,
            invites,
            session,
            media,
            proxies,
            next_peer: AtomicU64::new(1),
            refusals: RateLimit::new(10, Duration::from_secs(60)),
            joins: JoinGuard::new(REFUSED_JOINS, Duration::from_secs(60)),
            resumes: JoinGuard::new(RESUMES, Duration::from_secs(60)),
            sockets: Sockets::default(),
        }
    }
}

/// Logs at most `max` lines a period, so outsiders cannot flood the journal.
#[derive(Debug)]
pub(crate) struct RateLimit {
    max: u32,
    period: Duration,
    window: Mutex<(Instant, u32)>,
}

impl RateLimit {
    pub(crate) fn new(max: u32, period: Duration) -> Self {
        RateLimit {
            max,
            period,
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    pub(crate) fn log(&self, line: &str) {
        let Ok(mut w) = self.window.lock() else {
            return;
        };
        if w.0.elapsed() > self.period {
            *w = (Instant::now(), 0);
        }
        w.1 += 1;
        if w.1 <= self.max {
            eprintln!("appliance: {line}");
        } else if w.1 == self.max + 1 {
            eprintln!("appliance: more of the same suppressed for a while");
        }
    }
}

/// The routes: the page's files, the check of its link, and the WebSocket.
pub fn router(app: Arc<App>) -> Router {
    super::page::routes(app.language)
        .route("/ws", get(websocket))
        .route(
            "/link",
            post(super::link::check).layer(DefaultBodyLimit::max(super::link::MAX_BODY)),
        )
        .with_state(app)
}

/// The address a connection came from, put on each of its requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remote(pub(crate) SocketAddr);

async fn websocket(
    ws: WebSocketUpgrade,
    State(app): State<Arc<App>>,
    Extension(Remote(remote)): Extension<Remote>,
    headers: HeaderMap,
) -> Response {
    let client = app.proxies.client_of(remote, &headers);
    if app.joins.blocked(client, Instant::now()) {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    }
    ws.max_message_size(protocol::MAX_MESSAGE_BYTES)
        .max_frame_size(protocol::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| patient(socket, app, client))
}

pub(super) fn json(message: &ServerMessage) -> Message {
    // Serializing our own enum of strings and numbers cannot fail.
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}

/// One patient's socket, from join to close.
async fn patient(socket: WebSocket, app: Arc<App>, client: IpAddr) {
    let (mut to_page, mut from_page) = socket.split();
    let id = app.sockets.number();
    let Some((peer, inbox)) =
        super::admission::admit(&mut to_page, &mut from_page, (&app, id), client).await
    else {
        return;
    };
    let mut probes = app.sockets.opened(peer, id);
    let ended = converse(peer, (to_page, from_page), (inbox, &mut probes), &app).await;
    app.sockets.closed(peer, id);
    match ended {
        Ended::Left => {
            let _ = app.session.send(PatientEvent::Left(peer)).await;
            eprintln!("appliance: patient {peer} left");
        }
        Ended::Lost(asked) => {
            // The room says whether they may come back.
            let lost = PatientEvent::Lost { peer, socket: id };
            let _ = app.session.send(lost).await;
            // Only now that the session knows: the pages that asked come in.
            for asked in asked
                .into_iter()
                .chain(std::iter::from_fn(|| probes.try_recv().ok()))
            {
                let _ = asked.send(false);
            }
        }
    }
}

/// How a patient's socket ended.
enum Ended {
    /// The patient said they leave.
    Left,
    /// It closed, broke or fell silent; with the question of a page that
    /// presented the same resume secret, if that is why.
    Lost(Option<Probe>),
}

/// The page's half of the socket that sends to it.
pub(super) type ToPage = futures_util::stream::SplitSink<WebSocket, Message>;
/// The page's half of the socket that it sends on.
pub(super) type FromPage = futures_util::stream::SplitStream<WebSocket>;

/// Carries the session's messages to the page and the page's answer and
/// candidates to media, until either side is done, the page is silent past
/// [`IDLE_TIMEOUT`] (or [`PROBE_WAIT`] when asked whether it is still
/// there), or it sent too many bad messages.
async fn converse(
    peer: PeerId,
    (mut to_page, mut from_page): (ToPage, FromPage),
    (mut inbox, probes): (mpsc::Receiver<ServerMessage>, &mut mpsc::Receiver<Probe>),
    app: &App,
) -> Ended {
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = Instant::now();
    // A question whether the page is still there, and when it must show it.
    let mut asked: Option<(Probe, tokio::time::Instant)> = None;
    let mut askable = true;
    let mut bad_messages = 0u32;
    loop {
        tokio::select! {
            message = inbox.recv() => {
                let Some(message) = message else { break };
                if to_page.send(json(&message)).await.is_err() {
                    break;
                }
            }
            probe = probes.recv(), if askable && asked.is_none() => {
                let Some(probe) = probe else {
                    askable = false;
                    continue;
                };
                let by = tokio::time::Instant::now() + PROBE_WAIT;
                asked = Some((probe, by));
                // Browsers answer a ping by themselves.
                if to_page.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(asked.as_ref().map_or_else(tokio::time::Instant::now, |a| a.1)),
                if asked.is_some() => break,
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    break;
                }
                if to_page.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            incoming = from_page.next() => {
                let Some(Ok(incoming)) = incoming else { break };
                last_heard = Instant::now();
                if let Some((probe, _)) = asked.take() {
                    let _ = probe.send(true);
                }
                let text = match incoming {
                    Message::Text(text) => text,
                    Message::Close(_) => break,
                    _ => continue,
                };
                let delivered = match step(peer, &text) {
                    Step::Media(command) => app.media.send(command).await.is_ok(),
                    Step::Session(event) => app.session.send(event).await.is_ok(),
                    Step::Pong => to_page.send(json(&ServerMessage::Pong)).await.is_ok(),
                    Step::Leave => return Ended::Left,
                    Step::Nothing => true,
                    Step::Bad(reason) => {
                        bad_messages += 1;
                        app.refusals.log(&format!("patient {peer} sent a {reason}"));
                        bad_messages <= 20
                    }
                };
                if !delivered {
                    break;
                }
            }
        }
    }
    Ended::Lost(asked.map(|(probe, _)| probe))
}

/// What to do with a message from a patient's page.
pub(crate) enum Step {
    /// Hand it to media: an answer, a candidate, a request for a new
    /// connection.
    Media(MediaCommand),
    /// Tell the session task.
    Session(PatientEvent),
    /// Answer the page's ping.
    Pong,
    /// The patient leaves.
    Leave,
    /// Nothing (a join or a resume once in: said already).
    Nothing,
    /// A message that makes no sense, and why.
    Bad(String),
}

/// What a message from patient `peer`'s page asks for.
pub(crate) fn step(peer: PeerId, text: &str) -> Step {
    match protocol::decode(text) {
        Ok(ClientMessage::Answer { sdp }) => Step::Media(MediaCommand::Answer { peer, sdp }),
        Ok(ClientMessage::Ice {
            candidate,
            sdp_m_line_index,
        }) => match crate::media::sdp_check::check_candidate(&candidate) {
            Ok(()) => Step::Media(MediaCommand::Ice {
                peer,
                mline: sdp_m_line_index,
                candidate,
            }),
            Err(reason) => Step::Bad(reason),
        },
        Ok(ClientMessage::Reconnect {}) => Step::Media(MediaCommand::Reconnect { peer }),
        Ok(ClientMessage::Path(view)) => Step::Session(PatientEvent::Path(peer, view)),
        Ok(ClientMessage::Devices(on)) => Step::Session(PatientEvent::Devices(peer, on)),
        Ok(ClientMessage::Ping {}) => Step::Pong,
        Ok(ClientMessage::Leave {}) => Step::Leave,
        Ok(ClientMessage::Join { .. } | ClientMessage::Resume { .. }) => Step::Nothing,
        Err(reason) => Step::Bad(reason),
    }
}

/// Accepts TLS connections on `listener` and serves `router` on each, until
/// the process ends; no more at once than `connections` allows.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    connections: Arc<Connections>,
) {
    // Out of descriptors, accepting fails as fast as it is tried: said once
    // a minute, not ten times a second.
    let failures = RateLimit::new(1, Duration::from_secs(60));
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                failures.log(&format!("accepting a connection failed: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(held) = connections.admit(remote.ip()) else {
            continue;
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            connection(tcp, remote, acceptor, router).await;
            drop(held);
        });
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
) {
    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return;
    };
    let service = TowerToHyperService::new(router.layer(Extension(Remote(remote))));
    let _ = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(Duration::from_secs(10))
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(TokioIo::new(tls), service)
        .with_upgrades()
        .await;
}
