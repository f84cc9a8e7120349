//! The run directory: everything a run leaves behind, each file written whole or not at all.
//!
//! A run directory holds `config.toml` (every effective setting), `metrics.csv` (one row per epoch
//! and split), `summary.json` (the final figures), the weights and PNG pictures. Every file goes
//! through [`write_atomic`]: written under a temporary name, flushed, then renamed, so that a run
//! killed at any moment never leaves a half-written file under its final name.

pub mod classification;
pub mod config;
pub mod graph;
pub mod html;
pub mod metrics;
pub mod picture;
pub mod plot;
pub mod words;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

pub use metrics::{MetricsLog, Summary};

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Renaming over a device or a folder would replace it (/dev/full, as root): only a regular
    // file, or nothing yet, is replaced.
    if let Ok(meta) = fs::metadata(path)
        && !meta.is_file()
    {
        return Err(Error::io(
            path,
            std::io::Error::other("not a regular file: nothing is written over it"),
        ));
    }
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        // The temporary file is ours and incomplete: removing it loses nothing.
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, source));
    }
    Ok(())
}

/// Refuses, before any work, an `--out` picture that cannot be written or would overwrite what
/// a command reads: an input, or a file of a run directory.
pub fn check_output_file(out: &Path, inputs: &[PathBuf]) -> Result<()> {
    let refuse = |reason: &str| Err(Error::Usage(format!("--out {}: {reason}", out.display())));
    if out.is_dir() {
        return refuse("a folder; name the PNG file to write");
    }
    if out.exists() && !out.is_file() {
        return refuse("not a regular file");
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(folder) = parent.canonicalize() else {
        return refuse("its folder does not exist");
    };
    // inside no run directory: the one read (its config.toml is there), nor one around it (a
    // baseline's run lies inside its parent's)
    if let Some(run_dir) = folder
        .ancestors()
        .find(|dir| dir.join("config.toml").is_file())
    {
        return refuse(&format!(
            "inside the run directory {}; write elsewhere",
            run_dir.display()
        ));
    }
    let target = out.file_name().map(|name| folder.join(name));
    for input in inputs {
        if input.canonicalize().ok() == target {
            return refuse("it is one of the inputs");
        }
    }
    if !out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        return refuse("the picture is written as PNG: name it FILE.png");
    }
    Ok(())
}

/// A run's directory: `runs/<lab>-<YYYYMMDD-HHMMSS>` unless `--out` names another.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    /// The outermost directory that [`RunDir::create`] made (`runs/` on a first run, else the
    /// run directory itself); none when it found an empty `--out` or opened an earlier run.
    created: Option<PathBuf>,
}

