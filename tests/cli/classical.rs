//! The six labs of the lecture's first part: linear and polynomial regression, logistic
//! regression, the perceptron, k-means and PCA; and the CSV errors they all share.

use super::*;

fn run_ok(args: &[&str], dir: &Path) -> (String, serde_json::Value) {
    let out = neurons(args, dir);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let out_dir = args
        .iter()
        .position(|a| *a == "--out")
        .map(|i| args[i + 1])
        .expect("tests name --out");
    (stdout(&out), summary(&dir.join(out_dir)))
}

fn metric(s: &serde_json::Value, name: &str) -> f64 {
    s["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("no metric {name} in {s}"))
}

fn assert_pictures(dir: &Path, names: &[&str]) {
    for name in names {
        let image = image::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            image.width() >= 100 && image.height() >= 80,
            "{name}: {}×{}",
            image.width(),
            image.height()
        );
    }
}

mod linear_regression {
    use super::*;

    #[test]
    fn closed_form_and_gradient_descent_agree_and_the_table_is_printed() {
        let dir = tempfile::tempdir().unwrap();
        let (out, s) = run_ok(
            &["run", "linear-regression", "--quick", "--out", "r"],
            dir.path(),
        );
        assert!(
            out.lines().any(|l| l == "#i  Loss  Gradient  Theta"),
            "{out}"
        );
        let row = out
            .lines()
            .find(|l| l.starts_with("  0  +"))
            .expect("first row of the table");
        assert_eq!(
            row.split_whitespace().count(),
            6,
            "i, loss, two gradients, two thetas: {row}"
        );
        let closed = s["parameters"]["theta_closed_form"].as_array().unwrap();
        let descent = s["parameters"]["theta_gradient_descent"]
            .as_array()
            .unwrap();
        for (a, b) in closed.iter().zip(descent) {
            assert!(
                (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-3,
                "{s}"
            );
        }
        // y = 4x + 2 + 7·N(0,1) on 100 points: the slope is found within the noise
        assert!((closed[0].as_f64().unwrap() - 4.0).abs() < 1.0, "{s}");
        assert!(metric(&s, "distance_between_solutions") < 1e-3);
        assert!((metric(&s, "rmse") - metric(&s, "mse").sqrt()).abs() < 1e-12);
        assert!(
            (4.0..10.0).contains(&metric(&s, "rmse")),
            "RMSE near the noise's 7: {s}"
        );
        assert_pictures(&dir.path().join("r"), &["regression.png", "loss.png"]);
    }

    #[test]
    // indices mirror the formulas being checked
    #[allow(clippy::needless_range_loop)]
    fn several_features_from_a_csv_match_an_independent_closed_form() {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("a,b,price\n");
        let mut rows = Vec::new();
        for i in 0..40 {
            let (a, b) = (i as f64 * 0.5, ((i * 7) % 11) as f64);
            let noise = ((i * 13) % 5) as f64 * 0.1 - 0.2;
            let y = 3.0 * a - 2.0 * b + 5.0 + noise;
            csv.push_str(&format!("{a},{b},{y}\n"));
            rows.push([a, b, 1.0, y]);
        }
        std::fs::write(dir.path().join("houses.csv"), csv).unwrap();
        let (_, s) = run_ok(
            &[
                "run",
                "linear-regression",
                "--data",
                "houses.csv",
                "--target",
                "price",
                "--out",
                "r",
            ],
            dir.path(),
        );

        // the normal equations XᵀXθ = XᵀY, solved here by Gauss-Jordan elimination
        let mut m = [[0.0f64; 4]; 3];
        for r in &rows {
            for i in 0..3 {
                for j in 0..3 {
                    m[i][j] += r[i] * r[j];
                }
                m[i][3] += r[i] * r[3];
            }
        }
        for p in 0..3 {
            let pivot = m[p][p];
            for j in 0..4 {
                m[p][j] /= pivot;
            }
            for i in 0..3 {
                if i != p {
                    let f = m[i][p];
                    for j in 0..4 {
                        m[i][j] -= f * m[p][j];
                    }
                }
            }
        }
        let theta = s["parameters"]["theta_closed_form"].as_array().unwrap();
        for k in 0..3 {
            assert!(
                (theta[k].as_f64().unwrap() - m[k][3]).abs() < 1e-8,
                "{k}: {theta:?} vs {m:?}"
            );
        }
        assert_pictures(&dir.path().join("r"), &["regression.png"]);
    }
}

#[test]
fn polynomial_degree_24_overfits_on_the_default_seed() {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = run_ok(&["run", "polynomial-regression", "--out", "r"], dir.path());
    let (train1, train5, train24) = (
        metric(&s, "rmse_train_degree_1"),
        metric(&s, "rmse_train_degree_5"),
        metric(&s, "rmse_train_degree_24"),
    );
    assert!(
        train24 < train5 && train5 < train1,
        "richer fits fit the training points better: {s}"
    );
    assert!(
        metric(&s, "rmse_test_degree_24") > metric(&s, "rmse_test_degree_5"),
        "degree 24 over-fits: {s}"
    );
    assert_pictures(&dir.path().join("r"), &["fits.png"]);
}

#[test]
fn logistic_regression_separates_the_students() {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = run_ok(
        &["run", "logistic-regression", "--quick", "--out", "r"],
        dir.path(),
    );
    assert!(metric(&s, "accuracy") > 0.85, "{s}");
    for m in ["precision", "recall", "f1"] {
        assert!((0.8..=1.0).contains(&metric(&s, m)), "{m}: {s}");
    }
    assert!(metric(&s, "log_loss") < 0.4, "{s}");
    assert_pictures(
        &dir.path().join("r"),
        &["decision-boundary.png", "probability.png", "loss.png"],
    );
    let (_, s) = run_ok(
        &[
            "run",
            "logistic-regression",
            "--quick",
            "--poly",
            "3",
            "--out",
            "p",
        ],
        dir.path(),
    );
    assert_eq!(
        s["parameters"]["theta"].as_array().unwrap().len(),
        6,
        "x, x², x³ of two features"
    );
}

mod perceptron {
    use super::*;

