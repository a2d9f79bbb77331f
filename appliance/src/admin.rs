//! The administrative commands: provisioning, single settings, factory reset,
//! and opening the store for `run`. Called by `main`; every command that reads a
//! secret prints only whether it is set.

use std::io::{self, BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use appliance_config::key::{self, KeyLookup, KeySource};
use appliance_config::schema::{self, Fallback, SETTINGS};
use appliance_config::{OpenMode, Provisioning, Store};

use appliance_config::Value;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::cli::{ConfigCommand, DEFAULT_STATE_DIR, Global, RunArgs};
use crate::control::{self, Reply, Request};
use crate::daemon;
use crate::drivers::BackendKind;
use crate::exit::{Cancelled, InvalidInput};
use crate::media::MediaConfig;
use crate::settings::Settings;
use crate::signalling::tls;

/// Where the state is and how to find the device key, from the options and
/// systemd's environment.
#[derive(Debug)]
pub struct Context {
    state_dir: PathBuf,
    keys: KeyLookup,
    control: PathBuf,
}

impl Context {
    pub fn new(global: &Global) -> Self {
        let state_dir = global
            .state_dir
            .clone()
            .or_else(|| crate::notify::systemd_directory("STATE_DIRECTORY"))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        let credentials_directory = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        // A service that systemd gives credentials to must use them: only
        // outside such a service may a development key file stand in.
        let dev_state_dir = credentials_directory.is_none().then(|| state_dir.clone());
        Context {
            keys: KeyLookup {
                credentials_directory,
                key_file: global.key_file.clone(),
                dev_state_dir,
            },
            state_dir,
            control: global.control.clone().unwrap_or_else(control::default_path),
        }
    }

    /// Opens the store; `create` makes the store and the development key when missing.
    pub(crate) fn open(&self, create: bool) -> anyhow::Result<Store> {
        let mode = if create {
            OpenMode::CreateIfMissing
        } else {
            let path = Store::path_in(&self.state_dir);
            if !path.exists() {
                return Err(appliance_config::StoreError::Missing(path).into());
            }
            OpenMode::Existing
        };
        let (key, source) = self.keys.load(create)?;
        if let KeySource::DevKeyFile(path) = &source {
            eprintln!(
                "appliance: warning: the device key is the development key file {}; this is not for \
                 production: anyone who can read that file can read every setting",
                path.display()
            );
        }
        Ok(Store::open(&self.state_dir, key, &source, mode)?)
    }
}

/// `appliance run`: reads the configuration once (making the TLS identity and
/// the invite key on first run), closes the store, and runs the daemon.
pub fn run(ctx: &Context, args: &RunArgs) -> anyhow::Result<()> {
    let mut store = ctx.open(true)?;
    let settings = Settings::read(&store.values()?);
    let backend = settings.backend(
        args.sim,
        std::time::Duration::from_millis(args.sim_shutter_travel_ms),
    );
    // Settings that this build cannot carry out: another start would fail
    // the same way (exit 3, which systemd does not restart).
    backend.check().map_err(|e| InvalidInput(e.to_string()))?;
    let public_url =
        (settings.public_url.clone()).unwrap_or_else(|| default_public_url(args.listen));
    let (identity, invite_key) = room_secrets(&mut store, &settings, &public_url, args)?;
    drop(store);
    if let Some(path) = &args.sim_log {
        crate::sim_log::open(path)
            .with_context(|| format!("cannot open the simulation log {}", path.display()))?;
    }
    let video = settings.video;
    let config = daemon::DaemonConfig {
        simulated: args.sim,
        listen: args.listen,
        control: ctx.control.clone(),
        backend,
        room: settings.room_name,
        language: settings.language,
        public_url,
        shutter_kind: settings.shutter,
        reconnect_grace: settings.reconnect_grace,
        invite_early: settings.invite_early,
        api_clients: settings.api_clients,
        staff_accounts: settings.staff_accounts,
        media: MediaConfig {
            simulated: args.sim,
            headless: args.headless,
            width: video.width,
            height: video.height,
            framerate: video.framerate,
            max_bitrate_kbps: video.max_bitrate_kbps,
            ice_addresses: args.ice_addresses.clone(),
            camera: args.camera.clone(),
            ice: settings.ice.clone(),
        },
        provision_failed: args.provision_failed_flag.exists(),
        notice_file: args.notice_file.clone(),
        tv_standby: settings.tv_standby,
        ice: settings.ice,
        trusted_proxies: settings.trusted_proxies,
    };
    daemon::run(config, identity, invite_key)
}

/// The room's TLS identity and invite key, from the settings. On first run
/// they are made and kept sealed in the store: they are configuration, made
/// once (nothing about a session), in one atomic write.
fn room_secrets(
    store: &mut Store,
    settings: &Settings,
    public_url: &str,
    args: &RunArgs,
) -> anyhow::Result<(tls::Identity, zeroize::Zeroizing<Vec<u8>>)> {
    let mut first_run = Vec::new();
    let identity = match (&settings.tls_certificate, &settings.tls_private_key) {
        (Some(certificate), Some(private_key)) => tls::Identity {
            certificate: certificate.clone(),
            private_key: private_key.clone(),
        },
        (None, None) => {
            let mut names = vec!["localhost".to_owned(), args.listen.ip().to_string()];
            if let Some(host) = public_url
                .strip_prefix("https://")
                .and_then(|rest| rest.split(['/', ':']).next())
            {
                names.push(host.trim_matches(['[', ']']).to_owned());
            }
            names.dedup();
            let identity = tls::self_signed(names)?;
            first_run.push((
                setting("tls.certificate")?,
                Some(Value::Text(identity.certificate.clone())),
            ));
            first_run.push((
                setting("tls.private_key")?,
                Some(Value::Text(identity.private_key.to_string())),
            ));
            eprintln!("appliance: made a self-signed TLS certificate for this room");
            identity
        }
        _ => return Err(tls::TlsError::Half.into()),
    };
    let invite_key = match &settings.invite_signing_key {
        Some(b64) => zeroize::Zeroizing::new(
            BASE64
                .decode(b64.trim())
                .context("invite.signing_key is not base64")?,
        ),
        None => {
            let mut key = zeroize::Zeroizing::new(vec![0u8; 32]);
            getrandom::fill(&mut key).context("the system random number generator failed")?;
            first_run.push((
                setting("invite.signing_key")?,
                Some(Value::Text(BASE64.encode(key.as_slice()))),
            ));
            key
        }
    };
    if !first_run.is_empty() {
        store.apply(first_run)?;
    }
    Ok((identity, invite_key))
}

/// One request to the running daemon, and its reply.
pub(crate) fn ask(ctx: &Context, request: &Request) -> anyhow::Result<Reply> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(control::request(&ctx.control, request))?)
}

