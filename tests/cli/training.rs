//! The training process shared by the deep labs: resume after SIGKILL, Ctrl-C, divergence,
//! early stopping, optimizers; and the `mlp-regression` and `cnn` labs.

use std::time::{Duration, Instant};

use super::*;

fn metrics_of(run: &Path) -> serde_json::Value {
    summary(run)["metrics"].clone()
}

/// Runs `args` uninterrupted into `dir/whole` and asserts that its final metrics are those of
/// `dir/killed`, the same run killed and resumed by the test.
pub fn assert_resumed_like_uninterrupted(args: &[&str], dir: &Path) {
    let whole = neurons(&[args, &["--out", "whole"]].concat(), dir);
    assert!(whole.status.success(), "{}", stderr(&whole));
    assert_eq!(
        metrics_of(&dir.join("killed")),
        metrics_of(&dir.join("whole"))
    );
}

/// After [`assert_resumed_like_uninterrupted`]: the two runs' `metrics.csv`, epoch by epoch.
pub fn assert_same_metrics_csv(dir: &Path) {
    assert_eq!(
        std::fs::read_to_string(dir.join("killed/metrics.csv")).unwrap(),
        std::fs::read_to_string(dir.join("whole/metrics.csv")).unwrap()
    );
}

/// Starts a run, kills it with SIGKILL once `checkpoint.toml` shows `epochs_done` epochs and
/// a little more time has passed (so that it dies inside an epoch), then resumes it.
pub fn kill_and_resume(args: &[&str], dir: &Path, out: &str, epochs_done: usize) {
    kill_after(args, dir, out, epochs_done);
    resume_ok(out, dir, None);
}

/// Starts a run and kills it with SIGKILL once `checkpoint.toml` shows `epochs_done` epochs and
/// a little more time has passed (so that it dies inside an epoch).
pub fn kill_after(args: &[&str], dir: &Path, out: &str, epochs_done: usize) {
    kill_when(args, dir, out, "", epochs_done);
}

/// [`kill_after`] for the checkpoint of a training run inside the run, in `out/inner` (the
/// baseline of an image-to-image lab).
pub fn kill_when(args: &[&str], dir: &Path, out: &str, inner: &str, epochs_done: usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neurons"))
        .args(args)
        .args(["--out", out])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if checkpoint_epoch(&dir.join(out).join(inner)) >= epochs_done {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(30)); // into the next epoch
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !dir.join(out).join("summary.json").exists(),
        "killed before the end"
    );
}

#[test]
fn a_run_killed_by_sigkill_resumes_to_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "mlp-classifier",
        "--batch-size",
        "16",
        "--epochs",
        "8",
    ];
    kill_and_resume(&args, dir.path(), "killed", 3);
    assert_resumed_like_uninterrupted(&args, dir.path());
    assert_same_metrics_csv(dir.path());
    // a finished run keeps no checkpoint, and cannot be resumed again
    assert!(!dir.path().join("killed/checkpoint.toml").exists());
    let again = neurons(&["run", "--resume", "killed"], dir.path());
    let err = assert_one_line_error(&again, 2);
    assert!(err.contains("complete"), "{err}");
}

#[test]
fn a_cnn_with_dropout_resumes_to_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["run", "cnn", "--quick", "--epochs", "4"];
    kill_and_resume(&args, dir.path(), "killed", 2);
    assert_resumed_like_uninterrupted(&args, dir.path());
}

#[test]
fn a_sentiment_run_with_word_dropout_resumes_to_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["run", "sentiment", "--quick", "--epochs", "3"];
    kill_and_resume(&args, dir.path(), "killed", 1);
    assert_resumed_like_uninterrupted(&args, dir.path());
    assert_same_metrics_csv(dir.path());
}

