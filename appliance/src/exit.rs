//! The documented exit codes (see `appliance --help`), and which error gets which.
//! Called by `main` only.

use appliance_config::provision::ProvisionError;
use appliance_config::{KeyError, StoreError};

/// An unexpected failure.
pub const FAILURE: u8 = 1;
/// Invalid input: a provisioning file or a setting's value.
pub const INVALID_INPUT: u8 = 3;
/// The device key is missing, unreadable, malformed or wrong.
pub const KEY: u8 = 4;
/// The store is missing, in use, damaged or foreign.
pub const STORE: u8 = 5;
/// A factory reset was not confirmed.
pub const CANCELLED: u8 = 6;

/// A value or name given on the command line is not valid.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// The person did not confirm.
#[derive(Debug, thiserror::Error)]
#[error("cancelled: nothing was erased")]
pub struct Cancelled;

fn store_code(e: &StoreError) -> u8 {
    match e {
        StoreError::WrongKey { .. } => KEY,
        _ => STORE,
    }
}

/// The exit code for an error.
pub fn code(error: &anyhow::Error) -> u8 {
    if let Some(e) = error.downcast_ref::<ProvisionError>() {
        return match e {
            ProvisionError::Store(s) => store_code(s),
            ProvisionError::Read { .. } | ProvisionError::Invalid { .. } => INVALID_INPUT,
        };
    }
    if let Some(e) = error.downcast_ref::<StoreError>() {
        return store_code(e);
    }
    if error.is::<KeyError>() {
        return KEY;
    }
    if error.is::<InvalidInput>() {
        return INVALID_INPUT;
    }
    if error.is::<Cancelled>() {
        return CANCELLED;
    }
    FAILURE
}
