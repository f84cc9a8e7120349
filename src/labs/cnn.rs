//! # High dimensional data: a convolutional network (FIDLE MNIST2)
//!
//! A convolution slides small learnt filters over the image, (x ⋆ w)[i,j] = Σₘₙ x[i+m, j+n]·w[m,n] + b,
//! so that one filter finds its pattern anywhere; max-pooling keeps the strongest answer of each
//! 2×2 patch; dropout silences a random share of neurons while training. Then dense layers
//! classify: ŷ = softmax(W·features + b), L = −Σₖ yₖ log ŷₖ.
//!
//! FIDLE's network: Conv 8 3×3 → MaxPool → Dropout 0.2 → Conv 16 3×3 → MaxPool → Dropout 0.2 →
//! Dense 100 → Dropout 0.5 → Dense 10 (`--width K` multiplies the channel counts). Data: the
//! embedded `mnist-10k` by default, `--dataset mnist|fashion-mnist`, `--data DIR`. Expected: 0.9775
//! test accuracy on `mnist-10k` (seed 1, 30 epochs, about 9 s on 2 cores; seeds 2, 3: 0.9825, 0.978); `--quick` about 0.85
//! in a second.

use std::path::PathBuf;

use burn::tensor::Device;

use super::common::classifier::{self, ClassifierConfig};
use super::{LabInfo, LabSpec, PredictRequest, Reference, RunOptions, TrainingArgs};
use crate::data::images::{ImageDataset, ImageShape, images_tensor};
use crate::data::mnist;
use crate::error::Result;
use crate::models::cnn::{Cnn, CnnModelConfig};
use crate::report::picture::{GreyImage, image_grid, pixel_grid};
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::FloatValues;
use crate::train::config::TrainingDefaults;

pub const INFO: LabInfo = LabInfo {
    name: "cnn",
    chapter: "High dimensional data: CNN (FIDLE MNIST2)",
    dataset: "mnist-10k",
    shows: "convolutions learn their own filters and read digits better than dense layers",
    formula: "(x ⋆ w)[i,j] = Σₘₙ x[i+m, j+n]·w[m,n] + b, max-pool, dense, softmax",
    reference: Reference {
        dataset: "mnist-10k",
        metric: "accuracy",
        expected: 0.9775,
        higher_is_better: true,
        compared_with: "the mlp-classifier's dense layers: 96.0%",
    },
};

/// The flags of `neurons run cnn`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub training: TrainingArgs,
    /// Multiply the CNN's channel counts by K
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub width: Option<usize>,
}

pub struct CnnLab;

impl LabSpec for CnnLab {
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
        // 8·64 and 16·64 channels: 512 and 1024
        super::within("--width", args.width, 1..=64)?;
        mnist::check_choice(
            options.dataset.as_deref(),
            options.data.as_deref(),
            INFO.name,
            ImageShape::AtLeast(14, 14),
        )
    }

    fn resume(dir: &RunDir, console: &Console) -> Result<Summary> {
        resume(dir, console)
    }

    fn predict(dir: &RunDir, request: &PredictRequest) -> Result<Vec<String>> {
        predict(dir, request.files(INFO.name)?)
    }

    fn serve(dir: &RunDir) -> Result<Box<dyn super::Served>> {
        classifier::served::<CnnModelConfig>(dir)
    }
}

// --- Config ------------------------------------------------------------------------------------

/// The run's `config.toml`.
pub type CnnConfig = ClassifierConfig<CnnModelConfig>;

/// FIDLE trains 16 epochs on 60,000 images; `mnist-10k` has 8,000, so more epochs of them.
const DEFAULTS: TrainingDefaults = TrainingDefaults::adam(30, 3, 64);
const QUICK_TRAIN: usize = 3000;
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
    let width = args.width.unwrap_or(1);
    let config = CnnConfig::new(
        INFO.name,
        &data,
        options.training(&args.training, &DEFAULTS),
        CnnModelConfig::fidle(
            [data.train.rows, data.train.cols],
            data.classes.clone(),
            data.train.pixel_statistics(),
            width,
        ),
    );
    run.write_toml("config.toml", &config)?;
    train(&config, &data, run, console, false)
}

/// Continues a run from its last checkpoint, with the settings of its `config.toml`.
pub fn resume(run: &RunDir, console: &Console) -> Result<Summary> {
    let (config, data) = classifier::reload::<CnnModelConfig>(run)?;
    train(&config, &data, run, console, true)
}

fn train(
    config: &CnnConfig,
    data: &ImageDataset,
    run: &RunDir,
    console: &Console,
    resume: bool,
) -> Result<Summary> {
    let outcome = classifier::train(config, "CNN", data, run, console, resume)?;
    draw_filters(run, &outcome.model, data)?;
    Ok(outcome.summary)
}

// --- Predict -----------------------------------------------------------------------------------

pub fn predict(run: &RunDir, inputs: &[PathBuf]) -> Result<Vec<String>> {
    classifier::predict::<CnnModelConfig>(run, inputs)
}

// --- Pictures ----------------------------------------------------------------------------------

/// `filters.png`: the first layer's 3×3 filters; `feature-maps.png`: a test digit and what each
/// of those filters sees in it.
fn draw_filters(run: &RunDir, model: &Cnn, data: &ImageDataset) -> Result<()> {
    let weights: Vec<f32> = model.conv1.weight.val().floats();
    let filters: Vec<Vec<f32>> = weights.chunks(9).map(stretch).collect();
    let captions: Vec<String> = (1..=filters.len()).map(|k| format!("filter {k}")).collect();
    pixel_grid(
        &run.file("filters.png"),
        &filters,
        (3, 3),
        8,
        24,
        Some(&captions),
    )?;

    let device = Device::flex();
    let digit = data.test.image_f32(0);
    let maps = model.first_feature_maps(images_tensor(
        std::slice::from_ref(&digit),
        data.test.rows,
        data.test.cols,
        &device,
    ));
    let [_, channels, h, w] = maps.dims();
    let values: Vec<f32> = maps.floats();
    let mut pictures = vec![digit];
    pictures.extend(values.chunks(h * w).take(channels).map(stretch));
    let images: Vec<GreyImage> = pictures
        .iter()
        .enumerate()
        .map(|(k, p)| {
            if k == 0 {
                GreyImage {
                    width: data.test.cols,
                    height: data.test.rows,
                    pixels: p,
                }
            } else {
                GreyImage {
                    width: w,
                    height: h,
                    pixels: p,
                }
            }
        })
        .collect();
    let captions: Vec<String> = std::iter::once("input".to_string())
        .chain((1..=channels).map(|k| format!("map {k}")))
        .collect();
    image_grid(
        &run.file("feature-maps.png"),
        &images,
        9.min(images.len()),
        3,
        Some(&captions),
    )
}

/// Values stretched to 0..=1 for display.
fn stretch(values: &[f32]) -> Vec<f32> {
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    values
        .iter()
        .map(|v| (v - lo) / (hi - lo).max(1e-12))
        .collect()
}
