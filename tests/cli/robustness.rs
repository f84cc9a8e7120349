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
fn a_resumed_image_run_whose_config_names_no_data_set_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    damaged_run(&["autoencoder"], dir.path(), "r", |t| {
        replace_line(t, "dataset", "\"mnist-typo\"")
    });
    let err = assert_one_line_error(&neurons(&["run", "--resume", "r"], dir.path()), 1);
    assert!(
        err.contains("config.toml") && err.contains("[data] dataset") && err.contains("mnist-typo"),
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
fn a_resumed_rnn_whose_path_was_edited_is_refused_as_changed_data() {
    let dir = tempfile::tempdir().unwrap();
    // quick runs stopped after their first epoch by a file where the second's checkpoint goes
    let stopped = |name: &str| {
        let run = dir.path().join(name);
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("checkpoint-epoch-2"), "in the way").unwrap();
        let out = neurons(&["run", "rnn", "--quick", "--out", name], dir.path());
        assert!(assert_one_line_error(&out, 1).contains("the checkpoint of epoch 1 is kept"));
        std::fs::remove_file(run.join("checkpoint-epoch-2")).unwrap();
        run.join("config.toml")
    };
    // 4,000 positions instead of the quick run's 5,000: a path that passes every check, but not
    // the one the run began with
    let config = stopped("edited");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, replace_line(text, "points", "4000")).unwrap();
    let err = assert_one_line_error(&neurons(&["run", "--resume", "edited"], dir.path()), 1);
    assert!(
        err.contains("config.toml") && err.contains("changed since the run started"),
        "{err}"
    );
    // unedited, the same run resumes: its fingerprint is found again
    stopped("same");
    let out = neurons(&["run", "--resume", "same"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
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

/// The checkpoint a run directory's `checkpoint.toml` points at, and its files' bytes.
fn last_checkpoint(run: &Path) -> (usize, Vec<Vec<u8>>) {
    let epoch = checkpoint_epoch(run);
    assert!(epoch > 0, "no checkpoint in {}", run.display());
    let folder = run.join(format!("checkpoint-epoch-{epoch}"));
    let files = ["model.bpk", "optimizer.bpk"]
        .iter()
        .map(|f| std::fs::read(folder.join(f)).unwrap())
        .collect();
    (epoch, files)
}

/// A run that failed to write, copied to a writable place and resumed: it continues after the
/// epoch it says it kept, and finishes.
fn resumes_after(run: &Path, dir: &Path, epoch: usize) {
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(run).unwrap() {
        let path = entry.unwrap().path();
        let target = copy.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            for file in std::fs::read_dir(&path).unwrap() {
                let file = file.unwrap().path();
                std::fs::copy(&file, target.join(file.file_name().unwrap())).unwrap();
            }
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
    resume_ok("copy", dir, Some(epoch));
}

#[test]
fn a_run_that_cannot_write_its_next_checkpoint_says_so_and_keeps_the_last() {
    let dir = tempfile::tempdir().unwrap();
    // a file where the third epoch's checkpoint folder must go: a real write error, which no
    // privilege bypasses (unlike a read-only folder for root)
    std::fs::create_dir(dir.path().join("r")).unwrap();
    std::fs::write(dir.path().join("r/checkpoint-epoch-3"), "in the way").unwrap();
    let out = neurons(
        &["run", "mlp-regression", "--epochs", "5", "--out", "r"],
        dir.path(),
    );
    let err = assert_one_line_error(&out, 1);
    assert!(
        err.contains("checkpoint-epoch-3")
            && err.contains("the checkpoint of epoch 2 is kept")
            && err.contains("neurons run --resume r"),
        "{err}"
    );
    let (epoch, _) = last_checkpoint(&dir.path().join("r"));
    assert_eq!(epoch, 2);
    std::fs::remove_file(dir.path().join("r/checkpoint-epoch-3")).unwrap();
    resumes_after(&dir.path().join("r"), dir.path(), 2);
}

/// A small tmpfs mounted for a test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// `None` where this machine lets no test mount one (it needs root and CAP_SYS_ADMIN).
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Self(at.to_path_buf()))
    }

    /// Remounts it read-only, trying again while the kernel refuses (EBUSY: a file is open for
    /// writing at that instant, as the run's metrics or its next checkpoint are for a moment;
    /// a single try failed now and then under the full suite's load).
    fn remount_read_only(&self) {
        let started = std::time::Instant::now();
        loop {
            let out = Command::new("mount")
                .args(["-o", "remount,ro"])
                .arg(&self.0)
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            assert!(
                started.elapsed().as_secs() < 10,
                "remount read-only: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_or_a_read_only_one_stops_the_run_in_one_line_and_keeps_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // 100 KB: one checkpoint of the regression (20 KB of weights, 42 KB of Adam's state) fits,
    // the next one, written before the previous is removed, does not
    let Some(disk) = Tmpfs::mount(&dir.path().join("small"), "100k") else {
        eprintln!(
            "skipped: no tmpfs can be mounted here (root and CAP_SYS_ADMIN needed); the planted-file test covers the write error"
        );
        return;
    };
    let out = neurons(
        &[
            "run",
            "mlp-regression",
            "--epochs",
            "20",
            "--out",
            "small/r",
        ],
        dir.path(),
    );
    let err = assert_one_line_error(&out, 1);
    assert!(
        err.contains("No space left on device")
            && err.contains("the checkpoint of epoch 1 is kept"),
        "{err}"
    );
    let (epoch, _) = last_checkpoint(&dir.path().join("small/r"));
    assert_eq!(epoch, 1);
    resumes_after(&dir.path().join("small/r"), dir.path(), 1);
    drop(disk);

    // read-only from the middle of the run: mounted read-only again once a checkpoint exists
    let disk = Tmpfs::mount(&dir.path().join("ro"), "10m").unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_neurons"))
        .args(["run", "mlp-regression", "--epochs", "2000", "--out", "ro/r"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !dir.path().join("ro/r/checkpoint.toml").exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "no checkpoint in a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    disk.remount_read_only();
    let out = child.wait_with_output().unwrap();
    let err = assert_one_line_error(&out, 1);
    assert!(
        err.contains("Read-only file system") && err.contains("is kept"),
        "{err}"
    );
    let run = dir.path().join("ro/r");
    let (epoch, files) = last_checkpoint(&run);
    assert!((1..2000).contains(&epoch));
    assert!(files.iter().all(|f| !f.is_empty()));
    drop(disk);
}

#[test]
fn a_local_folder_named_mnist_is_resumed_from_itself_and_refused_once_changed() {
    let dir = tempfile::tempdir().unwrap();
    // a folder that happens to share the name of a downloadable data set
    let folder = dir.path().join("mnist");
    std::fs::create_dir(&folder).unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/idx/32x32");
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, folder.join(path.file_name().unwrap())).unwrap();
    }
    let out = neurons(
        &[
            "run",
            "mlp-classifier",
            "--quick",
            "--data",
            "mnist",
            "--out",
            "r",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.path().join("r/config.toml")).unwrap())
            .unwrap();
    let data = &config["data"];
    assert_eq!(
        data["path"].as_str().map(Path::new),
        Some(folder.as_path()),
        "{data}"
    );
    assert_eq!(data["sha256"].as_str().map(str::len), Some(64), "{data}");

    // resumed: the folder is read again, nothing is downloaded (the cache stays empty); a
    // finished run has nothing to resume, and says so rather than starting over
    std::fs::remove_file(dir.path().join("r/summary.json")).unwrap();
    let err = assert_one_line_error(&neurons(&["run", "--resume", "r"], dir.path()), 1);
    assert!(
        err.contains("checkpoint.toml: missing, but model.bpk is there"),
        "{err}"
    );
    assert!(!dir.path().join("data-cache").exists());

    // one label changed: the run no longer matches its data
    let labels = folder.join("t10k-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&labels).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&labels, bytes).unwrap();
    let err = assert_one_line_error(&neurons(&["run", "--resume", "r"], dir.path()), 1);
    assert!(
        err.contains("mnist: the data changed since the run started"),
        "{err}"
    );
}

#[test]
fn negative_numbers_are_read_as_values_and_refused_naming_their_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (&["run", "mlp-classifier", "--lr", "-0.1"][..], "--lr"),
        (
            &["run", "mlp-classifier", "--weight-decay", "-1"],
            "--weight-decay",
        ),
        (&["run", "mlp-classifier", "--epochs", "-3"], "--epochs"),
        (&["run", "vae", "--beta", "-1"], "--beta"),
        (&["run", "kmeans", "--restarts", "0"], "--restarts"),
        (
            &["generate", "--run", "r", "--z", "nan,0", "--out", "x.png"],
            "--z",
        ),
    ] {
        let err = assert_one_line_error(&neurons(args, dir.path()), 2);
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
    }
    assert!(!dir.path().join("runs").exists());
}

#[test]
fn a_resume_refuses_a_run_whose_checkpoint_or_log_was_lost_instead_of_starting_over() {
    let dir = tempfile::tempdir().unwrap();
    super::training::kill_after(&["run", "mlp-regression"], dir.path(), "r", 3);
    let run = dir.path().join("r");
    let (epoch, _) = last_checkpoint(&run);
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();

    // the log cut back to its first epoch: it stops short of the checkpoint
    let first_epoch: String = metrics
        .lines()
        .filter(|l| l.starts_with("epoch,") || l.starts_with("1,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(run.join("metrics.csv"), first_epoch).unwrap();
    let err = assert_one_line_error(&neurons(&["run", "--resume", "r"], dir.path()), 1);
    assert!(
        err.contains("metrics.csv: no row (or not every split's) for epoch 2")
            && err.contains(&format!("checkpoint.toml is at epoch {epoch}")),
        "{err}"
    );

    // checkpoint.toml lost: the run went past its first epoch, so it is not started over
    std::fs::write(run.join("metrics.csv"), &metrics).unwrap();
    std::fs::remove_file(run.join("checkpoint.toml")).unwrap();
    let err = assert_one_line_error(&neurons(&["run", "--resume", "r"], dir.path()), 1);
    // the latest folder is named: the checkpoint's, or the next one's when the kill fell while
    // it was being written
    let named = [epoch, epoch + 1]
        .map(|e| format!("checkpoint.toml: missing, but checkpoint-epoch-{e}/ is there"));
    assert!(named.iter().any(|n| err.contains(n.as_str())), "{err}");
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.csv")).unwrap(),
        metrics,
        "nothing of the run was thrown away"
    );
}