    #[test]
    fn setosa_is_separated_without_error() {
        let dir = tempfile::tempdir().unwrap();
        let (out, s) = run_ok(&["run", "perceptron", "--out", "r"], dir.path());
        assert_eq!(metric(&s, "converged"), 1.0);
        assert_eq!(metric(&s, "accuracy"), 1.0);
        assert!(metric(&s, "epochs_to_converge") >= 1.0);
        assert!(
            out.lines()
                .any(|l| l.starts_with("epoch   1: ") && l.ends_with(" errors")),
            "{out}"
        );
        assert!(out.lines().any(|l| l.ends_with(": 0 errors")), "{out}");
        let config = std::fs::read_to_string(dir.path().join("r/config.toml")).unwrap();
        assert!(config.contains("test_samples = 30"), "{config}");
        assert_pictures(&dir.path().join("r"), &["separation.png"]);
    }

    #[test]
    fn classes_no_line_separates_stop_at_the_epoch_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("a,b,label\n");
        for i in 0..40 {
            let (a, b) = ((i % 2) as f64, ((i / 2) % 2) as f64);
            csv.push_str(&format!("{a},{b},{}\n", (a + b) % 2.0)); // XOR
        }
        std::fs::write(dir.path().join("xor.csv"), csv).unwrap();
        let (out, s) = run_ok(
            &[
                "run",
                "perceptron",
                "--data",
                "xor.csv",
                "--target",
                "label",
                "--epochs",
                "20",
                "--out",
                "r",
            ],
            dir.path(),
        );
        assert_eq!(metric(&s, "converged"), 0.0);
        assert_eq!(s["epochs"], 20);
        assert!(out.contains("did not converge in 20 epochs"), "{out}");
    }
}

#[test]
fn kmeans_finds_the_blobs_and_part_of_iris() {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = run_ok(&["run", "kmeans", "--out", "blobs"], dir.path());
    assert_eq!(metric(&s, "adjusted_rand_index"), 1.0, "{s}");
    // three clusters of blobs hold their points far tighter than one cluster of all of them
    let (_, one) = run_ok(&["run", "kmeans", "--k", "1", "--out", "one"], dir.path());
    let (three, all) = (metric(&s, "inertia"), metric(&one, "inertia"));
    assert!(
        three > 0.0 && three < 0.2 * all,
        "inertia {three} with k = 3, {all} with k = 1"
    );
    assert_pictures(&dir.path().join("blobs"), &["clusters.png", "inertia.png"]);
    let (_, s) = run_ok(
        &["run", "kmeans", "--dataset", "iris", "--out", "iris"],
        dir.path(),
    );
    assert!(
        (0.6..0.9).contains(&metric(&s, "adjusted_rand_index")),
        "{s}"
    );
}

