//! `neurons tour` and `neurons report`: the whole course in one folder and one page.

use std::time::{Duration, Instant};

use super::*;

/// Asserts that `html` is one well-formed document: every non-void tag closed in order, and
/// nothing fetched from elsewhere (no `http://` or `https://` in a `src` or `href`).
fn assert_self_contained_html(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..80]);
    const VOID: [&str; 4] = ["meta", "img", "br", "hr"];
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>').expect("a tag is closed by >");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if let Some(closing) = tag.strip_prefix('/') {
            let closing: String = closing
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert_eq!(
                open.pop().as_deref(),
                Some(closing.as_str()),
                "unbalanced </{closing}>"
            );
        } else if !VOID.contains(&name.as_str()) {
            open.push(name);
        }
        for attribute in ["src=\"", "href=\""] {
            if let Some(at) = tag.find(attribute) {
                let value = &tag[at + attribute.len()..];
                assert!(
                    !value.starts_with("http://") && !value.starts_with("https://"),
                    "an external reference: {tag}"
                );
            }
        }
    }
    assert!(open.is_empty(), "tags left open: {open:?}");
}

#[test]
fn a_quick_tour_runs_its_labs_keeps_going_past_a_failure_and_writes_one_page() {
    let dir = tempfile::tempdir().unwrap();
    // a file where the mlp-classifier's run must go: that lab fails, the others still run
    std::fs::create_dir(dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/mlp-classifier"), "in the way").unwrap();
    let out = neurons(
        &[
            "tour",
            "--quick",
            "--labs",
            "gcn,mlp-classifier,linear-regression",
            "--out",
            "t",
        ],
        dir.path(),
    );
    let err = assert_one_line_error(&out, 1);
    assert!(err.contains("1 of 3 labs failed (mlp-classifier)"), "{err}");
    let text = stdout(&out);
    // the lecture's order, whatever the order asked
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("no {s:?} in {text}"));
    assert!(at("lab 1/3 linear-regression") < at("lab 2/3 mlp-classifier"));
    assert!(at("lab 2/3 mlp-classifier") < at("lab 3/3 gcn"));
    assert!(text.contains("mlp-classifier failed:"), "{text}");
    let t = dir.path().join("t");
    for lab in ["linear-regression", "gcn"] {
        let s = summary(&t.join(lab));
        assert_eq!(s["quick"], true, "{s}");
    }
    assert!(metric(&t.join("gcn"), "accuracy") > 0.9);

    let html = std::fs::read_to_string(t.join("index.html")).unwrap();
    assert_self_contained_html(&html);
    for lab in ["linear-regression", "mlp-classifier", "gcn"] {
        assert!(html.contains(&format!("<section id=\"{lab}\">")), "{lab}");
    }
    // every picture of the runs is in the page, inline
    let pictures = ["linear-regression", "gcn"]
        .iter()
        .flat_map(|lab| std::fs::read_dir(t.join(lab)).unwrap())
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert!(pictures >= 8, "{pictures}");
    assert_eq!(
        html.matches("src=\"data:image/png;base64,").count(),
        pictures
    );
    assert!(html.contains("✗ failed"), "the failed lab is marked");
    assert!(
        html.contains("H⁽ˡ⁺¹⁾ = σ(D̂^-½ Â D̂^-½ H⁽ˡ⁾ W⁽ˡ⁾)"),
        "the slide's formula"
    );

    // resumed once the way is clear: the finished labs are kept, the failed one runs
    std::fs::remove_file(t.join("mlp-classifier")).unwrap();
    let gcn_summary = std::fs::read(t.join("gcn/summary.json")).unwrap();
    let out = neurons(&["tour", "--resume", "t"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("gcn: finished before, kept"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read(t.join("gcn/summary.json")).unwrap(),
        gcn_summary
    );
    assert!(metric(&t.join("mlp-classifier"), "accuracy") > 0.8);
    let html = std::fs::read_to_string(t.join("index.html")).unwrap();
    assert!(!html.contains("✗ failed"));
}

#[test]
fn a_tour_killed_inside_a_lab_resumes_that_lab_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_neurons"))
        .args(["tour", "--labs", "perceptron,mlp-classifier", "--out", "t"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = dir.path().join("t/mlp-classifier");
    let started = Instant::now();
    loop {
        if checkpoint_epoch(&run) >= 2 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the tour ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint in 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let out = neurons(&["tour", "--resume", "t"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("perceptron: finished before, kept"), "{text}");
    assert!(text.contains("resuming after epoch"), "{text}");
    let s = summary(&dir.path().join("t/mlp-classifier"));
    assert_eq!(s["epochs"], 20, "{s}");
    assert!(dir.path().join("t/index.html").is_file());
}

#[test]
fn report_puts_runs_in_the_lectures_order_and_refuses_what_is_no_run() {
    let dir = tempfile::tempdir().unwrap();
    for (lab, out) in [("kmeans", "k"), ("perceptron", "p")] {
        let run = neurons(&["run", lab, "--out", out], dir.path());
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let out = neurons(&["report", "k", "p", "--out", "r.html"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert_self_contained_html(&html);
    let (p, k) = (
        html.find("<section id=\"perceptron\">").unwrap(),
        html.find("<section id=\"kmeans\">").unwrap(),
    );
    assert!(
        p < k,
        "the perceptron comes before clustering in the lecture"
    );
    // the defaults meet the README's figures: both marked as meeting them
    assert_eq!(
        html.matches("✓ meets").count(),
        2,
        "both runs meet their figures"
    );

    let err = assert_one_line_error(
        &neurons(&["report", "k", "nowhere", "--out", "s.html"], dir.path()),
        2,
    );
    assert!(err.contains("nowhere"), "{err}");
    assert!(!dir.path().join("s.html").exists());
}
