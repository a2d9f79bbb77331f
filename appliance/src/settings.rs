//! The settings the daemon and the wiring check run with, read once from the
//! store into types: every unset setting at its default from the schema
//! (`appliance_config::schema`, the one place defaults are written), every
//! choice an enum. The store only ever holds values that passed their
//! setting's validation, so reading cannot fail here.

use std::collections::BTreeMap;
use std::time::Duration;

use appliance_config::Value;
use appliance_config::schema;
use appliance_hardware::PinMap;
use zeroize::Zeroizing;

use crate::api::ApiClients;
use crate::drivers::{Backend, BackendKind};
use crate::language::Language;
use crate::session::ShutterKind;
use crate::signalling::client::TrustedProxies;
use crate::staff::StaffAccounts;
use crate::turn::{IceServers, Turn};

/// Every setting the appliance runs with, typed.
#[derive(Debug)]
pub struct Settings {
    /// `room.name`: shown on the TV and the patient's page.
    pub room_name: String,
    /// `room.language`: the page's and the TV's.
    pub language: Language,
    /// `room.public_url`: the base of patient links; None to use the
    /// address the box listens on.
    pub public_url: Option<String>,
    /// `tls.certificate`, PEM.
    pub tls_certificate: Option<String>,
    /// `tls.private_key`, PEM.
    pub tls_private_key: Option<Zeroizing<String>>,
    /// `invite.signing_key`, base64.
    pub invite_signing_key: Option<Zeroizing<String>>,
    /// `invite.early_minutes`: how long before its window a link admits.
    pub invite_early: Duration,
    /// `api.clients`: the clinic's systems that may make links.
    pub api_clients: ApiClients,
    /// The front desk's accounts.
    pub staff_accounts: StaffAccounts,
    /// `ice.*`: STUN, and TURN when both its URLs and its secret are set.
    pub ice: IceServers,
    /// `http.trusted_proxies`.
    pub trusted_proxies: TrustedProxies,
    /// `video.*`.
    pub video: Video,
    /// `shutter.kind`.
    pub shutter: ShutterKind,
    /// `session.reconnect_grace_seconds`.
    pub reconnect_grace: Duration,
    /// `tv.standby_after_minutes`; None for never.
    pub tv_standby: Option<Duration>,
    /// `hardware.backend`.
    pub backend: BackendKind,
    /// `hardware.pins.*`.
    pub pins: PinMap,
}

/// What the camera sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Video {
    /// The largest picture's width, in pixels.
    pub width: u32,
    /// Its height.
    pub height: u32,
    /// Frames per second.
    pub framerate: u32,
    /// The most the video may send, in kbit/s.
    pub max_bitrate_kbps: u32,
}

impl Settings {
    /// The settings from the store's values, defaults filled in.
    pub fn read(stored: &BTreeMap<&'static str, Value>) -> Settings {
        let values = schema::effective(stored);
        let text = |name: &str| values.get(name).and_then(Value::as_text).map(str::to_owned);
        let secret = |name: &str| text(name).map(Zeroizing::new);
        let int = |name: &str| values.get(name).and_then(Value::as_int).unwrap_or(0);
        let small = |name: &str| u32::try_from(int(name)).unwrap_or(0);
        let pin = |name: &str| u8::try_from(int(name)).unwrap_or(0);
        let list = |name: &str| {
            (values.get(name).and_then(Value::as_list))
                .map(<[String]>::to_vec)
                .unwrap_or_default()
        };
        let (width, height) = text("video.resolution")
            .as_deref()
            .and_then(parse_resolution)
            .unwrap_or((1280, 720));
        Settings {
            room_name: text("room.name").unwrap_or_default(),
            language: (text("room.language").as_deref())
                .and_then(Language::from_code)
                .unwrap_or_default(),
            public_url: text("room.public_url"),
            tls_certificate: text("tls.certificate"),
            tls_private_key: secret("tls.private_key"),
            invite_signing_key: secret("invite.signing_key"),
            invite_early: Duration::from_secs(u64::from(small("invite.early_minutes")) * 60),
            api_clients: ApiClients::from_setting(&list("api.clients")),
            staff_accounts: StaffAccounts::from_setting(&list("staff.accounts")),
            ice: IceServers {
                stun_urls: list("ice.stun_urls"),
                turn: Turn::new(
                    list("ice.turn_urls"),
                    secret("ice.turn_shared_secret"),
                    Duration::from_secs(u64::from(small("ice.turn_credential_ttl"))),
                ),
            },
            trusted_proxies: TrustedProxies::new(&list("http.trusted_proxies")),
            video: Video {
                width,
                height,
                framerate: small("video.framerate"),
                max_bitrate_kbps: small("video.max_bitrate_kbps"),
            },
            shutter: match text("shutter.kind").as_deref() {
                Some("manual") => ShutterKind::Manual,
                _ => ShutterKind::Motorized,
            },
            reconnect_grace: Duration::from_secs(u64::from(small(
                "session.reconnect_grace_seconds",
            ))),
            tv_standby: match small("tv.standby_after_minutes") {
                0 => None,
                minutes => Some(Duration::from_secs(u64::from(minutes) * 60)),
            },
            backend: text("hardware.backend")
                .as_deref()
                .and_then(BackendKind::from_setting)
                .unwrap_or(BackendKind::Rppal),
            pins: PinMap {
                button: pin("hardware.pins.button"),
                shutter_servo: pin("hardware.pins.shutter_servo"),
                shutter_open_sensor: pin("hardware.pins.shutter_open_sensor"),
                shutter_closed_sensor: pin("hardware.pins.shutter_closed_sensor"),
                led_red: pin("hardware.pins.led_red"),
                led_green: pin("hardware.pins.led_green"),
            },
        }
    }

