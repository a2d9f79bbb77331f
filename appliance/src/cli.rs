//! The command line: every subcommand and option, with the help text IT reads.
//! Parsed once in `main`; nothing here does any work.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default state directory when systemd gives none.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/appliance";

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  an unexpected failure (the message says what)
  2  the command line is wrong
  3  invalid input: a provisioning file or a setting's value
  4  the device key is missing, unreadable, malformed or does not open the store
  5  the store is missing, in use, damaged or not an appliance store
  6  cancelled: a factory reset was not confirmed";

/// The therapy-room video appliance.
#[derive(Debug, Parser)]
#[command(name = "appliance", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options that every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The state directory: the encrypted settings store lives here
    /// (default: $STATE_DIRECTORY as systemd sets it, else /var/lib/appliance).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Read the 256-bit device key from this file (32 raw bytes or 64 hex digits)
    /// when the systemd credential config.key is absent.
    #[arg(long, global = true, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// The daemon's control socket (default: $RUNTIME_DIRECTORY/control.sock,
    /// else /run/appliance/control.sock).
    #[arg(long, global = true, value_name = "PATH")]
    pub control: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance: the patient page over HTTPS, the call, the room.
    Run(RunArgs),
    /// Print a one-time patient link from the running appliance (or, with
    /// `inspect URL`, read one).
    #[command(args_conflicts_with_subcommands = true)]
    Invite {
        #[command(subcommand)]
        command: Option<InviteCommand>,
        /// How long the link is valid: 30m, 2h, 7d (at most 30 days).
        #[arg(long, default_value = "24h", value_parser = crate::invite::parse_ttl)]
        ttl: std::time::Duration,
    },
    /// The clinic's systems (scheduling, EHR) that make patient links
    /// through the API, POST /api/v1/invites: add one (its token is printed
    /// once), list them, remove one (refused at once).
    #[command(subcommand)]
    ApiClient(ApiClientCommand),
    /// The front desk's accounts for https://<box>/staff/ (off without
    /// one): add one (a password, then an authenticator app), list them,
    /// remove one, or give one a new authenticator.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Print the running appliance's state.
    Status {
        /// As JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Press the button (simulation only; a real box refuses).
    Press {
        /// A long press: ends the session.
        #[arg(long)]
        long: bool,
    },
    /// Check the room's wiring: walks through the button, the shutter's
    /// sensors (and servo), and the LED, asking you to act or confirm at each
    /// step. Stop the appliance first (systemctl stop appliance). With --sim,
    /// on the simulated board, where each button step reads what the hand
    /// does (press, hold or none) from standard input.
    HwTest {
        /// Use the simulated board.
        #[arg(long)]
        sim: bool,
    },
    /// Inject a fault into the simulated room (simulation only).
    #[command(subcommand)]
    Sim(SimCommand),
    /// Import a provisioning file (TOML) into the encrypted store. Nothing
    /// changes unless every setting in it is valid; settings it does not name
    /// keep their values.
    Provision {
        /// The provisioning file; config/provision.example.toml documents every setting.
        file: PathBuf,
        /// Import a file made for another board too: a Raspberry Pi's pins
        /// (hardware.backend = "rppal") on a build without them, as
        /// scripts/run-sim does with the example before switching to
        /// simulated pins. Without it such a file is refused, since the
        /// daemon could not start on it.
        #[arg(long)]
        allow_other_board: bool,
    },
    /// Read and change single settings. Secrets are shown only as <set> or <unset>.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Erase the device: with --factory, destroys the store and the
    /// development key (crypto-erase).
    Reset {
        /// Required: this is a factory reset.
        #[arg(long, required = true)]
        factory: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// The simulated shutter sticks (jam) or moves again (free).
    Shutter {
        /// What happens to it.
        action: ShutterAction,
    },
    /// The simulated camera is pulled out (unplug) or put back (plug).
    Camera {
        /// What happens to it.
        action: CameraAction,
    },
    /// Save a small copy (320x180, PPM) of what the simulated TV shows now.
    Tv {
        /// What to do with the TV.
        action: TvAction,
        /// Where to write the picture.
        file: PathBuf,
    },
    /// The patient's video stops leaving the box while the camera runs, as
    /// when GStreamer's WebRTC endpoint hangs (stall); the box must notice
    /// and negotiate anew.
    Media {
        /// What happens to media.
        action: MediaAction,
    },
    /// The daemon panics, as a bug would make it: the shutter must be
    /// commanded closed and the LED to fault through their drivers, and the
    /// daemon stops with an error (systemd starts it again).
    Panic,
}

/// `sim shutter`'s actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShutterAction {
    /// It sticks where it is.
    Jam,
    /// It moves again.
    Free,
}