/// `appliance invite`, `status` and `press`: ask the running daemon.
pub fn client(ctx: &Context, request: Request, json: bool) -> anyhow::Result<()> {
    match ask(ctx, &request)? {
        Reply::Status(status) if json => println!("{}", serde_json::to_string_pretty(&status)?),
        Reply::Status(s) => print!("{}", crate::control::status_text::text(&s)),
        Reply::Invite { link } => println!("{link}"),
        Reply::Ok | Reply::Frame { .. } => {}
        Reply::Error { message } => return Err(InvalidInput(message).into()),
    }
    Ok(())
}

/// `appliance sim tv grab FILE`: the simulated TV's picture as a PPM file.
pub fn tv_grab(ctx: &Context, file: &Path) -> anyhow::Result<()> {
    let Reply::Frame { width, height, rgb } = ask(ctx, &Request::TvGrab)? else {
        anyhow::bail!("the appliance sent no picture");
    };
    let rgb = BASE64
        .decode(rgb)
        .context("the appliance sent a damaged picture")?;
    if rgb.len() as u64 != u64::from(width) * u64::from(height) * 3 {
        anyhow::bail!("the appliance sent a picture of the wrong size");
    }
    let mut ppm = format!("P6\n{width} {height}\n255\n").into_bytes();
    ppm.extend_from_slice(&rgb);
    std::fs::write(file, ppm).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(())
}

