//! Every transition of the session, and property tests of its promises over
//! random sequences of events.

use proptest::prelude::*;

use super::*;

use ShutterPosition::{Closed, Jammed, Open};

/// A reconnect grace for the tests.
const GRACE: Duration = Duration::from_secs(120);

fn joined(peer: PeerId, name: &str) -> Event {
    Event::PatientJoined {
        peer,
        name: name.into(),
    }
}

fn motorized() -> Session {
    let mut s = Session::new(ShutterKind::Motorized, Closed, GRACE);
    s.start();
    s
}

/// A motorized session with patient 1 live.
fn live() -> Session {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    s.handle(Event::ShortPress);
    s.handle(Event::ShutterSensed(ShutterPosition::Opening));
    s.handle(Event::ShutterSensed(Open));
    assert_eq!(s.state(), State::Live);
    s
}

#[test]
fn start_closes_shutter_and_gates_camera() {
    let mut s = Session::new(ShutterKind::Motorized, Open, GRACE);
    let out = s.start();
    assert!(out.contains(&Command::CameraGate { open: false }));
    assert!(out.contains(&Command::Shutter { open: false }));
    assert!(out.contains(&Command::Led(LedPattern::Off)));
}

#[test]
fn a_patient_waits_and_media_is_negotiated_gated() {
    let mut s = motorized();
    let out = s.handle(joined(1, "Ada"));
    assert_eq!(s.state(), State::Lobby);
    assert_eq!(
        out,
        [
            Command::Notify(1, PatientView::Waiting),
            Command::Tv(TvPower::Wake),
            Command::StartMedia(1),
            Command::Show(Screen::Lobby {
                name: "Ada".into(),
                waiting: 1
            }),
            Command::Led(LedPattern::Waiting),
        ]
    );
    assert!(!s.camera_gate_open());
}

#[test]
fn the_press_opens_the_shutter_and_only_the_sensor_opens_the_gate() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    let out = s.handle(Event::ShortPress);
    assert_eq!(s.state(), State::Opening);
    assert!(out.contains(&Command::Shutter { open: true }));
    assert!(out.contains(&Command::StartTimer(Timer::Shutter, SHUTTER_TIMEOUT)));
    assert!(out.contains(&Command::Notify(1, PatientView::Starting)));
    assert!(!s.camera_gate_open(), "commanded open is not sensed open");
    s.handle(Event::ShutterSensed(ShutterPosition::Opening));
    assert!(!s.camera_gate_open());
    let out = s.handle(Event::ShutterSensed(Open));
    assert_eq!(s.state(), State::Live);
    assert!(s.camera_gate_open());
    assert!(out.contains(&Command::CameraGate { open: true }));
    assert!(out.contains(&Command::Led(LedPattern::Live)));
    assert!(out.contains(&Command::Notify(1, PatientView::Live)));
    assert!(out.contains(&Command::CancelTimer(Timer::Shutter)));
}

#[test]
fn short_press_pauses_and_resumes() {
    let mut s = live();
    let out = s.handle(Event::ShortPress);
    assert_eq!(s.state(), State::Paused);
    assert_eq!(
        out[0],
        Command::CameraGate { open: false },
        "the gate closes first"
    );
    assert!(out.contains(&Command::Shutter { open: false }));
    assert!(out.contains(&Command::Notify(1, PatientView::Paused)));
    assert_eq!(s.led(), LedPattern::Waiting);
    s.handle(Event::ShutterSensed(Closed));
    s.handle(Event::ShortPress);
    assert_eq!(s.state(), State::Opening);
    s.handle(Event::ShutterSensed(Open));
    assert_eq!(s.state(), State::Live);
    assert!(s.camera_gate_open());
}

#[test]
fn long_press_ends_closes_mutes_and_drops_the_patient() {
    let mut s = live();
    let out = s.handle(Event::LongPress);
    assert_eq!(out[0], Command::CameraGate { open: false });
    assert!(out.contains(&Command::Shutter { open: false }));
    assert!(out.contains(&Command::Notify(1, PatientView::Ended)));
    assert!(out.contains(&Command::StopMedia(1)));
    assert!(out.contains(&Command::Led(LedPattern::Off)));
    assert_eq!(s.state(), State::Ending);
    assert_eq!(s.current_peer(), None);
    let out = s.handle(Event::ShutterSensed(Closed));
    assert_eq!(s.state(), State::Idle);
    assert!(out.contains(&Command::Show(Screen::Idle)));
}