/// `sim camera`'s actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CameraAction {
    /// Pulled out.
    Unplug,
    /// Put back.
    Plug,
}

/// `sim tv`'s actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TvAction {
    /// Save what it shows now.
    Grab,
}

/// `sim media`'s actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MediaAction {
    /// Every patient's video stops on its way out.
    Stall,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Use the simulated button, shutter and LED, and test sources.
    #[arg(long)]
    pub sim: bool,
    /// No TV window: the patient's video goes to a null sink.
    #[arg(long)]
    pub headless: bool,
    /// Where the patient page and signalling listen.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Also gather ICE candidates on this address (repeatable); libnice skips
    /// loopback, so a box reached on 127.0.0.1 needs it.
    #[arg(long = "ice-address", value_name = "IP")]
    pub ice_addresses: Vec<std::net::IpAddr>,
    /// The camera's V4L2 device (not with --sim). Without one, black frames
    /// stand in, the box shows a camera fault, and it restarts to take the
    /// camera up once it appears.
    #[arg(long, value_name = "DEVICE", default_value = "/dev/video0")]
    pub camera: PathBuf,
    /// While FILE exists, the last provisioning file was refused (the image's
    /// first-boot unit makes it): the box shows a fault until it is fixed.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/run/appliance-provision-failed"
    )]
    pub provision_failed_flag: PathBuf,
    /// A notice for IT, which the box shows on the TV's idle screen and in
    /// `status` while FILE exists (at most four lines; read every 2 s). The
    /// image's update scripts write it: an update refused, installed, or
    /// rolled back.
    #[arg(long, value_name = "FILE", default_value = "/run/appliance-notice")]
    pub notice_file: PathBuf,
    /// How long the simulated shutter takes to open or close, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 400)]
    pub sim_shutter_travel_ms: u64,
    /// Append every command the simulated shutter and LED get to FILE, one
    /// per line (for tests; keep it outside the state directory).
    #[arg(long, value_name = "FILE", requires = "sim")]
    pub sim_log: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Print what a patient link says: the room, when it lets the patient
    /// in, when it expires, and whether this box signed it. Needs no secret
    /// and prints none (the link's token is not printed either).
    Inspect {
        /// The link, as the patient got it.
        url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiClientCommand {
    /// Add a system and print its new bearer token, only this once (the
    /// box keeps its hash).
    Add {
        /// Its name: 1 to 64 letters, digits, '.', '_' or '-'.
        name: String,
    },
    /// Print the systems' names, one per line.
    List,
    /// Remove a system: its token is refused from then on.
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add an account: asks for its password (at least 12 characters; read
    /// from standard input when it is not a terminal) and prints the
    /// authenticator app's enrolment (an otpauth:// URI, and a QR code on
    /// a terminal). Login needs both.
    Add {
        /// Its name: 1 to 64 letters, digits, '.', '_' or '-'.
        name: String,
    },
    /// Print the accounts' names, one per line.
    List,
    /// Remove an account: its sessions end and it cannot log in again.
    Remove {
        /// Its name.
        name: String,
    },
    /// Give an account a new authenticator (a lost or new phone): prints
    /// the new enrolment; the old app's codes are refused from then on.
    ResetTotp {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print one setting's value (secrets: <set> or <unset>).
    Get {
        /// The setting, e.g. room.name.
        name: String,
    },
    /// Change one setting. Without VALUE, the value is read from standard input
    /// (for secrets and PEM files, so they stay out of the shell's history).
    Set {
        /// The setting, e.g. room.name.
        name: String,
        /// The new value; lists are separated by commas.
        value: Option<String>,
    },
    /// Remove one setting's value.
    Unset {
        /// The setting, e.g. ice.turn_urls.
        name: String,
    },
    /// Print every setting, one per line.
    List,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
