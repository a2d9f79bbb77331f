//! `appliance`: the therapy-room video appliance's daemon and command line.
//! `main` parses the command line, runs one command, and turns its error into
//! one plain line on stderr and a documented exit code.

mod admin;
mod cli;
mod exit;
#[allow(dead_code)] // wired into the daemon by the next change
mod session;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let command = Cli::command().mut_subcommand("config", |c| c.after_help(admin::settings_help()));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let ctx = admin::Context::new(&cli.global);
    let result = match cli.command {
        Command::Run(args) => admin::run(&ctx, &args),
        Command::Provision { file } => admin::provision(&ctx, &file),
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
