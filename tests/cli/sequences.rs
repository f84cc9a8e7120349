//! The `rnn` lab: a GRU that forecasts the ladybug's path.

use super::*;

#[test]
fn a_quick_rnn_forecasts_better_than_going_straight_on_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    for out in ["r", "again"] {
        let run = neurons(&["run", "rnn", "--quick", "--out", out], dir.path());
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let run = dir.path().join("r");
    for file in [
        "config.toml",
        "metrics.csv",
        "summary.json",
        "model.bpk",
        "loss.png",
        "trajectory.png",
        "forecast.png",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let metrics = &summary(&run)["metrics"];
    let m = |name: &str| metrics[name].as_f64().unwrap_or_else(|| panic!("{name}"));
    // one step ahead: nearer than continuing the last step, far nearer than standing still
    assert!(
        m("distance") < 0.8 * m("baseline_distance_straight_on"),
        "{metrics}"
    );
    assert!(
        m("distance") < 0.3 * m("baseline_distance_standing_still"),
        "{metrics}"
    );
    // ten steps ahead on its own predictions: still nearer than a straight line
    assert!(
        m("distance_10_ahead") < m("baseline_distance_10_ahead_straight_on"),
        "{metrics}"
    );
    assert_eq!(*metrics, summary(&dir.path().join("again"))["metrics"]);
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 2 * 2,
        "header, train and test rows of 2 epochs"
    );
}

#[test]
fn the_rnn_refuses_other_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = neurons(&["run", "rnn", "--dataset", "mnist-10k"], dir.path());
    let err = assert_one_line_error(&out, 2);
    assert!(err.contains("ladybug"), "{err}");
}
