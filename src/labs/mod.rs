//! The registry of labs: one per system of the lecture, each in its own file.
//!
//! A lab has a name, the slide it comes from, a default data set, and a `run` that trains it into
//! a run directory; some also `predict`. Nothing here knows how any lab works inside.

pub mod cgan;
pub mod cnn;
pub mod gan;
pub mod kmeans;
pub mod linear_regression;
pub mod logistic_regression;
pub mod mlp_classifier;
pub mod mlp_regression;
pub mod pca;
pub mod perceptron;
pub mod polynomial_regression;
pub mod rnn;
pub mod vae;

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::report::config::LabOfRun;
use crate::report::config::TrainingConfig;
use crate::report::{RunDir, Summary};
use crate::train::optimizer::OptimizerKind;
use crate::train::schedule::LrSchedule;
use crate::train::{Console, DeviceChoice};

/// The flags of the shared training loop, taken by the labs that train with it.
pub const TRAINING_FLAGS: [&str; 4] = [
    "--optimizer",
    "--weight-decay",
    "--lr-schedule",
    "--early-stopping",
];

/// A deep lab's default training settings, which the command line may override.
#[derive(Debug, Clone, Copy)]
pub struct TrainingDefaults {
    pub epochs: usize,
    pub quick_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub optimizer: OptimizerKind,
    pub schedule: LrSchedule,
}

impl RunOptions {
    /// The effective training settings: the command line's, else the lab's defaults.
    pub fn training(&self, defaults: &TrainingDefaults) -> TrainingConfig {
        TrainingConfig {
            seed: self.seed,
            device: self.device.to_string(),
            epochs: self.epochs.unwrap_or(if self.quick {
                defaults.quick_epochs
            } else {
                defaults.epochs
            }),
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            learning_rate: self.lr.unwrap_or(defaults.learning_rate),
            optimizer: self.optimizer.unwrap_or(defaults.optimizer),
            weight_decay: self.weight_decay.unwrap_or(0.0),
            lr_schedule: self.lr_schedule.unwrap_or(defaults.schedule),
            early_stopping: self.early_stopping,
            quick: self.quick,
        }
    }
}

/// Every lab that `neurons run` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lab {
    /// Linear regression and gradient descent: a line through noisy points
    LinearRegression,
    /// Polynomial regression: under- and over-fitting
    PolynomialRegression,
    /// Logistic regression: one artificial neuron
    LogisticRegression,
    /// The perceptron: Rosenblatt's rule on Iris
    Perceptron,
    /// Clustering with k-means
    Kmeans,
    /// Dimensionality reduction with PCA
    Pca,
    /// Regression with a DNN: the quality of a wine
    MlpRegression,
    /// Classification with a DNN: dense layers read handwritten digits
    MlpClassifier,
    /// A convolutional network for images
    Cnn,
    /// A recurrent network (GRU) that forecasts a trajectory
    Rnn,
    /// A variational autoencoder with a 2-D latent space
    Vae,
    /// A DCGAN that learns to draw digits
    Gan,
    /// A conditional GAN that draws the digit asked for
    Cgan,
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
    /// The lab-specific flags it takes (see [`LabArgs`]).
    pub flags: &'static [&'static str],
}

/// Flags that only some labs take; `LabInfo::flags` says which. `None` means the lab's default.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LabArgs {
    /// The column to predict, with --data FILE.csv
    #[arg(long)]
    pub target: Option<String>,
    /// The CSV separator, with --data FILE.csv (default ',')
    #[arg(long)]
    pub sep: Option<char>,
    /// Number of synthetic points
    #[arg(long)]
    pub n: Option<usize>,
    /// Slope a of the synthetic line y = a·x + b + noise
    #[arg(long, allow_hyphen_values = true)]
    pub slope: Option<f64>,
    /// Intercept b of the synthetic line
    #[arg(long, allow_hyphen_values = true)]
    pub intercept: Option<f64>,
    /// Standard deviation of the synthetic noise
    #[arg(long)]
    pub noise: Option<f64>,
    /// Polynomial degrees to fit, e.g. 1,5,24
    #[arg(long, value_delimiter = ',')]
    pub degrees: Option<Vec<usize>>,
    /// Add the features' powers up to this degree (logistic regression)
    #[arg(long)]
    pub poly: Option<usize>,
    /// Number of clusters
    #[arg(long)]
    pub k: Option<usize>,
    /// Number of k-means restarts, the best kept
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Multiply the CNN's channel counts by K
    #[arg(long, value_name = "K")]
    pub width: Option<usize>,
    /// Weight β of the KL term of the VAE's loss
    #[arg(long)]
    pub beta: Option<f64>,
    /// A finished cnn run that judges generated digits (default: train one first)
    #[arg(long, value_name = "RUN_DIR")]
    pub judge: Option<PathBuf>,
}