impl RunDir {
    /// Creates the run directory. An `--out` directory that already holds a run is refused, so
    /// that a new run never overwrites an earlier one.
    pub fn create(out: Option<&Path>, lab: &str) -> Result<Self> {
        let path = match out {
            Some(dir) => dir.to_path_buf(),
            None => Self::default_path(lab),
        };
        for marker in ["config.toml", "summary.json", "metrics.csv"] {
            if path.join(marker).exists() {
                return Err(Error::Usage(format!(
                    "{} already holds a run ({marker}); choose another --out or remove it",
                    path.display()
                )));
            }
        }
        let created = path
            .ancestors()
            .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
            .last()
            .map(Path::to_path_buf);
        fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Self { path, created })
    }

    /// Removes the directory if this run created it and wrote nothing in it (and `runs/` if it
    /// was made for it and holds nothing else); says whether it did. A directory the user made,
    /// or one holding anything, is never touched.
    pub fn remove_if_untouched(&self) -> bool {
        let Some(outermost) = &self.created else {
            return false;
        };
        for dir in self.path.ancestors() {
            // remove_dir fails on a directory that holds anything: nothing is lost
            if fs::remove_dir(dir).is_err() {
                return false;
            }
            if dir == outermost {
                break;
            }
        }
        true
    }

    /// Opens an existing run directory, for `predict`, `generate` and `--resume`.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join("config.toml").is_file() {
            return Err(Error::Usage(format!(
                "{}: not a run directory (no config.toml)",
                path.display()
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            created: None,
        })
    }

    /// `runs/<lab>-<YYYYMMDD-HHMMSS>`, with `-2`, `-3`… added if two runs start in one second.
    fn default_path(lab: &str) -> PathBuf {
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let base = PathBuf::from("runs").join(format!("{lab}-{stamp}"));
        let mut path = base.clone();
        let mut n = 2;
        while path.exists() {
            path = PathBuf::from(format!("{}-{n}", base.display()));
            n += 1;
        }
        path
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of a file of this run.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write_bytes(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.file(name), bytes)
    }

    /// Writes a value as TOML (used for `config.toml`).
    pub fn write_toml<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let text = toml::to_string_pretty(value).map_err(|e| Error::BadRunDir {
            path: self.file(name),
            reason: format!("cannot encode as TOML: {e}"),
        })?;
        self.write_bytes(name, text.as_bytes())
    }

    /// Writes a value as pretty JSON with a final newline (used for `summary.json`).
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::BadRunDir {
            path: self.file(name),
            reason: format!("cannot encode as JSON: {e}"),
        })?;
        text.push('\n');
        self.write_bytes(name, text.as_bytes())
    }

    /// Saves a module's weights in burn's burnpack format, atomically.
    pub fn save_weights<M: burn::module::Module>(&self, name: &str, module: &M) -> Result<()> {
        let path = self.file(name);
        let bytes = module
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| Error::BadRunDir {
                path: path.clone(),
                reason: format!("cannot encode weights: {e}"),
            })?;
        write_atomic(&path, &bytes)
    }

    /// Loads weights saved by [`save_weights`](Self::save_weights) into `module`, which must have
    /// the same layers and shapes: anything else is a [`Error::WeightsMismatch`], not a panic.
    pub fn load_weights<M: burn::module::Module>(&self, name: &str, module: M) -> Result<M> {
        let path = self.file(name);
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let mismatch = |reason: String| Error::WeightsMismatch {
            path: path.clone(),
            reason,
        };
        let record =
            burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
                .map_err(|e| mismatch(format!("not a burnpack weights file: {e}")))?;
        module
            .try_load_record(record)
            .map_err(|e| mismatch(e.to_string()))
    }

    /// Reads a TOML file of this run, rejecting unknown keys when `T` says so.
    pub fn read_toml<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.file(name);
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        toml::from_str(&text).map_err(|e| Error::BadRunDir {
            path,
            reason: toml_error(&text, &e),
        })
    }

    /// Reads a JSON file of the run, naming it in the error.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.file(name);
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::BadRunDir {
            path,
            reason: e.to_string(),
        })
    }
}

/// A TOML error on one line, with its line and column: toml's own display spans several lines
/// (the offending line quoted, a caret under it).
pub fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', "; ");
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_error_is_one_line_with_its_position() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Settings {
            epochs: usize,
        }
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("config.toml"),
            "# a run\nepochs = \"ten\"\n",
        )
        .unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let err = run
            .read_toml::<Settings>("config.toml")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("config.toml: line 2, column 10:"), "{err}");
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
    }

    #[test]
    fn atomic_write_into_missing_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("a.txt");
        let err = write_atomic(&path, b"x").unwrap_err().to_string();
        assert!(err.contains("missing/a.txt"), "{err}");
    }

    #[test]
    fn run_dir_refuses_to_overwrite_an_earlier_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(Some(dir.path()), "lab").unwrap();
        run.write_bytes("config.toml", b"lab = 'x'\n").unwrap();
        let err = RunDir::create(Some(dir.path()), "lab").unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err}");
        assert_eq!(fs::read(run.file("config.toml")).unwrap(), b"lab = 'x'\n");
    }
}
