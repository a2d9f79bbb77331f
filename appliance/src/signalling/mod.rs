//! Signalling: the patient page and its WebSocket, over HTTPS on one port.
//! `server` serves them and carries each patient's socket; `admission` lets
//! a page in (a join, or a resume); `link` tells a page what its link will
//! do before it asks for the camera; `protocol` is pure (messages, the
//! security code); `client` tells who connects (behind a trusted proxy, from its
//! `X-Forwarded-For`); `resume` the secret that brings a patient back to
//! their session; `sockets` asks a patient's open socket whether its page
//! is still there; `tls` makes or loads the room's certificate; `headers`
//! are on every answer; `limits` bounds the connections held at once.

mod admission;
pub mod client;
pub mod headers;
pub mod limits;
mod link;
pub mod page;
pub mod protocol;
pub mod resume;
pub mod server;
pub mod sockets;
pub mod tls;
