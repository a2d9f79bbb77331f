//! Signalling: the patient page and its WebSocket, over HTTPS on one port.
//! `protocol` is pure (messages, the security code); `server` holds the
//! sockets; `tls` makes or loads the room's certificate.

pub mod protocol;
pub mod server;
pub mod tls;
