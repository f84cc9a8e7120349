//! # High dimensional data: a convolutional network (FIDLE MNIST2)
//!
//! A convolution slides small learnt filters over the image, (x ⋆ w)[i,j] = Σₘₙ x[i+m, j+n]·w[m,n] + b,
//! so that one filter finds its pattern anywhere; max-pooling keeps the strongest answer of each
//! 2×2 patch; dropout silences a random share of neurons while training. Then dense layers
//! classify: ŷ = softmax(W·features + b), L = −Σₖ yₖ log ŷₖ.
//!
//! FIDLE's network: Conv 8 3×3 → MaxPool → Dropout 0.2 → Conv 16 3×3 → MaxPool → Dropout 0.2 →
//! Dense 100 → Dropout 0.5 → Dense 10 (`--width K` multiplies the channel counts). Data: the
//! embedded `mnist-10k` by default, `--dataset mnist|fashion-mnist`, `--data DIR`. Expected: 0.9785
//! test accuracy on `mnist-10k` (seed 1, 30 epochs, about 9 s on 2 cores); `--quick` about 0.85
//! in a second.

use std::path::PathBuf;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{LabInfo, RunOptions, TrainingDefaults};
use crate::data::images::{ImageDataset, images_tensor};
use crate::data::mnist;
use crate::error::{Error, Result};
use crate::kernels::{conv2d_relu, dropout, max_pool2d};
use crate::report::config::{DataConfig, TrainingConfig, VERSION};
use crate::report::picture::{GreyImage, image_grid, pixel_grid};
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::classify::{self, ImageClassifier, Judge, train_classifier};
use crate::train::optimizer::OptimizerKind;
use crate::train::schedule::LrSchedule;

pub const INFO: LabInfo = LabInfo {
    name: "cnn",
    chapter: "High dimensional data: CNN (FIDLE MNIST2)",
    dataset: "mnist-10k",
    shows: "convolutions learn their own filters and read digits better than dense layers",
    flags: &[
        "--width",
        "--optimizer",
        "--weight-decay",
        "--lr-schedule",
        "--early-stopping",
    ],
};

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnConfig {
    pub lab: String,
    pub neurons_version: String,
    pub data: DataConfig,
    pub training: TrainingConfig,
    pub model: CnnModelConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnModelConfig {
    pub image_size: [usize; 2],
    /// Channels of the two convolutions (FIDLE: 8 and 16, times `--width`).
    pub channels: [usize; 2],
    pub dense: usize,
    pub classes: Vec<String>,
    /// Mean and standard deviation of the training pixels (in 0..=1), used to standardize inputs.
    pub input_mean: f32,
    pub input_std: f32,
}

/// FIDLE trains 16 epochs on 60,000 images; `mnist-10k` has 8,000, so more epochs of them.
const DEFAULTS: TrainingDefaults = TrainingDefaults {
    epochs: 30,
    quick_epochs: 3,
    batch_size: 64,
    learning_rate: 1e-3,
    optimizer: OptimizerKind::Adam,
    schedule: LrSchedule::Constant,
};
const QUICK_TRAIN: usize = 3000;
const QUICK_TEST: usize = 500;

// --- Model -------------------------------------------------------------------------------------

#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    dropout_conv: Dropout,
    dense: Linear,
    dropout_dense: Dropout,
    output: Linear,
    activation: Relu,
    input_mean: f32,
    input_std: f32,
}

impl CnnModelConfig {
    /// The side of the feature maps after conv 3×3 (valid) and pool 2, twice.
    fn flat_features(&self) -> usize {
        let side = |s: usize| ((s - 2) / 2 - 2) / 2;
        self.channels[1] * side(self.image_size[0]) * side(self.image_size[1])
    }

    pub fn init(&self, device: &Device) -> Cnn {
        Cnn {
            conv1: Conv2dConfig::new([1, self.channels[0]], [3, 3]).init(device),
            conv2: Conv2dConfig::new([self.channels[0], self.channels[1]], [3, 3]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            dropout_conv: DropoutConfig::new(0.2).init(),
            dense: LinearConfig::new(self.flat_features(), self.dense).init(device),
            dropout_dense: DropoutConfig::new(0.5).init(),
            output: LinearConfig::new(self.dense, self.classes.len()).init(device),
            activation: Relu::new(),
            input_mean: self.input_mean,
            input_std: self.input_std,
        }
    }
}

impl Cnn {
    /// The first convolution's feature maps after ReLU: `[batch, channels₁, 26, 26]`.
    pub fn first_feature_maps(&self, images: Tensor<4>) -> Tensor<4> {
        // standardized with the training set's statistics: x ← (x − μ)/σ
        let images = (images - self.input_mean) / self.input_std;
        conv2d_relu(&self.conv1, images)
    }
}

impl Cnn {
    /// The dense layer's activations, before the output: `[batch, 100]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.first_feature_maps(images); // [batch, c₁, 26, 26]
        let x = dropout(&self.dropout_conv, max_pool2d(&self.pool, x)); // [batch, c₁, 13, 13]
        let x = conv2d_relu(&self.conv2, x); // [batch, c₂, 11, 11]
        let x = dropout(&self.dropout_conv, max_pool2d(&self.pool, x)); // [batch, c₂, 5, 5]
        let x: Tensor<2> = x.flatten(1, 3); // [batch, c₂·25]
        self.activation.forward(self.dense.forward(x)) // [batch, 100]
    }
}

