//! The library's one error type.
//!
//! Every variant names the file, row, field or step that went wrong, so that the user sees one
//! lowercase line such as `error: data/train.csv: row 17, column "price": "abc" is not a number`.
//! `anyhow` context is added only in `cli.rs`; exit codes are decided in [`exit_code`].

use std::path::PathBuf;

/// What can go wrong in `neurons`, each carrying enough to point at the culprit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mistake in how the command was called: exits with 2, like clap's own usage errors.
    #[error("{0}")]
    Usage(String),

    /// The I/O error is written into the message, not chained as a source: `{err:#}` would
    /// print it a second time.
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("{}: not an IDX {kind} file (magic number {found:#010x}, expected {expected:#010x})", path.display())]
    IdxMagic {
        path: PathBuf,
        kind: &'static str,
        expected: u32,
        found: u32,
    },

    #[error("{}: truncated IDX file: the header promises {expected} bytes of data, the file holds {found}", path.display())]
    TruncatedIdx {
        path: PathBuf,
        expected: u64,
        found: u64,
    },

    #[error("{}: {reason}", path.display())]
    BadIdx { path: PathBuf, reason: String },

    #[error("{} holds {images} images but {} holds {labels} labels", images_path.display(), labels_path.display())]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },

    #[error("{}: label {label} of item {index} is not a class (0 to {max})", path.display())]
    BadLabel {
        path: PathBuf,
        index: usize,
        label: u8,
        max: u8,
    },

    #[error("{source_name}: {reason}")]
    BadCsv { source_name: String, reason: String },

    #[error("{source_name}: row {row}, column {column:?}: {reason}")]
    BadCell {
        source_name: String,
        row: usize,
        column: String,
        reason: String,
    },

    #[error("{}: {reason}", path.display())]
    BadImage { path: PathBuf, reason: String },

    #[error("{url}: download failed: {reason}")]
    Download { url: String, reason: String },

    #[error("{}: SHA-256 {found} does not match the published {expected}", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("{}: the data changed since the run started (SHA-256 {expected}, now {found}); a run continues, and predicts, only on the data it began with", path.display())]
    DataChanged {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("{}: these weights do not fit the model described by config.toml ({reason})", path.display())]
    WeightsMismatch { path: PathBuf, reason: String },

    #[error("{}: {reason}", path.display())]
    BadRunDir { path: PathBuf, reason: String },

    #[error(
        "the loss became {value} at epoch {epoch}, batch {batch}: try a smaller learning rate (--lr) or check that the inputs are scaled"
    )]
    Diverged {
        epoch: usize,
        batch: usize,
        value: f32,
    },

    #[error("{0}")]
    Numerical(String),

    #[error(
        "interrupted; the checkpoint of epoch {epoch} is kept: continue with `neurons run --resume {}`",
        run_dir.display()
    )]
    Interrupted { run_dir: PathBuf, epoch: usize },

    #[error("{cause}; {}", match kept {
        0 => "no epoch had been saved yet: make room (or make the directory writable) and run it again".to_string(),
        k => format!("the checkpoint of epoch {k} is kept: make room (or make the directory writable) and continue with `neurons run --resume {}`", run_dir.display()),
    })]
    CheckpointNotWritten {
        /// The failed write, with its file.
        cause: String,
        run_dir: PathBuf,
        /// The epoch of the last whole checkpoint, 0 when none.
        kept: usize,
    },

    #[error("data loader: {0}")]
    DataLoader(String),

    #[error("device {device}: {reason}")]
    Device { device: String, reason: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }
}

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code for a run that failed: bad data, a diverged loss, a full disk.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for bad usage, the same as clap's.
pub const EXIT_USAGE: u8 = 2;
/// Exit code after Ctrl-C, as shells report a process ended by SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The exit code for an error that reached `main`: 2 for usage mistakes, 130 after Ctrl-C, 1 for
/// everything else.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<Error>() {
        Some(Error::Usage(_)) => EXIT_USAGE,
        Some(Error::Interrupted { .. }) => EXIT_INTERRUPTED,
        _ => EXIT_FAILURE,
    }
}
