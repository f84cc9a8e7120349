//! # pix2pix: image-to-image translation with a conditional GAN (Isola et al. 2017)
//!
//! The GAN slides show what adversarial training is for: a generator G that turns one picture
//! into another, here the outline of a digit x (Sobel gradient magnitude above a threshold) into
//! the digit y itself. A discriminator D sees pairs (x, y) and tells, patch by patch, the real
//! pairs from (x, G(x)):
//!
//!   L_D = ½ [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)]
//!   L_G = BCE(D(x, G(x)), 1) + λ·‖y − G(x)‖₁,   λ = 100 as in the paper
//!
//! The L1 term alone already draws the right digit, but greyer where it hesitates (the median of
//! the digits that could have that outline); the adversarial term pushes G to commit to one sharp
//! stroke. The baseline, the same U-Net trained with L1 alone, is trained first in the same run
//! (`<run>/l1-only`). Both are measured on the test digits: L1 error, the judge's accuracy, and the
//! sharpness (mean Sobel gradient magnitude) against the real digits'. Expected with the defaults
//! (10 epochs each, seed 1, about 85 s on 2 cores with the judge): the judge reads 96.7% of
//! pix2pix's digits (L1 alone: 96.6%); sharpness 0.702 against L1 alone's 0.690, real digits
//! 0.719. On digits an outline leaves little doubt, so the gain is small.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::common::image_to_image::{
    Pairs, PixelLoss, PixelLossTask, Quality, absolute, all_images, apply_in_chunks,
    check_image_lab, choose_data, comparison_grid, draw_training, grey_levels_chart, judge_of,
    judge_record, one_of_each_class, predict_picture, train_baseline, write_example,
};
use super::{LabInfo, LabSpec, PredictRequest, Reference, RunOptions, TrainingArgs};
use crate::data::degrade;
use crate::data::imageops;
use crate::data::images::{ImageBatch, ImageDataset};
use crate::data::mnist::DataConfig;
use crate::error::{Error, Result};
use crate::models::pix2pix::{AdversarialPair, PatchGanConfig, UNet, UNetConfig};
use crate::report::config::VERSION;
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::config::{TrainingConfig, TrainingDefaults};
use crate::train::fit::{BatchOutcome, Supervised, train_model};

pub const INFO: LabInfo = LabInfo {
    name: "pix2pix",
    chapter: "GAN applications: image-to-image translation (Isola et al. 2017)",
    dataset: "mnist-10k",
    shows: "a U-Net that draws a digit from its outline, sharper with a patch discriminator than with L1 alone",
    formula: "L_G = BCE(D(x, G(x)), 1) + λ·‖y − G(x)‖₁,  λ = 100",
    reference: Reference {
        dataset: "mnist-10k",
        metric: "judge_accuracy",
        expected: 0.9665,
        higher_is_better: true,
        compared_with: "the same U-Net with L1 alone, in the same run: 0.967 (sharpness 0.696 against 0.702)",
    },
};

/// λ of the paper.
const L1_WEIGHT: f64 = 100.0;
/// The Sobel magnitude above which a pixel is outline (a stroke edge from 0 to 1 gives up to 4).
const OUTLINE_THRESHOLD: f64 = 1.0;
/// The blur of `--task blur`, in pixels: strokes 2 pixels wide spread over about 10.
const BLUR_SIGMA: f64 = 2.0;

/// What the generator is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// The digit's outline: 1 where its Sobel gradient exceeds a threshold
    #[default]
    Outline,
    /// The digit blurred by a Gaussian
    Blur,
}

impl Task {
    /// What the generator's input is called in pictures and messages.
    pub fn input_name(self) -> &'static str {
        match self {
            Self::Outline => "outline",
            Self::Blur => "blurred",
        }
    }
}

/// The flags of `neurons run pix2pix`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub training: TrainingArgs,
    /// What to translate into the digit: its outline, or the digit heavily blurred
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// Train the U-Net with the L1 loss alone (the baseline), and no discriminator
    #[arg(long)]
    pub l1_only: bool,
    /// Weight λ of the L1 term [default: 100]
    #[arg(long, value_name = "LAMBDA", allow_negative_numbers = true)]
    pub l1_weight: Option<f64>,
    /// A finished cnn run to judge the digits with (default: train one into <run>/judge)
    #[arg(long, value_name = "RUN_DIR")]
    pub judge: Option<PathBuf>,
}