#[test]
fn a_patient_whose_media_the_box_gave_up_on_is_told_why_waiting_or_in_session() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    s.handle(joined(2, "Bo"));
    // Waiting (the page never answered the offer): told, and the next one
    // goes on.
    let out = s.handle(Event::MediaFailed(1));
    assert!(
        out.contains(&Command::Notify(1, PatientView::MediaFailed)),
        "{out:?}"
    );
    assert!(out.contains(&Command::StartMedia(2)), "{out:?}");
    assert_eq!(PatientView::MediaFailed.reason(), Some("media"));
    // In session: it ends, the page told why rather than "ended".
    let mut s = live();
    let out = s.handle(Event::MediaFailed(1));
    assert!(
        out.contains(&Command::Notify(1, PatientView::MediaFailed)),
        "{out:?}"
    );
    assert!(
        !out.contains(&Command::Notify(1, PatientView::Ended)),
        "{out:?}"
    );
    assert_eq!(s.state(), State::Ending);
    assert!(!s.camera_gate_open());
    // Someone the session does not know: nothing to tell.
    assert!(
        s.handle(Event::MediaFailed(9))
            .iter()
            .all(|c| !matches!(c, Command::Notify(..)))
    );
}

#[test]
fn a_patient_whose_network_cannot_reach_the_room_is_told_and_the_next_one_goes_on() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    s.handle(joined(2, "Bo"));
    let out = s.handle(Event::MediaUnreachable(1));
    assert!(out.contains(&Command::Notify(1, PatientView::Unreachable)));
    assert!(out.contains(&Command::StopMedia(1)));
    assert!(out.contains(&Command::StartMedia(2)), "{out:?}");
    assert_eq!(s.state(), State::Lobby);
    let out = s.handle(Event::MediaUnreachable(2));
    assert!(out.contains(&Command::Notify(2, PatientView::Unreachable)));
    assert_eq!(s.state(), State::Idle);
    let last_screen = out.iter().rev().find(|c| matches!(c, Command::Show(_)));
    assert_eq!(
        last_screen,
        Some(&Command::Show(Screen::Unreachable { name: "Bo".into() })),
        "the TV says whose connection failed: {out:?}"
    );
    assert!(!s.camera_gate_open());
    // Twice, or for someone gone: nothing more.
    assert!(s.handle(Event::MediaUnreachable(2)).is_empty());
    // The next patient is let in as ever.
    s.handle(joined(3, "Cy"));
    assert_eq!(s.state(), State::Lobby);
}

#[test]
fn the_lobby_is_first_come_first_admitted() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    let out = s.handle(joined(2, "Bo"));
    assert!(
        !out.contains(&Command::StartMedia(2)),
        "only the first negotiates"
    );
    assert_eq!(s.waiting(), 2);
    s.handle(Event::ShortPress);
    assert_eq!(s.current_peer(), Some(1));
    assert_eq!(s.waiting(), 1);
    s.handle(Event::ShutterSensed(Open));
    s.handle(Event::LongPress);
    let out = s.handle(Event::ShutterSensed(Closed));
    assert_eq!(s.state(), State::Lobby);
    assert!(out.contains(&Command::StartMedia(2)));
    s.handle(Event::ShortPress);
    assert_eq!(s.current_peer(), Some(2));
}

#[test]
fn a_waiting_patient_who_leaves_hands_media_to_the_next() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    s.handle(joined(2, "Bo"));
    let out = s.handle(Event::PatientLeft(1));
    assert_eq!(out[..2], [Command::StopMedia(1), Command::StartMedia(2)]);
    let out = s.handle(Event::PatientLeft(2));
    assert!(out.contains(&Command::Show(Screen::Idle)));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.led(), LedPattern::Off);
}

#[test]
fn the_patient_leaving_ends_the_session() {
    let mut s = live();
    let out = s.handle(Event::PatientLeft(1));
    assert_eq!(out[0], Command::CameraGate { open: false });
    assert_eq!(s.state(), State::Ending);
}

