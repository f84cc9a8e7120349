//! `neurons serve`: one page on 127.0.0.1 to play with trained models. Draw a digit and watch a
//! classifier's ten probabilities; move in a VAE's latent plane; ask a cGAN for a digit; type a
//! sentence for a text classifier. The models stay in memory; the page is compiled into the
//! binary, and no file is ever served: a path names a route or nothing.
//!
//! The routes are a pure function ([`route`]) of the method, the path and the body, so that they
//! are tested without a socket; [`serve`] puts them behind `tiny_http` with a few worker threads.

use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::error::Error;
use crate::labs::{Lab, Served};
use crate::report::RunDir;
use crate::train::progress::print_line;

/// `neurons serve`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// A finished run to play with (mlp-classifier, cnn, vae, gan, cgan, sentiment, transformer);
    /// may be repeated
    #[arg(long = "run", value_name = "DIR", required = true)]
    pub runs: Vec<PathBuf>,
    /// The port (0: any free one, printed)
    #[arg(long, default_value_t = 8080, allow_negative_numbers = true)]
    pub port: u16,
    /// The address to listen on: this machine only, unless another is named
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
}

/// The largest request body read: a 280×280 drawing as JSON is about 600 KB.
pub const MAX_BODY: usize = 1 << 20;

/// Worker threads answering requests (inference itself is one model at a time).
const WORKERS: usize = 4;

/// The page, compiled in.
const PAGE: &str = include_str!("serve/page.html");

/// One run being served.
pub struct ServedRun {
    pub lab: &'static str,
    pub name: String,
    pub kind: &'static str,
    pub describe: Value,
    model: Mutex<Box<dyn Served>>,
}

impl ServedRun {
    pub fn new(lab: &'static str, name: String, model: Box<dyn Served>) -> Self {
        Self {
            lab,
            name,
            kind: model.kind(),
            describe: model.describe(),
            model: Mutex::new(model),
        }
    }
}

/// An answer: status, content type, body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

fn json_response(status: u16, value: &Value) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: value.to_string().into_bytes(),
    }
}

fn refusal(status: u16, reason: &str) -> Response {
    json_response(status, &json!({ "error": reason }))
}

/// Answers one request: `GET /` the page, `GET /api/runs` what is served, `POST /api/runs/K` a
/// question to run K (JSON in, JSON out). Anything else is a 4xx with a short reason.
pub fn route(runs: &[ServedRun], method: &str, path: &str, body: &[u8]) -> Response {
    let path = path.split('?').next().unwrap_or("");
    if path.contains("..") {
        return refusal(404, "no such page");
    }
    match (method, path) {
        ("GET", "/" | "/index.html") => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PAGE.as_bytes().to_vec(),
        },
        ("GET", "/api/runs") => {
            let list: Vec<Value> = runs
                .iter()
                .enumerate()
                .map(|(id, r)| {
                    json!({ "id": id, "lab": r.lab, "name": r.name, "kind": r.kind, "about": r.describe })
                })
                .collect();
            json_response(200, &Value::Array(list))
        }
        (_, "/" | "/index.html" | "/api/runs") => refusal(405, "GET only"),
        (method, path) => {
            let Some(id) = path.strip_prefix("/api/runs/") else {
                return refusal(404, "no such page");
            };
            let Some(run) = id.parse::<usize>().ok().and_then(|id| runs.get(id)) else {
                return refusal(404, "no such run");
            };
            if method != "POST" {
                return refusal(405, "POST a JSON question");
            }
            if body.len() > MAX_BODY {
                return refusal(413, "the body is over 1 MB");
            }
            let request: Value = match serde_json::from_slice(body) {
                Ok(value @ Value::Object(_)) => value,
                Ok(_) => return refusal(400, "a JSON object is expected"),
                Err(e) => return refusal(400, &format!("malformed JSON: {e}")),
            };
            // a panic inside a model would poison the lock: the next requests still get answers
            let model = run
                .model
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match model.answer(&request) {
                Ok(answer) => json_response(200, &answer),
                Err(Error::Usage(reason)) => refusal(400, &reason),
                Err(other) => refusal(500, &other.to_string()),
            }
        }
    }
}

