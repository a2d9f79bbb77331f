use super::*;

const S: Duration = Duration::from_secs(1);

/// A CEC bus that records every message and can be told to fail.
#[derive(Debug)]
struct FakeTv {
    physical: PhysicalAddress,
    logical: Option<LogicalAddress>,
    fail_transmit: bool,
    sent: Vec<Vec<u8>>,
}

impl FakeTv {
    /// A box on the TV's second HDMI input, claimed as the first playback device.
    fn new() -> Self {
        FakeTv {
            physical: PhysicalAddress::new(0x2000),
            logical: Some(LogicalAddress::PLAYBACK_1),
            fail_transmit: false,
            sent: Vec::new(),
        }
    }
}

impl CecDevice for FakeTv {
    fn physical_address(&mut self) -> Result<PhysicalAddress, CecError> {
        Ok(self.physical)
    }

    fn logical_address(&mut self) -> Result<LogicalAddress, CecError> {
        self.logical.ok_or(CecError::NoLogicalAddress)
    }

    fn transmit(&mut self, message: &CecMessage) -> Result<(), CecError> {
        if self.fail_transmit {
            return Err(CecError::Transmit {
                detail: "NACK".into(),
            });
        }
        self.sent.push(message.as_bytes().to_vec());
        Ok(())
    }
}

/// The bytes of the spec's examples, from playback device 1 (address 4).
const WAKE: [u8; 2] = [0x40, 0x04];
const SHOW_2000: [u8; 4] = [0x4f, 0x82, 0x20, 0x00];
const STANDBY: [u8; 2] = [0x40, 0x36];

fn sent(tv: &TvControl<FakeTv>) -> Vec<Vec<u8>> {
    tv.device
        .as_ref()
        .map(|d| d.sent.clone())
        .unwrap_or_default()
}

fn device(tv: &mut TvControl<FakeTv>) -> &mut FakeTv {
    tv.device.as_mut().unwrap()
}

#[test]
fn messages_have_the_spec_byte_layouts() {
    let me = LogicalAddress::PLAYBACK_1;
    // Image View On: header initiator 4, destination TV 0; opcode 0x04; no operands.
    let m = image_view_on(me);
    assert_eq!(m.as_bytes(), WAKE);
    assert_eq!((m.initiator(), m.destination()), (me, LogicalAddress::TV));
    assert_eq!(m.opcode(), OPCODE_IMAGE_VIEW_ON);
    assert!(m.operands().is_empty());
    // Active Source: broadcast (destination 15), opcode 0x82, the physical address
    // as two bytes, most significant nibble first (2.0.0.0 -> 0x20 0x00).
    let m = active_source(me, PhysicalAddress::new(0x2000));
    assert_eq!(m.as_bytes(), SHOW_2000);
    assert_eq!(m.destination(), LogicalAddress::BROADCAST);
    assert_eq!(m.operands(), [0x20, 0x00]);
    let m = active_source(
        LogicalAddress::new(8).unwrap(),
        PhysicalAddress::new(0x1240),
    );
    assert_eq!(m.as_bytes(), [0x8f, 0x82, 0x12, 0x40]);
    // Standby, directed to the TV only.
    assert_eq!(standby(me).as_bytes(), STANDBY);
    assert_eq!(standby(me).opcode(), OPCODE_STANDBY);
}

#[test]
fn addresses() {
    assert_eq!(LogicalAddress::new(15), Some(LogicalAddress::BROADCAST));
    assert_eq!(LogicalAddress::new(16), None);
    assert_eq!(LogicalAddress::TV.get(), 0);
    assert_eq!(PhysicalAddress::new(0x1240).to_string(), "1.2.4.0");
    assert_eq!(PhysicalAddress::new(0x1240).to_bytes(), [0x12, 0x40]);
    assert!(!PhysicalAddress::INVALID.is_valid());
    assert!(PhysicalAddress::new(0).is_valid());
}

#[test]
fn an_arriving_patient_wakes_the_tv_and_shows_the_box_once_per_session() {
    let t0 = Instant::now();
    let mut tv = TvControl::new(Some(FakeTv::new()), None, t0);
    assert!(tv.is_on());
    tv.patient_arrived(t0 + S).unwrap();
    assert_eq!(sent(&tv), [WAKE.to_vec(), SHOW_2000.to_vec()]);
    // A second patient, or the same one reconnecting, in the same session: nothing.
    tv.patient_arrived(t0 + 5 * S).unwrap();
    tv.tick(t0 + 3600 * S).unwrap();
    assert_eq!(sent(&tv).len(), 2);
    // The session ends; the next one wakes the TV again.
    tv.room_idle(t0 + 4000 * S);
    tv.patient_arrived(t0 + 4100 * S).unwrap();
    assert_eq!(sent(&tv).len(), 4);
    assert_eq!(sent(&tv)[2..], [WAKE.to_vec(), SHOW_2000.to_vec()]);
}

