//! `appliance staff`: IT adds, lists and removes the front desk's accounts
//! and gives one a new authenticator. The store keeps each account's name,
//! its password's Argon2id hash and its TOTP secret (`staff.accounts`,
//! sealed like every setting); a running daemon is told at once.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;
use appliance_config::{Value, schema};
use zeroize::Zeroizing;

use super::StaffAccounts;
use super::accounts::Enrolment;
use crate::admin::Context;
use crate::api::manage::tell_the_daemon;
use crate::cli::StaffCommand;
use crate::control::Request;
use crate::exit::InvalidInput;

const SETTING: &str = "staff.accounts";

/// `appliance staff ...`.
pub fn staff(ctx: &Context, command: StaffCommand) -> anyhow::Result<()> {
    let setting = schema::find(SETTING).context("the store has no place for staff accounts")?;
    let create = matches!(command, StaffCommand::Add { .. });
    let mut store = ctx.open(create)?;
    let mut accounts = match &store.get(setting)? {
        Some(Value::List(items)) => StaffAccounts::from_setting(items),
        _ => StaffAccounts::default(),
    };
    let issuer = match &schema::find("room.name").map(|s| store.get(s)) {
        Some(Ok(Some(Value::Text(name)))) if !name.trim().is_empty() => name.clone(),
        _ => "Therapy room".to_owned(),
    };
    match command {
        StaffCommand::List => {
            let mut any = false;
            for name in accounts.names() {
                println!("{name}");
                any = true;
            }
            if !any {
                eprintln!("No staff accounts; `appliance staff add NAME` adds one.");
            }
            return Ok(());
        }
        StaffCommand::Add { name } => {
            let password = password()?;
            let enrolment = accounts
                .add(&name, &password, &issuer)
                .map_err(InvalidInput)?;
            store.set(setting, Value::List(accounts.to_setting()))?;
            drop(store);
            show(&enrolment);
            eprintln!(
                "Added staff account {name}. Add it to an authenticator app with the link \
                 above (or its QR code); logging in at https://<box>/staff/ needs the password \
                 and the app's code."
            );
        }
        StaffCommand::Remove { name } => {
            if !accounts.remove(&name) {
                return Err(no_such(&name));
            }
            let items = accounts.to_setting();
            let value = (!items.is_empty()).then_some(Value::List(items));
            store.apply(vec![(setting, value)])?;
            drop(store);
            eprintln!("Removed staff account {name}: it is logged out and cannot log in.");
        }
        StaffCommand::ResetTotp { name } => {
            if !accounts.has(&name) {
                return Err(no_such(&name));
            }
            let enrolment = accounts.reset_totp(&name, &issuer).map_err(InvalidInput)?;
            store.set(setting, Value::List(accounts.to_setting()))?;
            drop(store);
            show(&enrolment);
            eprintln!(
                "{name} has a new authenticator: add it with the link above; the old app's \
                 codes are refused from now on."
            );
        }
    }
    let request = Request::StaffAccounts {
        accounts: accounts.to_setting(),
    };
    tell_the_daemon(ctx, &request)
}

fn no_such(name: &str) -> anyhow::Error {
    InvalidInput(format!(
        "there is no staff account called {name:?}; `appliance staff list` lists them"
    ))
    .into()
}

/// The new password: asked twice without echo on a terminal, else the
/// first line of standard input (for scripts).
fn password() -> anyhow::Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        let first = Zeroizing::new(
            rpassword::prompt_password("Password for the account (at least 12 characters): ")
                .context("cannot read the password")?,
        );
        let again = Zeroizing::new(
            rpassword::prompt_password("The same again: ").context("cannot read the password")?,
        );
        if first != again {
            return Err(InvalidInput("the two passwords differ; nothing changed".into()).into());
        }
        return Ok(first);
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(Zeroizing::new(
        line.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

/// The enrolment: the URI alone on standard output (for a script), and on
/// a terminal its QR code for the phone's camera.
fn show(enrolment: &Enrolment) {
    println!("{}", enrolment.uri.as_str());
    if std::io::stderr().is_terminal()
        && let Ok(code) = qrcode::QrCode::new(enrolment.uri.as_bytes())
    {
        let picture = code
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        eprintln!("{picture}");
    }
    eprintln!(
        "The authenticator's secret, for apps that want it typed: {}",
        enrolment.secret.as_str()
    );
}