/// Loads every run, then serves the page until the process is stopped.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    // every run is read and its model built before anything listens: a bad one is one error line
    let mut runs = Vec::new();
    for dir in &args.runs {
        let run = RunDir::open(dir)?;
        let lab = Lab::of_run(&run)?;
        if !run.file("summary.json").is_file() {
            return Err(Error::Usage(format!(
                "{}: the run is not finished (no summary.json)",
                dir.display()
            ))
            .into());
        }
        let model = lab.serve(&run)?;
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        runs.push(ServedRun::new(lab.info().name, name, model));
    }
    if !args.host.is_loopback() {
        eprintln!(
            "warning: serving on {}: anyone who can reach this machine can use the page",
            args.host
        );
    }
    let server = tiny_http::Server::http((args.host, args.port))
        .map_err(|e| Error::Usage(format!("cannot listen on {}:{}: {e}", args.host, args.port)))?;
    let address = server
        .server_addr()
        .to_ip()
        .map_or_else(|| format!("{}:{}", args.host, args.port), |a| a.to_string());
    print_line(&format!(
        "serving {} run(s) on http://{address}/ (Ctrl-C to stop)",
        runs.len()
    ));
    let (server, runs) = (Arc::new(server), Arc::new(runs));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (server, runs) = (Arc::clone(&server), Arc::clone(&runs));
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    answer(request, &runs);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

/// Reads one request (at most [`MAX_BODY`] bytes of body) and sends its answer; a client that
/// goes away is no error of the server's.
fn answer(mut request: tiny_http::Request, runs: &[ServedRun]) {
    let declared = request.body_length().unwrap_or(0);
    let response = if declared > MAX_BODY {
        refusal(413, "the body is over 1 MB")
    } else {
        let mut body = Vec::new();
        match request
            .as_reader()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
        {
            Ok(_) if body.len() > MAX_BODY => refusal(413, "the body is over 1 MB"),
            Ok(_) => route(runs, request.method().as_str(), request.url(), &body),
            Err(_) => refusal(400, "the body could not be read"),
        }
    };
    let header = tiny_http::Header::from_bytes("Content-Type", response.content_type)
        .expect("a valid header");
    let _ = request.respond(
        tiny_http::Response::from_data(response.body)
            .with_status_code(response.status)
            .with_header(header),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Says back the length of the field "x".
    struct Echo;

    impl Served for Echo {
        fn kind(&self) -> &'static str {
            "echo"
        }
        fn answer(&self, request: &Value) -> crate::error::Result<Value> {
            let x = crate::labs::common::serve::floats(request, "x", 4)?;
            Ok(json!({ "len": x.len() }))
        }
    }

    fn runs() -> Vec<ServedRun> {
        vec![ServedRun::new("cnn", "r".to_string(), Box::new(Echo))]
    }

    #[test]
    fn the_page_the_list_and_a_question() {
        let runs = runs();
        let page = route(&runs, "GET", "/", b"");
        assert_eq!(
            (page.status, page.content_type),
            (200, "text/html; charset=utf-8")
        );
        let list: Value =
            serde_json::from_slice(&route(&runs, "GET", "/api/runs", b"").body).unwrap();
        assert_eq!(list[0]["kind"], "echo");
        let answer = route(&runs, "POST", "/api/runs/0", br#"{"x": [1, 2, 3]}"#);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, br#"{"len":3}"#);
    }

    #[test]
    fn bad_requests_get_a_4xx_with_a_reason() {
        let runs = runs();
        for (method, path, body, status) in [
            ("POST", "/api/runs/0", &b"{not json"[..], 400),
            ("POST", "/api/runs/0", b"[1, 2]", 400),
            ("POST", "/api/runs/0", br#"{"x": [1, 2, 3, 4, 5]}"#, 400),
            ("POST", "/api/runs/7", b"{}", 404),
            ("POST", "/api/runs/zero", b"{}", 404),
            ("GET", "/api/runs/0", b"", 405),
            ("POST", "/", b"", 405),
            ("GET", "/../../etc/passwd", b"", 404),
            ("GET", "/api/runs/0/../../config.toml", b"", 404),
            ("GET", "/config.toml", b"", 404),
        ] {
            let response = route(&runs, method, path, body);
            assert_eq!(response.status, status, "{method} {path}");
            let reason: Value = serde_json::from_slice(&response.body).unwrap();
            assert!(reason["error"].as_str().is_some_and(|r| !r.is_empty()));
        }
        let huge = vec![b' '; MAX_BODY + 1];
        assert_eq!(route(&runs, "POST", "/api/runs/0", &huge).status, 413);
    }
}
