//! The HTTPS server: the patient page and the signalling WebSocket on one port,
//! TLS by rustls. Each patient's socket is one task that relays between the
//! page and the session task and the media thread. Every wait has a timeout; nothing a
//! page sends can panic the daemon; logs never carry a token or a name.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;

use super::client::{JoinGuard, TrustedProxies};
use super::protocol::{self, ClientMessage, ServerMessage};
use super::resume::{self, ResumeHash};
use crate::ice_path::PairView;
use crate::invite::Invites;
use crate::invite::unix_now;
use crate::media::{Codec, MediaCommand};
use crate::session::PeerId;
use crate::turn::IceServers;

/// A page must say who it is this soon after connecting.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The TLS handshake must finish this soon.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The server pings every socket this often; browsers answer on their own.
const PING_EVERY: Duration = Duration::from_secs(15);
/// A socket silent this long (not even a pong) is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Messages queued to one page. A page reads them as fast as they come;
/// a full queue means it is gone, and its messages are dropped.
const OUTBOX: usize = 64;
/// Refused joins (a bad, spent or expired link) one address may make in a
/// minute before it is turned away for the rest of it: a patient who
/// mistypes tries a few times, a stranger guessing links many.
const REFUSED_JOINS: u32 = 10;
/// Resumes (good or not) one address may make in a minute: a page coming
/// back after a reload or a drop waits longer and longer between tries.
const RESUMES: u32 = 20;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

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
    },
    /// A page presents a resume secret: the session task answers with the
    /// patient it brings back, if it is good and their page is away.
    Resume {
        /// What the box keeps of the secret presented.
        resume: ResumeHash,
        /// Messages to the page, from now on.
        outbox: mpsc::Sender<ServerMessage>,
        /// The patient, or None: refused.
        reply: oneshot::Sender<Option<PeerId>>,
    },
    /// A patient's page reported the path its call took.
    Path(PeerId, PairView),
    /// A patient said they leave.
    Left(PeerId),
    /// A patient's socket closed without a word: a reload, a dropped
    /// connection, or a page closed. They may come back.
    Lost(PeerId),
}

/// What every connection shares.
#[derive(Debug)]
pub struct App {
    /// The room's name, for the page.
    pub room: String,
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
    next_peer: AtomicU64,
    refusals: RateLimit,
    joins: JoinGuard,
    resumes: JoinGuard,
}

impl App {
    /// The shared state of the server.
    pub fn new(
        room: String,
        ice: IceServers,
        invites: Arc<Mutex<Invites>>,
        session: mpsc::Sender<PatientEvent>,
        media: mpsc::Sender<MediaCommand>,
        proxies: TrustedProxies,
    ) -> Self {
        App {
            room,
            ice,
            invites,
            session,
            media,
            proxies,
            next_peer: AtomicU64::new(1),
            refusals: RateLimit::new(10, Duration::from_secs(60)),
            joins: JoinGuard::new(REFUSED_JOINS, Duration::from_secs(60)),
            resumes: JoinGuard::new(RESUMES, Duration::from_secs(60)),
        }
    }
}

/// Logs at most `max` lines a period, so outsiders cannot flood the journal.
#[derive(Debug)]
struct RateLimit {
    max: u32,
    period: Duration,
    window: Mutex<(Instant, u32)>,
}

impl RateLimit {
    fn new(max: u32, period: Duration) -> Self {
        RateLimit {
            max,
            period,
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    fn log(&self, line: &str) {
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

/// The routes: the page's three files and the WebSocket.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/style.css",
            get(|| async { page(STYLE_CSS, "text/css; charset=utf-8") }),
        )
        .route("/ws", get(websocket))
        .with_state(app)
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             media-src 'self' blob: mediastream:; img-src 'self' data:; base-uri 'none'; \
             frame-ancestors 'none'",
        ),
    );
    response
}

/// The address a connection came from, put on each of its requests.
#[derive(Debug, Clone, Copy)]
struct Remote(SocketAddr);

