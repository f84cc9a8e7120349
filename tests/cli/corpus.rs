//! The malformed-input corpus (`tests/corpus/`, written by its `make.py`): every damaged IDX,
//! CSV, PNG, `.bpk`, `config.toml`, `checkpoint.toml`, text and graph file given to the real
//! binary the way a user would. Each must end with its exit code and exactly one `error:` line
//! naming the file (and the row or field where there is one), no panic, and nothing changed
//! outside the run directory it names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

#[derive(Debug, serde::Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, serde::Deserialize)]
struct Case {
    name: String,
    args: Vec<String>,
    code: i32,
    names: Vec<String>,
    /// A quick run of this lab, made first, that `RUN` stands for.
    base: Option<String>,
    /// Files of the corpus laid over that run (its file name → the corpus file).
    #[serde(default)]
    files: BTreeMap<String, String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every file under `dir` with its content, to tell whether anything changed.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn every_malformed_input_gets_one_error_line_naming_it_and_changes_nothing() {
    let text = std::fs::read_to_string(corpus_dir().join("cases.toml")).unwrap();
    let corpus: Corpus = toml::from_str(&text).unwrap();
    assert!(
        corpus.case.len() >= 60,
        "{} cases: the corpus promises at least 60",
        corpus.case.len()
    );

    let work = tempfile::tempdir().unwrap();
    // the corpus copied, so that a command writing into it would be seen (and the repository
    // left alone whatever happens)
    let inputs = work.path().join("corpus");
    copy_dir(&corpus_dir(), &inputs);
    // one quick run of each base lab, finished, then copied for each case
    let bases = work.path().join("bases");
    std::fs::create_dir_all(&bases).unwrap();
    for base in corpus
        .case
        .iter()
        .filter_map(|c| c.base.as_deref())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let out = neurons(&["run", base, "--quick", "--out", base], &bases);
        assert!(out.status.success(), "base run {base}: {}", stderr(&out));
        // resumable, as a run killed before its end
        std::fs::remove_file(bases.join(base).join("summary.json")).unwrap();
    }

    let mut failures = Vec::new();
    for (i, case) in corpus.case.iter().enumerate() {
        let cwd = work.path().join(format!("case-{i}"));
        std::fs::create_dir_all(cwd.join("out")).unwrap();
        let run = cwd.join("run");
        if let Some(base) = &case.base {
            copy_dir(&bases.join(base), &run);
            for (name, file) in &case.files {
                let target = run.join(name);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::copy(inputs.join(file), target).unwrap();
            }
        }
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                a.replace("@/", &format!("{}/", inputs.display()))
                    .replace("RUN", &run.display().to_string())
                    .replace("OUT", &cwd.join("out").display().to_string())
            })
            .collect();
        let outside_before = (snapshot(&inputs), snapshot(&cwd.join("out")));
        let out = neurons(&args.iter().map(String::as_str).collect::<Vec<_>>(), &cwd);
        let err = stderr(&out);
        let mut problems = Vec::new();
        if out.status.code() != Some(case.code) {
            problems.push(format!(
                "exit code {:?}, expected {}",
                out.status.code(),
                case.code
            ));
        }
        if err.lines().count() != 1 || !err.starts_with("error: ") {
            problems.push("not exactly one `error:` line".to_string());
        }
        if err.contains("panicked") || err.contains("internal error") {
            problems.push("a panic".to_string());
        }
        for name in &case.names {
            if !err.contains(name.as_str()) {
                problems.push(format!("the error does not name {name:?}"));
            }
        }
        if (snapshot(&inputs), snapshot(&cwd.join("out"))) != outside_before {
            problems.push("files outside the run directory changed".to_string());
        }
        let left: Vec<_> = std::fs::read_dir(&cwd)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "out" && n != "run")
            .collect();
        if !left.is_empty() {
            problems.push(format!("left {left:?} in the working directory"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({}): {}\n    stderr: {}",
                case.name,
                case.args.join(" "),
                problems.join("; "),
                err.trim_end().replace('\n', "\n            ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        corpus.case.len(),
        failures.join("\n")
    );
}
