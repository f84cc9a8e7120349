//! The text labs, `sentiment` and `transformer`: quick runs on the real movie reviews, `predict
//! --text`, a user's CSV, and every bad input refused before a run directory exists.

use super::*;

#[test]
fn a_quick_sentiment_run_reads_reviews_well_above_chance_and_predicts_texts() {
    let dir = tempfile::tempdir().unwrap();
    let out = neurons(&["run", "sentiment", "--quick", "--out", "s"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("s");
    for file in [
        "config.toml",
        "vocab.txt",
        "classes.txt",
        "metrics.csv",
        "model.bpk",
        "loss.png",
        "accuracy.png",
        "confusion-matrix.png",
        "words.png",
        "embeddings.png",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    // 2,113 test sentences, half of them positive: chance is 0.5
    assert!(metric(&run, "accuracy") > 0.65, "{}", summary(&run));
    assert!(
        metric(&run, "baseline_accuracy") > 0.74,
        "{}",
        summary(&run)
    );
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(csv.contains(",validation,"), "{csv}");

    let predicted = neurons(
        &[
            "predict",
            "--run",
            "s",
            "--text",
            "a wonderful, moving and beautifully acted film",
            "--text",
            "a dull, boring mess",
            "--json",
        ],
        dir.path(),
    );
    assert!(predicted.status.success(), "{}", stderr(&predicted));
    let lines: Vec<serde_json::Value> = stdout(&predicted)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["class"], "positive", "{}", lines[0]);
    assert_eq!(lines[1]["class"], "negative", "{}", lines[1]);
    let p = lines[0]["probabilities"]["positive"].as_f64().unwrap()
        + lines[0]["probabilities"]["negative"].as_f64().unwrap();
    assert!((p - 1.0).abs() < 1e-5);

    // --text-file: one text per line, blank lines skipped; prose output
    std::fs::write(
        dir.path().join("texts.txt"),
        "an astonishing film\n\nutterly tedious\n",
    )
    .unwrap();
    let from_file = neurons(
        &["predict", "--run", "s", "--text-file", "texts.txt"],
        dir.path(),
    );
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    let text = stdout(&from_file);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().next().unwrap().starts_with("positive"),
        "{text}"
    );

    // what the sentiment lab cannot do
    let explain = neurons(
        &["predict", "--run", "s", "--text", "fine", "--explain"],
        dir.path(),
    );
    assert!(assert_one_line_error(&explain, 2).contains("transformer"));
    let picture = neurons(&["predict", "--run", "s", "digit.png"], dir.path());
    assert!(assert_one_line_error(&picture, 2).contains("--text"));
}

#[test]
fn a_quick_transformer_reads_reviews_above_chance_and_explains_its_attention() {
    let dir = tempfile::tempdir().unwrap();
    let out = neurons(&["run", "transformer", "--quick", "--out", "t"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("t");
    assert!(run.join("attention.png").is_file());
    assert!(metric(&run, "accuracy") > 0.62, "{}", summary(&run));

    let explained = neurons(
        &[
            "predict",
            "--run",
            "t",
            "--text",
            "a gorgeous film",
            "--explain",
            "--json",
        ],
        dir.path(),
    );
    assert!(explained.status.success(), "{}", stderr(&explained));
    let line: serde_json::Value = serde_json::from_str(stdout(&explained).trim()).unwrap();
    let weighed = line["weighed_words"].as_array().unwrap();
    let words: Vec<&str> = weighed.iter().map(|w| w[0].as_str().unwrap()).collect();
    let mut sorted = words.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["a", "film", "gorgeous"], "{line}");
    let total: f64 = weighed.iter().map(|w| w[1].as_f64().unwrap()).sum();
    assert!(
        (total - 1.0).abs() < 1e-4,
        "shares of the attention sum to 1: {line}"
    );
}

#[test]
fn a_users_csv_with_three_named_classes_trains_and_predicts_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("review;mood\n");
    let words = [("happy", "joy"), ("sad", "gloom"), ("angry", "rage")];
    for i in 0..300 {
        let (mood, word) = words[i % 3];
        csv.push_str(&format!("\"the {word} of day {i}, {word} again\";{mood}\n"));
    }
    std::fs::write(dir.path().join("moods.csv"), csv).unwrap();
    let out = neurons(
        &[
            "run",
            "sentiment",
            "--data",
            "moods.csv",
            "--text-column",
            "review",
            "--target",
            "mood",
            "--sep",
            ";",
            "--epochs",
            "4",
            "--out",
            "m",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("m");
    assert_eq!(
        std::fs::read_to_string(run.join("classes.txt")).unwrap(),
        "angry\nhappy\nsad\n"
    );
    assert!(metric(&run, "accuracy") > 0.95, "{}", summary(&run));
    let predicted = neurons(
        &["predict", "--run", "m", "--text", "rage and rage"],
        dir.path(),
    );
    assert!(
        stdout(&predicted).starts_with("angry"),
        "{}",
        stdout(&predicted)
    );

    // a changed file is refused on resume: the run's data are pinned by their hash
    std::fs::write(dir.path().join("moods.csv"), "review;mood\nx;a\n").unwrap();
    std::fs::remove_file(run.join("summary.json")).unwrap();
    let resumed = neurons(&["run", "--resume", "m"], dir.path());
    assert!(assert_one_line_error(&resumed, 1).contains("changed since the run started"));
}

#[test]
fn bad_text_inputs_get_one_line_and_no_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();
    write("empty.csv", b"");
    write("one-class.csv", b"text,label\nfine,a\ngood,a\nnice,a\n");
    write("bytes.csv", b"text,label\nok,a\nbad \xff,b\n");
    write("blank.csv", b"text,label\nok,a\n ,b\n");
    let cases: [(&[&str], i32, &str); 8] = [
        (
            &[
                "--data",
                "empty.csv",
                "--text-column",
                "text",
                "--target",
                "label",
            ],
            1,
            "empty file",
        ),
        (
            &[
                "--data",
                "one-class.csv",
                "--text-column",
                "text",
                "--target",
                "label",
            ],
            1,
            "two classes",
        ),
        (
            &[
                "--data",
                "bytes.csv",
                "--text-column",
                "text",
                "--target",
                "label",
            ],
            1,
            "row 3, column 1: the bytes are not UTF-8",
        ),
        (
            &[
                "--data",
                "blank.csv",
                "--text-column",
                "text",
                "--target",
                "label",
            ],
            1,
            "row 3, column \"text\"",
        ),
        (
            &[
                "--data",
                "blank.csv",
                "--text-column",
                "words",
                "--target",
                "label",
            ],
            1,
            "no column \"words\"",
        ),
        (&["--data", "blank.csv"], 2, "--text-column"),
        (&["--text-column", "text"], 2, "go with --data"),
        (&["--dataset", "mnist-10k"], 2, "movie-reviews"),
    ];
    for (args, code, expected) in cases {
        for lab in ["sentiment", "transformer"] {
            let out = neurons(
                &[&["run", lab, "--out", "never"][..], args].concat(),
                dir.path(),
            );
            let err = assert_one_line_error(&out, code);
            assert!(err.contains(expected), "{lab} {args:?}: {err}");
            assert!(
                !dir.path().join("never").exists(),
                "{lab} {args:?} made a run directory"
            );
        }
    }
    let heads = neurons(
        &["run", "transformer", "--heads", "3", "--out", "never"],
        dir.path(),
    );
    assert!(assert_one_line_error(&heads, 2).contains("--heads 3"));
    assert!(!dir.path().join("never").exists());
}
