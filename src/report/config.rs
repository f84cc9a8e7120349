//! The parts of `config.toml` that every lab shares. Each lab's config nests these next to its
//! own `[model]` table, and unknown keys are rejected when a run is read back.

use serde::{Deserialize, Serialize};

/// The version of `neurons` that made a run.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which data a run learnt from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `--dataset` name, or the folder given by `--data`.
    pub dataset: String,
    /// Where the data came from: embedded, downloaded, a folder.
    pub origin: String,
    pub train_samples: usize,
    pub test_samples: usize,
}

impl DataConfig {
    /// Loads again the images of a run from this record (to resume it).
    pub fn reload(&self) -> crate::error::Result<crate::data::images::ImageDataset> {
        crate::data::mnist::reload(&self.dataset, self.train_samples, self.test_samples)
    }

    /// The record of an image data set a run learns from.
    pub fn of(data: &crate::data::images::ImageDataset) -> Self {
        Self {
            dataset: data.name.clone(),
            origin: data.origin.clone(),
            train_samples: data.train.len(),
            test_samples: data.test.len(),
        }
    }
}

/// How a network was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    pub seed: u64,
    pub device: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub optimizer: crate::train::optimizer::OptimizerKind,
    pub weight_decay: f64,
    pub lr_schedule: crate::train::schedule::LrSchedule,
    /// Patience of early stopping on the test loss, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<usize>,
    /// Whether `--quick` chose the settings.
    pub quick: bool,
}

impl TrainingConfig {
    /// The settings of the training loop.
    pub fn loop_settings(&self) -> crate::train::fit::LoopSettings {
        crate::train::fit::LoopSettings {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            schedule: self.lr_schedule,
            seed: self.seed,
            early_stopping: self.early_stopping,
        }
    }

    /// The device this run trains on.
    pub fn device(&self) -> crate::error::Result<burn::tensor::Device> {
        let choice: crate::train::DeviceChoice =
            self.device.parse().map_err(crate::error::Error::Usage)?;
        choice.device()
    }
}

/// Just the `lab` key of any `config.toml`, to find which lab made a run.
#[derive(Debug, Clone, Deserialize)]
pub struct LabOfRun {
    pub lab: String,
}
