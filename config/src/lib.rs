//! appliance-config: the appliance's settings, sealed at rest.
//!
//! Every value lives in a sled database, sealed with XChaCha20-Poly1305 under a
//! 256-bit device key with its setting's name as associated data: the
//! configuration is encrypted at rest. Nothing about sessions is ever stored here: only configuration.

pub mod key;
pub mod provision;
pub mod schema;
pub mod seal;
pub mod store;

pub use key::{DeviceKey, KeyError, KeyLookup, KeySource};
pub use provision::{ProvisionError, Provisioning};
pub use schema::{Kind, RawValue, SETTINGS, Setting, Value, find};
pub use store::{OpenMode, Store, StoreError};
