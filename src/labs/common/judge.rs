//! The judge of generated digits: a trained `cnn` (FIDLE's network) reads what a generative lab
//! draws. Quality is then measured, not eyeballed: the share of each class among the samples,
//! the mean probability of their top class, and features for a Fréchet distance to real digits.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::activation::softmax;

use super::classifier::{self, ClassifierConfig};
use crate::data::images::{ImageDataset, images_tensor};
use crate::data::mnist;
use crate::error::{Error, Result};
use crate::labs::RunOptions;
use crate::models::cnn::{Cnn, CnnModelConfig};
use crate::report::RunDir;
use crate::train::Console;
use crate::train::FloatValues;
use crate::train::config::TrainingDefaults;

/// The judge's training when none is given: the `cnn` lab's defaults (FIDLE MNIST2 on the
/// generative lab's data), `--quick` on a subset.
const TRAINING: TrainingDefaults = TrainingDefaults::adam(30, 3, 64);
const QUICK_TRAIN: usize = 3000;
const QUICK_TEST: usize = 500;

/// A trained CNN that reads 28×28 digits.
pub struct DigitJudge {
    model: Cnn,
    device: Device,
    /// Its run directory and its `[model]` table, to load it again elsewhere.
    run: std::path::PathBuf,
    config: CnnModelConfig,
}

/// How generated digits look to the judge.
#[derive(Debug, Clone)]
pub struct JudgedSamples {
    /// The mean probability of each sample's most probable class.
    pub mean_top_probability: f64,
    /// The share of the samples given to each class.
    pub class_share: Vec<f64>,
    /// The most probable class of each sample.
    pub classes: Vec<usize>,
    /// Features of the samples (the dense layer before the output), for a Fréchet distance.
    pub features: Vec<Vec<f64>>,
}

impl DigitJudge {
    /// A finished `cnn` run as a judge.
    pub fn load(run: &RunDir) -> Result<Self> {
        let lab = crate::labs::Lab::of_run(run)?;
        if lab.info().name != "cnn" {
            return Err(Error::Usage(format!(
                "{}: a judge must be a cnn run, this is a {} run",
                run.path().display(),
                lab.info().name
            )));
        }
        let device = Device::flex();
        let config: ClassifierConfig<CnnModelConfig> = run.read_toml("config.toml")?;
        if config.model.image_size != [28, 28] || config.model.classes.len() != 10 {
            return Err(Error::BadRunDir {
                path: run.file("config.toml"),
                reason: "a judge must classify 28×28 images into 10 classes".to_string(),
            });
        }
        let model = classifier::load_model(run, &config.model, &device)?;
        Ok(Self {
            model,
            device,
            run: run.path().to_path_buf(),
            config: config.model,
        })
    }

    /// A finished `cnn` run as the judge of digits named `classes`: a cnn of other classes (a
    /// Fashion-MNIST one for digits) would give accuracies that mean nothing.
    pub fn load_for(run: &RunDir, classes: &[String]) -> Result<Self> {
        let judge = Self::load(run)?;
        if judge.config.classes != classes {
            return Err(Error::Usage(format!(
                "{}: a judge of the classes {:?}, not of this run's {:?}",
                run.file("config.toml").display(),
                judge.config.classes,
                classes
            )));
        }
        Ok(judge)
    }

    /// The judge of a generative run: the cnn run `reuse` names, or a cnn trained now on the
    /// run's data into `<run>/judge` (quick when the run is). Returns it with the test accuracy
    /// of a judge trained now.
    pub fn for_run(
        run: &RunDir,
        reuse: Option<&Path>,
        options: &RunOptions,
        console: &Console,
    ) -> Result<(Self, Option<f64>)> {
        if let Some(dir) = reuse {
            return Ok((Self::load(&RunDir::open(dir)?)?, None));
        }
        console.line(
            "training a cnn to judge the generated digits (pass --judge RUN_DIR to reuse one)",
        );
        let quick = options.quick.then_some((QUICK_TRAIN, QUICK_TEST));
        let data =
            mnist::choose_subset(options.dataset.as_deref(), options.data.as_deref(), quick)?;
        let (judge, accuracy) = Self::train_in(
            run,
            "judge",
            &data,
            options.seed,
            &options.device.to_string(),
            options.quick,
            console,
            false,
        )?;
        Ok((judge, Some(accuracy)))
    }

