//! The run of a DCGAN lab (`gan`, `cgan`): its `config.toml`, its data and its judge, the
//! training of both networks with their losses drawn, the summary, and the generator read back
//! for `neurons generate`. What each lab measures and draws stays in the lab.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::judge::DigitJudge;
use crate::data::images::{ImageDataset, ImageShape};
use crate::data::mnist::{self, DataConfig};
use crate::error::Result;
use crate::labs::RunOptions;
use crate::models::dcgan::{DcganConfig, DcganTask, Discriminator, Generator};
use crate::report::config::VERSION;
use crate::report::metrics::Split;
use crate::report::plot::{Curve, line_chart};
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::adversarial::{AdversarialLoss, AdversarialSettings, METRICS, train_adversarial};

/// DCGAN's settings (Radford et al.): batches of 64, Adam with η = 2·10⁻⁴ and β₁ = 0.5.
const BATCH_SIZE: usize = 64;
const LEARNING_RATE: f64 = 2e-4;
const ADAM_BETA_1: f32 = 0.5;

/// The `[training]` table of a DCGAN run: Adam with β₁ = 0.5 for both networks, one
/// discriminator step and one generator step per batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcganTraining {
    pub seed: u64,
    pub device: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Whether `--quick` chose the settings.
    pub quick: bool,
    /// The players' losses (runs before this field were BCE).
    #[serde(default)]
    pub loss: AdversarialLoss,
}

/// `config.toml` of a DCGAN lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcganRunConfig {
    pub lab: String,
    pub neurons_version: String,
    pub data: DataConfig,
    pub training: DcganTraining,
    pub model: DcganConfig,
}

/// What a DCGAN lab is given to start: its name, its epochs (full run, `--quick` run), how many
/// training digits `--quick` keeps, its network for the data chosen and the players' losses.
pub struct DcganLab<'a> {
    pub name: &'a str,
    pub epochs: (usize, usize),
    pub quick_train: usize,
    pub model: &'a dyn Fn(&ImageDataset) -> DcganConfig,
    pub loss: AdversarialLoss,
}

/// A DCGAN lab's run once set up: its `config.toml` written, its data and its judge at hand.
pub struct DcganRun {
    pub config: DcganRunConfig,
    pub data: ImageDataset,
    pub judge: DigitJudge,
    /// The test accuracy of a judge trained for this run (none when `--judge` gave one).
    pub judge_accuracy: Option<f64>,
    /// The plain device the run computes on.
    pub device: Device,
}

/// A trained DCGAN and what its training left.
pub struct TrainedDcgan {
    /// The generator, out of autodiff.
    pub generator: Generator,
    pub train_seconds: f64,
    pub samples_seen: usize,
}

/// Refuses, before the run directory exists, data a DCGAN cannot learn from (its networks are
/// built for 28×28 digits) and a `--judge` that is not a finished 28×28 cnn run.
pub fn check(lab: &str, options: &RunOptions, judge: Option<&Path>) -> Result<()> {
    mnist::check_choice(
        options.dataset.as_deref(),
        options.data.as_deref(),
        lab,
        ImageShape::Exactly(28, 28),
    )?;
    if let Some(dir) = judge {
        DigitJudge::load(&RunDir::open(dir)?)?;
    }
    Ok(())
}

impl DcganRun {
    /// Chooses the data (the test digits stay whole: they are the judge's reference), writes
    /// `config.toml` with the command line's choices over DCGAN's settings, and finds the judge
    /// (`judge`, or one trained now).
    pub fn start(
        lab: &DcganLab,
        options: &RunOptions,
        judge: Option<&Path>,
        run: &RunDir,
        console: &Console,
    ) -> Result<Self> {
        let quick = options.quick.then_some((lab.quick_train, usize::MAX));
        let data =
            mnist::choose_subset(options.dataset.as_deref(), options.data.as_deref(), quick)?;
        let (epochs, quick_epochs) = lab.epochs;
        let config = DcganRunConfig {
            lab: lab.name.to_string(),
            neurons_version: VERSION.to_string(),
            data: DataConfig::of(&data),
            training: DcganTraining {
                seed: options.seed,
                device: options.device.to_string(),
                epochs: options
                    .epochs
                    .unwrap_or(if options.quick { quick_epochs } else { epochs }),
                batch_size: options.batch_size.unwrap_or(BATCH_SIZE),
                learning_rate: options.lr.unwrap_or(LEARNING_RATE),
                quick: options.quick,
                loss: lab.loss,
            },
            model: (lab.model)(&data),
        };
        run.write_toml("config.toml", &config)?;
        let (judge, judge_accuracy) = DigitJudge::for_run(run, judge, options, console)?;
        let device = options.device.device()?;
        Ok(Self {
            config,
            data,
            judge,
            judge_accuracy,
            device,
        })
    }

