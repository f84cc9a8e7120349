//! `neurons serve`'s page in a real browser: headless Chromium, driven through the DevTools
//! protocol. A stroke is drawn on the digit canvas with real mouse events and the prediction the
//! page shows is read; two clicks in the VAE's latent plane must decode two digits; a screenshot
//! goes to `target/tmp/browser-test/page.png`.
//!
//! It needs Chromium (`apt-get install chromium`; `.ci/run` installs it). Where Chromium is
//! missing the test says so and passes, unless `NEURONS_BROWSER_TEST=1` asks for it (as CI
//! does), in which case a missing browser fails it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support/binary.rs"]
mod binary;
#[path = "support/serve.rs"]
mod served;
use binary::run_ok as neurons;
use served::Server;

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let found = Command::new("which").arg(name).output().ok()?;
            found
                .status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&found.stdout).trim()))
        })
}

/// One page of headless Chromium, spoken to over the DevTools protocol.
struct Page {
    socket: tungstenite::WebSocket<TcpStream>,
    next_id: u64,
}

impl Page {
    /// Starts Chromium and connects to its first page.
    fn open(browser: &Path, profile: &Path) -> (Killed, Page) {
        let mut child = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1100,1600",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let mut port = None;
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(at) = line.find("ws://127.0.0.1:") {
                let rest = &line[at + "ws://127.0.0.1:".len()..];
                port = rest.split('/').next().map(str::to_string);
                break;
            }
        }
        let port = port.expect("Chromium says where its DevTools listen");
        let browser = Killed(child);
        let list: Value = serde_json::from_str(
            &ureq::get(&format!("http://127.0.0.1:{port}/json/list"))
                .call()
                .unwrap()
                .into_string()
                .unwrap(),
        )
        .unwrap();
        let url = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page")
            .to_string();
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (socket, _) = tungstenite::client(url.as_str(), stream).unwrap();
        (browser, Page { socket, next_id: 1 })
    }

    /// Calls a DevTools method and returns its result (events met on the way are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket
            .send(tungstenite::Message::text(message))
            .unwrap();
        loop {
            let reply = self.socket.read().unwrap();
            let Ok(text) = reply.to_text() else { continue };
            let Ok(reply) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy in the page (at most 20 s).
    fn wait_for(&mut self, expression: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(expression);
            if !(value.is_null() || value == false || value == "") {
                return value;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let page = self.eval("document.getElementById('runs').innerText");
                panic!(
                    "waited 20 s for {}…; the page says: {page}",
                    &expression[..80.min(expression.len())]
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The centre and size of element `id` in the page.
    fn rect(&mut self, id: &str) -> (f64, f64, f64, f64) {
        let r = self.eval(&format!(
            "(() => {{ const r = document.getElementById('{id}').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }})()"
        ));
        let n = |i: usize| r[i].as_f64().unwrap();
        (n(0), n(1), n(2), n(3))
    }

    fn mouse(&mut self, kind: &str, x: f64, y: f64, buttons: u8) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1 }),
        );
    }

    /// A stroke with the left button held, from `from` to `to` in `steps` moves.
    fn stroke(&mut self, from: (f64, f64), to: (f64, f64), steps: usize) {
        self.mouse("mousePressed", from.0, from.1, 1);
        for k in 1..=steps {
            let t = k as f64 / steps as f64;
            self.mouse(
                "mouseMoved",
                from.0 + t * (to.0 - from.0),
                from.1 + t * (to.1 - from.1),
                1,
            );
        }
        self.mouse("mouseReleased", to.0, to.1, 0);
    }
}

#[test]
fn a_digit_drawn_with_the_mouse_is_read_and_the_latent_plane_answers_clicks() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("NEURONS_BROWSER_TEST").is_none(),
            "NEURONS_BROWSER_TEST is set but no Chromium is installed (apt-get install chromium)"
        );
        eprintln!("skipped: no Chromium here (apt-get install chromium to run this test)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    neurons(
        &["run", "mlp-classifier", "--quick", "--out", "m"],
        dir.path(),
    );
    neurons(&["run", "vae", "--quick", "--out", "v"], dir.path());
    let server = Server::start(&["m", "v"], dir.path());
    let address = format!("{}/", server.base);
    let (_chromium, mut page) = Page::open(&browser, &dir.path().join("profile"));

    page.call("Page.enable", json!({}));
    page.call("Page.navigate", json!({ "url": address }));
    page.wait_for(
        "document.getElementById('draw-0') !== null && document.getElementById('plane-1') !== null",
    );

    // a one: a vertical stroke down the middle of the canvas, drawn with the mouse
    let (left, top, width, height) = page.rect("draw-0");
    let x = left + width / 2.0;
    page.stroke((x, top + 0.15 * height), (x, top + 0.85 * height), 12);
    let shown = page.wait_for("document.getElementById('prediction-0').textContent");
    assert_eq!(shown, "1", "the page reads the stroke as {shown}");
    let bars = page.eval("document.getElementById('bars-0').children.length");
    assert_eq!(bars, 10, "ten probabilities shown");

    // two clicks in the latent plane: a digit where the canvas was blank, then another one
    let decoded = "document.getElementById('decoded-1').toDataURL()";
    let blank = page.eval(decoded);
    let (left, top, width, height) = page.rect("plane-1");
    let at = |fx: f64, fy: f64| (left + fx * width, top + fy * height);
    page.stroke(at(0.2, 0.2), at(0.2, 0.2), 1);
    let first = page.wait_for(&format!("{decoded} !== {blank} && {decoded}"));
    page.stroke(at(0.8, 0.8), at(0.8, 0.8), 1);
    let second = page.wait_for(&format!("{decoded} !== {first} && {decoded}"));
    assert_ne!(first, second);
    let shown = page.eval("document.getElementById('z-1').textContent");
    assert!(
        shown.as_str().is_some_and(|z| z.starts_with("z = (1.")),
        "{shown}"
    );

    let shot = page.call("Page.captureScreenshot", json!({ "format": "png" }));
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    let picture = image::load_from_memory(&png).unwrap();
    assert!(picture.width() >= 800, "{}", picture.width());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-test");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("page.png"), &png).unwrap();
}