    /// Where the room's pins come from: simulated when `sim` (the command
    /// line's `--sim`) or when the settings say so, with a shutter that
    /// takes `travel` to move.
    pub fn backend(&self, sim: bool, travel: Duration) -> Backend {
        if sim || self.backend == BackendKind::Sim {
            Backend::Sim { travel }
        } else {
            Backend::Rpi(self.pins)
        }
    }
}

/// `WIDTHxHEIGHT`, as the schema stores it.
fn parse_resolution(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_settings_run_at_the_schema_s_defaults() {
        let settings = Settings::read(&BTreeMap::new());
        assert_eq!(settings.room_name, "Consulting room");
        assert_eq!(
            settings.video,
            Video {
                width: 1280,
                height: 720,
                framerate: 30,
                max_bitrate_kbps: 2500
            }
        );
        assert_eq!(settings.shutter, ShutterKind::Motorized);
        assert_eq!(settings.tv_standby, None);
        assert_eq!(settings.reconnect_grace, Duration::from_secs(120));
        assert_eq!(settings.backend, BackendKind::Rppal);
        assert!(settings.public_url.is_none() && settings.ice.stun_urls.is_empty());
        assert!(settings.ice.turn.is_none());
        assert!(settings.tls_private_key.is_none() && settings.invite_signing_key.is_none());
    }

    #[test]
    fn the_schema_s_pins_are_the_hardware_s_example_wiring() {
        let settings = Settings::read(&BTreeMap::new());
        assert_eq!(settings.pins, appliance_hardware::pins::EXAMPLE_PINS);
    }

    #[test]
    fn stored_values_are_read_into_their_types() {
        let stored = BTreeMap::from([
            ("video.resolution", Value::Text("640x480".into())),
            ("shutter.kind", Value::Text("manual".into())),
            ("hardware.backend", Value::Text("sim".into())),
            ("tv.standby_after_minutes", Value::Int(10)),
            ("hardware.pins.led_red", Value::Int(22)),
            (
                "ice.stun_urls",
                Value::List(vec!["stun:192.0.2.1:3478".into()]),
            ),
            ("ice.turn_urls", Value::List(vec!["turn:192.0.2.1".into()])),
            (
                "ice.turn_shared_secret",
                Value::Text("north-wing-turn-secret".into()),
            ),
        ]);
        let settings = Settings::read(&stored);
        assert_eq!((settings.video.width, settings.video.height), (640, 480));
        assert_eq!(settings.shutter, ShutterKind::Manual);
        assert_eq!(settings.backend, BackendKind::Sim);
        assert_eq!(settings.tv_standby, Some(Duration::from_secs(600)));
        assert_eq!(settings.pins.led_red, 22);
        assert_eq!(settings.ice.stun_urls, ["stun:192.0.2.1:3478"]);
        assert!(matches!(
            settings.backend(false, Duration::ZERO),
            Backend::Sim { .. }
        ));
        let turn = settings.ice.turn.expect("TURN with its URLs and secret");
        let username = turn.mint(1_000).username;
        assert!(username.starts_with("8200:"), "the default lifetime is 2 h");
    }

    #[test]
    fn the_command_line_s_sim_wins_over_the_settings_pins() {
        let settings = Settings::read(&BTreeMap::new());
        assert!(matches!(
            settings.backend(false, Duration::ZERO),
            Backend::Rpi(_)
        ));
        assert!(matches!(
            settings.backend(true, Duration::ZERO),
            Backend::Sim { .. }
        ));
    }
}
