//! `appliance`: the therapy-room video appliance's daemon and command line.
//! `main` parses the command line, runs one command, and turns its error into
//! one plain line on stderr and a documented exit code.

mod admin;
mod api;
mod cli;
mod control;
mod daemon;
mod drivers;
mod exit;
#[cfg(any(test, feature = "fuzz"))]
mod fuzz;
mod hw_test;
mod ice_path;
mod invite;
mod language;
mod media;
mod memory;
mod notice;
mod notify;
mod room;
mod room_io;
mod session;
mod settings;
mod signalling;
mod sim_log;
mod staff;
mod turn;
mod tv_power;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    memory::limit_arenas();
    #[cfg(feature = "fuzz")]
    if let Some(code) = fuzz::requested() {
        return code;
    }
    let command = Cli::command().mut_subcommand("config", |c| c.after_help(admin::settings_help()));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let ctx = admin::Context::new(&cli.global);
    let result = match cli.command {
        Command::Run(args) => admin::run(&ctx, &args),
        Command::Invite {
            command: Some(cli::InviteCommand::Inspect { url }),
            ..
        } => api::manage::inspect(&ctx, &url),
        Command::Invite { ttl, .. } => admin::client(
            &ctx,
            control::Request::Invite {
                ttl_secs: ttl.as_secs(),
            },
            false,
        ),
        Command::ApiClient(command) => api::manage::api_client(&ctx, command),
        Command::Staff(command) => staff::manage::staff(&ctx, command),
        Command::Status { json } => admin::client(&ctx, control::Request::Status, json),
        Command::Press { long } => admin::client(&ctx, control::Request::Press { long }, false),
        Command::Sim(cli::SimCommand::Tv { file, .. }) => admin::tv_grab(&ctx, &file),
        Command::Sim(sim) => {
            let fault = match sim {
                cli::SimCommand::Shutter { action } => match action {
                    cli::ShutterAction::Jam => control::SimFault::ShutterJam,
                    cli::ShutterAction::Free => control::SimFault::ShutterFree,
                },
                cli::SimCommand::Camera { action } => match action {
                    cli::CameraAction::Unplug => control::SimFault::CameraUnplug,
                    cli::CameraAction::Plug => control::SimFault::CameraPlug,
                },
                cli::SimCommand::Media {
                    action: cli::MediaAction::Stall,
                }
                // (The TV's copy is taken above.)
                | cli::SimCommand::Tv { .. } => control::SimFault::MediaStall,
                cli::SimCommand::Panic => control::SimFault::Panic,
            };
            admin::client(&ctx, control::Request::Sim(fault), false)
        }
        Command::HwTest { sim } => admin::hw_test(&ctx, sim),
        Command::Provision {
            file,
            allow_other_board,
        } => admin::provision(&ctx, &file, allow_other_board),
        Command::Config(c) => admin::config(&ctx, c),
        Command::Reset { factory: _, yes } => admin::reset(&ctx, yes),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line per problem; `{:#}` adds the causes after the message.
            for line in format!("{error:#}").lines() {
                eprintln!("appliance: error: {line}");
            }
            ExitCode::from(exit::code(&error))
        }
    }
}
