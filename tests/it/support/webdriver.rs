//! A headless Chromium driven through ChromeDriver's W3C WebDriver protocol (plain JSON over HTTP,
//! a handful of commands), for the dashboard test. Debian's `chromium` and `chromium-driver`
//! (`.ci/test` installs them); `PGVEIL_CHROMIUM` and `PGVEIL_CHROMEDRIVER` point elsewhere.
//!
//! The page re-renders every two seconds, so an element found a moment ago may be gone: actions
//! find their element again and retry on a stale reference, and conditions are checked by a script
//! in the page, polled until true or a generous deadline (which fails naming what was awaited).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::serve::{agent, free_port};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A ChromeDriver process and one browser session in it; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    _profile: tempfile::TempDir,
}

fn program(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

impl Browser {
    pub fn start() -> Browser {
        let chromium = program("PGVEIL_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = program("PGVEIL_CHROMEDRIVER", "chromedriver");
        assert!(
            std::path::Path::new(&chromium).exists(),
            "{chromium} is missing: install Debian's chromium and chromium-driver (.ci/test does)"
        );
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {chromedriver}: {e} (install chromium-driver)"));
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(browser.request("GET", "/status", None), Ok(v) if v["ready"] == true) {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The flags that keep Chromium off the network it cannot reach (no background requests).
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let session = browser
            .request(
                "POST",
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": chromium, "args": args},
                }}})),
            )
            .unwrap_or_else(|e| panic!("no browser session: {e}"));
        let id = session["sessionId"].as_str().expect("a session id");
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    /// One WebDriver command; its `value`, or the driver's error message.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let reply = match (method, body) {
            ("GET", _) => agent().get(&url).call(),
            ("DELETE", _) => agent().delete(&url).call(),
            (_, body) => agent().post(&url).send_json(body.unwrap_or(json!({}))),
        };
        let mut reply = reply.map_err(|e| e.to_string())?;
        let status = reply.status().as_u16();
        let v: Value = reply.body_mut().read_json().map_err(|e| e.to_string())?;
        if status == 200 {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{}: {}",
                v["value"]["error"], v["value"]["message"]
            ))
        }
    }

    pub fn open(&self, url: &str) {
        self.request("POST", "/url", Some(json!({ "url": url })))
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Run `script` (a function body) in the page; what it returns.
    pub fn eval(&self, script: &str) -> Value {
        self.request(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .unwrap_or_else(|e| panic!("running {script}: {e}"))
    }

    /// Poll `script` until it returns something other than `null`/`false`; that value.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let v = self.eval(script);
            if !v.is_null() && v != false {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; the page shows:\n{}",
                self.eval("return document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Do `action` to the element `css`, finding it again while it is missing or stale.
    fn on_element(&self, css: &str, action: &str, body: Value) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done = self
                .request(
                    "POST",
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .and_then(|e| {
                    let id = e[ELEMENT].as_str().unwrap_or_default().to_string();
                    self.request(
                        "POST",
                        &format!("/element/{id}/{action}"),
                        Some(body.clone()),
                    )
                });
            match done {
                Ok(_) => return,
                Err(e) => assert!(Instant::now() < deadline, "{action} on {css}: {e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn click(&self, css: &str) {
        self.on_element(css, "click", json!({}));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "value", json!({ "text": text }));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.request("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