impl LabArgs {
    /// The flags given on the command line.
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("--target", self.target.is_some()),
            ("--sep", self.sep.is_some()),
            ("--n", self.n.is_some()),
            ("--slope", self.slope.is_some()),
            ("--intercept", self.intercept.is_some()),
            ("--noise", self.noise.is_some()),
            ("--degrees", self.degrees.is_some()),
            ("--poly", self.poly.is_some()),
            ("--k", self.k.is_some()),
            ("--restarts", self.restarts.is_some()),
            ("--width", self.width.is_some()),
            ("--beta", self.beta.is_some()),
            ("--judge", self.judge.is_some()),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(flag, _)| flag)
        .collect()
    }

    /// The CSV separator as a byte.
    pub fn separator(&self) -> Result<u8> {
        match self.sep {
            None => Ok(b','),
            Some(c) if c.is_ascii() => Ok(c as u8),
            Some(c) => Err(Error::Usage(format!(
                "--sep {c:?}: the separator must be one ASCII character"
            ))),
        }
    }
}

/// What `neurons generate` asks for.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// A latent point (VAE).
    pub z: Option<Vec<f64>>,
    /// The digit to draw (conditional GAN).
    pub digit: Option<usize>,
    pub count: usize,
    /// Seed of the noise: the same seed draws the same images.
    pub seed: u64,
    pub out: PathBuf,
}

/// The settings of `neurons run` that every lab understands; `None` means the lab's default.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub lab_args: LabArgs,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub lr_schedule: Option<crate::train::schedule::LrSchedule>,
    pub optimizer: Option<OptimizerKind>,
    pub weight_decay: Option<f64>,
    pub early_stopping: Option<usize>,
    pub seed: u64,
    pub device: DeviceChoice,
    pub dataset: Option<String>,
    pub data: Option<PathBuf>,
    pub quick: bool,
}

impl Lab {
    pub const ALL: [Lab; 13] = [
        Lab::LinearRegression,
        Lab::PolynomialRegression,
        Lab::LogisticRegression,
        Lab::Perceptron,
        Lab::Kmeans,
        Lab::Pca,
        Lab::MlpRegression,
        Lab::MlpClassifier,
        Lab::Cnn,
        Lab::Rnn,
        Lab::Vae,
        Lab::Gan,
        Lab::Cgan,
    ];

    pub fn info(self) -> LabInfo {
        match self {
            Lab::LinearRegression => linear_regression::INFO,
            Lab::PolynomialRegression => polynomial_regression::INFO,
            Lab::LogisticRegression => logistic_regression::INFO,
            Lab::Perceptron => perceptron::INFO,
            Lab::Kmeans => kmeans::INFO,
            Lab::Pca => pca::INFO,
            Lab::MlpRegression => mlp_regression::INFO,
            Lab::MlpClassifier => mlp_classifier::INFO,
            Lab::Cnn => cnn::INFO,
            Lab::Rnn => rnn::INFO,
            Lab::Vae => vae::INFO,
            Lab::Gan => gan::INFO,
            Lab::Cgan => cgan::INFO,
        }
    }

    /// Trains the lab into `run`, returning what goes into `summary.json`.
    pub fn run(self, options: &RunOptions, run: &RunDir, console: &Console) -> Result<Summary> {
        match self {
            Lab::LinearRegression => linear_regression::run(options, run, console),
            Lab::PolynomialRegression => polynomial_regression::run(options, run, console),
            Lab::LogisticRegression => logistic_regression::run(options, run, console),
            Lab::Perceptron => perceptron::run(options, run, console),
            Lab::Kmeans => kmeans::run(options, run, console),
            Lab::Pca => pca::run(options, run, console),
            Lab::MlpRegression => mlp_regression::run(options, run, console),
            Lab::MlpClassifier => mlp_classifier::run(options, run, console),
            Lab::Cnn => cnn::run(options, run, console),
            Lab::Rnn => rnn::run(options, run, console),
            Lab::Vae => vae::run(options, run, console),
            Lab::Gan => gan::run(options, run, console),
            Lab::Cgan => cgan::run(options, run, console),
        }
    }