pub struct Pix2PixLab;

impl LabSpec for Pix2PixLab {
    const INFO: LabInfo = INFO;
    type Options = Options;

    fn run(
        options: &RunOptions,
        args: &Options,
        dir: &RunDir,
        console: &Console,
    ) -> Result<Summary> {
        let data = choose_data(options)?;
        let config = Pix2PixRunConfig {
            lab: INFO.name.to_string(),
            neurons_version: VERSION.to_string(),
            data: DataConfig::of(&data),
            training: options.training(&args.training, &DEFAULTS),
            model: Pix2PixModel {
                generator: UNetConfig { channels: 16 },
                discriminator: PatchGanConfig {
                    in_channels: 2,
                    channels: 32,
                },
                task: args.task.unwrap_or_default(),
                outline_threshold: OUTLINE_THRESHOLD,
                blur_sigma: BLUR_SIGMA,
                l1_weight: args.l1_weight.unwrap_or(L1_WEIGHT),
                l1_only: args.l1_only,
            },
            judge: absolute(args.judge.as_deref())?,
        };
        dir.write_toml("config.toml", &config)?;
        train(&config, &data, dir, console, false)
    }

    fn check(options: &RunOptions, args: &Options) -> Result<()> {
        if let Some(lambda) = args.l1_weight
            && !(lambda.is_finite() && (0.0..=1e4).contains(&lambda))
        {
            return Err(Error::Usage(format!(
                "--l1-weight {lambda}: a number from 0 to 10000"
            )));
        }
        if args.l1_only && args.l1_weight.is_some() {
            return Err(Error::Usage(
                "--l1-weight weighs L1 against the adversarial loss; with --l1-only there is none"
                    .to_string(),
            ));
        }
        check_image_lab(INFO.name, options, &args.training, args.judge.as_deref())
    }

    fn resume(dir: &RunDir, console: &Console) -> Result<Summary> {
        let config = read_config(dir)?;
        let data = config.data.reload(&dir.file("config.toml"))?;
        train(&config, &data, dir, console, true)
    }

