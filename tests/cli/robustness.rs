//! Damaged run directories and out-of-range flags: one `error:` line naming the file and field,
//! the right exit code, no panic, and no run directory for a refused command.

use super::*;

/// A finished quick run of `lab` in `dir/name`, made resumable again (its summary removed) and
/// its `config.toml` changed by `edit`.
fn damaged_run(lab: &[&str], dir: &Path, name: &str, edit: impl Fn(String) -> String) {
    let out = neurons(
        &[&["run"][..], lab, &["--quick", "--out", name]].concat(),
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::remove_file(dir.join(name).join("summary.json")).unwrap();
    let config = dir.join(name).join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    std::fs::write(&config, edited).unwrap();
}

fn replace_line(text: String, key: &str, value: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with(&format!("{key} = ")) {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_resumed_run_whose_config_says_batch_size_0_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    damaged_run(&["mlp-classifier"], dir.path(), "r", |t| {
        replace_line(t, "batch_size", "0")
    });
    let out = neurons(&["run", "--resume", "r"], dir.path());
    let err = assert_one_line_error(&out, 1);
    assert!(
        err.contains("config.toml") && err.contains("batch_size"),
        "{err}"
    );
}

#[test]
fn a_resumed_rnn_with_an_impossible_path_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    damaged_run(&["rnn"], dir.path(), "r", |t| {
        replace_line(t, "train_fraction", "2.0")
    });
    let err = assert_one_line_error(&neurons(&["run", "--resume", "r"], dir.path()), 1);
    assert!(
        err.contains("config.toml") && err.contains("train_fraction = 2"),
        "{err}"
    );
}

#[test]
fn a_regression_run_whose_standardizer_lost_a_feature_refuses_to_predict() {
    let dir = tempfile::tempdir().unwrap();
    let out = neurons(
        &["run", "mlp-regression", "--quick", "--out", "r"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let config = dir.path().join("r/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    // drop the first mean of the standardizer: 10 means for 11 features
    let start = text.find("mean = [").expect("the standardizer's means") + "mean = [".len();
    let comma = start + text[start..].find(',').unwrap();
    let edited = format!("{}{}", &text[..start], &text[comma + 1..]);
    std::fs::write(&config, edited).unwrap();
    std::fs::write(dir.path().join("wines.csv"), "a\n1\n").unwrap();
    let err = assert_one_line_error(
        &neurons(&["predict", "--run", "r", "wines.csv"], dir.path()),
        1,
    );
    assert!(
        err.contains("config.toml") && err.contains("standardizer"),
        "{err}"
    );
}

#[test]
fn too_few_synthetic_points_are_refused_before_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        ["logistic-regression", "--n", "0"],
        ["logistic-regression", "--n", "1"],
        ["linear-regression", "--n", "1"],
        ["polynomial-regression", "--n", "3"],
        ["logistic-regression", "--poly", "0"],
    ] {
        let out = neurons(&[&["run"][..], &args, &["--out", "r"]].concat(), dir.path());
        let err = assert_one_line_error(&out, 2);
        assert!(err.contains(args[1]), "{args:?}: {err}");
        assert!(
            !dir.path().join("r").exists(),
            "{args:?} created the run directory"
        );
    }
    let err = assert_one_line_error(&neurons(&["bench", "--scale", "1e12"], dir.path()), 2);
    assert!(err.contains("--scale"), "{err}");
}

#[test]
fn k_means_on_a_single_column_draws_its_clusters_on_a_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.csv"),
        "x\n1\n2\n3\n10\n11\n12\n20\n21\n22\n",
    )
    .unwrap();
    let out = neurons(
        &[
            "run", "kmeans", "--data", "one.csv", "--k", "3", "--out", "k",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // three well-separated groups of three: each point with its own group, inertia 3 × 2
    let inertia = summary(&dir.path().join("k"))["metrics"]["inertia"]
        .as_f64()
        .unwrap();
    assert!((inertia - 6.0).abs() < 1e-9, "{inertia}");
}
