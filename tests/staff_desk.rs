//! The front desk's page, used as the front desk would: off until IT adds
//! an account; a real browser logs in with a password and a code from an
//! authenticator (computed here, as the phone would), makes a link for now,
//! sees the room's state change as the patient it was for waits and is let
//! in, and logs out. Then what a stranger or a mistake would send, over
//! plain HTTPS: a replayed code, a wrong code, a form without its CSRF
//! token, a logged-out cookie, a password guessed again and again, an
//! account removed mid-session.

use std::path::{Path, PathBuf};
use std::time::Duration;

use totp_rs::{Algorithm, Secret, TOTP};

use super::support::webdriver::Browser;
use super::support::{self, Driver, in_own_network, start_daemon, wait_for};
use super::{NAME, join_as, wait_page};

const PASSWORD: &str = "correct horse battery staple";
const OTHER_PASSWORD: &str = "a second long password";

/// The code an authenticator app shows for `secret` at Unix time `at`.
fn code(secret: &str, at: u64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes).generate(at)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `appliance staff add NAME` with its password on standard input: the
/// TOTP secret of its enrolment URI.
pub(super) fn add_account(daemon: &support::Daemon, name: &str, password: &str) -> String {
    let (ok, text) = daemon.cli_with_input(&["staff", "add", name], &format!("{password}\n"));
    assert!(ok, "{text}");
    let uri = text.lines().next().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{text}");
    assert!(uri.contains("&digits=6&period=30"), "{uri}");
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    secret.to_owned()
}

/// curl with a cookie jar of its own: a browser without a script.
pub(super) struct Curl {
    jar: PathBuf,
    base: String,
}

/// What a request got: its status, headers and body.
pub(super) struct Got {
    pub(super) status: u16,
    pub(super) headers: String,
    pub(super) body: String,
}

impl Curl {
    pub(super) fn new(dir: &Path, base: &str) -> Curl {
        Curl {
            jar: dir.join("cookies"),
            base: base.to_owned(),
        }
    }

    fn request(&self, path: &str, form: Option<&[(&str, &str)]>) -> Got {
        let jar = self.jar.to_str().unwrap();
        let mut args = vec![
            "-sk",
            "--max-time",
            "10",
            "-D",
            "-",
            "-b",
            jar,
            "-c",
            jar,
            "-w",
            "\n%{http_code}",
        ];
        let fields: Vec<String> = (form.unwrap_or(&[]).iter())
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        for field in &fields {
            args.extend(["--data-urlencode", field]);
        }
        if form.is_some_and(<[_]>::is_empty) {
            args.extend(["-X", "POST"]);
        }
        let url = format!("{}{path}", self.base);
        args.push(&url);
        let output = std::process::Command::new("curl")
            .args(&args)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&output.stdout).into_owned();
        let (rest, status) = out.rsplit_once('\n').unwrap_or(("", &out));
        let (headers, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        Got {
            status: status.trim().parse().unwrap_or(0),
            headers: headers.to_owned(),
            body: body.to_owned(),
        }
    }