    /// `neurons predict --run DIR outline.png --out digit.png` (a blurred digit with `--task blur`).
    fn predict(dir: &RunDir, request: &PredictRequest) -> Result<Vec<String>> {
        let config = read_config(dir)?;
        let device = Device::flex();
        let generator = load_generator(dir, &config, &device)?;
        predict_picture(request, INFO.name, (28, 28), |inputs| {
            apply_in_chunks(inputs, (28, 28), &device, |x| generator.forward(x))
        })
    }
}

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pix2PixModel {
    pub generator: UNetConfig,
    pub discriminator: PatchGanConfig,
    pub task: Task,
    pub outline_threshold: f64,
    pub blur_sigma: f64,
    /// λ: the weight of L1 against the adversarial loss.
    pub l1_weight: f64,
    /// The baseline: L1 alone, no discriminator.
    pub l1_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pix2PixRunConfig {
    pub lab: String,
    pub neurons_version: String,
    pub data: DataConfig,
    pub training: TrainingConfig,
    pub model: Pix2PixModel,
    /// The cnn run given with `--judge`; none when the judge is trained into `<run>/judge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<PathBuf>,
}

const DEFAULTS: TrainingDefaults = TrainingDefaults {
    learning_rate: 5e-4,
    ..TrainingDefaults::adam(10, 4, 64)
};

fn read_config(run: &RunDir) -> Result<Pix2PixRunConfig> {
    let config: Pix2PixRunConfig = run.read_toml("config.toml")?;
    let bad = |reason: String| Error::BadRunDir {
        path: run.file("config.toml"),
        reason,
    };
    config.training.validate(&run.file("config.toml"))?;
    let table = |name: &'static str| move |reason: String| bad(reason.replacen("[model]", name, 1));
    config
        .model
        .generator
        .validate()
        .map_err(table("[model.generator]"))?;
    config
        .model
        .discriminator
        .validate()
        .map_err(table("[model.discriminator]"))?;
    let model = &config.model;
    if model.discriminator.in_channels != 2 {
        return Err(bad(format!(
            "[model.discriminator] in_channels: {}; 2 (the input and the digit)",
            model.discriminator.in_channels
        )));
    }
    for (field, value, range) in [
        ("outline_threshold", model.outline_threshold, 0.0..=4.0),
        ("blur_sigma", model.blur_sigma, 0.1..=10.0),
        ("l1_weight", model.l1_weight, 0.0..=1e4),
    ] {
        if !(value.is_finite() && range.contains(&value)) {
            return Err(bad(format!(
                "[model] {field}: {value}; from {} to {}",
                range.start(),
                range.end()
            )));
        }
    }
    Ok(config)
}

/// A finished run's generator: alone in `model.bpk` for an L1-only run, beside its
/// discriminator otherwise.
fn load_generator(run: &RunDir, config: &Pix2PixRunConfig, device: &Device) -> Result<UNet> {
    let model = &config.model;
    if model.l1_only {
        run.load_weights("model.bpk", model.generator.init(device))
    } else {
        let pair = run.load_weights("model.bpk", init_pair(model, device))?;
        Ok(pair.generator)
    }
}

fn init_pair(model: &Pix2PixModel, device: &Device) -> AdversarialPair<UNet> {
    AdversarialPair {
        generator: model.generator.init(device),
        discriminator: model.discriminator.init(device),
    }
}

// --- Training ----------------------------------------------------------------------------------

impl Pix2PixModel {
    /// The generator's input made from a digit (28×28 floats).
    fn degrade(&self, digit: &[f32]) -> Vec<f32> {
        match self.task {
            Task::Outline => imageops::outline(digit, 28, 28, self.outline_threshold as f32),
            Task::Blur => imageops::gaussian_blur(digit, 28, 28, self.blur_sigma as f32),
        }
    }

    /// The generator's inputs made from a batch of digits, on their device (the same formulas
    /// as [`Pix2PixModel::degrade`]).
    fn degrade_batch(&self, digits: Tensor<4>) -> Tensor<4> {
        match self.task {
            Task::Outline => degrade::outline(digits, self.outline_threshold as f32),
            Task::Blur => degrade::gaussian_blur(digits, self.blur_sigma as f32),
        }
    }
}

/// pix2pix: G and D trained together.
struct Adversarial<'a> {
    pairs: &'a Pairs<'a>,
    l1_weight: f64,
}

const METRICS: [&str; 3] = ["l1", "discriminator_loss", "generator_loss"];

impl Adversarial<'_> {
    /// (loss, Σ L1 per pixel, L_D, adversarial L_G) of a batch of digits.
    fn losses(
        &self,
        pair: &AdversarialPair<UNet>,
        digits: Tensor<4>,
    ) -> (Tensor<1>, f64, f32, f32) {
        let inputs = (self.pairs.degrade)(digits.clone());
        let loss = pair.pix2pix_loss(inputs, digits.clone(), self.l1_weight);
        (
            loss.total,
            PixelLoss::L1.sum(loss.generated, digits),
            loss.discriminator.into_scalar::<f32>(),
            loss.adversarial.into_scalar::<f32>(),
        )
    }
}

