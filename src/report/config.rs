//! What every `config.toml` holds whatever the lab: the version that wrote it and the lab's name.
//! The tables a deep lab nests beside its `[model]` are [`crate::data::mnist::DataConfig`] and
//! [`crate::train::config::TrainingConfig`]; unknown keys are rejected when a run is read back.

use serde::Deserialize;

/// The version of `neurons` that made a run.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Just the `lab` key of any `config.toml`, to find which lab made a run.
#[derive(Debug, Clone, Deserialize)]
pub struct LabOfRun {
    pub lab: String,
}
