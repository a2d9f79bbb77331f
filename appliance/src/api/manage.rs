//! `appliance api-client`: IT adds, lists and removes the clinic's systems
//! that may make links. The store keeps each one's name and the hash of its
//! token (`api.clients`, sealed like every setting); a running daemon is
//! told at once, so a removed system is refused from that moment, with no
//! restart.

use anyhow::Context as _;
use appliance_config::{Value, schema};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::ApiClients;
use super::request::rfc3339;
use crate::admin::{Context, ask};
use crate::cli::ApiClientCommand;
use crate::control::{ControlError, Reply, Request};
use crate::exit::InvalidInput;
use crate::invite::{Denied, Invites, unix_now};

const SETTING: &str = "api.clients";

/// `appliance api-client ...`.
pub fn api_client(ctx: &Context, command: ApiClientCommand) -> anyhow::Result<()> {
    let setting = schema::find(SETTING).context("the store has no place for API clients")?;
    let create = matches!(command, ApiClientCommand::Add { .. });
    let mut store = ctx.open(create)?;
    let mut clients = match &store.get(setting)? {
        Some(Value::List(items)) => ApiClients::from_setting(items),
        _ => ApiClients::default(),
    };
    match command {
        ApiClientCommand::List => {
            let mut any = false;
            for name in clients.names() {
                println!("{name}");
                any = true;
            }
            if !any {
                eprintln!("No API clients; `appliance api-client add NAME` adds one.");
            }
            return Ok(());
        }
        ApiClientCommand::Add { name } => {
            let token = clients.add(&name).map_err(InvalidInput)?;
            store.set(setting, Value::List(clients.to_setting()))?;
            drop(store);
            // The token alone on standard output, for a script to take; the
            // words on standard error.
            println!("{}", token.as_str());
            eprintln!(
                "Added API client {name}. Its token is shown only this once: give it to the \
                 system as \"Authorization: Bearer <token>\" for POST /api/v1/invites."
            );
        }
        ApiClientCommand::Remove { name } => {
            if !clients.remove(&name) {
                return Err(InvalidInput(format!(
                    "there is no API client called {name:?}; `appliance api-client list` lists them"
                ))
                .into());
            }
            let items = clients.to_setting();
            let value = (!items.is_empty()).then_some(Value::List(items));
            store.apply(vec![(setting, value)])?;
            drop(store);
            eprintln!("Removed API client {name}: its token is refused from now on.");
        }
    }
    let request = Request::ApiClients {
        clients: clients.to_setting(),
    };
    tell_the_daemon(ctx, &request)
}

/// `appliance invite inspect URL`: what a link says, read with the room's
/// signing key from the store. The token and the key are never printed.
pub fn inspect(ctx: &Context, url: &str) -> anyhow::Result<()> {
    let (room, token) = url.trim().split_once('#').unwrap_or(("", url.trim()));
    let store = ctx.open(false)?;
    let setting = schema::find("invite.signing_key").context("no signing key setting")?;
    let key = match &store.get(setting)? {
        Some(Value::Text(b64)) => zeroize::Zeroizing::new(
            BASE64
                .decode(b64.trim())
                .context("invite.signing_key is not base64")?,
        ),
        _ => {
            return Err(InvalidInput(
                "this box has no signing key yet (it makes one on its first run)".into(),
            )
            .into());
        }
    };
    drop(store);
    let invites = Invites::new(key);
    let window = match invites.read(token) {
        Ok((window, _)) => window,
        Err(Denied::BadSignature) => {
            return Err(InvalidInput(
                "the link is not signed by this room's key (another room's, or altered): \
                 it admits no one here"
                    .into(),
            )
            .into());
        }
        Err(_) => return Err(InvalidInput("that is not a patient link".into()).into()),
    };
    let now = unix_now();
    println!(
        "room:      {}",
        if room.is_empty() {
            "(not given)"
        } else {
            room.trim_end_matches('/')
        }
    );
    println!("signature: valid (this room's key)");
    if window.not_before > 0 {
        println!("starts:    {}", rfc3339(window.not_before));
    }
    println!("expires:   {}", rfc3339(window.expires));
    let state = if now >= window.expires {
        "expired"
    } else if window.not_before > now {
        "not yet open (it lets the patient in invite.early_minutes before it starts)"
    } else {
        "open, unless already used (the box remembers used links in memory only)"
    };
    println!("now:       {state}");
    Ok(())
}

/// Gives a running daemon the new list (API clients or staff accounts);
/// one that is not running reads it from the store when it starts.
pub(crate) fn tell_the_daemon(ctx: &Context, request: &Request) -> anyhow::Result<()> {
    match ask(ctx, request) {
        Ok(Reply::Ok) => Ok(()),
        Ok(Reply::Error { message }) => Err(anyhow::anyhow!(
            "the store has the change, but the running appliance refused it ({message}); \
             restart it to apply it"
        )),
        Ok(_) => Err(anyhow::anyhow!("the appliance answered something else")),
        Err(e) if matches!(e.downcast_ref(), Some(ControlError::Connect { .. })) => {
            eprintln!("The appliance is not running; it takes the change when it starts.");
            Ok(())
        }
        Err(e) => {
            Err(e.context("the store has the change, but the running appliance was not told"))
        }
    }
}