#[test]
fn a_shutter_that_never_opens_is_a_fault() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    s.handle(Event::ShortPress);
    let out = s.handle(Event::TimerFired(Timer::Shutter));
    assert_eq!(s.state(), State::Fault);
    assert_eq!(s.led(), LedPattern::Fault);
    assert!(out.contains(&Command::Notify(1, PatientView::Error)));
    assert!(out.contains(&Command::Shutter { open: false }));
    assert!(out.contains(&Command::Show(Screen::Fault(Fault::ShutterTimeout))));
    // Sensed closed again: back to idle (the patient was dropped).
    s.handle(Event::ShutterSensed(Closed));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn a_jam_while_live_gates_at_once_and_recovers_to_the_lobby() {
    let mut s = live();
    s.handle(joined(2, "Bo"));
    let out = s.handle(Event::ShutterSensed(Jammed));
    assert_eq!(out[0], Command::CameraGate { open: false });
    assert_eq!(s.state(), State::Fault);
    // Freed, it moves and reaches closed: that ends the jam by itself.
    s.handle(Event::ShutterSensed(ShutterPosition::Closing));
    assert_eq!(s.state(), State::Fault);
    s.handle(Event::ShutterSensed(Closed));
    assert_eq!(s.state(), State::Lobby);
    assert_eq!(s.waiting(), 1);
}

#[test]
fn a_shutter_stuck_while_opening_stays_a_fault_until_the_press() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    s.handle(joined(2, "Bo"));
    s.handle(Event::ShortPress);
    let out = s.handle(Event::ShutterSensed(Jammed));
    assert!(out.contains(&Command::Shutter { open: false }));
    assert!(out.contains(&Command::Notify(1, PatientView::Error)));
    // It never left its closed sensor: closed again at once, still a fault.
    s.handle(Event::ShutterSensed(Closed));
    assert_eq!(s.state(), State::Fault);
    assert_eq!(s.faults(), &[Fault::ShutterJammed]);
    assert_eq!(s.led(), LedPattern::Fault);
    // "Check that nothing blocks it, then press the button."
    s.handle(Event::ShortPress);
    assert_eq!(s.state(), State::Lobby);
    assert_eq!(s.waiting(), 1);
    assert!(s.faults().is_empty());
}

