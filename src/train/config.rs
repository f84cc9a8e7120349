//! The `[training]` table of a deep lab's `config.toml`: the settings of the training loop, and the
//! defaults a lab gives them.

use serde::{Deserialize, Serialize};

use super::DeviceChoice;
use super::fit::LoopSettings;
use super::optimizer::OptimizerKind;
use super::schedule::LrSchedule;

/// How a network was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    pub seed: u64,
    pub device: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub optimizer: OptimizerKind,
    pub weight_decay: f64,
    pub lr_schedule: LrSchedule,
    /// Patience of early stopping on the watched (validation or test) loss, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<usize>,
    /// Whether `--quick` chose the settings.
    pub quick: bool,
}

impl TrainingConfig {
    /// The settings of the training loop.
    pub fn loop_settings(&self) -> LoopSettings {
        LoopSettings {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            schedule: self.lr_schedule,
            seed: self.seed,
            early_stopping: self.early_stopping,
        }
    }

    /// Refuses settings no training can run with (a `config.toml` edited by hand, or damaged),
    /// naming the file and the field, before any tensor is built.
    pub fn validate(&self, file: &std::path::Path) -> crate::error::Result<()> {
        let bad = |field: &str, reason: String| {
            Err(crate::error::Error::BadRunDir {
                path: file.to_path_buf(),
                reason: format!("[training] {field}: {reason}"),
            })
        };
        if !(1..=limits::MAX_EPOCHS).contains(&self.epochs) {
            return bad(
                "epochs",
                format!("{}; from 1 to {}", self.epochs, limits::MAX_EPOCHS),
            );
        }
        if !(1..=limits::MAX_BATCH_SIZE).contains(&self.batch_size) {
            return bad(
                "batch_size",
                format!("{}; from 1 to {}", self.batch_size, limits::MAX_BATCH_SIZE),
            );
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(
                "learning_rate",
                format!("{}; a positive number", self.learning_rate),
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                format!("{}; a number ≥ 0", self.weight_decay),
            );
        }
        if self.early_stopping == Some(0) {
            return bad("early_stopping", "0; at least 1".to_string());
        }
        Ok(())
    }

    /// The device this run trains on.
    pub fn device(&self) -> crate::error::Result<burn::tensor::Device> {
        let choice: DeviceChoice = self.device.parse().map_err(crate::error::Error::Usage)?;
        choice.device()
    }
}

/// A deep lab's default training settings, which the command line may override.
#[derive(Debug, Clone, Copy)]
pub struct TrainingDefaults {
    pub epochs: usize,
    pub quick_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub optimizer: OptimizerKind,
    pub weight_decay: f64,
    pub schedule: LrSchedule,
}

impl TrainingDefaults {
    /// Adam with η = 10⁻³ at a constant rate, the choice of most of FIDLE's notebooks: only the
    /// number of epochs (full and `--quick`) and the batch size differ between labs.
    pub const fn adam(epochs: usize, quick_epochs: usize, batch_size: usize) -> Self {
        Self {
            epochs,
            quick_epochs,
            batch_size,
            learning_rate: 1e-3,
            optimizer: OptimizerKind::Adam,
            weight_decay: 0.0,
            schedule: LrSchedule::Constant,
        }
    }

    /// The settings these defaults give a run of `seed` on `device`, nothing overridden.
    pub fn config(&self, seed: u64, device: &str, quick: bool) -> TrainingConfig {
        TrainingConfig {
            seed,
            device: device.to_string(),
            epochs: if quick {
                self.quick_epochs
            } else {
                self.epochs
            },
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            optimizer: self.optimizer,
            weight_decay: self.weight_decay,
            lr_schedule: self.schedule,
            early_stopping: None,
            quick,
        }
    }
}

/// The bounds on sizes, kept with the data (the lowest layer that checks them).
pub use crate::data::limits;

/// Checks the fields a network is built from, as read from a run's `config.toml`: each size from
/// 1 to [`limits::MAX_WIDTH`], each rate (a dropout) in 0..1; the error names the first wrong
/// `[model]` field.
pub fn check_model_fields(
    sizes: &[(&str, usize)],
    rates: &[(&str, f64)],
) -> std::result::Result<(), String> {
    if let Some((name, size)) = sizes
        .iter()
        .find(|(_, size)| !(1..=limits::MAX_WIDTH).contains(size))
    {
        return Err(format!(
            "[model] {name}: {size}; from 1 to {}",
            limits::MAX_WIDTH
        ));
    }
    if let Some((name, rate)) = rates.iter().find(|(_, r)| !(0.0..1.0).contains(r)) {
        return Err(format!("[model] {name}: {rate}; a rate in 0..1"));
    }
    Ok(())
}
