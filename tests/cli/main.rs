//! End-to-end tests of the `neurons` binary: each runs the real command in a fresh directory and
//! reads back what it left.
//!
//! - `main.rs` (here): helpers, `neurons list`, exit codes;
//! - `mlp_classifier.rs`: the first deep lab, `--data` folders, `predict`;
//! - `classical.rs`: the six labs from linear regression to PCA, and CSV input;
//! - `training.rs`: resume, Ctrl-C, divergence, early stopping, optimizers; `mlp-regression`, `cnn`;
//! - `generative.rs`: `vae`, `gan`, `cgan` and `neurons generate`;
//! - `image_to_image.rs`: `autoencoder`, `pix2pix`, `super-resolution` and `predict --out`;
//! - `sequences.rs`: the `rnn` lab;
//! - `text.rs`: the `sentiment` and `transformer` labs, `predict --text`;
//! - `graph.rs`: the `gcn` lab, `predict --node`;
//! - `robustness.rs`: damaged run directories and out-of-range flags;
//! - `corpus.rs`: the malformed-input corpus of `tests/corpus/`, each through the binary;
//! - `course.rs`: `neurons tour` and `neurons report`;
//! - `serve.rs`: `neurons serve`, its page and its answers under load.

mod classical;
mod corpus;
mod course;
mod generative;
mod graph;
mod image_to_image;
mod mlp_classifier;
mod robustness;
mod sequences;
mod serve;
#[path = "../support/serve.rs"]
mod served;
mod text;
mod training;

use std::path::Path;
use std::process::{Command, Output};

pub fn neurons(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neurons"))
        .args(args)
        .current_dir(dir)
        .env("NEURONS_DATA", dir.join("data-cache"))
        .output()
        .expect("the neurons binary runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts a failure with this exit code and exactly one line on stderr, starting with `error:`.
pub fn assert_one_line_error(out: &Output, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The epoch that the `checkpoint.toml` of the run in `run` points at; 0 while there is none (or
/// while it is being written).
pub fn checkpoint_epoch(run: &Path) -> usize {
    std::fs::read_to_string(run.join("checkpoint.toml"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("epoch = ")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Resumes the run `run` in `dir`, and asserts that it finished after continuing from epoch
/// `epoch` (from any epoch when `None`).
pub fn resume_ok(run: &str, dir: &Path, epoch: Option<usize>) -> Output {
    let out = neurons(&["run", "--resume", run], dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = match epoch {
        Some(e) => format!("resuming after epoch {e} "),
        None => "resuming after epoch".to_string(),
    };
    assert!(stdout(&out).contains(&said), "{}", stdout(&out));
    out
}

/// The final metric `name` of the run in `run`.
pub fn metric(run: &Path, name: &str) -> f64 {
    summary(run)["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("no metric {name} in {}", summary(run)))
}

pub fn summary(run: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

mod list {
    use super::*;

    #[test]
    fn lists_every_lab_with_chapter_dataset_and_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let out = neurons(&["list"], dir.path());
        assert!(out.status.success());
        let text = stdout(&out);
        let line = text
            .lines()
            .find(|l| l.starts_with("mlp-classifier"))
            .expect("mlp-classifier listed");
        assert!(line.contains("Classification with a DNN"), "{line}");
        assert!(line.contains("mnist-10k"), "{line}");
    }
}

/// Exit codes: 2 for usage mistakes, 1 for failed runs, one line each.
/// `neurons bench`: the JSON lines that `compare.sh` reads (their figures depend on the machine,
/// so only their shape and sense are checked).
mod bench {
    use super::*;

    #[test]
    fn prints_one_json_line_per_workload_in_the_reference_format() {
        let dir = tempfile::tempdir().unwrap();
        let out = neurons(
            &[
                "bench",
                "--json",
                "--scale",
                "0.01",
                "mlp_train",
                "gru_train",
                "cnn_infer",
                "gcn_train",
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let names: Vec<&str> = lines
            .iter()
            .map(|l| l["workload"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["mlp_train", "gru_train", "cnn_infer", "gcn_train"]);
        for line in &lines {
            let (samples, seconds, rate) = (
                line["samples"].as_f64().unwrap(),
                line["seconds"].as_f64().unwrap(),
                line["samples_per_second"].as_f64().unwrap(),
            );
            assert!(samples >= 32.0 && seconds > 0.0, "{line}");
            assert!((rate - samples / seconds).abs() / rate < 0.01, "{line}");
        }
        assert_eq!(
            lines[0]["samples"],
            1000 / 128 * 128 - 128,
            "the reference's count: (n / batch − 1) batches"
        );
        // a graph step reads the whole graph: two at least, one warm-up, one timed
        assert_eq!(
            lines[3]["samples"], 2708,
            "one timed step over Cora's 2,708 nodes"
        );
        let err = assert_one_line_error(&neurons(&["bench", "--scale", "0"], dir.path()), 2);
        assert!(err.contains("--scale"), "{err}");
    }
}

mod exit_codes {
    use super::*;

    #[test]
    fn bad_usage_exits_with_2() {
        let dir = tempfile::tempdir().unwrap();
        for args in [
            &["run", "no-such-lab"][..],
            &["run", "mlp-classifier", "--epochs", "many"],
            &["run", "mlp-classifier", "--no-such-flag"],
            &["run", "mlp-classifier", "--device", "tpu"],
            &["frobnicate"],
            &["predict", "--run", "r"],
        ] {
            let out = neurons(args, dir.path());
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
            assert!(!stderr(&out).contains("panicked"), "{args:?}");
        }
        for args in [
            &["run", "mlp-classifier", "--dataset", "cifar-1000"][..],
            &["run", "mlp-classifier", "--epochs", "0"],
            &["run", "mlp-classifier", "--lr=-1"],
            &["run", "mlp-classifier", "--data", "no/such/folder"],
            &["predict", "--run", "no-run-here", "x.png"],
        ] {
            let out = neurons(args, dir.path());
            assert_one_line_error(&out, 2);
        }
    }

    #[test]
    fn cuda_without_cuda_support_is_a_clear_error() {
        if cfg!(feature = "cuda") {
            return; // this build has CUDA: the error is for builds without it
        }
        let dir = tempfile::tempdir().unwrap();
        let out = neurons(
            &[
                "run",
                "mlp-classifier",
                "--quick",
                "--device",
                "cuda",
                "--out",
                "r",
            ],
            dir.path(),
        );
        let err = assert_one_line_error(&out, 2);
        assert!(err.contains("without CUDA"), "{err}");
    }

    #[test]
    fn a_diverging_run_stops_with_1_and_names_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let out = neurons(
            &[
                "run",
                "mlp-classifier",
                "--quick",
                "--lr",
                "1e6",
                "--out",
                "r",
            ],
            dir.path(),
        );
        let err = assert_one_line_error(&out, 1);
        assert!(err.contains("epoch 1, batch"), "{err}");
        assert!(err.contains("--lr"), "{err}");
    }
}
