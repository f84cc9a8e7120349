//! The image-to-image labs: `autoencoder`, `pix2pix`, `super-resolution`, and `predict --out`.

use super::training::{assert_resumed_like_uninterrupted, kill_when};
use super::*;

/// A PNG written by the binary, as grey pixels in 0..=1, with its size.
fn grey_pixels(path: &Path) -> (Vec<f32>, (u32, u32)) {
    let picture = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_luma8();
    let size = picture.dimensions();
    (
        picture.pixels().map(|p| p.0[0] as f32 / 255.0).collect(),
        size,
    )
}

/// The first test digit of `class` in the embedded digits: the one each lab leaves as its
/// example input, degraded.
fn clean_test_digit(class: u8) -> Vec<f32> {
    let data = neurons::data::mnist::choose_subset(None, None, Some((10, 500))).unwrap();
    let i = data.test.labels.iter().position(|&l| l == class).unwrap();
    data.test.image_f32(i)
}

fn run_quick(lab: &str, dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let out = neurons(
        &[&["run", lab, "--quick", "--out", "r"], extra].concat(),
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join("r")
}

#[test]
fn a_quick_autoencoder_denoises_and_predict_writes_the_denoised_digit() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_quick("autoencoder", dir.path(), &[]);
    let (noisy, denoised) = (metric(&run, "psnr_noisy"), metric(&run, "psnr_denoised"));
    assert!(denoised > noisy + 5.0, "PSNR {noisy} → {denoised}");
    let (noisy, denoised, clean) = (
        metric(&run, "judge_accuracy_noisy"),
        metric(&run, "judge_accuracy_denoised"),
        metric(&run, "judge_accuracy_clean"),
    );
    assert!(
        denoised > noisy + 0.1 && denoised <= clean + 0.02,
        "the judge: noisy {noisy}, denoised {denoised}, clean {clean}"
    );
    assert!(metric(&run, "ssim_denoised") > metric(&run, "ssim_noisy"));
    for png in ["denoising.png", "loss.png", "judge/loss.png"] {
        image::open(run.join(png)).unwrap();
    }

    // the example left in the run is a noisy 0: predict gives it back closer to the clean 0
    let out = neurons(
        &[
            "predict",
            "--run",
            "r",
            "r/example-noisy.png",
            "--out",
            "denoised.png",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("denoised.png"), "{}", stdout(&out));
    let (noisy, _) = grey_pixels(&run.join("example-noisy.png"));
    let (restored, size) = grey_pixels(&dir.path().join("denoised.png"));
    assert_eq!(size, (28, 28));
    let clean = clean_test_digit(0);
    let mse = |a: &[f32]| {
        a.iter()
            .zip(&clean)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f32>()
            / 784.0
    };
    assert!(
        mse(&restored) < mse(&noisy) / 3.0,
        "squared error to the clean digit: noisy {}, denoised {}",
        mse(&noisy),
        mse(&restored)
    );

    // two inputs: side by side, in order
    let out = neurons(
        &[
            "predict",
            "--run",
            "r",
            "r/example-noisy.png",
            "denoised.png",
            "--out",
            "two.png",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (two, size) = grey_pixels(&dir.path().join("two.png"));
    assert_eq!(size, (56, 28));
    let left: Vec<f32> = (0..784).map(|i| two[(i / 28) * 56 + i % 28]).collect();
    assert_eq!(left, restored, "the first input's answer on the left");

    // predict draws: without --out it says so; a classifier refuses --out
    let err = assert_one_line_error(
        &neurons(
            &["predict", "--run", "r", "r/example-noisy.png"],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("--out"), "{err}");
    let err = assert_one_line_error(
        &neurons(
            &[
                "predict",
                "--run",
                "r/judge",
                "r/example-noisy.png",
                "--out",
                "x.png",
            ],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("--out is for"), "{err}");
    let err = assert_one_line_error(
        &neurons(
            &[
                "predict",
                "--run",
                "r",
                "r/example-noisy.png",
                "--out",
                "r/x.png",
            ],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("inside the run directory"), "{err}");
    let err = assert_one_line_error(
        &neurons(
            &[
                "predict",
                "--run",
                "r",
                "r/example-noisy.png",
                "--out",
                "x.jpg",
            ],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("PNG"), "{err}");

    // a judge of other classes (a Fashion-MNIST cnn for digits) is refused before the run
    let fashion = dir.path().join("fashion");
    std::fs::create_dir(&fashion).unwrap();
    for file in ["model.bpk", "summary.json"] {
        std::fs::copy(run.join("judge").join(file), fashion.join(file)).unwrap();
    }
    let config = std::fs::read_to_string(run.join("judge/config.toml")).unwrap();
    let renamed = config.replace("\"1\"", "\"Trouser\"");
    assert_ne!(
        renamed, config,
        "the judge's classes are named in its config.toml"
    );
    std::fs::write(fashion.join("config.toml"), renamed).unwrap();
    let err = assert_one_line_error(
        &neurons(
            &[
                "run",
                "autoencoder",
                "--quick",
                "--judge",
                "fashion",
                "--out",
                "r2",
            ],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("Trouser"), "{err}");
    assert!(!dir.path().join("r2").exists());
}

#[test]
fn a_quick_pix2pix_draws_digits_from_outlines_sharper_than_its_l1_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_quick("pix2pix", dir.path(), &[]);
    let (sharp, blurred, real) = (
        metric(&run, "sharpness"),
        metric(&run, "sharpness_l1_only"),
        metric(&run, "sharpness_real"),
    );
    assert!(
        sharp > blurred && sharp < real * 1.2,
        "sharpness: pix2pix {sharp}, L1 only {blurred}, real {real}"
    );
    // all black would be 0.13 from the digits, and read as one class
    assert!(metric(&run, "l1") < 0.09, "L1 {}", metric(&run, "l1"));
    assert!(
        metric(&run, "judge_accuracy") > 0.7,
        "{}",
        metric(&run, "judge_accuracy")
    );
    for figure in ["l1_l1_only", "judge_accuracy_l1_only", "sharpness_l1_only"] {
        metric(&run, figure);
    }
    // the baseline is a run of its own: it predicts too, but never into its parent run
    let err = assert_one_line_error(
        &neurons(
            &[
                "predict",
                "--run",
                "r/l1-only",
                "r/example-input.png",
                "--out",
                "r/model.bpk.png",
            ],
            dir.path(),
        ),
        2,
    );
    assert!(err.contains("inside the run directory"), "{err}");
    assert!(run.join("l1-only/model.bpk").is_file());
    assert!(!run.join("l1-only/checkpoint.toml").exists());
    for (model, out) in [("r", "digit.png"), ("r/l1-only", "baseline.png")] {
        let result = neurons(
            &[
                "predict",
                "--run",
                model,
                "r/example-input.png",
                "--out",
                out,
            ],
            dir.path(),
        );
        assert!(result.status.success(), "{}", stderr(&result));
        let (pixels, size) = grey_pixels(&dir.path().join(out));
        assert_eq!(size, (28, 28));
        // the outline of a 0 gives a digit nearer the clean 0 than the outline is, or black is
        let clean = clean_test_digit(0);
        let (outline, _) = grey_pixels(&run.join("example-input.png"));
        let l1 = |a: &[f32]| {
            a.iter()
                .zip(&clean)
                .map(|(x, y)| (x - y).abs())
                .sum::<f32>()
                / 784.0
        };
        let black = clean.iter().sum::<f32>() / 784.0;
        assert!(
            l1(&pixels) < 0.85 * black && l1(&pixels) < l1(&outline),
            "{model}: L1 to the clean 0 {}, black's {black}, the outline's {}",
            l1(&pixels),
            l1(&outline)
        );
    }
    for png in ["translations.png", "grey-levels.png", "loss.png"] {
        image::open(run.join(png)).unwrap();
    }
}

#[test]
fn a_quick_super_resolution_reads_better_than_bicubic_and_refuses_a_wrong_size() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_quick("super-resolution", dir.path(), &[]);
    let (bicubic, srgan) = (
        metric(&run, "judge_accuracy_bicubic"),
        metric(&run, "judge_accuracy_srgan"),
    );
    assert!(
        srgan > bicubic,
        "the judge: bicubic {bicubic}, SRGAN {srgan}"
    );
    let (bicubic, mse) = (metric(&run, "psnr_bicubic"), metric(&run, "psnr_mse"));
    assert!(mse > bicubic + 1.0, "PSNR: bicubic {bicubic}, MSE {mse}");
    for figure in [
        "psnr_srgan",
        "ssim_bicubic",
        "ssim_mse",
        "ssim_srgan",
        "judge_accuracy_mse",
    ] {
        metric(&run, figure);
    }
    image::open(run.join("super-resolution.png")).unwrap();

    let (small, size) = grey_pixels(&run.join("example-small.png"));
    assert_eq!(size, (7, 7));
    let out = neurons(
        &[
            "predict",
            "--run",
            "r",
            "r/example-small.png",
            "--out",
            "large.png",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (large, size) = grey_pixels(&dir.path().join("large.png"));
    assert_eq!(size, (28, 28));
    // averaged down again, the enlarged digit gives back about the small one
    let again: Vec<f32> = (0..49)
        .map(|k| {
            let (y, x) = (k / 7 * 4, k % 7 * 4);
            (0..16)
                .map(|i| large[(y + i / 4) * 28 + x + i % 4])
                .sum::<f32>()
                / 16.0
        })
        .collect();
    let error = again
        .iter()
        .zip(&small)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / 49.0;
    assert!(error < 0.1, "mean error {error} after averaging down");

    let err = assert_one_line_error(
        &neurons(
            &["predict", "--run", "r", "large.png", "--out", "x.png"],
            dir.path(),
        ),
        1,
    );
    assert!(err.contains("large.png") && err.contains("7×7"), "{err}");
}

#[test]
fn a_pix2pix_killed_in_its_baseline_resumes_to_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["run", "pix2pix", "--quick", "--epochs", "3"];
    kill_when(&args, dir.path(), "killed", "l1-only", 1);
    let out = neurons(&["run", "--resume", "killed"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("resuming after epoch 1 of 3"),
        "{}",
        stdout(&out)
    );
    assert_resumed_like_uninterrupted(&args, dir.path());
}

#[test]
fn a_super_resolution_killed_after_its_baseline_resumes_to_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["run", "super-resolution", "--quick", "--epochs", "3"];
    // the main run's checkpoint: the judge and the baseline are finished, and read back
    kill_when(&args, dir.path(), "killed", "", 1);
    assert!(dir.path().join("killed/mse-only/model.bpk").is_file());
    let out = resume_ok("killed", dir.path(), None);
    assert!(
        stdout(&out).contains("baseline: read back"),
        "{}",
        stdout(&out)
    );
    assert_resumed_like_uninterrupted(&args, dir.path());
}

#[test]
fn image_to_image_flags_out_of_range_are_refused_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["autoencoder", "--noise", "-0.1"][..], "--noise"),
        (
            &["autoencoder", "--salt-pepper", "1.5"][..],
            "--salt-pepper",
        ),
        (
            &["pix2pix", "--l1-only", "--l1-weight", "10"][..],
            "--l1-weight",
        ),
        (&["pix2pix", "--l1-weight", "nan"][..], "--l1-weight"),
        (&["super-resolution", "--factor", "3"][..], "--factor"),
        (&["super-resolution", "--factor", "8"][..], "--factor"),
        (&["super-resolution", "--judge", "nowhere"][..], "nowhere"),
    ] {
        let out = neurons(&[&["run"], args, &["--out", "r"]].concat(), dir.path());
        let err = assert_one_line_error(&out, 2);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            !dir.path().join("r").exists(),
            "{args:?} made a run directory"
        );
    }
}
