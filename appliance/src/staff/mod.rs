//! The front desk's page, `https://<box>/staff/`: staff log in with a
//! password and a code from their authenticator app (`accounts`), make a
//! patient link for a date, a start time and a length, and see whether the
//! room is free, has a patient waiting or is in session, never who. Off
//! until IT adds an account (`appliance staff add`, `manage`). Sessions
//! live in memory only (`sessions`); logins are rate-limited per account
//! and per address; every form carries a CSRF token; the page is made on
//! the server (`page`) and nothing about a patient is kept.

pub mod accounts;
pub(crate) mod forms;
pub mod manage;
mod page;
mod sessions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Semaphore, mpsc, oneshot};

pub use accounts::StaffAccounts;

use crate::control::{ControlCall, Reply, Request};
use crate::invite::Invites;
use crate::signalling::client::{JoinGuard, TrustedProxies};
use crate::signalling::server::{RateLimit, Remote};
use page::RoomState;
use sessions::Sessions;

/// The largest form taken.
const MAX_BODY: usize = 4096;
/// Failed logins an address may make in 15 minutes before it is turned
/// away for 15 minutes.
const ADDRESS_FAILURES: u32 = 10;
/// Failed logins an account may have in 15 minutes before it is locked
/// for 15 minutes (a guessed password stops there, from any address).
const ACCOUNT_FAILURES: u32 = 5;
const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// The session's cookie: `__Secure-`, so only ever set and sent over
/// HTTPS, and only for the staff page's path (behind a proxy, several rooms
/// may share a host).
const COOKIE: &str = "__Secure-staff";
/// The login form's own CSRF cookie (its token is in the form as well).
const LOGIN_COOKIE: &str = "__Secure-staff-login";

const STAFF_JS: &str = include_str!("../../web/staff.js");
const STAFF_CSS: &str = include_str!("../../web/staff.css");

/// What the staff page needs.
#[derive(Debug)]
pub struct Staff {
    /// The accounts; replaced at once when IT changes them.
    pub accounts: Arc<RwLock<StaffAccounts>>,
    invites: Arc<Mutex<Invites>>,
    room: String,
    public_url: String,
    /// The staff page's path as the browser sees it, for its cookies.
    cookie_path: String,
    proxies: TrustedProxies,
    /// The session task, asked for the room's state.
    control: mpsc::Sender<ControlCall>,
    sessions: Mutex<Sessions>,
    /// The last TOTP step each account logged in with: a code is good once.
    used_steps: Mutex<HashMap<String, u64>>,
    addresses: JoinGuard,
    names: JoinGuard<String>,
    /// Password checks at a time: each takes 19 MiB and tens of ms.
    hashing: Semaphore,
    log: RateLimit,
}

impl Staff {
    /// The staff page of the room `room`, whose links start with
    /// `public_url`.
    pub fn new(
        accounts: Arc<RwLock<StaffAccounts>>,
        invites: Arc<Mutex<Invites>>,
        (room, public_url): (String, String),
        proxies: TrustedProxies,
        control: mpsc::Sender<ControlCall>,
    ) -> Self {
        Staff {
            accounts,
            invites,
            room,
            cookie_path: cookie_path(&public_url),
            public_url,
            proxies,
            control,
            sessions: Mutex::new(Sessions::default()),
            used_steps: Mutex::new(HashMap::new()),
            addresses: JoinGuard::new(ADDRESS_FAILURES, LOCKOUT),
            names: JoinGuard::new(ACCOUNT_FAILURES, LOCKOUT),
            hashing: Semaphore::new(2),
            log: RateLimit::new(10, Duration::from_secs(60)),
        }
    }

    fn off(&self) -> bool {
        self.accounts.read().map_or(true, |a| a.is_empty())
    }

    /// The logged-in session the request's cookie names, if it is open and
    /// its account still exists; `used` unless the request is the page's
    /// own refresh.
    fn session(&self, headers: &HeaderMap, used: bool) -> Option<(String, sessions::Session)> {
        let cookie = cookie(headers, COOKIE)?;
        let session = (self.sessions.lock().ok()?).get(&cookie, Instant::now(), used)?;
        let exists = self.accounts.read().ok()?.has(&session.name);
        exists.then_some((cookie, session))
    }