async fn websocket(
    ws: WebSocketUpgrade,
    State(app): State<Arc<App>>,
    Extension(Remote(remote)): Extension<Remote>,
    headers: HeaderMap,
) -> Response {
    let forwarded_for = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let client = app.proxies.client(remote, forwarded_for);
    if app.joins.blocked(client, Instant::now()) {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    }
    ws.max_message_size(protocol::MAX_MESSAGE_BYTES)
        .max_frame_size(protocol::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| patient(socket, app, client))
}

fn json(message: &ServerMessage) -> Message {
    // Serializing our own enum of strings and numbers cannot fail.
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}

/// One patient's socket, from join to close.
async fn patient(socket: WebSocket, app: Arc<App>, client: IpAddr) {
    let (mut to_page, mut from_page) = socket.split();
    let Some((peer, inbox)) = admit(&mut to_page, &mut from_page, &app, client).await else {
        return;
    };
    if converse(peer, (to_page, from_page), inbox, &app).await {
        let _ = app.session.send(PatientEvent::Left(peer)).await;
        eprintln!("appliance: patient {peer} left");
    } else {
        let _ = app.session.send(PatientEvent::Lost(peer)).await;
        eprintln!("appliance: patient {peer}'s page is gone; they may come back");
    }
}

/// The page's half of the socket that sends to it.
type ToPage = futures_util::stream::SplitSink<WebSocket, Message>;
/// The page's half of the socket that it sends on.
type FromPage = futures_util::stream::SplitStream<WebSocket>;

/// Reads the page's first message: a join, whose link is redeemed and whose
/// patient goes in the lobby, or a resume, which brings a patient back to
/// their session. Gives the patient's number and the queue of what the
/// session tells them, or None when the page was refused or went away.
async fn admit(
    to_page: &mut ToPage,
    from_page: &mut FromPage,
    app: &App,
    client: IpAddr,
) -> Option<(PeerId, mpsc::Receiver<ServerMessage>)> {
    let first = match tokio::time::timeout(JOIN_TIMEOUT, from_page.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => protocol::decode(&text),
        _ => return None,
    };
    let admitted = match first {
        Ok(ClientMessage::Join {
            token,
            name,
            video_codecs,
        }) => join(app, &zeroize::Zeroizing::new(token), name, &video_codecs).await,
        Ok(ClientMessage::Resume { secret }) => {
            come_back(app, client, &zeroize::Zeroizing::new(secret)).await
        }
        _ => Err("a page spoke before joining".to_owned()),
    };
    let (peer, inbox, resume) = match admitted {
        Ok(admitted) => admitted,
        Err(reason) => {
            app.joins.refused(client, Instant::now());
            app.refusals.log(&format!("{reason}; refused"));
            let _ = to_page.send(json(&ServerMessage::Denied)).await;
            let _ = to_page.close().await;
            return None;
        }
    };
    let welcome = ServerMessage::Welcome {
        room: app.room.clone(),
        ice_servers: app.ice.for_page(unix_now()),
        resume: resume.map(|secret| secret.to_string()),
    };
    to_page.send(json(&welcome)).await.ok()?;
    Some((peer, inbox))
}

/// What a page that was let in has: the patient's number, the queue of
/// what the session tells them, and, at admission, the resume secret for
/// the page.
type Admitted = (
    PeerId,
    mpsc::Receiver<ServerMessage>,
    Option<zeroize::Zeroizing<String>>,
);

