//! The registry of labs: one per system of the lecture, each in its own file.
//!
//! A lab has a name, the slide it comes from, a default data set, and a `run` that trains it into
//! a run directory; some also `predict`. Nothing here knows how any lab works inside.

pub mod mlp_classifier;

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::report::config::LabOfRun;
use crate::report::{RunDir, Summary};
use crate::train::{Console, DeviceChoice};

/// Every lab that `neurons run` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lab {
    /// Classification with a DNN: dense layers read handwritten digits
    MlpClassifier,
}

/// What `neurons list` shows of a lab.
#[derive(Debug, Clone, Copy)]
pub struct LabInfo {
    pub name: &'static str,
    /// The lecture's slide (and FIDLE notebook) it comes from.
    pub chapter: &'static str,
    pub dataset: &'static str,
    /// One sentence on what it shows.
    pub shows: &'static str,
}

/// The settings of `neurons run` that every lab understands; `None` means the lab's default.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub lr_schedule: Option<crate::train::schedule::LrSchedule>,
    pub seed: u64,
    pub device: DeviceChoice,
    pub dataset: Option<String>,
    pub data: Option<PathBuf>,
    pub quick: bool,
}

impl Lab {
    pub const ALL: [Lab; 1] = [Lab::MlpClassifier];

    pub fn info(self) -> LabInfo {
        match self {
            Lab::MlpClassifier => mlp_classifier::INFO,
        }
    }

    /// Trains the lab into `run`, returning what goes into `summary.json`.
    pub fn run(self, options: &RunOptions, run: &RunDir, console: &Console) -> Result<Summary> {
        match self {
            Lab::MlpClassifier => mlp_classifier::run(options, run, console),
        }
    }

    /// Predicts every input with a run's model, one line each.
    pub fn predict(self, run: &RunDir, inputs: &[PathBuf]) -> Result<Vec<String>> {
        match self {
            Lab::MlpClassifier => mlp_classifier::predict(run, inputs),
        }
    }

    /// The lab that made a run, read from its `config.toml`.
    pub fn of_run(run: &RunDir) -> Result<Lab> {
        let LabOfRun { lab } = run.read_toml("config.toml")?;
        Lab::ALL
            .into_iter()
            .find(|l| l.info().name == lab)
            .ok_or_else(|| Error::BadRunDir {
                path: run.file("config.toml"),
                reason: format!("unknown lab {lab:?}"),
            })
    }
}
