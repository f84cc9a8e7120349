//! # Classification with a DNN (FIDLE MNIST1)
//!
//! ŷ = softmax(W₃·relu(W₂·relu(W₁·x + b₁) + b₂) + b₃),   L = −Σₖ yₖ log ŷₖ,   Adam.
//!
//! A dense network of two hidden layers of 100 neurons learns to read handwritten digits from
//! their 784 pixels alone. Data: the embedded `mnist-10k` by default (8,000 train, 2,000 test),
//! `--dataset mnist|fashion-mnist` or `--data DIR`. Expected: `--quick` ≈ 0.85 test accuracy in a
//! few seconds; the defaults ≥ 0.95 on `mnist-10k` (FIDLE reaches 0.978 on the full MNIST).

use std::path::PathBuf;

use super::common::classifier::{self, ClassifierConfig};
use super::{LabInfo, LabSpec, PredictRequest, Reference, RunOptions, TrainingArgs};
use crate::data::images::ImageShape;
use crate::data::mnist;
use crate::error::Result;
use crate::models::mlp::MlpModelConfig;
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::config::TrainingDefaults;

pub const INFO: LabInfo = LabInfo {
    name: "mlp-classifier",
    chapter: "Classification with a DNN (FIDLE MNIST1)",
    dataset: "mnist-10k",
    shows: "a dense network with two hidden layers learns to read handwritten digits",
    formula: "ŷ = softmax(W₃·relu(W₂·relu(W₁x + b₁) + b₂) + b₃),  L = −Σ yₖ log ŷₖ",
    reference: Reference {
        dataset: "mnist-10k",
        metric: "accuracy",
        expected: 0.96,
        higher_is_better: true,
        compared_with: "FIDLE MNIST1: 97.8% on the full MNIST",
    },
};

/// The flags of `neurons run mlp-classifier`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub training: TrainingArgs,
}

pub struct MlpClassifierLab;

impl LabSpec for MlpClassifierLab {
    const INFO: LabInfo = INFO;
    type Options = Options;

    fn run(
        options: &RunOptions,
        args: &Options,
        dir: &RunDir,
        console: &Console,
    ) -> Result<Summary> {
        run(options, args, dir, console)
    }

    fn check(options: &RunOptions, args: &Options) -> Result<()> {
        args.training.validate()?;
        mnist::check_choice(
            options.dataset.as_deref(),
            options.data.as_deref(),
            INFO.name,
            ImageShape::Any,
        )
    }

    fn resume(dir: &RunDir, console: &Console) -> Result<Summary> {
        resume(dir, console)
    }

    fn predict(dir: &RunDir, request: &PredictRequest) -> Result<Vec<String>> {
        predict(dir, request.files(INFO.name)?)
    }

    fn serve(dir: &RunDir) -> Result<Box<dyn super::Served>> {
        classifier::served::<MlpModelConfig>(dir)
    }
}

/// The run's `config.toml`.
pub type MlpClassifierConfig = ClassifierConfig<MlpModelConfig>;

/// Default settings: FIDLE's MNIST1 (Adam, learning rate 1e-3) with smaller batches, since
/// `mnist-10k` has a sixth of MNIST's images and needs more steps per epoch. Standardizing the
/// pixels (rather than FIDLE's x/255 alone) is what lifts `mnist-10k` reliably above 95%.
const DEFAULTS: TrainingDefaults = TrainingDefaults::adam(20, 4, 64);
/// `--quick`: a subset, done in a fraction of a second.
const QUICK_TRAIN: usize = 2000;
const QUICK_TEST: usize = 500;

// --- Training ----------------------------------------------------------------------------------

pub fn run(
    options: &RunOptions,
    args: &Options,
    run: &RunDir,
    console: &Console,
) -> Result<Summary> {
    let quick = options.quick.then_some((QUICK_TRAIN, QUICK_TEST));
    let data = mnist::choose_subset(options.dataset.as_deref(), options.data.as_deref(), quick)?;
    let (input_mean, input_std) = data.train.pixel_statistics();
    let config = MlpClassifierConfig::new(
        INFO.name,
        &data,
        options.training(&args.training, &DEFAULTS),
        MlpModelConfig {
            image_size: [data.train.rows, data.train.cols],
            hidden: vec![100, 100],
            classes: data.classes.clone(),
            input_mean,
            input_std,
        },
    );
    run.write_toml("config.toml", &config)?;
    Ok(classifier::train(&config, TITLE, &data, run, console, false)?.summary)
}

/// Continues a run from its last checkpoint, with the settings of its `config.toml`.
pub fn resume(run: &RunDir, console: &Console) -> Result<Summary> {
    let (config, data) = classifier::reload::<MlpModelConfig>(run)?;
    Ok(classifier::train(&config, TITLE, &data, run, console, true)?.summary)
}

/// The network's name in the pictures.
const TITLE: &str = "MLP classifier";

// --- Predict -----------------------------------------------------------------------------------

/// Classifies each input (a picture of a digit, or an IDX file of images) with a run's model.
pub fn predict(run: &RunDir, inputs: &[PathBuf]) -> Result<Vec<String>> {
    classifier::predict::<MlpModelConfig>(run, inputs)
}
