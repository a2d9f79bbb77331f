//! The daemon's wiring, the process's topology in one read (docs/design.md
//! draws it): tokio (two workers), the session task ([`Room`]) with the
//! room's hardware thread, media's thread, and the server, control socket
//! and notice watcher tasks; each producer's queue into the session task, and
//! the `watch` of what media must do. Configuration is read once at start
//! and the store closed: nothing is written while sessions run.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

use crate::api::{self, Api, ApiClients, LinkMakers};
use crate::control;
use crate::drivers::Backend;
use crate::invite::Invites;
use crate::language::Language;
use crate::media::{Events, Gate, Media, MediaCommand, MediaConfig, MediaState, Stats};
use crate::notice;
use crate::notify;
use crate::room::{Ending, Input, Parts, Room, forwarded};
use crate::room_io::{self, RoomIo};
use crate::session::ShutterKind;
use crate::signalling::client::TrustedProxies;
use crate::signalling::limits::{Connections, PER_ADDRESS, TOTAL};
use crate::signalling::{headers, server, tls};
use crate::staff::{self, Staff, StaffAccounts};
use crate::turn::IceServers;
use crate::tv_power::Cec;

/// Inputs to the session task: a burst of presses and signalling fits; a
/// full queue means the task is stuck, and senders wait, not grow memory.
const INPUTS: usize = 256;
/// From the room's hardware thread, which never blocks on it (room_io.rs).
const ROOM_EVENTS: usize = 64;
/// Control requests: one per client connection, a handful at a time.
const CONTROL_CALLS: usize = 16;
/// Patients' events for media (answers, candidates): a page's burst fits
/// many times over; the signalling server waits for room, drops none.
const MEDIA_COMMANDS: usize = 256;
/// Events from GStreamer's threads (offers, candidates); see media/peer.rs.
const MEDIA_EVENTS: usize = 1024;

/// What `run` needs besides the store.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Simulated hardware and test sources.
    pub simulated: bool,
    /// Where HTTPS listens.
    pub listen: SocketAddr,
    /// The control socket.
    pub control: std::path::PathBuf,
    /// Where the button, shutter and LED are.
    pub backend: Backend,
    /// The room's name.
    pub room: String,
    /// The language of the patient's page and the TV.
    pub language: Language,
    /// The base of patient links.
    pub public_url: String,
    /// The shutter's kind.
    pub shutter_kind: ShutterKind,
    /// How long a patient who went away may take to come back.
    pub reconnect_grace: Duration,
    /// How long before its window a link admits.
    pub invite_early: Duration,
    /// The clinic's systems that may make links.
    pub api_clients: ApiClients,
    /// The front desk's accounts.
    pub staff_accounts: StaffAccounts,
    /// Media settings.
    pub media: MediaConfig,
    /// STUN and TURN servers for patients.
    pub ice: IceServers,
    /// Reverse proxies whose `X-Forwarded-For` names the patient.
    pub trusted_proxies: TrustedProxies,
    /// Put the TV on standby over HDMI-CEC after this long idle.
    pub tv_standby: Option<Duration>,
    /// IT's last provisioning file was refused: a fault until it is fixed.
    pub provision_failed: bool,
    /// Where the image's scripts leave a notice for IT (see notice.rs).
    pub notice_file: std::path::PathBuf,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(
    config: DaemonConfig,
    identity: tls::Identity,
    invite_key: zeroize::Zeroizing<Vec<u8>>,
) -> anyhow::Result<()> {
    let tls_config = tls::server_config(&identity)?;
    // HSTS only where a browser would keep it: a certificate it trusts.
    let hsts = !tls::self_signed_certificate(&identity);
    drop(identity);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, (tls_config, hsts), invite_key))
}

