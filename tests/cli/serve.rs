//! `neurons serve` end to end: the page, the list of runs, real digits read by a served
//! classifier, a VAE's plane, and a bounded load test with malformed requests mixed in.

use super::served::Server;
use super::*;

impl Server {
    /// POSTs `body` to `path`: the status and the JSON answer.
    fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let response = match ureq::post(&format!("{}{path}", self.base)).send_string(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    fn get(&self, path: &str) -> (u16, String) {
        match ureq::get(&format!("{}{path}", self.base)).call() {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(e) => panic!("{path}: {e}"),
        }
    }
}

/// The first `n` test digits of the embedded MNIST, as pixels in 0..1, with their labels.
fn test_digits(n: usize) -> Vec<(Vec<f32>, u8)> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k");
    let images = neurons::data::idx::read_images(&data.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let labels = neurons::data::idx::read_labels(&data.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    (0..n)
        .map(|i| {
            let pixels = images.pixels[i * 784..(i + 1) * 784]
                .iter()
                .map(|&p| p as f32 / 255.0)
                .collect();
            (pixels, labels[i])
        })
        .collect()
}

fn argmax(values: &serde_json::Value) -> usize {
    let v: Vec<f64> = values
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}

#[test]
fn a_served_classifier_reads_real_digits_and_survives_a_thousand_requests_some_malformed() {
    let dir = tempfile::tempdir().unwrap();
    for (lab, out) in [("mlp-classifier", "m"), ("vae", "v")] {
        let run = neurons(&["run", lab, "--quick", "--out", out], dir.path());
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let server = Server::start(&["m", "v"], dir.path());

    let (status, page) = server.get("/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<canvas") || page.contains("\"canvas\""),
        "the page draws"
    );
    assert!(
        !page.contains("src=\"http"),
        "the page fetches nothing from elsewhere"
    );
    let (status, runs) = server.get("/api/runs");
    assert_eq!(status, 200);
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(runs[0]["kind"], "draw-digit");
    assert_eq!(runs[1]["kind"], "latent-plane");

    // real test digits, sent as a drawing: the served model reads most of them right
    let digits = test_digits(20);
    let mut answers = Vec::new();
    for (pixels, _) in &digits {
        let (status, answer) = server.post(
            "/api/runs/0",
            &serde_json::json!({ "pixels": pixels }).to_string(),
        );
        assert_eq!(status, 200, "{answer}");
        let sum: f64 = answer["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-4, "{sum}");
        answers.push(answer);
    }
    let right = answers
        .iter()
        .zip(&digits)
        .filter(|(a, (_, label))| argmax(&a["probabilities"]) == *label as usize)
        .count();
    assert!(right >= 15, "{right} of 20 test digits read right");

    // the VAE's plane: two points, two different digits
    let (_, a) = server.post("/api/runs/1", r#"{"z": [0, 0]}"#);
    let (_, b) = server.post("/api/runs/1", r#"{"z": [2.5, -2.5]}"#);
    assert_eq!(a["pixels"].as_array().unwrap().len(), 784);
    assert_ne!(a["pixels"], b["pixels"]);

    // 1,000 requests from 8 threads, one in ten malformed: every good one gets the answer it got
    // alone, every bad one a 4xx, and the server keeps serving
    let big = format!("{{\"pixels\": [{}]}}", vec!["0.5"; 400_000].join(","));
    let bad: Vec<(&str, String)> = vec![
        ("/api/runs/0", "{\"pixels\": [1, 2".to_string()),
        ("/api/runs/0", big),
        ("/api/runs/0", "{\"pixels\": [0.5, 0.5, 0.5]}".to_string()),
        (
            "/api/runs/0",
            format!("{{\"pixels\": [{}]}}", vec!["1.5"; 784].join(",")),
        ),
        ("/api/runs/0/../../m/config.toml", "{}".to_string()),
        ("/api/runs/9", "{}".to_string()),
        ("/api/runs/1", "{\"z\": [1e9, 0]}".to_string()),
    ];
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (server, digits, answers, bad, failures) =
                (&server, &digits, &answers, &bad, &failures);
            scope.spawn(move || {
                for i in 0..125 {
                    let k = thread * 125 + i;
                    if k % 10 == 0 {
                        let (path, body) = &bad[(k / 10) % bad.len()];
                        let (status, answer) = server.post(path, body);
                        if !(400..500).contains(&status) || answer["error"].as_str().is_none() {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{path}: {status} {answer}"));
                        }
                    } else {
                        let d = k % digits.len();
                        let body = serde_json::json!({ "pixels": digits[d].0 }).to_string();
                        let (status, answer) = server.post("/api/runs/0", &body);
                        if status != 200 || answer != answers[d] {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("digit {d}: {status}"));
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(server.get("/api/runs").0, 200, "still serving");
}

#[test]
fn serve_refuses_what_it_cannot_serve_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let run = neurons(&["run", "kmeans", "--out", "k"], dir.path());
    assert!(run.status.success(), "{}", stderr(&run));
    let err = assert_one_line_error(
        &neurons(&["serve", "--run", "k", "--port", "0"], dir.path()),
        2,
    );
    assert!(err.contains("kmeans has no interactive page"), "{err}");
    let err = assert_one_line_error(
        &neurons(&["serve", "--run", "nowhere", "--port", "0"], dir.path()),
        2,
    );
    assert!(err.contains("nowhere"), "{err}");
}
