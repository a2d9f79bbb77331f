//! A minimal WebDriver client: the few commands the end-to-end tests need,
//! spoken as JSON over HTTP/1.1 to a local chromedriver, with a timeout on
//! every request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

/// A browser session.
pub struct Browser {
    port: u16,
    session: String,
}

fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    // chromedriver may keep the connection open: read the headers, then
    // exactly the body they announce.
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_len, body_len) = loop {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("chromedriver closed the connection".into());
        }
        response.extend_from_slice(&chunk[..n]);
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("no content-length from chromedriver")?;
            break (end + 4, len);
        }
    };
    while response.len() < head_len + body_len {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&response[head_len..]).into_owned();
    let value: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if let Some(error) = value["value"]["error"].as_str() {
        return Err(format!("{error}: {}", value["value"]["message"]));
    }
    Ok(value["value"].clone())
}

impl Browser {
    /// Opens headless Chromium through the chromedriver on `port`, with a fake
    /// camera and microphone that need no permission prompt.
    pub fn chromium(port: u16, profile: &std::path::Path) -> Result<Browser, String> {
        Self::chromium_with(port, profile, true)
    }

    /// Headless Chromium whose camera and microphone need the permission the
    /// test gives or refuses (`Browser.setPermission` through [`Self::cdp`]).
    pub fn chromium_asking(port: u16, profile: &std::path::Path) -> Result<Browser, String> {
        Self::chromium_with(port, profile, false)
    }

    fn chromium_with(port: u16, profile: &std::path::Path, allow: bool) -> Result<Browser, String> {
        let profile_arg = format!("--user-data-dir={}", profile.display());
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--use-fake-device-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--ignore-certificate-errors",
            "--autoplay-policy=no-user-gesture-required",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &profile_arg,
        ];
        if allow {
            args.push("--use-fake-ui-for-media-stream");
        }
        let caps = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "acceptInsecureCerts": true,
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
            }}
        });
        Self::open(port, &caps)
    }

    /// Opens headless Firefox ESR through the geckodriver on `port`, with fake
    /// media, no permission prompt, and ICE allowed on loopback.
    ///
    /// Firefox gathers every interface's address only for a page that may use
    /// the camera; otherwise it offers just the "default" address, found by
    /// routing towards the internet, which a namespace without a route lacks,
    /// and gathers nothing. Fake streams do not count, so the camera
    /// permission is granted by default here.
    pub fn firefox(port: u16) -> Result<Browser, String> {
        let caps = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "firefox",
                "acceptInsecureCerts": true,
                "moz:firefoxOptions": {
                    "binary": "/usr/bin/firefox-esr",
                    "args": ["-headless"],
                    "prefs": {
                        "media.navigator.streams.fake": true,
                        "media.navigator.permission.disabled": true,
                        "permissions.default.camera": 1,
                        "media.peerconnection.ice.loopback": true,
                        "media.autoplay.default": 0,
                        "media.autoplay.blocking_policy": 0,
                        "app.update.enabled": false,
                        "network.captive-portal-service.enabled": false,
                        "network.connectivity-service.enabled": false
                    }
                }
            }}
        });
        Self::open(port, &caps)
    }

    fn open(port: u16, caps: &Value) -> Result<Browser, String> {
        let value = http(port, "POST", "/session", Some(caps))?;
        let session = value["sessionId"]
            .as_str()
            .ok_or("no session id")?
            .to_owned();
        Ok(Browser { port, session })
    }

    /// Loads a URL.
    pub fn goto(&self, url: &str) -> Result<(), String> {
        let path = format!("/session/{}/url", self.session);
        http(self.port, "POST", &path, Some(&json!({ "url": url }))).map(drop)
    }

    /// Runs a script (a function body) and returns what it returns.
    pub fn eval(&self, script: &str) -> Result<Value, String> {
        let path = format!("/session/{}/execute/sync", self.session);
        http(
            self.port,
            "POST",
            &path,
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Runs an asynchronous script: it gets a callback as its last argument.
    pub fn eval_async(&self, script: &str) -> Result<Value, String> {
        let path = format!("/session/{}/execute/async", self.session);
        http(
            self.port,
            "POST",
            &path,
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Clicks the element `css` finds as a person would (a trusted click,
    /// which counts as a tap for what a browser allows only on one).
    pub fn click(&self, css: &str) -> Result<(), String> {
        let path = format!("/session/{}/element", self.session);
        let found = http(
            self.port,
            "POST",
            &path,
            Some(&json!({ "using": "css selector", "value": css })),
        )?;
        let id = (found.as_object().and_then(|o| o.values().next()))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no element {css}"))?;
        let path = format!("/session/{}/element/{id}/click", self.session);
        http(self.port, "POST", &path, Some(&json!({}))).map(drop)
    }

    /// Sets the window's size, in CSS pixels.
    pub fn window(&self, width: u32, height: u32) -> Result<(), String> {
        let path = format!("/session/{}/window/rect", self.session);
        let rect = json!({ "width": width, "height": height });
        http(self.port, "POST", &path, Some(&rect)).map(drop)
    }

    /// Saves what the page shows as a PNG at `to`.
    pub fn screenshot(&self, to: &std::path::Path) -> Result<(), String> {
        use base64::Engine;
        let path = format!("/session/{}/screenshot", self.session);
        let png = http(self.port, "GET", &path, None)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().ok_or("no screenshot")?)
            .map_err(|e| e.to_string())?;
        std::fs::write(to, png).map_err(|e| e.to_string())
    }

    /// Chromium only: a DevTools protocol command.
    pub fn cdp(&self, command: &str, params: Value) -> Result<Value, String> {
        let path = format!("/session/{}/goog/cdp/execute", self.session);
        let body = json!({ "cmd": command, "params": params });
        http(self.port, "POST", &path, Some(&body))
    }

    /// Chromium only: runs `script` in every page this browser loads from
    /// now on, before the page's own scripts.
    pub fn before_each_page(&self, script: &str) -> Result<(), String> {
        let params = json!({ "source": script });
        self.cdp("Page.addScriptToEvaluateOnNewDocument", params)
            .map(drop)
    }

    /// `body[data-state]`.
    pub fn state(&self) -> String {
        self.eval("return document.body.dataset.state || ''")
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}