#[test]
fn the_press_does_not_clear_a_shutter_fault_before_it_is_closed_or_other_faults() {
    let mut s = live();
    s.handle(Event::ShutterSensed(Jammed));
    s.handle(Event::ShortPress);
    assert_eq!(s.state(), State::Fault, "jammed, not sensed closed");
    s.handle(Event::FaultRaised(Fault::Button));
    s.handle(Event::ShutterSensed(Closed));
    s.handle(Event::ShortPress);
    assert_eq!(s.state(), State::Fault);
    assert_eq!(s.faults(), &[Fault::Button]);
    s.handle(Event::FaultCleared(Fault::Button));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn a_freed_jam_clears_when_told() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    s.handle(Event::ShortPress);
    s.handle(Event::ShutterSensed(Jammed));
    s.handle(Event::ShutterSensed(Closed));
    s.handle(Event::FaultCleared(Fault::ShutterJammed));
    assert_eq!(s.state(), State::Idle);

    // Freed half way, it is back to idle only once sensed closed.
    s.handle(joined(2, "Bo"));
    s.handle(Event::ShortPress);
    s.handle(Event::ShutterSensed(ShutterPosition::Opening));
    s.handle(Event::ShutterSensed(Jammed));
    s.handle(Event::FaultCleared(Fault::ShutterJammed));
    assert_eq!(s.state(), State::Fault);
    s.handle(Event::ShutterSensed(ShutterPosition::Closing));
    assert_eq!(s.state(), State::Fault);
    s.handle(Event::ShutterSensed(Closed));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn camera_faults_hold_until_cleared() {
    let mut s = live();
    s.handle(Event::FaultRaised(Fault::CameraMissing));
    assert_eq!(s.state(), State::Fault);
    s.handle(Event::ShutterSensed(Closed));
    assert_eq!(
        s.state(),
        State::Fault,
        "a closed shutter does not fix the camera"
    );
    s.handle(Event::FaultCleared(Fault::CameraMissing));
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn refused_provisioning_is_a_fault_that_no_press_or_sensor_clears() {
    let mut s = motorized();
    let out = s.handle(Event::FaultRaised(Fault::Provisioning));
    assert_eq!(s.state(), State::Fault);
    assert_eq!(s.led(), LedPattern::Fault);
    assert!(out.contains(&Command::Show(Screen::Fault(Fault::Provisioning))));
    s.handle(joined(1, "Ada"));
    s.handle(Event::ShortPress);
    s.handle(Event::ShutterSensed(Closed));
    s.handle(Event::ShutterSensed(Jammed));
    s.handle(Event::ShutterSensed(Closed));
    s.handle(Event::ShortPress);
    assert_eq!(s.state(), State::Fault);
    assert!(!s.camera_gate_open());
    assert_eq!(s.faults(), &[Fault::Provisioning]);
}

#[test]
fn a_manual_shutter_is_opened_by_hand_and_closing_it_pauses() {
    let mut s = Session::new(ShutterKind::Manual, Closed, GRACE);
    s.start();
    s.handle(joined(1, "Ada"));
    let out = s.handle(Event::ShortPress);
    assert!(out.contains(&Command::Show(Screen::Opening { open_by_hand: true })));
    assert!(!out.iter().any(|c| matches!(c, Command::Shutter { .. })));
    s.handle(Event::ShutterSensed(Open));
    assert!(s.camera_gate_open());
    s.handle(Event::ShutterSensed(Closed));
    assert_eq!(s.state(), State::Paused);
    assert!(!s.camera_gate_open());
    s.handle(Event::LongPress);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn the_code_shows_for_its_time_once_live_and_again_after_a_pause() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    s.handle(Event::ShortPress);
    let out = s.handle(Event::ShutterSensed(Open));
    assert!(out.contains(&Command::OnTv(Some(1))), "{out:?}");
    assert!(out.contains(&Command::ShowCode(true)), "{out:?}");
    assert!(out.contains(&Command::StartTimer(Timer::SecurityCode, CODE_ON_TV)));
    assert!(s.code_shown());
    let out = s.handle(Event::TimerFired(Timer::SecurityCode));
    assert_eq!(out, [Command::ShowCode(false)]);
    // Paused: off the TV; resumed: on it again, with the code again.
    let out = s.handle(Event::ShortPress);
    assert!(out.contains(&Command::OnTv(None)), "{out:?}");
    s.handle(Event::ShutterSensed(Closed));
    s.handle(Event::ShortPress);
    let out = s.handle(Event::ShutterSensed(Open));
    assert!(out.contains(&Command::OnTv(Some(1))), "{out:?}");
    assert!(out.contains(&Command::ShowCode(true)), "{out:?}");
    // The end: nobody on the TV, no code, and the TV may sleep.
    s.handle(Event::LongPress);
    let out = s.handle(Event::ShutterSensed(Closed));
    assert!(out.contains(&Command::Tv(TvPower::MaySleep)), "{out:?}");
    assert!(!s.code_shown());
}

#[test]
fn names_are_cut_and_cleaned() {
    let mut s = motorized();
    let out = s.handle(joined(1, &format!("A\u{7}da{}", "x".repeat(100))));
    let Some(Command::Show(Screen::Lobby { name, .. })) =
        out.iter().find(|c| matches!(c, Command::Show(_)))
    else {
        panic!("{out:?}");
    };
    assert_eq!(name.chars().count(), name::MAX_NAME_CHARS);
    assert!(name.starts_with("Ada"));
    // A name the TV would turn around, or one with nothing to show, is
    // cleaned, and the patient waits all the same.
    let out = s.handle(joined(2, "\u{202E}\u{202C}"));
    assert!(
        out.contains(&Command::Notify(2, PatientView::Waiting)),
        "{out:?}"
    );
    assert_eq!(s.waiting(), 2);
}

#[test]
fn a_patient_away_from_a_live_call_gates_the_camera_and_comes_back_live() {
    let mut s = live();
    let out = s.handle(Event::PatientAway(1));
    assert_eq!(s.state(), State::Reconnecting);
    assert_eq!(
        out[0],
        Command::CameraGate { open: false },
        "the gate shuts first"
    );
    assert!(out.contains(&Command::OnTv(None)));
    assert!(out.contains(&Command::StartTimer(Timer::Grace(1), GRACE)));
    assert!(out.contains(&Command::Show(Screen::Reconnecting { name: "Ada".into() })));
    assert!(out.contains(&Command::Led(LedPattern::Waiting)));
    assert!(
        !out.iter()
            .any(|c| matches!(c, Command::StopMedia(_) | Command::Shutter { .. }))
    );
    assert!(s.handle(Event::PatientAway(1)).is_empty(), "away once");
    let out = s.handle(Event::PatientBack(1));
    assert_eq!(s.state(), State::Live);
    assert!(out.contains(&Command::CancelTimer(Timer::Grace(1))));
    assert!(out.contains(&Command::CameraGate { open: true }));
    assert!(out.contains(&Command::Notify(1, PatientView::Live)));
    assert!(out.contains(&Command::OnTv(Some(1))));
    // A new connection, a new code: shown again.
    assert!(out.contains(&Command::ShowCode(true)));
    assert!(s.handle(Event::PatientBack(1)).is_empty(), "back once");
}

#[test]
fn a_patient_who_does_not_come_back_in_time_ends_the_session() {
    let mut s = live();
    s.handle(Event::PatientAway(1));
    let out = s.handle(Event::TimerFired(Timer::Grace(1)));
    assert_eq!(s.state(), State::Ending);
    assert!(out.contains(&Command::Notify(1, PatientView::Ended)));
    assert!(out.contains(&Command::StopMedia(1)));
    assert!(out.contains(&Command::Shutter { open: false }));
    assert_eq!(s.current_peer(), None);
    // A grace that ends after the patient came back changes nothing.
    let mut s = live();
    s.handle(Event::PatientAway(1));
    s.handle(Event::PatientBack(1));
    assert!(s.handle(Event::TimerFired(Timer::Grace(1))).is_empty());
    assert_eq!(s.state(), State::Live);
    // The long press ends a reconnecting session too.
    s.handle(Event::PatientAway(1));
    s.handle(Event::LongPress);
    assert_eq!(s.state(), State::Ending);
}

#[test]
fn a_paused_session_comes_back_paused_and_a_shutter_closed_meanwhile_pauses() {
    let mut s = live();
    s.handle(Event::ShortPress);
    s.handle(Event::ShutterSensed(Closed));
    s.handle(Event::PatientAway(1));
    assert!(
        s.handle(Event::ShortPress).is_empty(),
        "the press waits for the patient"
    );
    let out = s.handle(Event::PatientBack(1));
    assert_eq!(s.state(), State::Paused);
    assert!(out.contains(&Command::Notify(1, PatientView::Paused)));
    assert!(!s.camera_gate_open());

    let mut s = Session::new(ShutterKind::Manual, Closed, GRACE);
    s.start();
    s.handle(joined(1, "Ada"));
    s.handle(Event::ShortPress);
    s.handle(Event::ShutterSensed(Open));
    assert_eq!(s.state(), State::Live);
    s.handle(Event::PatientAway(1));
    s.handle(Event::ShutterSensed(Closed));
    s.handle(Event::PatientBack(1));
    assert_eq!(s.state(), State::Paused, "closed by hand while away");
}

#[test]
fn a_waiting_patient_who_is_away_keeps_their_place_until_their_grace_ends() {
    let mut s = motorized();
    s.handle(joined(1, "Ada"));
    s.handle(joined(2, "Bo"));
    let out = s.handle(Event::PatientAway(1));
    assert_eq!(out, vec![Command::StartTimer(Timer::Grace(1), GRACE)]);
    assert_eq!((s.state(), s.waiting()), (State::Lobby, 2));
    // The press lets in the first who is here.
    let out = s.handle(Event::ShortPress);
    assert_eq!(s.current_peer(), Some(2));
    assert!(out.contains(&Command::StartMedia(2)));
    s.handle(Event::ShutterSensed(Open));
    s.handle(Event::PatientBack(1));
    assert_eq!(s.waiting(), 1);
    s.handle(Event::LongPress);
    s.handle(Event::ShutterSensed(Closed));
    assert_eq!(s.state(), State::Lobby);
    // Away again, and gone for good.
    s.handle(Event::PatientAway(1));
    let out = s.handle(Event::TimerFired(Timer::Grace(1)));
    assert!(out.contains(&Command::StopMedia(1)));
    assert_eq!((s.state(), s.waiting()), (State::Idle, 0));
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => Just(Event::ShortPress),
        1 => Just(Event::LongPress),
        3 => prop_oneof![
            Just(Closed),
            Just(ShutterPosition::Opening),
            Just(Open),
            Just(ShutterPosition::Closing),
            Just(Jammed)
        ]
        .prop_map(Event::ShutterSensed),
        2 => (1u64..4).prop_map(|peer| joined(peer, "P")),
        1 => (1u64..4).prop_map(Event::PatientLeft),
        1 => (1u64..4).prop_map(Event::MediaFailed),
        1 => (1u64..4).prop_map(Event::MediaUnreachable),
        2 => (1u64..4).prop_map(Event::PatientAway),
        2 => (1u64..4).prop_map(Event::PatientBack),
        1 => (1u64..4).prop_map(|peer| Event::TimerFired(Timer::Grace(peer))),
        1 => Just(Event::FaultRaised(Fault::CameraMissing)),
        1 => Just(Event::FaultCleared(Fault::CameraMissing)),
        1 => prop_oneof![Just(Fault::Button), Just(Fault::ShutterJammed), Just(Fault::Provisioning)].prop_map(Event::FaultRaised),
        1 => prop_oneof![Just(Fault::Button), Just(Fault::ShutterJammed)].prop_map(Event::FaultCleared),
        1 => Just(Event::TimerFired(Timer::Shutter)),
        1 => Just(Event::TimerFired(Timer::SecurityCode)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn promises_hold_after_every_event(
        manual in any::<bool>(),
        events in proptest::collection::vec(event(), 1..60),
    ) {
        let kind = if manual { ShutterKind::Manual } else { ShutterKind::Motorized };
        let mut s = Session::new(kind, Closed, GRACE);
        let mut gate = false;
        let mut led = LedPattern::Off;
        let mut on_tv = None;
        let mut code_shown = false;
        let mut code_timer = false;
        for c in s.start() {
            if let Command::Led(l) = c { led = l; }
        }
        for event in events {
            let was_active = matches!(
                s.state(),
                State::Opening | State::Live | State::Paused | State::Reconnecting
            );
            let is_long = event == Event::LongPress;
            let a_patient_came = matches!(event, Event::PatientJoined { .. });
            let code_time_up = event == Event::TimerFired(Timer::SecurityCode);
            let before = s.state();
            let out = s.handle(event);
            let entered_reconnecting = before != State::Reconnecting;
            if code_time_up {
                code_timer = false;
            }
            for c in &out {
                match c {
                    Command::CameraGate { open } => gate = *open,
                    Command::Led(l) => led = *l,
                    Command::OnTv(shown) => on_tv = *shown,
                    Command::ShowCode(shown) => code_shown = *shown,
                    Command::StartTimer(Timer::SecurityCode, time) => {
                        prop_assert_eq!(*time, CODE_ON_TV);
                        code_timer = true;
                    }
                    Command::CancelTimer(Timer::SecurityCode) => code_timer = false,
                    // The TV is woken only for a patient who just came to
                    // the waiting room.
                    Command::Tv(TvPower::Wake) => {
                        prop_assert!(a_patient_came, "the TV woken for no patient");
                        prop_assert!(s.waiting() > 0 || s.current_peer().is_some());
                    }
                    _ => {}
                }
            }
            // Only the admitted, live patient is ever on the TV or the
            // speakers.
            if let Some(peer) = on_tv {
                prop_assert_eq!(s.state(), State::Live);
                prop_assert_eq!(s.current_peer(), Some(peer));
            }
            prop_assert_eq!(on_tv.is_some(), s.state() == State::Live);
            // The security code shows only while live, and only while its
            // timer runs: at most its time.
            if code_shown {
                prop_assert_eq!(s.state(), State::Live);
                prop_assert!(code_timer, "the code shows with no timer to end it");
            }
            prop_assert_eq!(code_shown, s.code_shown());
            // No camera frame leaves unless live with the shutter sensed open, as
            // the outside world sees it through the commands.
            if gate {
                prop_assert_eq!(s.state(), State::Live);
                prop_assert!(s.shutter().is_sensed_open());
            }
            prop_assert_eq!(gate, s.camera_gate_open());
            // The LED shows the truth: it is a function of the state.
            prop_assert_eq!(led, s.state().led());
            // Ending closes, mutes and drops.
            if is_long && was_active {
                prop_assert!(!gate);
                prop_assert_eq!(s.current_peer(), None);
                if !manual {
                    let close = Command::Shutter { open: false };
                    prop_assert!(out.contains(&close), "ending did not close the shutter");
                }
            }
            // A session has a patient; idle and lobby have none in session.
            let in_session = matches!(
                s.state(),
                State::Opening | State::Live | State::Paused | State::Reconnecting
            );
            prop_assert_eq!(in_session, s.current_peer().is_some());
            // Reconnecting means the patient in the session is away, and
            // the TV says so.
            if let Some(peer) = s.current_peer() {
                prop_assert_eq!(s.state() == State::Reconnecting, s.is_away(peer));
            }
            if s.state() == State::Reconnecting && entered_reconnecting {
                let shown = out.iter().any(|c| matches!(c, Command::Show(Screen::Reconnecting { .. })));
                prop_assert!(shown, "reconnecting, and the TV not told");
            }
            if s.state() == State::Idle {
                prop_assert_eq!(s.waiting(), 0);
            }
            if s.state() == State::Lobby {
                prop_assert!(s.waiting() > 0);
            }
        }
    }
}
