//! HDMI-CEC: wake the TV and switch it to the box's input when a patient
//! arrives, and (if set) put it on standby after the room has been idle.
//!
//! The daemon owns one [`TvControl`] and tells it what the room is doing; it
//! sends CEC messages through a [`CecDevice`]: the kernel's `/dev/cec0` on the
//! box (feature `cec`), a fake in tests. Guarantees: the messages are the byte
//! layouts of the HDMI-CEC specification (built by pure functions below);
//! without a device nothing is ever sent and nothing fails; the TV is woken at
//! most once per visit to the waiting room, and put on standby at most once
//! per idle period, so a TV that does not answer is never pestered. Like the
//! drivers, it reads no clock: the caller passes the time in.

use std::fmt;
use std::time::{Duration, Instant};

#[cfg(feature = "cec")]
mod linux;
#[cfg(feature = "cec")]
pub use linux::LinuxCec;

/// "Image View On": the TV leaves standby and shows a source.
pub const OPCODE_IMAGE_VIEW_ON: u8 = 0x04;
/// "Active Source": the sender, at the physical address given, is the source to show.
pub const OPCODE_ACTIVE_SOURCE: u8 = 0x82;
/// "Standby": the receiver goes to standby.
pub const OPCODE_STANDBY: u8 = 0x36;

/// The longest CEC message: a header block and 15 data blocks.
const MAX_MESSAGE: usize = 16;

/// A device's logical address on the CEC bus (0 to 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogicalAddress(u8);

impl LogicalAddress {
    /// The TV.
    pub const TV: LogicalAddress = LogicalAddress(0);
    /// The first playback device: what a box like ours usually claims.
    pub const PLAYBACK_1: LogicalAddress = LogicalAddress(4);
    /// As a destination, every device; as an initiator, "unregistered".
    pub const BROADCAST: LogicalAddress = LogicalAddress(15);

    /// The address `n`, if it is one (0 to 15).
    pub fn new(n: u8) -> Option<LogicalAddress> {
        (n <= 15).then_some(LogicalAddress(n))
    }

    /// Its number.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Where a device sits in the HDMI tree, `a.b.c.d`: the TV is 0.0.0.0, a
/// box on its second input is 2.0.0.0. The TV tells the box through HDMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhysicalAddress(u16);

impl PhysicalAddress {
    /// No address: the box is not connected to a TV, or the TV has not said.
    pub const INVALID: PhysicalAddress = PhysicalAddress(0xffff);

    /// The address whose four nibbles are `raw`, most significant first.
    pub fn new(raw: u16) -> PhysicalAddress {
        PhysicalAddress(raw)
    }

    /// False for [`PhysicalAddress::INVALID`].
    pub fn is_valid(self) -> bool {
        self != PhysicalAddress::INVALID
    }

    /// Its two bytes as sent on the bus, most significant first.
    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for PhysicalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |shift: u16| (self.0 >> shift) & 0xf;
        write!(f, "{:x}.{:x}.{:x}.{:x}", n(12), n(8), n(4), n(0))
    }
}

/// One CEC message: a header block (initiator, destination), the opcode and
/// its operands, as the bytes that go on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CecMessage {
    bytes: [u8; MAX_MESSAGE],
    len: usize,
}

impl CecMessage {
    /// Only the builders below make messages, and their operands are short.
    fn new(from: LogicalAddress, to: LogicalAddress, opcode: u8, operands: &[u8]) -> Self {
        let mut bytes = [0; MAX_MESSAGE];
        bytes[0] = (from.0 << 4) | to.0;
        bytes[1] = opcode;
        let len = 2 + operands.len().min(MAX_MESSAGE - 2);
        bytes[2..len].copy_from_slice(&operands[..len - 2]);
        CecMessage { bytes, len }
    }

    /// The bytes on the bus, header first.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Who sends it.
    pub fn initiator(&self) -> LogicalAddress {
        LogicalAddress(self.bytes[0] >> 4)
    }

    /// Who it is for ([`LogicalAddress::BROADCAST`]: everyone).
    pub fn destination(&self) -> LogicalAddress {
        LogicalAddress(self.bytes[0] & 0xf)
    }

    /// What it asks.
    pub fn opcode(&self) -> u8 {
        self.bytes[1]
    }

    /// The opcode's operands.
    pub fn operands(&self) -> &[u8] {
        &self.bytes[2..self.len]
    }
}

/// "Image View On" from `from` to the TV: the TV wakes up.
pub fn image_view_on(from: LogicalAddress) -> CecMessage {
    CecMessage::new(from, LogicalAddress::TV, OPCODE_IMAGE_VIEW_ON, &[])
}

/// "Active Source", broadcast: the TV switches to the input at `physical`.
pub fn active_source(from: LogicalAddress, physical: PhysicalAddress) -> CecMessage {
    CecMessage::new(
        from,
        LogicalAddress::BROADCAST,
        OPCODE_ACTIVE_SOURCE,
        &physical.to_bytes(),
    )
}