impl Supervised for Adversarial<'_> {
    type Model = AdversarialPair<UNet>;
    type Batch = ImageBatch;

    fn metric_names(&self) -> &'static [&'static str] {
        &METRICS
    }

    fn train_len(&self) -> usize {
        self.pairs.train.len()
    }

    fn train_loader(
        &self,
        batch_size: usize,
        shuffle_seed: u64,
        device: &Device,
    ) -> std::sync::Arc<dyn burn::data::dataloader::DataLoader<ImageBatch>> {
        self.pairs.loader(batch_size, shuffle_seed, device)
    }

    fn batch(&self, pair: &AdversarialPair<UNet>, batch: ImageBatch) -> BatchOutcome {
        let size = batch.images.dims()[0];
        let (loss, l1_sum, d, g) = self.losses(pair, batch.images);
        BatchOutcome {
            loss,
            size,
            sums: vec![l1_sum, d as f64 * size as f64, g as f64 * size as f64],
        }
    }

    fn finish(&self, sums: &[f64], samples: usize) -> Vec<f64> {
        sums.iter().map(|s| s / samples.max(1) as f64).collect()
    }

    fn validate(&self, pair: &AdversarialPair<UNet>, device: &Device) -> Result<(f64, Vec<f64>)> {
        let (mut l1, mut d, mut g, mut total) = (0.0, 0.0, 0.0, 0.0);
        for (_, digits) in self.pairs.test_chunks(device) {
            let n = digits.dims()[0] as f64;
            let (loss, l1_sum, value_d, value_g) = self.losses(pair, digits);
            total += loss.into_scalar::<f32>() as f64 * n;
            l1 += l1_sum;
            d += value_d as f64 * n;
            g += value_g as f64 * n;
        }
        let n = self.pairs.test_targets.len().max(1) as f64;
        Ok((total / n, vec![l1 / n, d / n, g / n]))
    }
}