async fn serve(
    config: DaemonConfig,
    tls: (Arc<rustls::ServerConfig>, bool),
    invite_key: zeroize::Zeroizing<Vec<u8>>,
) -> anyhow::Result<()> {
    let gate = Gate::default();
    room_io::keep_the_room_safe_on_panic(&gate);
    let (inputs_tx, inputs) = mpsc::channel(INPUTS);
    // The room first: its pins are what a wrong setup most often gets wrong.
    let io = RoomIo::start(
        &config.backend,
        config.shutter_kind,
        forwarded(ROOM_EVENTS, &inputs_tx),
    )
    .context("cannot start the room's button, shutter and LED")?;
    let stats = Arc::new(Stats::default());
    let events = Events::new(forwarded(MEDIA_EVENTS, &inputs_tx), stats.clone());
    let media = Media::start(config.media.clone(), gate.clone(), stats.clone(), events)?;
    let (media_tx, media_rx) = mpsc::channel(MEDIA_COMMANDS);
    let (media_state, wanted) = watch::channel(MediaState::default());
    let invites = Arc::new(Mutex::new(
        Invites::new(invite_key).early(config.invite_early),
    ));
    let link_makers = LinkMakers::new(config.api_clients.clone(), config.staff_accounts.clone());
    let doors = Doors {
        invites: invites.clone(),
        link_makers: link_makers.clone(),
    };
    open_the_doors(&config, tls, doors, &media_tx, &inputs_tx).await?;
    let media_thread = media
        .spawn(media_rx, wanted)
        .context("cannot start the media thread")?;
    tokio::spawn(stop_on_signal(inputs_tx.clone()));

    let mut room = Room::new(Parts {
        shutter_kind: config.shutter_kind,
        reconnect_grace: config.reconnect_grace,
        media: media_tx,
        media_state,
        gate,
        stats,
        invites,
        link_makers,
        inputs: inputs_tx,
        io,
        cec: Cec::start(config.tv_standby),
        simulated: config.simulated,
        public_url: config.public_url.clone(),
        room_name: config.room.clone(),
        language: config.language,
    });
    room.open(config.provision_failed);
    let kind = if config.simulated {
        "simulation"
    } else {
        "hardware"
    };
    println!(
        "appliance: room {:?} ready on https://{} ({kind})",
        config.room, config.listen
    );
    notify::notify("READY=1");
    let ending = room.run(inputs).await;
    let media_done = tokio::task::spawn_blocking(move || media_thread.join());
    let _ = tokio::time::timeout(Duration::from_secs(5), media_done).await;
    match ending {
        Ending::Failed => anyhow::bail!(
            "stopped after a failure (a panic); camera gated, shutter closed, LED at fault"
        ),
        // Not a success: systemd starts the daemon again (Restart=on-failure).
        Ending::CameraConnected => {
            println!("appliance: stopped; camera gated, shutter closed, LED off");
            anyhow::bail!("stopped to take up the camera that was connected; start again")
        }
        Ending::Stopped => {
            println!("appliance: stopped; camera gated, shutter closed, LED off");
            Ok(())
        }
    }
}

/// What the HTTPS server shares with the room: the invites, and who may
/// make them through the API and the staff page.
struct Doors {
    invites: Arc<Mutex<Invites>>,
    link_makers: LinkMakers,
}

/// Starts what the outside reaches: the patients' HTTPS server (the page,
/// its socket, and the clinic's API), the local control socket, and the
/// watch on IT's notice.
async fn open_the_doors(
    config: &DaemonConfig,
    (tls_config, hsts): (Arc<rustls::ServerConfig>, bool),
    Doors {
        invites,
        link_makers,
    }: Doors,
    media: &mpsc::Sender<MediaCommand>,
    inputs: &mpsc::Sender<Input>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let socket = config.control.display();
    let control_listener = control::listen(&config.control)
        .with_context(|| format!("cannot open the control socket {socket}"))?;
    let api = Arc::new(Api::new(
        link_makers.api_clients,
        invites.clone(),
        config.public_url.clone(),
        config.trusted_proxies.clone(),
    ));
    let staff = Arc::new(Staff::new(
        link_makers.staff,
        invites.clone(),
        (config.room.clone(), config.public_url.clone()),
        config.trusted_proxies.clone(),
        forwarded(CONTROL_CALLS, inputs),
    ));
    let app = Arc::new(server::App::new(
        (config.room.clone(), config.language),
        config.ice.clone(),
        invites,
        forwarded(INPUTS, inputs),
        media.clone(),
        config.trusted_proxies.clone(),
    ));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config);
    let routes = (server::router(app))
        .merge(api::router(api))
        .merge(staff::router(staff));
    let routes = headers::everywhere(routes, hsts);
    let connections = Connections::new(TOTAL, PER_ADDRESS, config.trusted_proxies.clone());
    tokio::spawn(server::serve(listener, acceptor, routes, connections));
    let calls = forwarded(CONTROL_CALLS, inputs);
    tokio::spawn(control::serve(control_listener, calls));
    let notices = forwarded(1, inputs);
    tokio::spawn(notice::watch(config.notice_file.clone(), notices));
    Ok(())
}

/// Tells the session task to stop on SIGTERM (systemd) or SIGINT.
async fn stop_on_signal(inputs: mpsc::Sender<Input>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let _ = inputs.send(Input::Shutdown).await;
}