impl ImageClassifier for Cnn {
    /// `[batch, 1, 28, 28]` → logits `[batch, classes]`
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.output
            .forward(dropout(&self.dropout_dense, self.features(images)))
    }
}

/// A trained CNN run, judging generated digits.
struct CnnJudge {
    model: Cnn,
    device: Device,
}

impl Judge for CnnJudge {
    fn judge(&self, images: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<Vec<f64>>) {
        let features = self
            .model
            .features(images_tensor(images, 28, 28, &self.device));
        let [_, width] = features.dims();
        let logits = self.model.output.forward(features.clone());
        let [_, classes] = logits.dims();
        let p: Vec<f32> = burn::tensor::activation::softmax(logits, 1)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        let f: Vec<f32> = features
            .into_data()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        (
            p.chunks(classes).map(<[f32]>::to_vec).collect(),
            f.chunks(width)
                .map(|c| c.iter().map(|&v| v as f64).collect())
                .collect(),
        )
    }
}

/// Loads a finished `cnn` run as a judge of generated digits.
pub fn load_judge(run: &RunDir) -> Result<Box<dyn Judge>> {
    let config: CnnConfig = run.read_toml("config.toml")?;
    if config.model.image_size != [28, 28] || config.model.classes.len() != 10 {
        return Err(Error::BadRunDir {
            path: run.file("config.toml"),
            reason: "a judge must classify 28×28 images into 10 classes".to_string(),
        });
    }
    let device = Device::flex();
    let model = run.load_weights("model.bpk", config.model.init(&device))?;
    Ok(Box::new(CnnJudge { model, device }))
}

// --- Training ----------------------------------------------------------------------------------

pub fn run(options: &RunOptions, run: &RunDir, console: &Console) -> Result<Summary> {
    let quick = options.quick.then_some((QUICK_TRAIN, QUICK_TEST));
    let data = mnist::choose_subset(options.dataset.as_deref(), options.data.as_deref(), quick)?;
    let width = options.lab_args.width.unwrap_or(1);
    if width == 0 || data.train.rows < 14 || data.train.cols < 14 {
        return Err(Error::Usage(
            "--width must be at least 1, and images at least 14×14".to_string(),
        ));
    }
    let (input_mean, input_std) = data.train.pixel_statistics();
    let config = CnnConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        data: DataConfig::of(&data),
        training: options.training(&DEFAULTS),
        model: CnnModelConfig {
            image_size: [data.train.rows, data.train.cols],
            channels: [8 * width, 16 * width],
            dense: 100,
            classes: data.classes.clone(),
            input_mean,
            input_std,
        },
    };
    run.write_toml("config.toml", &config)?;
    train(&config, &data, run, console, false)
}

/// Continues a run from its last checkpoint, with the settings of its `config.toml`.
pub fn resume(run: &RunDir, console: &Console) -> Result<Summary> {
    let config: CnnConfig = run.read_toml("config.toml")?;
    let data = config.data.reload()?;
    train(&config, &data, run, console, true)
}

fn train(
    config: &CnnConfig,
    data: &ImageDataset,
    run: &RunDir,
    console: &Console,
    resume: bool,
) -> Result<Summary> {
    let outcome = train_classifier(
        INFO.name,
        "CNN",
        data,
        &config.training,
        |device| config.model.init(device),
        run,
        console,
        resume,
    )?;
    draw_filters(run, &outcome.model, data)?;
    Ok(outcome.summary)
}

// --- Predict -----------------------------------------------------------------------------------

pub fn predict(run: &RunDir, inputs: &[PathBuf]) -> Result<Vec<String>> {
    let config: CnnConfig = run.read_toml("config.toml")?;
    let device = Device::flex();
    let model = run.load_weights("model.bpk", config.model.init(&device))?;
    classify::predict_images(
        &model,
        &config.model.classes,
        config.model.image_size,
        inputs,
        &device,
    )
}

// --- Pictures ----------------------------------------------------------------------------------

/// `filters.png`: the first layer's 3×3 filters; `feature-maps.png`: a test digit and what each
/// of those filters sees in it.
fn draw_filters(run: &RunDir, model: &Cnn, data: &ImageDataset) -> Result<()> {
    let weights: Vec<f32> = model
        .conv1
        .weight
        .val()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap_or_default();
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
    let values: Vec<f32> = maps.into_data().try_into_vec::<f32>().unwrap_or_default();
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