#[cfg(unix)]
#[test]
fn ctrl_c_keeps_the_checkpoint_and_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_neurons"))
        .args([
            "run",
            "mlp-classifier",
            "--batch-size",
            "8",
            "--epochs",
            "50",
            "--out",
            "r",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !dir.path().join("r/checkpoint.toml").exists() {
        assert!(started.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = assert_one_line_error(&out, 130);
    assert!(err.contains("neurons run --resume r"), "{err}");
    assert!(dir.path().join("r/checkpoint.toml").exists());
    let resumed = neurons(&["run", "--resume", "r", "--json"], dir.path());
    assert!(resumed.status.success(), "{}", stderr(&resumed));
}

#[test]
fn a_diverging_regression_stops_with_1_and_keeps_its_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // a run with a checkpoint: killed after its first epoch
    kill_after(&["run", "mlp-regression"], dir.path(), "r", 1);
    let run = dir.path().join("r");
    let checkpoint = std::fs::read_to_string(run.join("checkpoint.toml")).unwrap();
    let epoch = checkpoint_epoch(&run);
    let folder = run.join(format!("checkpoint-epoch-{epoch}"));
    let weights = std::fs::read(folder.join("model.bpk")).unwrap();
    // resumed with a learning rate that makes it diverge in the next epoch
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let good_rate = config
        .lines()
        .find(|l| l.starts_with("learning_rate = "))
        .unwrap()
        .to_string();
    std::fs::write(
        run.join("config.toml"),
        config.replace(&good_rate, "learning_rate = 1e6"),
    )
    .unwrap();
    let out = neurons(&["run", "--resume", "r"], dir.path());
    let err = assert_one_line_error(&out, 1);
    assert!(
        err.contains(&format!("at epoch {}", epoch + 1)) && err.contains("--lr"),
        "{err}"
    );
    // the last good checkpoint is intact, and the run continues from it once the rate is sane
    assert_eq!(
        std::fs::read_to_string(run.join("checkpoint.toml")).unwrap(),
        checkpoint
    );
    assert_eq!(std::fs::read(folder.join("model.bpk")).unwrap(), weights);
    std::fs::write(run.join("config.toml"), config).unwrap();
    resume_ok("r", dir.path(), Some(epoch));
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let out = neurons(
        &[
            "run",
            "mlp-classifier",
            "--early-stopping",
            "2",
            "--epochs",
            "40",
            "--out",
            "r",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s = summary(&dir.path().join("r"));
    let best = s["metrics"]["best_epoch"].as_f64().unwrap() as usize;
    let ran = s["epochs"].as_u64().unwrap() as usize;
    assert!(ran < 40, "stopped early: {s}");
    assert_eq!(
        ran,
        best + 2,
        "two epochs without improvement after the best"
    );
    // the kept weights are the best epoch's: their test loss is that epoch's row
    let metrics = std::fs::read_to_string(dir.path().join("r/metrics.csv")).unwrap();
    let best_row: Vec<&str> = metrics
        .lines()
        .find(|l| l.starts_with(&format!("{best},test,")))
        .unwrap()
        .split(',')
        .collect();
    let logged: f64 = best_row[2].parse().unwrap();
    let loss = s["metrics"]["loss"].as_f64().unwrap();
    assert!((loss - logged).abs() < 1e-6, "{loss} vs {logged}");
}

#[test]
fn every_optimizer_learns() {
    let dir = tempfile::tempdir().unwrap();
    for (optimizer, lr) in [
        ("sgd", "0.1"),
        ("momentum", "0.05"),
        ("adam", "0.001"),
        ("adamw", "0.001"),
        ("rmsprop", "0.001"),
    ] {
        let out = neurons(
            &[
                "run",
                "mlp-classifier",
                "--quick",
                "--optimizer",
                optimizer,
                "--lr",
                lr,
                "--weight-decay",
                "1e-4",
                "--out",
                optimizer,
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{optimizer}: {}", stderr(&out));
        let accuracy = summary(&dir.path().join(optimizer))["metrics"]["accuracy"]
            .as_f64()
            .unwrap();
        assert!(accuracy > 0.75, "{optimizer}: {accuracy}");
        let config =
            std::fs::read_to_string(dir.path().join(optimizer).join("config.toml")).unwrap();
        assert!(
            config.contains(&format!("optimizer = \"{optimizer}\"")),
            "{config}"
        );
    }
}

mod mlp_regression {
    use super::*;

    #[test]
    fn the_defaults_reach_an_mae_of_0_52_on_red_wine() {
        let dir = tempfile::tempdir().unwrap();
        let out = neurons(&["run", "mlp-regression", "--out", "r"], dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        let s = summary(&dir.path().join("r"));
        let mae = s["metrics"]["mae"].as_f64().unwrap();
        assert!(mae <= 0.52, "{s}");
        assert!(
            (s["metrics"]["rmse"].as_f64().unwrap().powi(2)
                - s["metrics"]["loss"].as_f64().unwrap())
            .abs()
                < 1e-9
        );
        let metrics = std::fs::read_to_string(dir.path().join("r/metrics.csv")).unwrap();
        assert!(
            metrics.starts_with("epoch,split,loss,mae,rmse\n"),
            "{metrics}"
        );
        for png in ["loss.png", "mae.png", "predictions.png"] {
            assert!(image::open(dir.path().join("r").join(png)).is_ok(), "{png}");
        }
        let config = std::fs::read_to_string(dir.path().join("r/config.toml")).unwrap();
        assert!(
            config.contains("[model.standardizer]"),
            "training statistics saved with the model: {config}"
        );
    }

    #[test]
    fn predicts_a_csv_and_names_a_missing_column() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            neurons(
                &["run", "mlp-regression", "--quick", "--out", "r"],
                dir.path()
            )
            .status
            .success()
        );
        // three wines of the set, columns in another order, without the quality
        let header = "alcohol,fixed acidity,volatile acidity,citric acid,residual sugar,chlorides,free sulfur dioxide,total sulfur dioxide,density,pH,sulphates";
        let rows = [
            "9.4,7.4,0.7,0,1.9,0.076,11,34,0.9978,3.51,0.56",
            "12.8,8.5,0.28,0.56,1.8,0.092,35,103,0.9969,3.3,0.75",
            "10.5,7.8,0.58,0.02,2,0.073,9,18,0.9968,3.36,0.57",
        ];
        std::fs::write(
            dir.path().join("wines.csv"),
            format!("{header}\n{}\n", rows.join("\n")),
        )
        .unwrap();
        let out = neurons(&["predict", "--run", "r", "wines.csv"], dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let values: Vec<f64> = text
            .lines()
            .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
            .collect();
        assert_eq!(values.len(), 3, "{text}");
        assert!(values.iter().all(|v| (3.0..8.5).contains(v)), "{text}");
        assert!(
            values[1] > values[0],
            "a 12.8% wine of quality 7 above a 9.4% one of quality 5: {text}"
        );

        std::fs::write(dir.path().join("short.csv"), "alcohol,pH\n9.4,3.5\n").unwrap();
        let err = assert_one_line_error(
            &neurons(&["predict", "--run", "r", "short.csv"], dir.path()),
            1,
        );
        assert!(
            err.contains("short.csv: no column \"fixed acidity\""),
            "{err}"
        );
    }

    #[test]
    fn trains_on_any_numeric_csv_and_names_bad_cells() {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("a;b;y\n");
        for i in 0..200 {
            let (a, b) = ((i % 17) as f64 / 4.0, (i % 7) as f64);
            csv.push_str(&format!("{a};{b};{}\n", 2.0 * a - b + 1.0));
        }
        std::fs::write(dir.path().join("plane.csv"), &csv).unwrap();
        let out = neurons(
            &[
                "run",
                "mlp-regression",
                "--data",
                "plane.csv",
                "--target",
                "y",
                "--sep",
                ";",
                "--out",
                "r",
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let mae = summary(&dir.path().join("r"))["metrics"]["mae"]
            .as_f64()
            .unwrap();
        assert!(mae < 0.3, "an exact plane is learnt closely: {mae}");

        std::fs::write(dir.path().join("bad.csv"), csv.replace("\n3.25;", "\nabc;")).unwrap();
        let err = assert_one_line_error(
            &neurons(
                &[
                    "run",
                    "mlp-regression",
                    "--data",
                    "bad.csv",
                    "--target",
                    "y",
                    "--sep",
                    ";",
                    "--out",
                    "b",
                ],
                dir.path(),
            ),
            1,
        );
        assert!(
            err.contains("bad.csv: row") && err.contains("column \"a\": \"abc\" is not a number"),
            "{err}"
        );
        for (file, text, expected) in [
            ("empty.csv", "", "empty file"),
            ("one.csv", "a,y\n1,2\n", "1 data row(s)"),
        ] {
            std::fs::write(dir.path().join(file), text).unwrap();
            let err = assert_one_line_error(
                &neurons(
                    &[
                        "run",
                        "mlp-regression",
                        "--data",
                        file,
                        "--target",
                        "y",
                        "--out",
                        "x",
                    ],
                    dir.path(),
                ),
                1,
            );
            assert!(err.contains(expected), "{err}");
        }
        let err = assert_one_line_error(
            &neurons(
                &[
                    "run",
                    "mlp-regression",
                    "--data",
                    "plane.csv",
                    "--target",
                    "price",
                    "--sep",
                    ";",
                    "--out",
                    "m",
                ],
                dir.path(),
            ),
            1,
        );
        assert!(err.contains("no column \"price\""), "{err}");
    }
}

mod cnn {
    use super::*;

    #[test]
    fn a_quick_run_draws_filters_and_feature_maps_and_predicts() {
        let dir = tempfile::tempdir().unwrap();
        let out = neurons(&["run", "cnn", "--quick", "--out", "r"], dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        let s = summary(&dir.path().join("r"));
        assert!(s["metrics"]["accuracy"].as_f64().unwrap() > 0.75, "{s}");
        for png in [
            "loss.png",
            "accuracy.png",
            "confusion-matrix.png",
            "misclassified.png",
            "filters.png",
            "feature-maps.png",
        ] {
            assert!(image::open(dir.path().join("r").join(png)).is_ok(), "{png}");
        }
        let set = neurons::data::mnist::ImageSource::Mnist10k
            .load()
            .unwrap()
            .test
            .truncated(10);
        let images = neurons::data::idx::IdxImages {
            count: 10,
            rows: 28,
            cols: 28,
            pixels: set.pixels.clone(),
        };
        std::fs::write(
            dir.path().join("ten-idx3-ubyte"),
            neurons::data::idx::encode_images(&images),
        )
        .unwrap();
        let out = neurons(&["predict", "--run", "r", "ten-idx3-ubyte"], dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).lines().count(), 10);
    }

    #[test]
    fn width_multiplies_the_channels() {
        let dir = tempfile::tempdir().unwrap();
        let out = neurons(
            &[
                "run", "cnn", "--quick", "--epochs", "1", "--width", "2", "--out", "r",
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let config = std::fs::read_to_string(dir.path().join("r/config.toml")).unwrap();
        assert!(
            config.contains("channels = [\n    16,\n    32,\n]"),
            "{config}"
        );
    }

    #[test]
    fn the_defaults_reach_97_5_percent_on_mnist_10k() {
        let dir = tempfile::tempdir().unwrap();
        let out = neurons(&["run", "cnn", "--out", "r"], dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        let accuracy = summary(&dir.path().join("r"))["metrics"]["accuracy"]
            .as_f64()
            .unwrap();
        assert!(accuracy >= 0.975, "{accuracy}");
    }

    #[test]
    fn weights_of_another_model_are_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            neurons(
                &["run", "cnn", "--quick", "--epochs", "1", "--out", "cnn"],
                dir.path()
            )
            .status
            .success()
        );
        assert!(
            neurons(
                &[
                    "run",
                    "mlp-classifier",
                    "--quick",
                    "--epochs",
                    "1",
                    "--out",
                    "mlp"
                ],
                dir.path()
            )
            .status
            .success()
        );
        std::fs::copy(
            dir.path().join("mlp/model.bpk"),
            dir.path().join("cnn/model.bpk"),
        )
        .unwrap();
        let set = neurons::data::mnist::ImageSource::Mnist10k
            .load()
            .unwrap()
            .test
            .truncated(1);
        let images = neurons::data::idx::IdxImages {
            count: 1,
            rows: 28,
            cols: 28,
            pixels: set.pixels.clone(),
        };
        std::fs::write(
            dir.path().join("one-idx3-ubyte"),
            neurons::data::idx::encode_images(&images),
        )
        .unwrap();
        let err = assert_one_line_error(
            &neurons(&["predict", "--run", "cnn", "one-idx3-ubyte"], dir.path()),
            1,
        );
        assert!(
            err.contains("cnn/model.bpk: these weights do not fit"),
            "{err}"
        );
    }
}