    pub(super) fn get(&self, path: &str) -> Got {
        self.request(path, None)
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Got {
        self.request(path, Some(form))
    }

    /// Logs in as `name`, from the login form's own CSRF token.
    fn login(&self, name: &str, password: &str, code: &str) -> Got {
        let csrf = csrf(&self.get("").body);
        let form = [
            ("csrf", csrf.as_str()),
            ("name", name),
            ("password", password),
            ("code", code),
        ];
        self.post("login", &form)
    }
}

/// The CSRF token in a page's first form.
fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

/// The alert a page shows, if any.
fn alert(page: &str) -> &str {
    page.split("role=\"alert\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("")
}

/// `body[data-page]` of the staff page in `browser`.
fn shown(browser: &Browser) -> String {
    let script = "return document.body ? (document.body.dataset.page || '') : ''";
    (browser.eval(script).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn wait_shown(browser: &Browser, page: &str) {
    wait_for(
        &format!("the staff page's {page}"),
        Duration::from_secs(20),
        || (shown(browser) == page).then_some(()),
    );
}

/// The room's state on the desk, as a newly loaded page shows it.
fn room_state(desk: &Browser, base: &str) -> String {
    desk.goto(base).unwrap();
    wait_shown(desk, "desk");
    let script = "return document.getElementById('room-state').dataset.state";
    desk.eval(script).unwrap().as_str().unwrap().to_owned()
}

#[test]
fn the_front_desk_logs_in_with_a_code_makes_a_link_and_a_patient_uses_it() {
    if !in_own_network(
        "staff_desk::the_front_desk_logs_in_with_a_code_makes_a_link_and_a_patient_uses_it",
    ) {
        return;
    }
    let daemon = start_daemon();
    let base = format!("https://127.0.0.1:{}/staff/", support::PORT);
    let dir = tempfile::tempdir().unwrap();
    let curl = Curl::new(dir.path(), &base);
    assert_eq!(curl.get("").status, 404, "off without an account");

    let secret = add_account(&daemon, "desk", PASSWORD);
    let other_secret = add_account(&daemon, "evening", OTHER_PASSWORD);
    let late_secret = add_account(&daemon, "late", PASSWORD);
    let (ok, text) = daemon.cli_with_input(&["staff", "add", "short"], "too short\n");
    assert!(!ok && text.contains("at least 12"), "{text}");
    let (ok, text) = daemon.cli(&["staff", "list"]);
    assert!(ok && text.starts_with("desk\nevening\nlate\n"), "{text}");

    // The desk logs in, in a real browser, with the code of this moment.
    let _driver = Driver::chromium();
    let profile = tempfile::tempdir().unwrap();
    let desk = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    desk.goto(&base).unwrap();
    wait_shown(&desk, "login");
    let logged_in_at = unix_now();
    let first_code = code(&secret, logged_in_at);
    desk.eval(&format!(
        "document.getElementById('name').value = 'desk'; \
         document.getElementById('password').value = '{PASSWORD}'; \
         document.getElementById('code').value = '{first_code}'; \
         document.getElementById('login').submit();"
    ))
    .unwrap();
    wait_shown(&desk, "desk");
    assert_eq!(room_state(&desk, &base), "free");
    let cookies = desk.eval("return document.cookie").unwrap();
    assert!(
        !cookies.to_string().contains("staff"),
        "HttpOnly: {cookies}"
    );

    // A link for now, in the browser's time zone.
    desk.eval(
        "const two = n => String(n).padStart(2, '0'); const d = new Date(); \
         document.getElementById('date').value = d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()); \
         document.getElementById('start').value = two(d.getHours()) + ':' + two(d.getMinutes()); \
         document.getElementById('minutes').value = '50'; \
         document.getElementById('make').requestSubmit();",
    )
    .unwrap();
    let link = wait_for("the link made", Duration::from_secs(20), || {
        let script = "const l = document.getElementById('link'); return l ? l.value : null";
        desk.eval(script).ok()?.as_str().map(str::to_owned)
    });
    assert!(
        link.starts_with(&format!("https://127.0.0.1:{}/#", support::PORT)),
        "{link}"
    );
    let qr = "return document.querySelectorAll('#made .qr svg').length";
    assert_eq!(desk.eval(qr).unwrap(), 1, "the link's QR code");
    let (ok, text) = daemon.cli(&["invite", "inspect", &link]);
    assert!(ok && text.contains("now:       open"), "{text}");

    // The patient it was for uses it; the desk sees the room change, and
    // never the patient's name.
    let profile = tempfile::tempdir().unwrap();
    let patient = Browser::chromium(support::DRIVER_PORT, profile.path()).unwrap();
    join_as(&patient, &link, NAME);
    wait_page(&patient, "waiting");
    assert_eq!(room_state(&desk, &base), "waiting");
    assert!(daemon.cli(&["press"]).0);
    wait_page(&patient, "live");
    assert_eq!(room_state(&desk, &base), "in-session");
    let page = desk
        .eval("return document.documentElement.outerHTML")
        .unwrap();
    assert!(!page.to_string().contains(NAME), "the desk sees no name");
    assert!(daemon.cli(&["press", "--long"]).0);
    wait_page(&patient, "ended");
    desk.eval("document.getElementById('logout').submit()")
        .unwrap();
    wait_shown(&desk, "login");

    bad_input(&curl, (&secret, &other_secret), logged_in_at);

    // A removed account is out at once; with none left the page is off.
    let got = curl.login("late", PASSWORD, &code(&late_secret, unix_now()));
    assert_eq!(got.status, 303, "{}", alert(&got.body));
    assert!(curl.get("").body.contains("data-page=\"desk\""));
    assert!(daemon.cli(&["staff", "remove", "late"]).0);
    let got = curl.get("");
    assert!(
        got.body.contains("data-page=\"login\""),
        "logged out at once"
    );
    for name in ["desk", "evening"] {
        assert!(daemon.cli(&["staff", "remove", name]).0);
    }
    assert_eq!(curl.get("").status, 404);

    let output = daemon.stop();
    for secret in [PASSWORD, OTHER_PASSWORD, &first_code, &secret, NAME] {
        assert!(!output.contains(secret), "the log holds a secret: {output}");
    }
    assert!(
        link.split_once('#')
            .is_some_and(|(_, t)| !output.contains(t))
    );
    assert!(
        output.contains("staff member desk made a patient link"),
        "{output}"
    );
}

/// What a stranger or a mistake sends, each refused with a clear status
/// and words, and nothing done. `logged_in_at`: when the browser logged in
/// as desk, whose code is spent.
fn bad_input(curl: &Curl, (secret, other_secret): (&str, &str), logged_in_at: u64) {
    // The code the browser used, again: refused, even with the password.
    let got = curl.login("desk", PASSWORD, &code(secret, logged_in_at));
    assert_eq!(got.status, 401);
    assert!(alert(&got.body).contains("used already"), "{}", got.body);
    let got = curl.login("desk", PASSWORD, "000000");
    assert_eq!(got.status, 401);
    assert!(alert(&got.body).contains("wrong"));
    let got = curl.post("login", &[("name", "desk"), ("password", PASSWORD)]);
    assert_eq!(got.status, 403, "a login without its form's token");

    // The next code logs in; the session's cookie is the staff page's only.
    let got = curl.login("desk", PASSWORD, &code(secret, unix_now() + 30));
    assert_eq!(got.status, 303, "{}", alert(&got.body));
    let set_cookie = (got.headers.lines())
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: __secure-staff=")
        })
        .unwrap_or("");
    for attribute in ["Path=/staff/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set_cookie.contains(attribute), "{}", got.headers);
    }
    let desk = curl.get("");
    assert!(desk.body.contains("data-page=\"desk\""));
    let token = csrf(&desk.body);
    let asked = [
        ("date", "2026-01-01"),
        ("start", "10:00"),
        ("minutes", "50"),
    ];
    let got = curl.post("links", &asked);
    assert_eq!(got.status, 403, "no CSRF token");
    assert!(!got.body.contains("id=\"link\""));
    let got = curl.post(
        "links",
        &[("csrf", token.as_str()), asked[0], asked[1], asked[2]],
    );
    assert_eq!(got.status, 400, "a time in the past");
    assert!(alert(&got.body).contains("passed"), "{}", got.body);
    let got = curl.post("links", &[("csrf", &token), ("date", "soon")]);
    assert_eq!(got.status, 400);
    assert!(alert(&got.body).contains("date"));
    assert_eq!(curl.get("state").status, 200);

    // Logged out: the same cookie, kept, opens nothing.
    let kept = std::fs::read_to_string(&curl.jar).unwrap();
    assert_eq!(curl.post("logout", &[("csrf", &token)]).status, 303);
    std::fs::write(&curl.jar, kept).unwrap();
    assert_eq!(curl.get("state").status, 401);
    let got = curl.post("links", &[("csrf", &token), asked[0], asked[1], asked[2]]);
    assert_eq!(got.status, 401);

    // A password guessed again and again locks the account, even for the
    // right password and code.
    for guess in 0..5 {
        let got = curl.login("evening", &format!("guess number {guess}"), "123456");
        assert_eq!(got.status, 401);
    }
    let got = curl.login("evening", OTHER_PASSWORD, &code(other_secret, unix_now()));
    assert_eq!(got.status, 429);
    assert!(alert(&got.body).contains("15 minutes"));
}
