//! The clinic's systems make patient links: `POST /api/v1/invites` on the
//! box's HTTPS port, with a bearer token per system (`clients`), for an
//! appointment's window (`request`). The link is signed like every other
//! and nothing about it is stored; the box never learns who it is for.
//! Documented for the clinic's integrators in `docs/api.yaml` (OpenAPI).
//! `manage` is IT's side on the box: `appliance api-client` and
//! `appliance invite inspect`.

pub mod clients;
pub mod manage;
pub(crate) mod request;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, body::Body};
use serde_json::{Value, json};

pub use clients::ApiClients;

/// Who may make links besides IT: the clinic's systems (API clients) and
/// the front desk (staff accounts). Shared by the HTTPS server and the
/// session task, which replaces them at once when IT changes them.
#[derive(Debug, Clone, Default)]
pub struct LinkMakers {
    pub api_clients: Arc<RwLock<ApiClients>>,
    pub staff: Arc<RwLock<crate::staff::StaffAccounts>>,
}

impl LinkMakers {
    /// As the store has them.
    pub fn new(api_clients: ApiClients, staff: crate::staff::StaffAccounts) -> Self {
        LinkMakers {
            api_clients: Arc::new(RwLock::new(api_clients)),
            staff: Arc::new(RwLock::new(staff)),
        }
    }
}

use crate::invite::{Invites, unix_now};
use crate::signalling::client::{JoinGuard, TrustedProxies};
use crate::signalling::server::{RateLimit, Remote};

/// The largest body taken: a window is two times.
pub const MAX_BODY: usize = 4096;

/// Failed tokens an address may present in a minute before it is turned
/// away for a minute.
const FAILURES: u32 = 10;

/// What the API needs: who may call it, and the room's invites.
#[derive(Debug)]
pub struct Api {
    /// The systems allowed to make links; replaced at once when IT adds or
    /// removes one (`appliance api-client`).
    pub clients: Arc<RwLock<ApiClients>>,
    invites: Arc<Mutex<Invites>>,
    public_url: String,
    proxies: TrustedProxies,
    failures: JoinGuard,
    log: RateLimit,
}

impl Api {
    /// The API for the room whose links start with `public_url`.
    pub fn new(
        clients: Arc<RwLock<ApiClients>>,
        invites: Arc<Mutex<Invites>>,
        public_url: String,
        proxies: TrustedProxies,
    ) -> Self {
        Api {
            clients,
            invites,
            public_url,
            proxies,
            failures: JoinGuard::new(FAILURES, Duration::from_secs(60)),
            log: RateLimit::new(10, Duration::from_secs(60)),
        }
    }
}

/// The API's one route; any other method on it is refused.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route(
            "/api/v1/invites",
            post(create).fallback(|| async {
                with_header(
                    respond(
                        StatusCode::METHOD_NOT_ALLOWED,
                        json!({ "error": "only POST makes a link here" }),
                    ),
                    (header::ALLOW, "POST"),
                )
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// `POST /api/v1/invites`: a link for the window the body asks for.
async fn create(
    State(api): State<Arc<Api>>,
    Extension(Remote(remote)): Extension<Remote>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = api.proxies.client_of(remote, &headers);
    if api.failures.blocked(client, Instant::now()) {
        return with_header(
            respond(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "error": "too many requests with a wrong token from this address; try again in a minute" }),
            ),
            (header::RETRY_AFTER, "60"),
        );
    }
    let token = (headers.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let who = (api.clients.read().ok())
        .and_then(|clients| token.and_then(|t| clients.who(t)).map(str::to_owned));
    let Some(who) = who else {
        api.failures.refused(client, Instant::now());
        api.log
            .log("an API request with no token or a wrong one; refused");
        return with_header(
            respond(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "a valid bearer token is needed (Authorization: Bearer ...)" }),
            ),
            (header::WWW_AUTHENTICATE, "Bearer"),
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": format!("the body is over {MAX_BODY} bytes"), "field": "body" }),
            );
        }
        Err(_) => {
            return respond(
                StatusCode::BAD_REQUEST,
                json!({ "error": "the body could not be read", "field": "body" }),
            );
        }
    };
    let now = unix_now();
    let window = match request::window(&body, now) {
        Ok(window) => window,
        Err(bad) => return respond(StatusCode::BAD_REQUEST, bad.to_json()),
    };
    let token = (api.invites.lock().ok()).and_then(|invites| invites.issue_for(window).ok());
    let Some(token) = token else {
        return respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": "the box could not make a link; try again" }),
        );
    };
    // The client's name is configuration; nothing of the link is logged.
    eprintln!("appliance: API client {who} made a patient link");
    let url = format!("{}/#{}", api.public_url, token.as_str());
    respond(StatusCode::CREATED, request::created(&url, window))
}

/// A JSON response with `status`, never cached: the API's and the page's
/// link check.
pub(crate) fn respond(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Body::from(body.to_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `response` with one more header.
fn with_header(
    mut response: Response,
    (name, value): (header::HeaderName, &'static str),
) -> Response {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
    response
}