/// `appliance provision [--allow-other-board] FILE`.
pub fn provision(ctx: &Context, file: &Path, allow_other_board: bool) -> anyhow::Result<()> {
    // Validate the file before touching the store, so a bad file creates nothing.
    let provisioning = Provisioning::read(file)?;
    if !allow_other_board {
        provisioning.refuse_values(for_another_board)?;
    }
    let mut store = ctx.open(true)?;
    let count = provisioning.apply(&mut store)?;
    println!(
        "imported {count} setting{} from {} into {}",
        if count == 1 { "" } else { "s" },
        file.display(),
        store.path().display()
    );
    Ok(())
}

/// A provisioning file made for a Raspberry Pi is refused by a box that is
/// not one (a build without feature `rpi`), before anything is imported: the
/// daemon could not start on it. The other way round is allowed: a Pi may
/// run on simulated pins.
fn for_another_board(setting: &schema::Setting, value: &Value) -> Option<String> {
    let undriven = value
        .as_text()
        .and_then(BackendKind::from_setting)
        .is_some_and(|kind| !kind.driven_by_this_build());
    (setting.name == "hardware.backend" && undriven).then(|| {
        "is rppal, a Raspberry Pi's pins, but this appliance is not built for a Raspberry Pi: \
         the file is for another board (use sim here, or import it on the Pi; \
         --allow-other-board imports it anyway)"
            .to_owned()
    })
}

fn setting(name: &str) -> anyhow::Result<&'static schema::Setting> {
    schema::find(name).ok_or_else(|| {
        InvalidInput(format!(
            "unknown setting {name:?}; `appliance config --help` lists them all"
        ))
        .into()
    })
}

/// `appliance config ...`.
pub fn config(ctx: &Context, command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Get { name } => {
            let setting = setting(&name)?;
            let store = ctx.open(false)?;
            println!("{}", setting.show(store.get(setting)?.as_ref()));
        }
        ConfigCommand::List => {
            let store = ctx.open(false)?;
            let width = SETTINGS.iter().map(|s| s.name.len()).max().unwrap_or(0);
            let mut first_error = None;
            for (setting, value) in store.list() {
                let shown = match value {
                    Ok(v) => setting.summary(v.as_ref()),
                    Err(e) => {
                        let shown = "<damaged>".to_owned();
                        first_error.get_or_insert(e);
                        shown
                    }
                };
                println!("{:width$} = {shown}", setting.name);
            }
            if let Some(e) = first_error {
                return Err(e.into());
            }
        }
        ConfigCommand::Set { name, value } => {
            let setting = setting(&name)?;
            let text = match value {
                Some(v) => zeroize::Zeroizing::new(v),
                None => {
                    let mut buf = zeroize::Zeroizing::new(String::new());
                    io::stdin()
                        .take(provision_limit())
                        .read_to_string(&mut buf)
                        .context("cannot read the value from standard input")?;
                    buf
                }
            };
            let value = setting
                .validate_text(&text)
                .map_err(|e| InvalidInput(format!("{}: {e}", setting.name)))?;
            let mut store = ctx.open(true)?;
            let mut merged = store.values()?;
            merged.insert(setting.name, value.clone());
            if let Some((name, problem)) = schema::check_together(&merged).into_iter().next() {
                return Err(InvalidInput(format!("{name}: {problem}")).into());
            }
            store.set(setting, value)?;
            println!(
                "{} = {}",
                setting.name,
                setting.summary(merged.get(setting.name))
            );
        }
        ConfigCommand::Unset { name } => {
            let setting = setting(&name)?;
            let mut store = ctx.open(false)?;
            store.apply(vec![(setting, None)])?;
            println!("{} = <unset>", setting.name);
        }
    }
    Ok(())
}