    /// Continues a run killed before its end, from its last checkpoint.
    pub fn resume(self, run: &RunDir, console: &Console) -> Result<Summary> {
        match self {
            Lab::MlpRegression => mlp_regression::resume(run, console),
            Lab::MlpClassifier => mlp_classifier::resume(run, console),
            Lab::Cnn => cnn::resume(run, console),
            Lab::Rnn => rnn::resume(run, console),
            Lab::Vae => vae::resume(run, console),
            other => Err(Error::Usage(format!(
                "{} keeps no checkpoint to resume from: start it again instead",
                other.info().name
            ))),
        }
    }

    /// Predicts every input with a run's model, one line each.
    pub fn predict(self, run: &RunDir, inputs: &[PathBuf]) -> Result<Vec<String>> {
        match self {
            Lab::MlpRegression => mlp_regression::predict(run, inputs),
            Lab::MlpClassifier => mlp_classifier::predict(run, inputs),
            Lab::Cnn => cnn::predict(run, inputs),
            other => Err(Error::Usage(format!(
                "{} has no predict",
                other.info().name
            ))),
        }
    }

    /// Refuses lab-specific flags that this lab does not take; `others` are further flags given
    /// (e.g. `--optimizer`), checked the same way.
    pub fn check_flags(self, args: &LabArgs, others: &[&'static str]) -> Result<()> {
        let info = self.info();
        let given = args.given().into_iter().chain(others.iter().copied());
        if let Some(flag) = given.into_iter().find(|f| !info.flags.contains(f)) {
            let takes = if info.flags.is_empty() {
                "none".to_string()
            } else {
                info.flags.join(", ")
            };
            return Err(Error::Usage(format!(
                "{flag} does not apply to {} (its own flags: {takes})",
                info.name
            )));
        }
        Ok(())
    }

    /// Draws new samples with a run's generative model.
    pub fn generate(self, run: &RunDir, request: &GenerateRequest) -> Result<()> {
        match self {
            Lab::Vae => vae::generate(run, request),
            Lab::Gan => gan::generate(run, request),
            Lab::Cgan => cgan::generate(run, request),
            other => Err(Error::Usage(format!(
                "{} is not a generative lab: it has no generate",
                other.info().name
            ))),
        }
    }

    /// A finished run of a classifier lab, as a judge of generated digits.
    pub fn load_judge(run: &RunDir) -> Result<Box<dyn crate::train::classify::Judge>> {
        match Lab::of_run(run)? {
            Lab::Cnn => cnn::load_judge(run),
            other => Err(Error::Usage(format!(
                "{}: a judge must be a cnn run, this is a {} run",
                run.path().display(),
                other.info().name
            ))),
        }
    }

    /// The judge of a generative run: the cnn run `--judge` names, or a cnn trained now on the
    /// same data into `<run>/judge` (quick when the run is). Returns it with the accuracy of a
    /// judge trained now.
    pub fn judge_for(
        run: &RunDir,
        options: &RunOptions,
        console: &Console,
    ) -> Result<(Box<dyn crate::train::classify::Judge>, Option<f64>)> {
        if let Some(dir) = &options.lab_args.judge {
            return Ok((Lab::load_judge(&RunDir::open(dir)?)?, None));
        }
        console.line(
            "training a cnn to judge the generated digits (pass --judge RUN_DIR to reuse one)",
        );
        let judge_run = RunDir::create(Some(&run.file("judge")), "cnn")?;
        let judge_options = RunOptions {
            seed: options.seed,
            device: options.device,
            dataset: options.dataset.clone(),
            data: options.data.clone(),
            quick: options.quick,
            ..Default::default()
        };
        let summary = Lab::Cnn.run(&judge_options, &judge_run, console)?;
        judge_run.write_json("summary.json", &summary)?;
        crate::train::fit::remove_checkpoints(&judge_run)?;
        let accuracy = summary.metrics.get("accuracy").copied();
        console.line(&format!(
            "judge: test accuracy {:.4}",
            accuracy.unwrap_or(f64::NAN)
        ));
        Ok((Lab::load_judge(&judge_run)?, accuracy))
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
