//! The kernel's CEC adapter (`/dev/cec0`) as a [`CecDevice`], through the
//! Linux CEC API (feature `cec`). Thin: it opens the device, claims a playback
//! address, and passes messages on; [`super::TvControl`] decides what to send.
//! Its calls block (claiming an address or waiting for an acknowledgement takes
//! up to a second or so), so the daemon calls it from a blocking task.

use std::fmt;
use std::io;
use std::path::Path;

use cec_linux::{
    CecLogAddrType, CecLogAddrs, CecLogicalAddress, CecModeFollower, CecModeInitiator, CecOpcode,
    CecPrimDevType, OSDStr, VendorID, Version,
};

use super::{CecDevice, CecError, CecMessage, LogicalAddress, PhysicalAddress};

/// The name the TV shows for the box in its input list (14 characters at most).
const OSD_NAME: &[u8] = b"Video room";

/// A CEC adapter of the kernel.
pub struct LinuxCec {
    device: cec_linux::CecDevice,
    path: String,
}

impl fmt::Debug for LinuxCec {
    // The device handle has no Debug of its own; its path says which it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinuxCec")
            .field("path", &self.path)
            .finish()
    }
}

impl LinuxCec {
    /// The HDMI 0 port's adapter on a Raspberry Pi.
    pub const DEFAULT_PATH: &'static str = "/dev/cec0";

    /// Opens the adapter at `path` and claims a playback address on the bus.
    /// None when there is no such device: CEC is off, which is not an error.
    pub fn open(path: &Path) -> Result<Option<LinuxCec>, CecError> {
        let shown = path.display().to_string();
        let open_error = |e: io::Error| CecError::Open {
            path: shown.clone(),
            detail: e.to_string(),
        };
        let device = match cec_linux::CecDevice::open(path) {
            Ok(device) => device,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(open_error(e)),
        };
        // Send only, and leave the kernel answering the bus's routine
        // questions (physical address, OSD name) for us.
        device
            .set_mode(CecModeInitiator::Send, CecModeFollower::RepliesOnly)
            .map_err(open_error)?;
        let addresses = CecLogAddrs::new(
            VendorID::NONE,
            Version::V1_4,
            OSDStr::from(OSD_NAME),
            &[CecPrimDevType::PLAYBACK],
            &[CecLogAddrType::PLAYBACK],
        );
        match device.set_log(addresses) {
            // Busy: addresses were claimed already (a previous run, or the
            // system's own CEC setup); sending from them is just as good.
            Err(e) if e.kind() != io::ErrorKind::ResourceBusy => return Err(open_error(e)),
            _ => {}
        }
        Ok(Some(LinuxCec {
            device,
            path: shown,
        }))
    }
}

impl CecDevice for LinuxCec {
    fn physical_address(&mut self) -> Result<PhysicalAddress, CecError> {
        let address = self.device.get_phys().map_err(|e| CecError::Open {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        Ok(PhysicalAddress::new(address.to_num()))
    }

    fn logical_address(&mut self) -> Result<LogicalAddress, CecError> {
        let log = self.device.get_log().map_err(|e| CecError::Open {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        log.addresses()
            .first()
            .and_then(|&a| LogicalAddress::new(u8::from(a)))
            .ok_or(CecError::NoLogicalAddress)
    }

    fn transmit(&mut self, message: &CecMessage) -> Result<(), CecError> {
        let transmit_error = |detail: String| CecError::Transmit { detail };
        let from = CecLogicalAddress::try_from(message.initiator().get())
            .map_err(|e| transmit_error(e.to_string()))?;
        let to = CecLogicalAddress::try_from(message.destination().get())
            .map_err(|e| transmit_error(e.to_string()))?;
        let opcode =
            CecOpcode::try_from(message.opcode()).map_err(|e| transmit_error(e.to_string()))?;
        self.device
            .transmit_data(from, to, opcode, message.operands())
            .map_err(|e| transmit_error(e.to_string()))
    }
}
