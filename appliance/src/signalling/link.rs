//! The page asks what its link will do before it asks for the camera:
//! `POST /link` with the token as the body. A spent, expired or forged link
//! is told so at once (and counts against the address, as a refused join
//! does); a link for later gets its start and when it opens, counted from
//! the box's clock so a patient's wrong clock does not matter. Nothing is
//! used up: the join redeems the link as ever.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::server::{App, Remote};
use crate::invite::unix_now;

/// The longest body taken: a token is well under it.
pub const MAX_BODY: usize = 256;

/// `POST /link`: `{"state": "ok"}`, `{"state": "early", "starts_in": s,
/// "opens_in": s}` or `{"state": "denied"}`.
pub async fn check(
    State(app): State<Arc<App>>,
    Extension(Remote(remote)): Extension<Remote>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = app.proxies.client_of(remote, &headers);
    if app.joins.blocked(client, Instant::now()) {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    }
    let token = std::str::from_utf8(&body).unwrap_or("").trim();
    let now = unix_now();
    let verdict = (app.invites.lock().ok()).map(|invites| {
        invites
            .peek(token, now)
            .map(|window| (window, invites.opens(&window)))
    });
    let answer = match verdict {
        Some(Ok((window, opens))) if opens > now => json!({
            "state": "early",
            "starts_in": window.not_before.saturating_sub(now),
            "opens_in": opens - now,
        }),
        Some(Ok(_)) => json!({ "state": "ok" }),
        Some(Err(why)) => {
            app.joins.refused(client, Instant::now());
            app.refusals
                .log(&format!("a page opened with a link it cannot use: {why}"));
            json!({ "state": "denied" })
        }
        None => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    crate::api::respond(StatusCode::OK, answer)
}
