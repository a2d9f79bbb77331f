//! Signalling: the patient page and its WebSocket, over HTTPS on one port.
//! `protocol` is pure (messages, the security code); `server` holds the
//! sockets; `client` tells who connects (behind a trusted proxy, from its
//! `X-Forwarded-For`); `resume` the secret that brings a patient back to
//! their session; `tls` makes or loads the room's certificate.

pub mod client;
pub mod protocol;
pub mod resume;
pub mod server;
pub mod tls;