/// Redeems a link and puts its patient in the lobby.
async fn join(
    app: &App,
    token: &str,
    name: String,
    video_codecs: &[String],
) -> Result<Admitted, String> {
    let redeemed = match app.invites.lock() {
        Ok(mut invites) => invites.redeem(token, unix_now()),
        Err(_) => return Err("the invites are unavailable".into()),
    };
    if let Err(reason) = redeemed {
        return Err(format!("patient link refused: {reason}"));
    }
    let (secret, resume) =
        resume::new_secret().map_err(|e| format!("no resume secret could be made: {e}"))?;
    let peer: PeerId = app.next_peer.fetch_add(1, Ordering::Relaxed);
    let codec = Codec::choose(video_codecs);
    eprintln!("appliance: patient {peer} joined the lobby ({codec:?})");
    let (outbox, inbox) = mpsc::channel::<ServerMessage>(OUTBOX);
    let joined = PatientEvent::Joined {
        peer,
        name,
        codec,
        outbox,
        resume,
    };
    app.session
        .send(joined)
        .await
        .map_err(|_| "the session is gone".to_owned())?;
    Ok((peer, inbox, Some(secret)))
}

/// Brings a patient back to their session with the resume secret their
/// page was given; refused when it is not one of a patient the session
/// knows whose page is away (another session's, a forged one, one whose
/// session ended, or one already in use).
async fn come_back(app: &App, client: IpAddr, secret: &str) -> Result<Admitted, String> {
    let now = Instant::now();
    if app.resumes.blocked(client, now) {
        return Err("too many resumes from one address".into());
    }
    // Every resume counts here, good or not: a page that reconnects in a
    // tight loop is slowed down.
    app.resumes.refused(client, now);
    let resume = resume::hash(secret).ok_or("a resume secret that is none of ours")?;
    let (outbox, inbox) = mpsc::channel::<ServerMessage>(OUTBOX);
    let (reply, answer) = oneshot::channel();
    let asked = PatientEvent::Resume {
        resume,
        outbox,
        reply,
    };
    app.session
        .send(asked)
        .await
        .map_err(|_| "the session is gone".to_owned())?;
    match answer.await {
        Ok(Some(peer)) => {
            eprintln!("appliance: patient {peer} is back");
            Ok((peer, inbox, None))
        }
        _ => Err("a resume secret of no patient who is away".into()),
    }
}

/// Carries the session's messages to the page and the page's answer and
/// candidates to media, until either side is done, the page is silent past
/// [`IDLE_TIMEOUT`], or it sent too many bad messages. True when the
/// patient said they leave.
async fn converse(
    peer: PeerId,
    (mut to_page, mut from_page): (ToPage, FromPage),
    mut inbox: mpsc::Receiver<ServerMessage>,
    app: &App,
) -> bool {
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = Instant::now();
    let mut bad_messages = 0u32;
    loop {
        tokio::select! {
            message = inbox.recv() => {
                let Some(message) = message else { break };
                if to_page.send(json(&message)).await.is_err() {
                    break;
                }
            }
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
                let text = match incoming {
                    Message::Text(text) => text,
                    Message::Close(_) => break,
                    _ => continue,
                };
                let command = match protocol::decode(&text) {
                    Ok(ClientMessage::Answer { sdp }) => MediaCommand::Answer { peer, sdp },
                    Ok(ClientMessage::Ice { candidate, sdp_m_line_index }) => MediaCommand::Ice {
                        peer,
                        mline: sdp_m_line_index,
                        candidate,
                    },
                    Ok(ClientMessage::Leave {}) => return true,
                    Ok(ClientMessage::Reconnect {}) => MediaCommand::Reconnect { peer },
                    Ok(ClientMessage::Ping {}) => {
                        if to_page.send(json(&ServerMessage::Pong)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Ok(ClientMessage::Path(view)) => {
                        if app.session.send(PatientEvent::Path(peer, view)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Ok(ClientMessage::Join { .. } | ClientMessage::Resume { .. }) => continue,
                    Err(reason) => {
                        bad_messages += 1;
                        app.refusals.log(&format!("patient {peer} sent a {reason}"));
                        if bad_messages > 20 {
                            break;
                        }
                        continue;
                    }
                };
                if app.media.send(command).await.is_err() {
                    break;
                }
            }
        }
    }
    false
}

/// Accepts TLS connections on `listener` and serves `router` on each, until
/// the process ends.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, router: Router) {
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("appliance: accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move { connection(tcp, remote, acceptor, router).await });
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