fn train(
    config: &Pix2PixRunConfig,
    data: &ImageDataset,
    run: &RunDir,
    console: &Console,
    resume: bool,
) -> Result<Summary> {
    let (training, model) = (&config.training, &config.model);
    let (judge, judge_accuracy) = judge_of(
        run,
        config.judge.as_deref(),
        data,
        training,
        console,
        resume,
    )?;
    console.line(&format!(
        "{}: {} train / {} test digits from {}, {} → digit, {}, {} epochs of batches of {}",
        INFO.name,
        data.train.len(),
        data.test.len(),
        data.name,
        model.task.input_name(),
        if model.l1_only {
            "L1 alone".to_string()
        } else {
            format!(
                "adversarial + {}·L1, then L1 alone as the baseline",
                model.l1_weight
            )
        },
        training.epochs,
        training.batch_size,
    ));
    let test_digits = all_images(&data.test);
    let test_inputs: Vec<Vec<f32>> = test_digits.iter().map(|d| model.degrade(d)).collect();
    let degrade = |digits| model.degrade_batch(digits);
    let pairs = Pairs {
        train: std::sync::Arc::new(data.train.clone()),
        degrade: &degrade,
        input_side: 28,
        test_inputs: &test_inputs,
        test_targets: &test_digits,
    };
    let baseline_task = PixelLossTask {
        pairs: &pairs,
        loss: PixelLoss::L1,
        generator: std::marker::PhantomData::<UNet>,
    };

    let device = training.device()?;
    let generate = |g: &UNet| apply_in_chunks(&test_inputs, (28, 28), &device, |x| g.forward(x));
    let labels = &data.test.labels;
    let shown = one_of_each_class(labels, data.classes.len());
    let pick = |images: &[Vec<f32>]| shown.iter().map(|&i| images[i].clone()).collect();
    if let Some(&first) = shown.first() {
        write_example(run, "example-input.png", &test_inputs[first], 28)?;
    }
    let sharpness = |images: &[Vec<f32>]| {
        images
            .iter()
            .map(|i| imageops::mean_gradient(i, 28, 28))
            .sum::<f64>()
            / images.len().max(1) as f64
    };
    let l1 = |images: &[Vec<f32>]| {
        images
            .iter()
            .zip(&test_digits)
            .map(|(g, d)| {
                g.iter()
                    .zip(d)
                    .map(|(a, b)| (a - b).abs() as f64)
                    .sum::<f64>()
                    / 784.0
            })
            .sum::<f64>()
            / images.len().max(1) as f64
    };
    let measure = |outputs: &[Vec<f32>], suffix: &str| {
        let quality = Quality::of(outputs, &test_digits, labels, &judge);
        [
            (format!("l1{suffix}"), l1(outputs)),
            (format!("judge_accuracy{suffix}"), quality.judge_accuracy),
            (format!("sharpness{suffix}"), sharpness(outputs)),
            (format!("psnr{suffix}"), quality.psnr),
            (format!("ssim{suffix}"), quality.ssim),
        ]
    };
    let mut metrics: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    metrics.insert("sharpness_real".to_string(), sharpness(&test_digits));
    if let Some(accuracy) = judge_accuracy {
        metrics.insert("judge_test_accuracy".to_string(), accuracy);
    }

    if model.l1_only {
        let (trained, _) = train_model(
            &baseline_task,
            training,
            |device| model.generator.init(device),
            run,
            console,
            resume,
        )?;
        let outputs = generate(&trained.model);
        metrics.extend(measure(&outputs, ""));
        metrics.insert(
            "loss".to_string(),
            baseline_task.validate(&trained.model, &device)?.0,
        );
        report(&metrics, "L1 only", None, console);
        comparison_grid(
            &run.file("translations.png"),
            &[
                (model.task.input_name(), pick(&test_inputs)),
                ("L1 only", pick(&outputs)),
                ("real", pick(&test_digits)),
            ],
        )?;
        draw_training(
            run,
            &trained.log,
            &[PixelLoss::L1.name()],
            "pix2pix's baseline: L1 alone",
        )?;
        return Ok(trained.summary(INFO.name, &data.name, training, metrics));
    }

    // the baseline first, in <run>/l1-only: a run of its own that predict takes too
    let baseline_config = Pix2PixRunConfig {
        model: Pix2PixModel {
            l1_only: true,
            ..model.clone()
        },
        judge: Some(judge_record(run, config.judge.as_deref())?),
        ..config.clone()
    };
    let (baseline, baseline_seconds) = train_baseline(
        run,
        "l1-only",
        (INFO.name, &data.name),
        &baseline_config,
        training,
        &baseline_task,
        |device| model.generator.init(device),
        console,
        resume,
    )?;
    let task = Adversarial {
        pairs: &pairs,
        l1_weight: model.l1_weight,
    };
    let (trained, _) = train_model(
        &task,
        training,
        |device| init_pair(model, device),
        run,
        console,
        resume,
    )?;
    let outputs = generate(&trained.model.generator);
    let baseline_outputs = generate(&baseline);
    metrics.extend(measure(&outputs, ""));
    metrics.extend(measure(&baseline_outputs, "_l1_only"));
    metrics.insert(
        "loss".to_string(),
        task.validate(&trained.model, &device)?.0,
    );
    report(&metrics, "pix2pix", Some("L1 only"), console);
    grey_levels_chart(
        &run.file("grey-levels.png"),
        "Pixels between black and white: the blur of each generator",
        &[
            ("L1 only", &baseline_outputs),
            ("pix2pix", &outputs),
            ("real digits", &test_digits),
        ],
    )?;
    comparison_grid(
        &run.file("translations.png"),
        &[
            (model.task.input_name(), pick(&test_inputs)),
            ("L1 only", pick(&baseline_outputs)),
            ("pix2pix", pick(&outputs)),
            ("real", pick(&test_digits)),
        ],
    )?;
    draw_training(
        run,
        &trained.log,
        &METRICS,
        "pix2pix: L1 error and the players' losses",
    )?;
    let mut summary = trained.summary(INFO.name, &data.name, training, metrics);
    // the run's training time holds its baseline's (the speed stays the adversarial stage's)
    summary.train_seconds += baseline_seconds;
    Ok(summary)
}

/// One line per network: its L1 error, how sharp its digits are, how well the judge reads them.
fn report(
    metrics: &std::collections::BTreeMap<String, f64>,
    name: &str,
    baseline: Option<&str>,
    console: &Console,
) {
    let get = |key: String| metrics.get(&key).copied().unwrap_or(f64::NAN);
    for (name, suffix) in std::iter::once((name, "")).chain(baseline.map(|b| (b, "_l1_only"))) {
        console.line(&format!(
            "{name}: L1 {:.4}, sharpness {:.3} (real digits {:.3}), the judge reads {:.1}%",
            get(format!("l1{suffix}")),
            get(format!("sharpness{suffix}")),
            get("sharpness_real".to_string()),
            100.0 * get(format!("judge_accuracy{suffix}")),
        ));
    }
}
