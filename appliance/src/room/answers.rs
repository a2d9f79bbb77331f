//! The room's answers to control requests (`appliance status`, `invite`,
//! `press`, `sim ...`): status built from the session and media's counters,
//! patient links, and the simulation's faults, injected where a real one
//! would come from.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::Room;
use crate::api::ApiClients;
use crate::control::{MediaStatus, Reply, Request, SimFault, Status};
use crate::media::MediaCommand;
use crate::room_io::RoomCommand;
use crate::session::{Event, Fault};
use crate::staff::StaffAccounts;

/// What `status` says when the box's TURN servers gave a call no relay.
const RELAY_FAILED: &str = "The TURN relay gave this call no relay address: check that the TURN \
                            server runs and is reachable, ice.turn_urls and \
                            ice.turn_shared_secret (the call uses the other paths meanwhile)";

impl Room {
    /// Answers a control request.
    pub(super) fn control(&mut self, request: Request) -> Reply {
        match request {
            Request::Status => Reply::Status(Box::new(self.status())),
            Request::Invite { ttl_secs } => match self.invite(Duration::from_secs(ttl_secs)) {
                Ok(link) => Reply::Invite { link },
                Err(message) => Reply::Error { message },
            },
            Request::Press { long } => {
                if !self.simulated {
                    return Reply::Error {
                        message: "this box has a real button: press it".into(),
                    };
                }
                // Through the simulated pin and the real button driver.
                self.room(RoomCommand::Press { long });
                Reply::Ok
            }
            Request::ApiClients { clients } => match self.link_makers.api_clients.write() {
                Ok(mut known) => {
                    *known = ApiClients::from_setting(&clients);
                    Reply::Ok
                }
                Err(_) => Reply::Error {
                    message: "the API's clients are unavailable".into(),
                },
            },
            Request::StaffAccounts { accounts } => match self.link_makers.staff.write() {
                Ok(mut known) => {
                    *known = StaffAccounts::from_setting(&accounts);
                    Reply::Ok
                }
                Err(_) => Reply::Error {
                    message: "the staff accounts are unavailable".into(),
                },
            },
            Request::TvGrab => {
                if !self.simulated {
                    // A copy of the TV would be a copy of the session.
                    return Reply::Error {
                        message: "the TV can be grabbed only in simulation".into(),
                    };
                }
                let frame = self.stats.tv_frame.lock().ok().and_then(|f| f.clone());
                match frame {
                    Some(f) => Reply::Frame {
                        width: f.width,
                        height: f.height,
                        rgb: BASE64.encode(&f.rgb),
                    },
                    None => Reply::Error {
                        message: "the TV has shown nothing yet".into(),
                    },
                }
            }
            Request::Sim(fault) => {
                if !self.simulated {
                    return Reply::Error {
                        message: "fault injection works only in simulation".into(),
                    };
                }
                self.inject(fault);
                Reply::Ok
            }
        }
    }

    pub(super) fn inject(&mut self, fault: SimFault) {
        match fault {
            // Blocked, the shutter stays where it is; the driver notices
            // when it next fails to reach its sensor in time.
            SimFault::ShutterJam => self.room(RoomCommand::Jam(true)),
            // Freed: the simulation knows the obstacle is gone, as the
            // therapist's press would say on a real box.
            SimFault::ShutterFree => {
                self.room(RoomCommand::Jam(false));
                self.event(Event::FaultCleared(Fault::ShutterJammed));
            }
            SimFault::CameraUnplug => self.event(Event::FaultRaised(Fault::CameraMissing)),
            SimFault::CameraPlug => self.event(Event::FaultCleared(Fault::CameraMissing)),
            SimFault::MediaStall => {
                if self.media.try_send(MediaCommand::SimStall).is_err() {
                    self.stats.dropped("the simulated stall");
                }
            }
            // A bug's stand-in, in the session task itself: the room must
            // end safe through its drivers all the same.
            #[allow(clippy::panic)]
            SimFault::Panic => panic!("a simulated failure (appliance sim panic)"),
        }
    }

    fn invite(&self, ttl: Duration) -> Result<String, String> {
        let now = crate::invite::unix_now();
        let invites = self
            .invites
            .lock()
            .map_err(|_| "invites unavailable".to_owned())?;
        let token = invites.issue(now, ttl).map_err(|e| e.to_string())?;
        Ok(format!("{}/#{token}", self.public_url))
    }

    pub(super) fn status(&self) -> Status {
        use std::sync::atomic::Ordering::Relaxed;
        let security_code = self
            .session
            .current_peer()
            .and_then(|peer| self.codes.get(&peer).cloned());
        let box_view = self.stats.path.lock().ok().and_then(|p| *p);
        let page_view = (self.session.current_peer())
            .and_then(|peer| self.peers.get(&peer))
            .and_then(|link| link.path);
        let (path, relay_transport) = crate::ice_path::combine(box_view, page_view);
        Status {
            room: self.room_name.clone(),
            state: self.session.state(),
            shutter: self.session.shutter(),
            led: self.session.led(),
            waiting: self.session.waiting(),
            camera_gate: self.session.camera_gate_open(),
            security_code,
            faults: self
                .session
                .faults()
                .iter()
                .map(|f| f.describe().to_owned())
                .collect(),
            notice: self.notice.clone(),
            call_problem: self.call_problem.clone(),
            patient_devices: (self.session.current_peer())
                .and_then(|peer| self.peers.get(&peer))
                .map(|link| link.devices),
            messages_dropped: self.stats.messages_dropped.load(Relaxed),
            media: MediaStatus {
                video_frames_sent: self.stats.video_frames_sent.load(Relaxed),
                video_frames_received: self.stats.video_frames_received.load(Relaxed),
                video_packets_received: self.stats.video_packets_received.load(Relaxed),
                keyframes_asked: self.stats.keyframes_asked.load(Relaxed),
                audio_frames_received: self.stats.audio_frames_received.load(Relaxed),
                audio_frames_audible: self.stats.audio_frames_audible.load(Relaxed),
                bitrate_kbps: self.stats.bitrate_kbps.load(Relaxed),
                estimate_kbps: Some(self.stats.estimate_kbps.load(Relaxed)).filter(|&e| e > 0),
                rtt_ms: Some(self.stats.rtt_ms.load(Relaxed)).filter(|&r| r > 0),
                reconnects: self.reconnects,
                path,
                relay_transport,
                weak_connection: (self.session.current_peer())
                    .and_then(|peer| self.peers.get(&peer))
                    .is_some_and(|link| link.weak),
                relay_problem: self
                    .stats
                    .relay_failed
                    .load(Relaxed)
                    .then(|| RELAY_FAILED.to_owned()),
            },
        }
    }
}