/// "Standby" to the TV only: a broadcast would also switch off the clinic's
/// other devices on the same HDMI bus, such as a sound bar in use.
pub fn standby(from: LogicalAddress) -> CecMessage {
    CecMessage::new(from, LogicalAddress::TV, OPCODE_STANDBY, &[])
}

/// What went wrong talking to the TV. None of these stop a session: the
/// therapist can always switch the TV on by hand.
#[derive(Debug, thiserror::Error)]
pub enum CecError {
    /// The CEC device could not be opened or set up.
    #[error(
        "could not use {path} for HDMI-CEC ({detail}): run the daemon as a member of the \
         group \"video\" and allow the device (DeviceAllow={path} rw)"
    )]
    Open {
        /// The device file.
        path: String,
        /// What the kernel reported.
        detail: String,
    },
    /// The box has no physical address: no TV on the HDMI cable, or one that does not say.
    #[error(
        "the TV has not given the box an HDMI address: check that the HDMI cable is in the \
         box's HDMI 0 port and the TV is plugged in, and switch CEC on in the TV's settings \
         (Anynet+, Bravia Sync, SimpLink, EasyLink, ...)"
    )]
    NoPhysicalAddress,
    /// The box could not claim a logical address on the CEC bus.
    #[error(
        "the box has no address on the HDMI-CEC bus yet: the TV may be unplugged, or CEC \
         switched off in its settings"
    )]
    NoLogicalAddress,
    /// A message was not sent or not acknowledged.
    #[error("the TV did not take the CEC message ({detail}); is CEC switched on in its settings?")]
    Transmit {
        /// What the kernel reported.
        detail: String,
    },
}

/// Something that can put CEC messages on the HDMI bus.
pub trait CecDevice {
    /// The box's physical address, as the TV gave it (read afresh each time:
    /// it changes when the cable moves to another input).
    fn physical_address(&mut self) -> Result<PhysicalAddress, CecError>;
    /// The logical address the box has claimed.
    fn logical_address(&mut self) -> Result<LogicalAddress, CecError>;
    /// Sends one message and waits for it to be acknowledged.
    fn transmit(&mut self, message: &CecMessage) -> Result<(), CecError>;
}

/// When to wake the TV and when to let it sleep.
#[derive(Debug)]
pub struct TvControl<D> {
    device: Option<D>,
    standby_after: Option<Duration>,
    /// Woken since the room was last idle: once per visit to the waiting room.
    woken: bool,
    /// When the room became idle; None while a patient is there.
    idle_since: Option<Instant>,
    standby_sent: bool,
}

impl<D: CecDevice> TvControl<D> {
    /// Control through `device` (None: CEC off, nothing is ever sent). With
    /// `standby_after` set, the TV is sent to standby once the room has been
    /// idle that long; the room counts as idle from `now`.
    pub fn new(device: Option<D>, standby_after: Option<Duration>, now: Instant) -> Self {
        TvControl {
            device,
            standby_after,
            woken: false,
            idle_since: Some(now),
            standby_sent: false,
        }
    }

    /// True when there is a CEC device to talk through.
    pub fn is_on(&self) -> bool {
        self.device.is_some()
    }

    /// A patient is in the waiting room: wake the TV and show the box's input,
    /// unless already done since the room was last idle. On an error the next
    /// arrival tries again.
    pub fn patient_arrived(&mut self, _now: Instant) -> Result<(), CecError> {
        self.idle_since = None;
        self.standby_sent = false;
        let Some(device) = &mut self.device else {
            return Ok(());
        };
        if self.woken {
            return Ok(());
        }
        let us = device.logical_address()?;
        // Wake first: a TV in standby ignores a change of input.
        device.transmit(&image_view_on(us))?;
        let physical = device.physical_address()?;
        if !physical.is_valid() {
            return Err(CecError::NoPhysicalAddress);
        }
        device.transmit(&active_source(us, physical))?;
        self.woken = true;
        Ok(())
    }

    /// The session is over, or the waiting room emptied: the next arrival
    /// wakes the TV again, and the standby timer starts (if not running).
    pub fn room_idle(&mut self, now: Instant) {
        self.woken = false;
        self.idle_since.get_or_insert(now);
    }

    /// Call every second or so: sends standby once the room has been idle
    /// for the set time. Tried once per idle period, even if it fails: a TV
    /// that does not answer would otherwise be asked again on every tick.
    pub fn tick(&mut self, now: Instant) -> Result<(), CecError> {
        let (Some(device), Some(after), Some(since)) =
            (&mut self.device, self.standby_after, self.idle_since)
        else {
            return Ok(());
        };
        if self.standby_sent || now.saturating_duration_since(since) < after {
            return Ok(());
        }
        self.standby_sent = true;
        let us = device.logical_address()?;
        device.transmit(&standby(us))
    }
}

// The tests have their own file, as the shutter's do: cec/tests.rs.
#[cfg(test)]
mod tests;