#[test]
fn the_physical_address_is_read_at_each_wake() {
    let t0 = Instant::now();
    let mut tv = TvControl::new(Some(FakeTv::new()), None, t0);
    tv.patient_arrived(t0).unwrap();
    tv.room_idle(t0 + S);
    // Someone moved the cable to input 3.
    device(&mut tv).physical = PhysicalAddress::new(0x3000);
    tv.patient_arrived(t0 + 2 * S).unwrap();
    assert_eq!(sent(&tv)[3], [0x4f, 0x82, 0x30, 0x00]);
}

#[test]
fn standby_after_the_idle_time_once() {
    let t0 = Instant::now();
    let mut tv = TvControl::new(Some(FakeTv::new()), Some(600 * S), t0);
    tv.tick(t0 + 599 * S).unwrap();
    assert!(sent(&tv).is_empty());
    tv.tick(t0 + 600 * S).unwrap();
    assert_eq!(sent(&tv), [STANDBY.to_vec()]);
    tv.tick(t0 + 1200 * S).unwrap();
    assert_eq!(sent(&tv).len(), 1, "standby is sent once per idle period");
}

#[test]
fn no_standby_while_a_patient_is_there_and_the_timer_restarts_after() {
    let t0 = Instant::now();
    let mut tv = TvControl::new(Some(FakeTv::new()), Some(600 * S), t0);
    tv.patient_arrived(t0 + 500 * S).unwrap();
    tv.tick(t0 + 2000 * S).unwrap();
    assert_eq!(sent(&tv).len(), 2, "{:x?}", sent(&tv));
    tv.room_idle(t0 + 3000 * S);
    // Idle again (say the waiting room emptied twice): the timer keeps its start.
    tv.room_idle(t0 + 3500 * S);
    tv.tick(t0 + 3599 * S).unwrap();
    assert_eq!(sent(&tv).len(), 2);
    tv.tick(t0 + 3600 * S).unwrap();
    assert_eq!(sent(&tv)[2], STANDBY);
    // After standby, the next patient wakes the TV again.
    tv.patient_arrived(t0 + 5000 * S).unwrap();
    assert_eq!(sent(&tv)[3..], [WAKE.to_vec(), SHOW_2000.to_vec()]);
}

#[test]
fn no_standby_when_not_set() {
    let t0 = Instant::now();
    let mut tv = TvControl::new(Some(FakeTv::new()), None, t0);
    tv.tick(t0 + 100_000 * S).unwrap();
    assert!(sent(&tv).is_empty());
}

#[test]
fn without_a_device_nothing_happens_and_nothing_fails() {
    let t0 = Instant::now();
    let mut tv: TvControl<FakeTv> = TvControl::new(None, Some(S), t0);
    assert!(!tv.is_on());
    tv.patient_arrived(t0).unwrap();
    tv.room_idle(t0 + S);
    tv.tick(t0 + 10 * S).unwrap();
    assert!(sent(&tv).is_empty());
}

#[test]
fn a_failed_wake_is_returned_and_retried_on_the_next_arrival() {
    let t0 = Instant::now();
    let mut tv = TvControl::new(Some(FakeTv::new()), None, t0);
    device(&mut tv).fail_transmit = true;
    let e = tv.patient_arrived(t0).unwrap_err();
    assert!(e.to_string().contains("CEC"), "{e}");
    device(&mut tv).fail_transmit = false;
    tv.patient_arrived(t0 + S).unwrap();
    assert_eq!(sent(&tv), [WAKE.to_vec(), SHOW_2000.to_vec()]);
}

#[test]
fn no_hdmi_address_wakes_but_does_not_claim_a_bogus_input() {
    let t0 = Instant::now();
    let mut tv = TvControl::new(Some(FakeTv::new()), None, t0);
    device(&mut tv).physical = PhysicalAddress::INVALID;
    let e = tv.patient_arrived(t0).unwrap_err();
    assert!(e.to_string().contains("HDMI"), "{e}");
    assert_eq!(sent(&tv), [WAKE.to_vec()]);
}

#[test]
fn a_failed_standby_is_not_retried_every_tick() {
    let t0 = Instant::now();
    let mut tv = TvControl::new(Some(FakeTv::new()), Some(S), t0);
    device(&mut tv).fail_transmit = true;
    assert!(tv.tick(t0 + S).is_err());
    device(&mut tv).fail_transmit = false;
    tv.tick(t0 + 2 * S).unwrap();
    assert!(sent(&tv).is_empty());
}

#[test]
fn no_logical_address_is_an_error_not_a_message_from_nobody() {
    let t0 = Instant::now();
    let mut tv = TvControl::new(Some(FakeTv::new()), None, t0);
    device(&mut tv).logical = None;
    let e = tv.patient_arrived(t0).unwrap_err();
    assert!(matches!(e, CecError::NoLogicalAddress), "{e}");
    assert!(sent(&tv).is_empty());
}