    /// The judge of a run that can be resumed: a cnn trained on `data` into `<run>/<name>`, or,
    /// when `resume`, the one already there (finished, or resumed from its checkpoint). Returns
    /// it with its test accuracy.
    #[allow(clippy::too_many_arguments)] // where, on what, and the training's own settings
    pub fn train_in(
        run: &RunDir,
        name: &str,
        data: &ImageDataset,
        seed: u64,
        device: &str,
        quick: bool,
        console: &Console,
        resume: bool,
    ) -> Result<(Self, f64)> {
        let dir = run.file(name);
        if resume && dir.join("summary.json").is_file() {
            let judge_run = RunDir::open(&dir)?;
            let summary: crate::report::Summary = judge_run.read_json("summary.json")?;
            let accuracy = summary.metrics.get("accuracy").copied().unwrap_or(f64::NAN);
            return Ok((Self::load(&judge_run)?, accuracy));
        }
        let resuming = resume && dir.join("config.toml").is_file();
        let (judge_run, config) = if resuming {
            let judge_run = RunDir::open(&dir)?;
            let (config, _) = classifier::reload::<CnnModelConfig>(&judge_run)?;
            (judge_run, config)
        } else {
            let judge_run = RunDir::create(Some(&dir), "cnn")?;
            let config = ClassifierConfig::new(
                "cnn",
                data,
                TRAINING.config(seed, device, quick),
                CnnModelConfig::fidle(
                    [data.train.rows, data.train.cols],
                    data.classes.clone(),
                    data.train.pixel_statistics(),
                    1,
                ),
            );
            judge_run.write_toml("config.toml", &config)?;
            (judge_run, config)
        };
        let outcome = classifier::train(&config, "CNN", data, &judge_run, console, resuming)?;
        judge_run.write_json("summary.json", &outcome.summary)?;
        crate::train::fit::remove_checkpoints(&judge_run)?;
        let accuracy = outcome.test.accuracy;
        console.line(&format!("{name}: test accuracy {accuracy:.4}"));
        Ok((Self::load(&judge_run)?, accuracy))
    }

    /// The judge's features (its dense layer, before the output) as a network on `device`, its
    /// dropout off and its parameters untracked: the perceptual loss of `super-resolution`
    /// compares images by them, and gradients pass through it to the images only.
    pub fn feature_network(&self, device: &Device) -> Result<Cnn> {
        let config = CnnModelConfig {
            dropout: [0.0, 0.0],
            ..self.config.clone()
        };
        Ok(classifier::load_model(&RunDir::open(&self.run)?, &config, device)?.no_grad())
    }

    /// The share of `images` (28×28 floats in 0..=1) the judge reads as their `labels`.
    pub fn accuracy(&self, images: &[Vec<f32>], labels: &[u8]) -> f64 {
        let read = self.judge(images, 10);
        let right = read
            .classes
            .iter()
            .zip(labels)
            .filter(|(k, l)| **k == **l as usize)
            .count();
        right as f64 / images.len().max(1) as f64
    }

    /// For images as 28×28 floats in 0..=1: the class probabilities of each, and its features.
    fn read(&self, images: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<Vec<f64>>) {
        let features = self
            .model
            .features(images_tensor(images, 28, 28, &self.device));
        let [_, width] = features.dims();
        let logits = self.model.output.forward(features.clone());
        let [_, classes] = logits.dims();
        let p: Vec<f32> = softmax(logits, 1).floats();
        let f: Vec<f32> = features.floats();
        (
            p.chunks(classes).map(<[f32]>::to_vec).collect(),
            f.chunks(width)
                .map(|c| c.iter().map(|&v| v as f64).collect())
                .collect(),
        )
    }

    /// How `images` (28×28 floats in 0..=1) look to the judge, over `n_classes` classes.
    pub fn judge(&self, images: &[Vec<f32>], n_classes: usize) -> JudgedSamples {
        let mut probabilities = Vec::new();
        let mut features = Vec::new();
        for chunk in images.chunks(500) {
            let (p, f) = self.read(chunk);
            probabilities.extend(p);
            features.extend(f);
        }
        let mut class_share = vec![0.0; n_classes];
        let mut classes = Vec::with_capacity(images.len());
        let mut top_sum = 0.0;
        for p in &probabilities {
            let (k, top) =
                p.iter().enumerate().fold(
                    (0, f32::NEG_INFINITY),
                    |b, (k, &v)| if v > b.1 { (k, v) } else { b },
                );
            top_sum += top as f64;
            class_share[k.min(n_classes - 1)] += 1.0 / images.len().max(1) as f64;
            classes.push(k);
        }
        JudgedSamples {
            mean_top_probability: top_sum / images.len().max(1) as f64,
            class_share,
            classes,
            features,
        }
    }
}