fn provision_limit() -> u64 {
    appliance_config::provision::MAX_FILE_BYTES
}

/// `appliance reset --factory`: destroys the store and the development key.
pub fn reset(ctx: &Context, yes: bool) -> anyhow::Result<()> {
    let store_path = Store::path_in(&ctx.state_dir);
    if !yes {
        eprint!(
            "This erases every setting of this appliance ({}) and its development key, for good.\n\
             Type 'erase' to go on: ",
            store_path.display()
        );
        io::stderr().flush().ok();
        let mut answer = String::new();
        io::stdin()
            .lock()
            .take(64)
            .read_line(&mut answer)
            .context("cannot read the confirmation")?;
        if answer.trim() != "erase" {
            return Err(Cancelled.into());
        }
    }
    let had_store = Store::destroy(&ctx.state_dir)?;
    let dev_key = ctx.state_dir.join(key::DEV_KEY_FILE);
    let had_key = dev_key.exists();
    key::destroy_key_file(&dev_key)
        .with_context(|| format!("cannot destroy the key file {}", dev_key.display()))?;
    println!(
        "factory reset: {}; {}",
        if had_store {
            "settings store destroyed"
        } else {
            "there was no settings store"
        },
        if had_key {
            "development key destroyed"
        } else {
            "no development key to destroy"
        }
    );
    if let Some(source @ (KeySource::Credential(_) | KeySource::KeyFile(_))) = ctx.keys.source() {
        println!(
            "note: the device key in {source} is managed outside the state directory and was kept"
        );
    }
    Ok(())
}

/// The list of settings, for `appliance config --help`.
pub fn settings_help() -> String {
    let mut help = String::from("Settings:\n");
    for s in SETTINGS {
        let secret = if s.secret { " (secret)" } else { "" };
        let default = match s.default {
            Fallback::Nothing => String::new(),
            Fallback::Int(n) => format!(" (default: {n})"),
            Fallback::Text(t) => format!(" (default: {t})"),
        };
        help.push_str(&format!(
            "  {}{secret}{default}\n      {}\n",
            s.name, s.help
        ));
    }
    help
}

/// `appliance hw-test`: the wiring check, on the configured pins (or the
/// simulated board with `sim`). Refused while the appliance runs: it owns
/// the pins then.
pub fn hw_test(ctx: &Context, sim: bool) -> anyhow::Result<()> {
    if std::os::unix::net::UnixStream::connect(&ctx.control).is_ok() {
        return Err(InvalidInput(
            "the appliance is running and drives the button, shutter and LED: stop it first \
             (systemctl stop appliance), then run the wiring check"
                .into(),
        )
        .into());
    }
    let values = match ctx.open(false) {
        Ok(store) => store.values()?,
        // The simulated board needs no settings; a real one does.
        Err(_) if sim => Default::default(),
        Err(e) => return Err(e.context("the wiring check reads the pins from the settings")),
    };
    let settings = Settings::read(&values);
    let backend = settings.backend(sim, std::time::Duration::from_millis(300));
    let mut out = io::stdout();
    let failed = crate::hw_test::run(
        &backend,
        settings.shutter,
        settings.pins,
        Box::new(io::BufReader::new(io::stdin())),
        &mut out,
    )?;
    if failed > 0 {
        anyhow::bail!("the wiring check found {failed} problem(s); see the steps above");
    }
    Ok(())
}

/// The address to put in patient links when no public URL is configured.
pub fn default_public_url(listen: SocketAddr) -> String {
    let host = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => "localhost".to_owned(),
        IpAddr::V6(v6) if v6.is_unspecified() => "localhost".to_owned(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    format!("https://{host}:{}", listen.port())
}