#[test]
fn pca_explains_mnist_with_few_axes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = run_ok(&["run", "pca", "--quick", "--out", "r"], dir.path());
    let first = metric(&s, "explained_variance_ratio_1");
    assert!((0.05..0.2).contains(&first), "{s}");
    assert!(metric(&s, "explained_variance_ratio_2") <= first);
    assert!(metric(&s, "explained_variance_50_components") > 0.75, "{s}");
    assert!(metric(&s, "reconstruction_mse_50") < metric(&s, "reconstruction_mse_10"));
    assert!(metric(&s, "reconstruction_mse_10") < metric(&s, "reconstruction_mse_2"));
    assert_pictures(
        &dir.path().join("r"),
        &["projection.png", "components.png", "reconstructions.png"],
    );
    let (_, s) = run_ok(
        &["run", "pca", "--dataset", "iris", "--out", "iris"],
        dir.path(),
    );
    assert!(
        metric(&s, "explained_variance_ratio_1") > 0.9,
        "petal length dominates Iris: {s}"
    );
}

/// Bad CSV input: one line naming the row or column, exit code 1; a missing --target is usage.
mod csv_errors {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn every_csv_lab_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "text.csv", "x,y\n1,0\n2,1\n3,abc\n");
        write(dir.path(), "empty.csv", "");
        write(dir.path(), "single.csv", "x,y\n1,0\n");
        write(dir.path(), "good.csv", "x,y\n1,0\n2,1\n3,1\n");
        for lab in ["linear-regression", "logistic-regression", "perceptron"] {
            let run = |file: &str, target: &str| {
                neurons(
                    &["run", lab, "--data", file, "--target", target, "--out", "r"],
                    dir.path(),
                )
            };
            let err = assert_one_line_error(&run("text.csv", "y"), 1);
            assert!(
                err.contains("text.csv: row 4, column \"y\": \"abc\" is not a number"),
                "{lab}: {err}"
            );
            let err = assert_one_line_error(&run("good.csv", "price"), 1);
            assert!(
                err.contains("no column \"price\"; the columns are x, y"),
                "{lab}: {err}"
            );
            let err = assert_one_line_error(&run("empty.csv", "y"), 1);
            assert!(err.contains("empty.csv: empty file"), "{lab}: {err}");
            let err = assert_one_line_error(&run("single.csv", "y"), 1);
            assert!(
                err.contains("single.csv: 1 data row(s); at least 2 are needed"),
                "{lab}: {err}"
            );
            let err = assert_one_line_error(
                &neurons(
                    &["run", lab, "--data", "good.csv", "--out", "r"],
                    dir.path(),
                ),
                2,
            );
            assert!(err.contains("--target"), "{lab}: {err}");
        }
        for lab in ["kmeans", "pca"] {
            let err = assert_one_line_error(
                &neurons(
                    &["run", lab, "--data", "text.csv", "--out", "r"],
                    dir.path(),
                ),
                1,
            );
            assert!(err.contains("row 4, column \"y\""), "{lab}: {err}");
        }
        let err = assert_one_line_error(
            &neurons(
                &[
                    "run",
                    "logistic-regression",
                    "--data",
                    "text.csv",
                    "--target",
                    "x",
                    "--out",
                    "r",
                ],
                dir.path(),
            ),
            1,
        );
        assert!(err.contains("row 4"), "{err}");
    }

    #[test]
    fn a_flag_of_another_lab_is_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let err = assert_one_line_error(
            &neurons(&["run", "pca", "--slope", "3", "--out", "r"], dir.path()),
            2,
        );
        assert!(err.contains("'--slope'"), "{err}");
        assert!(err.contains("usage: neurons run pca"), "{err}");
        let err = assert_one_line_error(
            &neurons(
                &["run", "gan", "--optimizer", "sgd", "--out", "r"],
                dir.path(),
            ),
            2,
        );
        assert!(err.contains("'--optimizer'"), "{err}");
        assert!(err.contains("usage: neurons run gan"), "{err}");
        // a typo in a flag's name is caught the same way
        let err = assert_one_line_error(
            &neurons(&["run", "cnn", "--widht", "2", "--out", "r"], dir.path()),
            2,
        );
        assert!(err.contains("'--widht'"), "{err}");
        assert!(!dir.path().join("r").exists(), "no run directory was made");
    }
}