    /// What the desk's page says of whom and where: the room, the account,
    /// and how early a link lets the patient in.
    fn desk_of<'a>(&'a self, session: &'a sessions::Session) -> (&'a str, &'a str, u64) {
        let early = self.invites.lock().map_or(15, |i| i.early_minutes());
        (self.room.as_str(), session.name.as_str(), early)
    }

    /// What the room is doing, from the session task.
    async fn room_state(&self) -> RoomState {
        let (tx, rx) = oneshot::channel();
        if self
            .control
            .send(ControlCall(Request::Status, tx))
            .await
            .is_err()
        {
            return RoomState::Unknown;
        }
        match tokio::time::timeout(Duration::from_secs(2), rx).await {
            Ok(Ok(Reply::Status(s))) => RoomState::of(s.state, s.waiting),
            _ => RoomState::Unknown,
        }
    }
}

/// The staff page's routes, under `/staff/`.
pub fn router(staff: Arc<Staff>) -> Router {
    let refused = || async { method_not_allowed() };
    Router::new()
        .route(
            "/staff",
            get(|| async { redirect("staff/", StatusCode::PERMANENT_REDIRECT) }),
        )
        .route("/staff/", get(index).fallback(refused))
        .route("/staff/login", post(login).fallback(refused))
        .route("/staff/links", post(links).fallback(refused))
        .route("/staff/logout", post(logout).fallback(refused))
        .route("/staff/state", get(state).fallback(refused))
        .route(
            "/staff/staff.js",
            get(|| async { file(STAFF_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/staff/staff.css",
            get(|| async { file(STAFF_CSS, "text/css; charset=utf-8") }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(staff)
}

/// `GET /staff/`: the desk when logged in, else the login form.
async fn index(State(staff): State<Arc<Staff>>, headers: HeaderMap) -> Response {
    if staff.off() {
        return html(StatusCode::NOT_FOUND, page::off(&staff.room));
    }
    match staff.session(&headers, true) {
        Some((_, session)) => {
            let state = staff.room_state().await;
            let room = staff.desk_of(&session);
            html(
                StatusCode::OK,
                page::desk(room, &session.csrf, state, None, None),
            )
        }
        None => login_page(&staff, StatusCode::OK, None),
    }
}

/// The login form with a fresh CSRF token, also set as its cookie.
fn login_page(staff: &Staff, status: StatusCode, problem: Option<&str>) -> Response {
    let Some(token) = sessions::random_token() else {
        return html(StatusCode::INTERNAL_SERVER_ERROR, page::off(&staff.room));
    };
    let mut response = html(status, page::login(&staff.room, &token, problem));
    set_cookie(&mut response, (LOGIN_COOKIE, &token), &staff.cookie_path);
    response
}

/// `POST /staff/login`: name, password and code.
async fn login(
    State(staff): State<Arc<Staff>>,
    Extension(Remote(remote)): Extension<Remote>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if staff.off() {
        return html(StatusCode::NOT_FOUND, page::off(&staff.room));
    }
    let Some(form) = forms::Form::read(body) else {
        return login_page(&staff, StatusCode::BAD_REQUEST, Some(forms::UNREADABLE));
    };
    let login_token = cookie(&headers, LOGIN_COOKIE);
    if !forms::same_token(login_token.as_deref(), form.get("csrf")) {
        let problem = "The form had expired. Please log in again.";
        return login_page(&staff, StatusCode::FORBIDDEN, Some(problem));
    }
    let client = staff.proxies.client_of(remote, &headers);
    // At most a name's length: the guard keeps what it counts.
    let name: String = form
        .get("name")
        .unwrap_or("")
        .trim()
        .chars()
        .take(64)
        .collect();
    let now = Instant::now();
    if staff.addresses.blocked(client, now) || staff.names.blocked(name.clone(), now) {
        let problem = "Too many failed logins. Please wait 15 minutes and try again.";
        return login_page(&staff, StatusCode::TOO_MANY_REQUESTS, Some(problem));
    }
    match check_login(&staff, &name, &form).await {
        Ok(()) => {}
        Err(problem) => {
            staff.addresses.refused(client, now);
            staff.names.refused(name, now);
            staff.log.log("a staff login failed; refused");
            return login_page(&staff, StatusCode::UNAUTHORIZED, Some(problem));
        }
    }
    let cookie = staff
        .sessions
        .lock()
        .ok()
        .and_then(|mut s| s.open(&name, now));
    let Some(cookie) = cookie else {
        return login_page(&staff, StatusCode::INTERNAL_SERVER_ERROR, None);
    };
    eprintln!("appliance: staff member {name} logged in");
    let mut response = redirect("./", StatusCode::SEE_OTHER);
    set_cookie(&mut response, (COOKIE, &cookie), &staff.cookie_path);
    clear_cookie(&mut response, LOGIN_COOKIE, &staff.cookie_path);
    response
}

/// Checks a login's password and code; the code's step is then spent.
async fn check_login(staff: &Staff, name: &str, form: &forms::Form) -> Result<(), &'static str> {
    const WRONG: &str = "The name, password or code is wrong.";
    let password = zeroize::Zeroizing::new(form.get("password").unwrap_or("").to_owned());
    let code = form.get("code").unwrap_or("").to_owned();
    let accounts = staff.accounts.read().map_err(|_| WRONG)?.clone();
    let permit = staff.hashing.acquire().await.map_err(|_| WRONG)?;
    let who = name.to_owned();
    let checked = tokio::task::spawn_blocking(move || {
        let now = crate::invite::unix_now();
        let password_ok = accounts.password_matches(&who, &password);
        (password_ok, accounts.totp_step(&who, &code, now))
    })
    .await;
    drop(permit);
    let Ok((true, Some(step))) = checked else {
        return Err(WRONG);
    };
    let mut used = staff.used_steps.lock().map_err(|_| WRONG)?;
    if used.get(name).is_some_and(|&last| step <= last) {
        return Err("That code was used already. Please wait for the next one.");
    }
    used.insert(name.to_owned(), step);
    Ok(())
}

/// The session of a form's request, checked: its cookie and its CSRF
/// token. Otherwise the response to give.
fn logged_in(
    staff: &Staff,
    headers: &HeaderMap,
    form: Option<&forms::Form>,
) -> Result<(String, sessions::Session), Box<Response>> {
    let Some((cookie, session)) = staff.session(headers, true) else {
        let problem = "Your session has ended. Please log in again.";
        return Err(Box::new(login_page(
            staff,
            StatusCode::UNAUTHORIZED,
            Some(problem),
        )));
    };
    let token = form.and_then(|f| f.get("csrf"));
    if !token.is_some_and(|t| session.csrf_matches(t)) {
        let problem = "That form did not come from this page, so nothing was done. \
                       Please try again.";
        let room = staff.desk_of(&session);
        let page = page::desk(room, &session.csrf, RoomState::Unknown, None, Some(problem));
        return Err(Box::new(html(StatusCode::FORBIDDEN, page)));
    }
    Ok((cookie, session))
}

/// `POST /staff/links`: a link for a date, a start time and a length.
async fn links(
    State(staff): State<Arc<Staff>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = forms::Form::read(body);
    let (_, session) = match logged_in(&staff, &headers, form.as_ref()) {
        Ok(session) => session,
        Err(response) => return *response,
    };
    let state = staff.room_state().await;
    let room = staff.desk_of(&session);
    let asked = match form.as_ref() {
        Some(form) => forms::appointment(form, crate::invite::unix_now()),
        None => Err(forms::UNREADABLE.to_owned()),
    };
    let (window, when) = match asked {
        Ok(asked) => asked,
        Err(problem) => {
            let page = page::desk(room, &session.csrf, state, None, Some(&problem));
            return html(StatusCode::BAD_REQUEST, page);
        }
    };
    let token = (staff.invites.lock().ok()).and_then(|i| i.issue_for(window).ok());
    let Some(token) = token else {
        let problem = Some("The box could not make a link. Please try again.");
        let page = page::desk(room, &session.csrf, state, None, problem);
        return html(StatusCode::INTERNAL_SERVER_ERROR, page);
    };
    let url = format!("{}/#{}", staff.public_url, token.as_str());
    eprintln!(
        "appliance: staff member {} made a patient link",
        session.name
    );
    let made = page::Made {
        qr: forms::qr_svg(&url),
        url,
        when,
    };
    html(
        StatusCode::OK,
        page::desk(room, &session.csrf, state, Some(&made), None),
    )
}

/// `POST /staff/logout`: the session ends.
async fn logout(
    State(staff): State<Arc<Staff>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = forms::Form::read(body);
    let (cookie, session) = match logged_in(&staff, &headers, form.as_ref()) {
        Ok(session) => session,
        Err(response) => return *response,
    };
    if let Ok(mut sessions) = staff.sessions.lock() {
        sessions.close(&cookie);
    }
    eprintln!("appliance: staff member {} logged out", session.name);
    let mut response = redirect("./", StatusCode::SEE_OTHER);
    clear_cookie(&mut response, COOKIE, &staff.cookie_path);
    response
}

/// `GET /staff/state`: the room's state, for the desk's refresh.
async fn state(State(staff): State<Arc<Staff>>, headers: HeaderMap) -> Response {
    if staff.session(&headers, false).is_none() {
        return crate::api::respond(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({ "error": "not logged in" }),
        );
    }
    let state = staff.room_state().await;
    crate::api::respond(
        StatusCode::OK,
        serde_json::json!({ "state": state.word(), "words": state.words() }),
    )
}

/// The value of the cookie called `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    (headers.get_all(header::COOKIE).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// The path of the staff page under `public_url` (`/staff/`, or
/// `/prefix/staff/` behind a proxy's path).
fn cookie_path(public_url: &str) -> String {
    let rest = public_url.split_once("://").map_or(public_url, |(_, r)| r);
    let prefix = rest.find('/').map_or("", |at| &rest[at..]);
    format!("{}/staff/", prefix.trim_end_matches('/'))
}

/// A session cookie for the staff page only: sent back over HTTPS only,
/// out of scripts' reach, and never with a request from another site.
fn set_cookie(response: &mut Response, (name, value): (&str, &str), path: &str) {
    let cookie = format!("{name}={value}; Path={path}; Secure; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn clear_cookie(response: &mut Response, name: &str, path: &str) {
    set_cookie(response, (name, "; Max-Age=0"), path);
}

/// A page of the staff's, never cached, framed or sniffed, with the
/// patient page's strict content policy.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = file_response(Body::from(body), "text/html; charset=utf-8");
    *response.status_mut() = status;
    response
}

fn file(body: &'static str, content_type: &'static str) -> Response {
    file_response(Body::from(body), content_type)
}

fn file_response(body: Body, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    crate::signalling::page::page_headers(response.headers_mut(), content_type);
    response
}

/// A redirect to `to`, relative, so that it holds under a proxy's path.
fn redirect(to: &'static str, status: StatusCode) -> Response {
    let mut response = status.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    response
}

fn method_not_allowed() -> Response {
    let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_the_staff_page_s_own() {
        assert_eq!(cookie_path("https://127.0.0.1:8443"), "/staff/");
        assert_eq!(
            cookie_path("https://clinic.example/room-1/"),
            "/room-1/staff/"
        );
        let mut headers = HeaderMap::new();
        let sent = HeaderValue::from_static("a=1; __Secure-staff=xyz; __Secure-staff-login=q");
        headers.insert(header::COOKIE, sent);
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE).as_deref(), Some("q"));
        assert_eq!(cookie(&headers, "b"), None);
        let mut response = StatusCode::OK.into_response();
        set_cookie(&mut response, (COOKIE, "v"), "/staff/");
        let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert_eq!(
            set,
            "__Secure-staff=v; Path=/staff/; Secure; HttpOnly; SameSite=Strict"
        );
    }
}