    /// Trains both networks on the training digits, calling `after_epoch(epoch, G)` with the
    /// generator out of autodiff after each epoch; writes `metrics.csv`, `loss.png` and both
    /// networks' weights.
    pub fn train(
        &self,
        run: &RunDir,
        console: &Console,
        mut after_epoch: impl FnMut(usize, &Generator) -> Result<()>,
    ) -> Result<TrainedDcgan> {
        let (config, training) = (&self.config, &self.config.training);
        let autodiff = self.device.clone().autodiff();
        autodiff.seed(training.seed);
        let adam = || crate::train::optimizer::adam(ADAM_BETA_1, 1e-8, 0.0);
        let settings = AdversarialSettings {
            epochs: training.epochs,
            batch_size: training.batch_size,
            learning_rate: training.learning_rate,
            noise_dim: config.model.noise_dim,
            seed: training.seed,
            loss: training.loss,
        };
        let trained = train_adversarial(
            &DcganTask,
            config.model.generator(&autodiff),
            config.model.discriminator(&autodiff),
            adam(),
            adam(),
            &self.data.train,
            &settings,
            &autodiff,
            console,
            |epoch, g| after_epoch(epoch, &g.valid()),
        )?;
        trained.log.write(run)?;
        let generator = trained.generator.valid();
        run.save_weights("generator.bpk", &generator)?;
        run.save_weights("discriminator.bpk", &trained.discriminator.valid())?;
        let curves = METRICS.map(|m| Curve {
            label: m.to_string(),
            points: trained.log.series(Split::Train, Some(m)),
        });
        line_chart(
            &run.file("loss.png"),
            &format!("{}: losses of both networks", config.lab),
            "epoch",
            "BCE",
            &curves,
        )?;
        Ok(TrainedDcgan {
            generator,
            train_seconds: trained.train_seconds,
            samples_seen: trained.samples_seen,
        })
    }

    /// The run's `summary.json`: the lab's `metrics` (with the judge's accuracy when it was
    /// trained now) and `parameters`.
    pub fn summary(
        &self,
        trained: &TrainedDcgan,
        mut metrics: BTreeMap<String, f64>,
        parameters: BTreeMap<String, Vec<f64>>,
    ) -> Summary {
        if let Some(a) = self.judge_accuracy {
            metrics.insert("judge_accuracy".to_string(), a);
        }
        let training = &self.config.training;
        Summary {
            lab: self.config.lab.clone(),
            dataset: self.data.name.clone(),
            seed: training.seed,
            device: training.device.clone(),
            epochs: training.epochs,
            train_seconds: trained.train_seconds,
            samples_per_second: trained.samples_seen as f64 / trained.train_seconds.max(1e-9),
            metrics,
            parameters,
        }
    }
}

/// A finished DCGAN run's `config.toml`, checked.
pub fn read_config(run: &RunDir) -> Result<DcganRunConfig> {
    let config: DcganRunConfig = run.read_toml("config.toml")?;
    config
        .model
        .validate()
        .map_err(|reason| crate::error::Error::BadRunDir {
            path: run.file("config.toml"),
            reason,
        })?;
    Ok(config)
}

/// A finished DCGAN run's generator, on the CPU, with its `config.toml`.
pub fn load_generator(run: &RunDir) -> Result<(DcganRunConfig, Generator, Device)> {
    let config = read_config(run)?;
    let device = Device::flex();
    let generator = run.load_weights("generator.bpk", config.model.generator(&device))?;
    Ok((config, generator, device))
}

/// A finished DCGAN run's discriminator on `device`.
pub fn load_discriminator(
    run: &RunDir,
    config: &DcganRunConfig,
    device: &Device,
) -> Result<Discriminator> {
    run.load_weights("discriminator.bpk", config.model.discriminator(device))
}

/// A DCGAN's generator kept for `neurons serve`: fresh samples, of one digit for a cGAN.
pub struct ServedGenerator {
    generator: Generator,
    config: DcganRunConfig,
    device: Device,
}

/// Samples one request may ask for.
const MAX_SERVED_SAMPLES: u64 = 64;

impl ServedGenerator {
    pub fn load(run: &RunDir) -> Result<Box<dyn super::serve::Served>> {
        let (config, generator, device) = load_generator(run)?;
        Ok(Box::new(Self {
            generator,
            config,
            device,
        }))
    }
}

impl super::serve::Served for ServedGenerator {
    fn kind(&self) -> &'static str {
        if self.config.model.classes > 0 {
            "digit-generator"
        } else {
            "generator"
        }
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "classes": self.config.model.classes })
    }

    /// `{"count": n, "seed": s, "digit": d}` (the digit for a cGAN only) → `{"images": [[784]...]}`.
    fn answer(&self, request: &serde_json::Value) -> Result<serde_json::Value> {
        use super::serve::integer;
        let count = integer(request, "count", 1..=MAX_SERVED_SAMPLES, Some(8))? as usize;
        let seed = integer(request, "seed", 0..=u64::MAX, Some(0))?;
        let classes = self.config.model.classes as u64;
        let digit = if classes > 0 {
            integer(request, "digit", 0..=classes - 1, None)? as i64
        } else {
            0
        };
        let labels = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(vec![digit; count], [count]),
            &self.device,
        );
        let images = crate::train::adversarial::to_unit_pixels(self.generator.forward(
            crate::train::adversarial::fixed_noise(
                count,
                self.config.model.noise_dim,
                seed,
                &self.device,
            ),
            labels,
        ));
        Ok(serde_json::json!({ "images": images }))
    }
}
