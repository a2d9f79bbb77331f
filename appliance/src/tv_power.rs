//! The TV's power, over HDMI-CEC: a patient arriving in the waiting
//! room wakes the TV and switches it to the box; after the room has been idle
//! for `tv.standby_after_minutes` (if set) the TV goes to standby.
//!
//! The policy is `appliance_hardware::cec::TvControl`; this runs it on a
//! thread of its own, since a CEC message waits for the TV's acknowledgement
//! (up to about a second on a quiet bus) and the session task must never
//! wait. The session only queues "arrived" and "idle". Without a CEC device
//! (no `/dev/cec0`, or a build without feature `cec`) no thread starts and
//! nothing is sent. Errors are logged once each, in words for IT; none stops
//! a session, since the therapist can always switch the TV on by hand.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use appliance_hardware::cec::{CecDevice, TvControl};

/// How often the standby timer is looked at.
#[cfg_attr(not(feature = "rpi"), allow(dead_code))]
const TICK: Duration = Duration::from_secs(1);

/// What the room tells the TV's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoomChange {
    Arrived,
    Idle,
}

/// The session task's handle; dropping it ends the thread.
#[derive(Debug, Default)]
pub struct Cec {
    tx: Option<SyncSender<RoomChange>>,
    thread: Option<JoinHandle<()>>,
}

impl Cec {
    /// Opens the box's CEC adapter, if it has one, and starts the thread.
    pub fn start(standby_after: Option<Duration>) -> Cec {
        #[cfg(feature = "rpi")]
        {
            use appliance_hardware::cec::LinuxCec;
            let path = std::path::Path::new(LinuxCec::DEFAULT_PATH);
            match LinuxCec::open(path) {
                Ok(Some(device)) => return Cec::with_device(device, standby_after, TICK),
                Ok(None) => eprintln!("appliance: no HDMI-CEC device: the TV is left alone"),
                Err(e) => eprintln!("appliance: HDMI-CEC is off: {e}"),
            }
        }
        let _ = standby_after;
        Cec::default()
    }

    /// Runs the policy over `device`, looking at the standby timer every `tick`.
    #[cfg_attr(not(feature = "rpi"), allow(dead_code))]
    pub fn with_device<D: CecDevice + Send + 'static>(
        device: D,
        standby_after: Option<Duration>,
        tick: Duration,
    ) -> Cec {
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let control = TvControl::new(Some(device), standby_after, Instant::now());
        let thread = std::thread::Builder::new()
            .name("tv-cec".into())
            .spawn(move || run(control, &rx, tick))
            .ok();
        if thread.is_none() {
            eprintln!("appliance: HDMI-CEC is off: cannot start its thread");
        }
        Cec {
            tx: thread.as_ref().map(|_| tx),
            thread,
        }
    }

    /// A patient is in the waiting room.
    pub fn patient_arrived(&self) {
        self.send(RoomChange::Arrived);
    }

    /// Nobody is in the room any more.
    pub fn room_idle(&self) {
        self.send(RoomChange::Idle);
    }

    fn send(&self, what: RoomChange) {
        // A full queue means the TV is slow to answer: said, and the next
        // change of the room is sent anyway.
        if let Some(tx) = &self.tx
            && tx.try_send(what).is_err()
        {
            eprintln!("appliance: the TV is slow to answer over HDMI-CEC; not sent: {what:?}");
        }
    }
}

impl Drop for Cec {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg_attr(not(feature = "rpi"), allow(dead_code))]
fn run<D: CecDevice>(mut control: TvControl<D>, rx: &Receiver<RoomChange>, tick: Duration) {
    let mut last_error = None;
    let mut report = |result: Result<(), appliance_hardware::cec::CecError>| match result {
        Ok(()) => last_error = None,
        Err(e) => {
            let text = e.to_string();
            if last_error.as_ref() != Some(&text) {
                eprintln!("appliance: HDMI-CEC: {text}");
                last_error = Some(text);
            }
        }
    };
    loop {
        match rx.recv_timeout(tick) {
            Ok(RoomChange::Arrived) => report(control.patient_arrived(Instant::now())),
            Ok(RoomChange::Idle) => control.room_idle(Instant::now()),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        report(control.tick(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliance_hardware::cec::{
        CecError, CecMessage, LogicalAddress, OPCODE_ACTIVE_SOURCE, OPCODE_IMAGE_VIEW_ON,
        OPCODE_STANDBY, PhysicalAddress,
    };
    use std::sync::{Arc, Mutex};

    /// A TV on the bus that records the opcodes it is sent.
    #[derive(Debug, Clone, Default)]
    struct FakeTv(Arc<Mutex<Vec<u8>>>);

    impl CecDevice for FakeTv {
        fn physical_address(&mut self) -> Result<PhysicalAddress, CecError> {
            Ok(PhysicalAddress::new(0x1000))
        }
        fn logical_address(&mut self) -> Result<LogicalAddress, CecError> {
            Ok(LogicalAddress::PLAYBACK_1)
        }
        fn transmit(&mut self, message: &CecMessage) -> Result<(), CecError> {
            self.0.lock().unwrap().push(message.opcode());
            Ok(())
        }
    }

    fn sent_within(tv: &FakeTv, n: usize, limit: Duration) -> Vec<u8> {
        let end = Instant::now() + limit;
        while Instant::now() < end && tv.0.lock().unwrap().len() < n {
            std::thread::sleep(Duration::from_millis(5));
        }
        tv.0.lock().unwrap().clone()
    }

    #[test]
    fn an_arrival_wakes_the_tv_once_and_an_idle_room_puts_it_to_sleep() {
        let tv = FakeTv::default();
        let standby = Duration::from_millis(100);
        let cec = Cec::with_device(tv.clone(), Some(standby), Duration::from_millis(10));
        cec.patient_arrived();
        cec.patient_arrived();
        let sent = sent_within(&tv, 2, Duration::from_secs(2));
        assert_eq!(sent, [OPCODE_IMAGE_VIEW_ON, OPCODE_ACTIVE_SOURCE]);
        // A room with a patient never sleeps.
        std::thread::sleep(standby * 3);
        assert_eq!(tv.0.lock().unwrap().len(), 2);
        cec.room_idle();
        let sent = sent_within(&tv, 3, Duration::from_secs(2));
        assert_eq!(sent[2..], [OPCODE_STANDBY]);
        std::thread::sleep(standby * 3);
        assert_eq!(tv.0.lock().unwrap().len(), 3, "standby once per idle time");
        drop(cec);
    }

    #[test]
    fn without_a_device_nothing_happens() {
        let cec = Cec::default();
        cec.patient_arrived();
        cec.room_idle();
    }
}
