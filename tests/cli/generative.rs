//! The generative labs: `vae`, `gan`, `cgan`, and `neurons generate`.

use super::*;

fn assert_png(path: &Path) -> image::DynamicImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_quick_vae_learns_draws_its_latent_space_generates_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let out = neurons(&["run", "vae", "--quick", "--out", "r"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("r");
    // its batches are cut into one shard per thread, each on a graph of its own: the same seed
    // gives the same metrics to the last digit all the same
    let again = neurons(&["run", "vae", "--quick", "--out", "r2"], dir.path());
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.csv")).unwrap(),
        std::fs::read_to_string(dir.path().join("r2/metrics.csv")).unwrap()
    );
    let (loss, reconstruction, kl) = (
        metric(&run, "loss"),
        metric(&run, "reconstruction"),
        metric(&run, "kl"),
    );
    assert!(
        (loss - (reconstruction + kl)).abs() < 1e-3 * loss,
        "β = 1: loss = reconstruction + KL"
    );
    // an untrained decoder scores about 784·ln 2 ≈ 543 per image; the mean digit about 206
    assert!(reconstruction < 230.0, "reconstruction {reconstruction}");
    assert!(kl > 0.5, "the latent code carries information: KL {kl}");
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with("epoch,split,loss,reconstruction,kl\n"),
        "{metrics}"
    );
    let grid = assert_png(&run.join("latent-grid.png"));
    assert!(
        grid.width() > 15 * 56 && grid.height() > 15 * 56,
        "15×15 digits"
    );
    for png in ["latent-space.png", "reconstructions.png", "loss.png"] {
        assert_png(&run.join(png));
    }

    let out = neurons(
        &["generate", "--run", "r", "--z", "0.5,-1", "--out", "z.png"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_png(&dir.path().join("z.png"));
    let err = assert_one_line_error(
        &neurons(
            &["generate", "--run", "r", "--z", "1,2,3", "--out", "x.png"],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("2 dimensions"), "{err}");
}

#[test]
fn generate_refuses_other_labs_and_impossible_digits() {
    let dir = tempfile::tempdir().unwrap();
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
    let err = assert_one_line_error(
        &neurons(&["generate", "--run", "mlp", "--out", "x.png"], dir.path()),
        2,
    );
    assert!(err.contains("not a generative lab"), "{err}");
    let err = assert_one_line_error(
        &neurons(
            &[
                "generate", "--run", "mlp", "--digit", "10", "--out", "x.png",
            ],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("--digit 10"), "{err}");
    assert!(!dir.path().join("x.png").exists());
    // a missing argument is named on the one line
    let err = assert_one_line_error(&neurons(&["generate", "--count", "2"], dir.path()), 2);
    assert!(
        err.contains("not provided: --run <RUN>, --out <OUT>"),
        "{err}"
    );
}

#[test]
fn a_quick_gan_is_judged_and_draws_every_epoch() {
    let dir = tempfile::tempdir().unwrap();
    // a judge trained once, reused with --judge
    assert!(
        neurons(&["run", "cnn", "--quick", "--out", "judge"], dir.path())
            .status
            .success()
    );
    let out = neurons(
        &["run", "gan", "--quick", "--judge", "judge", "--out", "r"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("r");
    let s = summary(&run);
    let epochs = s["epochs"].as_u64().unwrap();
    for epoch in 1..=epochs {
        let grid = assert_png(&run.join(format!("samples-epoch-{epoch}.png")));
        assert_eq!(grid.width(), grid.height(), "an 8×8 grid");
    }
    for png in ["progress.png", "loss.png", "class-shares.png"] {
        assert_png(&run.join(png));
    }
    // each digit's share after every epoch, from the untrained generator (epoch 0) on
    let by_epoch = std::fs::read_to_string(run.join("class-shares.csv")).unwrap();
    let rows: Vec<&str> = by_epoch.lines().collect();
    assert_eq!(rows.len() as u64, 1 + epochs + 1, "{by_epoch}");
    for row in &rows[1..] {
        let total: f64 = row
            .split(',')
            .skip(1)
            .map(|v| v.parse::<f64>().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-3, "{row}");
    }
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("pack = 2"), "PacGAN by default: {config}");
    let shares: f64 = (0..10)
        .map(|k| metric(&run, &format!("class_share_{k}")))
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "the class shares add up to 1");
    let top = metric(&run, "mean_top_class_probability");
    assert!((0.1..=1.0).contains(&top), "{top}");
    // training helped: the judge finds the generated digits nearer the real ones than the
    // untrained generator's noise
    let (trained, untrained) = (
        metric(&run, "frechet_distance"),
        metric(&run, "frechet_distance_untrained"),
    );
    assert!(
        trained < 0.9 * untrained,
        "Fréchet distance {trained} after training, {untrained} before"
    );
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with("epoch,split,loss,discriminator_loss,generator_loss\n"),
        "{metrics}"
    );

    let out = neurons(
        &["generate", "--run", "r", "--count", "16", "--out", "g.png"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_png(&dir.path().join("g.png"));
    let err = assert_one_line_error(
        &neurons(
            &["generate", "--run", "r", "--digit", "3", "--out", "x.png"],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("cgan"), "{err}");

    inpaint_fills_holes_and_refuses_bad_requests(dir.path());
}

/// The first `n` test digits of the embedded data as an IDX file.
fn test_digits_idx(n: usize, path: &Path) {
    use std::io::Read;
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k/t10k-images-idx3-ubyte.gz");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    let mut out = Vec::new();
    for v in [2051u32, n as u32, 28, 28] {
        out.extend(v.to_be_bytes());
    }
    out.extend(&bytes[16..16 + n * 784]);
    std::fs::write(path, out).unwrap();
}

/// `neurons inpaint` with the quick GAN `r` and the cnn `judge` of `dir`.
fn inpaint_fills_holes_and_refuses_bad_requests(dir: &Path) {
    test_digits_idx(2, &dir.join("two.idx"));
    let out = neurons(
        &[
            "inpaint",
            "--run",
            "r",
            "two.idx",
            "--mask",
            "lower-half",
            "--steps",
            "20",
            "--starts",
            "2",
            "--out",
            "filled.png",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let grid = assert_png(&dir.join("filled.png"));
    assert!(
        2 * grid.width() > 3 * grid.height() - 20,
        "two rows of original, masked, filled: {}×{}",
        grid.width(),
        grid.height()
    );

    let out = neurons(
        &[
            "inpaint",
            "--evaluate",
            "--run",
            "r",
            "--judge",
            "judge",
            "--mask",
            "center",
            "--samples",
            "20",
            "--steps",
            "10",
            "--starts",
            "2",
            "--json",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let e: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(e["samples"], 20);
    assert_eq!(e["mask"], "center");
    for key in [
        "filled_accuracy",
        "black_hole_accuracy",
        "mean_digit_accuracy",
        "filled_hole_mse",
        "mean_digit_hole_mse",
    ] {
        let v = e[key].as_f64().unwrap_or_else(|| panic!("{key} in {e}"));
        assert!((0.0..=1.0).contains(&v), "{key}: {v}");
    }
    // the judge reads the whole digits; a black centre is an error of the digit's own ink
    assert!(e["original_accuracy"].as_f64().unwrap() > 0.8, "{e}");
    assert!(e["black_hole_mse"].as_f64().unwrap() > 0.0, "{e}");

    // (run, mask, more flags, exit code, what the error says)
    for (run, mask, more, code, says) in [
        ("r", "rect:20,0,9,4", &[][..], 2, "outside"),
        ("r", "rect:0,0,28,28", &[], 2, "whole image"),
        ("judge", "center", &[], 2, "gan or cgan"),
        ("r", "center", &["--digit", "3"], 2, "cgan"),
        ("r", "center", &["--evaluate"], 2, "no judge"),
        ("r", "center", &["--json"], 2, "goes with --evaluate"),
        (
            "r",
            "center",
            &["--out", "r/x.png"],
            2,
            "inside the run directory",
        ),
        ("r", "center", &["--out", "two.idx"], 2, "one of the inputs"),
    ] {
        let mut args = vec!["inpaint", "--run", run, "--mask", mask];
        args.extend(more);
        if !more.contains(&"--evaluate") {
            args.push("two.idx");
            if !more.contains(&"--out") {
                args.extend(["--out", "x.png"]);
            }
        }
        let err = assert_one_line_error(&neurons(&args, dir), code);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // an input that is not a picture: named, exit 1
    let err = assert_one_line_error(
        &neurons(
            &[
                "inpaint",
                "--run",
                "r",
                "judge/config.toml",
                "--mask",
                "center",
                "--out",
                "x.png",
            ],
            dir,
        ),
        1,
    );
    assert!(err.contains("config.toml"), "{err}");
    assert!(!dir.join("x.png").exists());
}

#[test]
fn a_quick_cgan_draws_the_asked_digit_more_often_than_chance() {
    let dir = tempfile::tempdir().unwrap();
    let out = neurons(&["run", "cgan", "--quick", "--out", "r"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("r");
    let accuracy = metric(&run, "conditional_accuracy");
    assert!(accuracy > 0.2, "chance is 0.1: {accuracy}");
    assert!(
        metric(&run, "judge_accuracy") > 0.8,
        "a judge was trained first"
    );
    let grid = assert_png(&run.join("digits.png"));
    assert_eq!(grid.width(), grid.height(), "a 10×10 grid");

    let out = neurons(
        &[
            "generate",
            "--run",
            "r",
            "--digit",
            "7",
            "--count",
            "16",
            "--out",
            "sevens.png",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_png(&dir.path().join("sevens.png"));
    let err = assert_one_line_error(
        &neurons(
            &["generate", "--run", "r", "--digit", "10", "--out", "x.png"],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("--digit 10"), "{err}");
}
