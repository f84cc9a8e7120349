//! The registry of labs: one per system of the lecture, each in its own file.
//!
//! A lab is a type implementing [`LabSpec`]: what `neurons list` shows of it, its own flags (a
//! clap `Options` struct, so that a flag it does not take is a usage error before anything runs),
//! its `run`, and optionally `resume`, `predict` and `generate`. Adding a lab is one file here and
//! one line in the `registry!` below. Nothing here knows how any lab works inside; what several
//! labs share lives in [`common`], and no lab imports another.

pub mod common;

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::report::config::LabOfRun;
use crate::report::{RunDir, Summary};
use crate::train::config::{TrainingConfig, TrainingDefaults};
use crate::train::optimizer::OptimizerKind;
use crate::train::schedule::LrSchedule;
use crate::train::{Console, DeviceChoice};
pub use common::serve::Served;

/// What `neurons list` shows of a lab.
#[derive(Debug, Clone, Copy)]
pub struct LabInfo {
    pub name: &'static str,
    /// The lecture's slide (and FIDLE notebook) it comes from.
    pub chapter: &'static str,
    pub dataset: &'static str,
    /// One sentence on what it shows.
    pub shows: &'static str,
    /// The slide's formula, on one line.
    pub formula: &'static str,
    /// The headline figure of its defaults and what it is compared with.
    pub reference: Reference,
}

/// The figure a lab's defaults reach (seed 1, its default data) and what it stands beside, as
/// the README gives them: what `neurons report` sets a run's result against.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    /// The data set (as `summary.json` names it) the figure is for.
    pub dataset: &'static str,
    /// The `summary.json` metric that is the lab's headline figure.
    pub metric: &'static str,
    /// Its value with the defaults.
    pub expected: f64,
    pub higher_is_better: bool,
    /// The outside figure it is compared with: a notebook, a paper, a baseline.
    pub compared_with: &'static str,
}

/// A lab of the lecture. Only `run` is required; the others refuse by default.
pub trait LabSpec {
    const INFO: LabInfo;
    /// The lab's own flags, after those of [`RunOptions`].
    type Options: clap::Args + Clone + std::fmt::Debug;

    /// Trains the lab into `run`, returning what goes into `summary.json`.
    fn run(
        options: &RunOptions,
        args: &Self::Options,
        run: &RunDir,
        console: &Console,
    ) -> Result<Summary>;

    /// Refuses bad values of the lab's own flags, or data it cannot read, before the run
    /// directory exists.
    fn check(_options: &RunOptions, _args: &Self::Options) -> Result<()> {
        Ok(())
    }

    /// Continues a run killed before its end, from its last checkpoint.
    fn resume(_run: &RunDir, _console: &Console) -> Result<Summary> {
        Err(Error::Usage(format!(
            "{} keeps no checkpoint to resume from: start it again instead",
            Self::INFO.name
        )))
    }

    /// Predicts every input with a run's model, one line each.
    fn predict(_run: &RunDir, _request: &PredictRequest) -> Result<Vec<String>> {
        Err(Error::Usage(format!("{} has no predict", Self::INFO.name)))
    }

    /// A run's model kept in memory for `neurons serve`'s page.
    fn serve(_run: &RunDir) -> Result<Box<dyn Served>> {
        Err(Error::Usage(format!(
            "{} has no interactive page yet: serve mlp-classifier, cnn, vae, gan, cgan, sentiment or transformer runs",
            Self::INFO.name
        )))
    }

    /// Draws new samples with a run's generative model.
    fn generate(_run: &RunDir, _request: &GenerateRequest) -> Result<()> {
        Err(Error::Usage(format!(
            "{} is not a generative lab: it has no generate",
            Self::INFO.name
        )))
    }
}

/// The flags every lab takes; `None` means the lab's default.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// Passes over the training data (default: the lab's)
    #[arg(long, allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Samples per optimizer step (default: the lab's)
    #[arg(long, allow_negative_numbers = true)]
    pub batch_size: Option<usize>,
    /// Learning rate (default: the lab's)
    #[arg(long, allow_hyphen_values = true)]
    pub lr: Option<f64>,
    /// Seed of every random choice: same seed, same machine, same metrics
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Where to compute: cpu, cuda or cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// A named data set, e.g. mnist-10k (embedded), mnist, fashion-mnist (downloaded)
    #[arg(long, conflicts_with = "data")]
    pub dataset: Option<String>,
    /// Read the data from this file or folder instead
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The run directory (default: runs/<lab>-<YYYYMMDD-HHMMSS>)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Settings that finish in seconds, for tests and demos
    #[arg(long)]
    pub quick: bool,
    /// Print summary.json on stdout at the end (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
}

impl RunOptions {
    /// Refuses settings no lab can use, before anything is created.
    pub fn validate(&self) -> Result<()> {
        use crate::train::config::limits::{MAX_BATCH_SIZE, MAX_EPOCHS};
        within("--epochs", self.epochs, 1..=MAX_EPOCHS)?;
        within("--batch-size", self.batch_size, 1..=MAX_BATCH_SIZE)?;
        // a device this build or machine lacks is refused before the run directory exists
        self.device.device()?;
        if let Some(lr) = self.lr
            && !(lr.is_finite() && lr > 0.0)
        {
            return Err(Error::Usage(format!(
                "--lr {lr}: the learning rate must be a positive number"
            )));
        }
        Ok(())
    }

    /// The effective training settings: the command line's, else the lab's defaults.
    pub fn training(&self, args: &TrainingArgs, defaults: &TrainingDefaults) -> TrainingConfig {
        let mut config = defaults.config(self.seed, &self.device.to_string(), self.quick);
        config.epochs = self.epochs.unwrap_or(config.epochs);
        config.batch_size = self.batch_size.unwrap_or(config.batch_size);
        config.learning_rate = self.lr.unwrap_or(config.learning_rate);
        config.optimizer = args.optimizer.unwrap_or(config.optimizer);
        config.weight_decay = args.weight_decay.unwrap_or(config.weight_decay);
        config.lr_schedule = args.lr_schedule.unwrap_or(config.lr_schedule);
        config.early_stopping = args.early_stopping;
        config
    }
}

/// Refuses a whole-number flag outside `range`, naming it.
pub fn within(
    flag: &str,
    value: Option<usize>,
    range: std::ops::RangeInclusive<usize>,
) -> Result<()> {
    match value {
        Some(v) if !range.contains(&v) => Err(Error::Usage(format!(
            "{flag} {v}: from {} to {}",
            range.start(),
            range.end()
        ))),
        _ => Ok(()),
    }
}

/// Refuses a number flag that is not finite or beyond `limit` in size, naming it.
pub fn finite_within(flag: &str, value: Option<f64>, limit: f64) -> Result<()> {
    match value {
        Some(v) if !(v.is_finite() && v.abs() <= limit) => Err(Error::Usage(format!(
            "{flag} {v:e}: a number from -{limit:e} to {limit:e}"
        ))),
        _ => Ok(()),
    }
}

/// The flags of the shared training loop, taken by the labs that train with it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrainingArgs {
    /// The update rule (default: the lab's)
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// L2 penalty on the weights (decoupled for adamw)
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// How the learning rate changes over the run (default: the lab's)
    #[arg(long, value_enum)]
    pub lr_schedule: Option<LrSchedule>,
    /// Stop after N epochs without a better validation loss (test loss where a lab holds no
    /// validation split out), keeping the best weights
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub early_stopping: Option<usize>,
}

impl TrainingArgs {
    pub fn validate(&self) -> Result<()> {
        within(
            "--early-stopping",
            self.early_stopping,
            1..=crate::train::config::limits::MAX_EPOCHS,
        )?;
        if let Some(wd) = self.weight_decay
            && !(wd.is_finite() && wd >= 0.0)
        {
            return Err(Error::Usage(format!(
                "--weight-decay {wd}: must be a number ≥ 0"
            )));
        }
        Ok(())
    }
}

/// The flags of the labs that read a table with `--data FILE.csv`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CsvArgs {
    /// The column to predict, with --data FILE.csv
    #[arg(long)]
    pub target: Option<String>,
    /// The CSV separator, with --data FILE.csv (default ',')
    #[arg(long)]
    pub sep: Option<char>,
}

impl CsvArgs {
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

/// `neurons run <lab> [flags]`: the flags every lab takes, then the lab's own.
#[derive(Debug, Clone, clap::Args)]
pub struct LabRun<O: clap::Args> {
    #[command(flatten)]
    pub common: RunOptions,
    #[command(flatten)]
    pub lab: O,
}

/// What `neurons predict` asks for: files (pictures, IDX) or texts.
#[derive(Debug, Clone, Default)]
pub struct PredictRequest {
    pub inputs: Vec<PathBuf>,
    pub texts: Vec<String>,
    /// One JSON object per line instead of prose.
    pub json: bool,
    /// Also say which words weighed most (the transformer).
    pub explain: bool,
    /// Nodes of the run's graph, by id (gcn).
    pub nodes: Vec<String>,
    /// The picture to write (the image-to-image labs).
    pub out: Option<PathBuf>,
}

impl PredictRequest {
    /// The files of a request to a lab that reads files only.
    pub fn files(&self, lab: &str) -> Result<&[PathBuf]> {
        self.refuse_out(lab)?;
        self.input_files(lab)
    }

    /// Refuses `--out` for a lab that prints its answers.
    fn refuse_out(&self, lab: &str) -> Result<()> {
        match self.out {
            Some(_) => Err(Error::Usage(format!(
                "{lab} prints what it reads; --out is for the labs that draw a picture (autoencoder, pix2pix, super-resolution)"
            ))),
            None => Ok(()),
        }
    }

    /// The input files of a request to an image-to-image lab, and the picture to write.
    pub fn pictures(&self, lab: &str) -> Result<(&[PathBuf], &std::path::Path)> {
        let inputs = self.input_files(lab)?;
        match &self.out {
            Some(out) => Ok((inputs, out)),
            None => Err(Error::Usage(format!(
                "{lab} draws its answer: name the picture to write with --out FILE.png"
            ))),
        }
    }

    /// The files of a request, refusing what only other labs read.
    fn input_files(&self, lab: &str) -> Result<&[PathBuf]> {
        let refuse = |flag: &str, labs: &str| {
            Err(Error::Usage(format!(
                "{lab} predicts pictures or IDX files given as arguments; {flag} is for {labs}"
            )))
        };
        if !self.texts.is_empty() {
            return refuse("--text/--text-file", "the text labs");
        }
        if !self.nodes.is_empty() {
            return refuse("--node", "the gcn lab");
        }
        if self.json {
            return refuse("--json", "the text and graph labs");
        }
        if self.explain {
            return refuse("--explain", "the transformer");
        }
        if self.inputs.is_empty() {
            return Err(Error::Usage(format!("{lab}: name the files to predict")));
        }
        Ok(&self.inputs)
    }

    /// The texts of a request to a text lab.
    pub fn texts(&self, lab: &str) -> Result<&[String]> {
        self.refuse_out(lab)?;
        if !self.nodes.is_empty() {
            return Err(Error::Usage(format!(
                "{lab} reads text: --node is for the gcn lab"
            )));
        }
        if !self.inputs.is_empty() {
            return Err(Error::Usage(format!(
                "{lab} reads text: give it with --text \"...\" or --text-file FILE, not as a file argument ({})",
                self.inputs[0].display()
            )));
        }
        if self.texts.is_empty() {
            return Err(Error::Usage(format!(
                "{lab}: give a text with --text \"...\" or --text-file FILE"
            )));
        }
        if let Some(k) = self.texts.iter().position(|t| t.trim().is_empty()) {
            return Err(Error::Usage(format!(
                "{lab}: text {} is empty: there is nothing to read",
                k + 1
            )));
        }
        Ok(&self.texts)
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

/// Declares the labs in the lecture's order: `Variant => module::Type` makes `Lab::Variant`, the
/// subcommand `neurons run <variant-in-kebab-case>` with `module::Type`'s options, and the
/// dispatch of every command to `module::Type`'s [`LabSpec`] functions.
macro_rules! registry {
    ($($variant:ident => $module:ident :: $spec:ident,)*) => {
        $(pub mod $module;)*

        /// Every lab that `neurons run` knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Lab {
            $($variant,)*
        }

        /// `neurons run <lab>`: one subcommand per lab, each with its own typed flags.
        #[derive(Debug, Clone, clap::Subcommand)]
        pub enum LabCommand {
            $(
                #[command(about = <$module::$spec as LabSpec>::INFO.shows)]
                $variant(LabRun<<$module::$spec as LabSpec>::Options>),
            )*
        }

        impl Lab {
            pub const ALL: &[Lab] = &[$(Lab::$variant,)*];

            pub fn info(self) -> LabInfo {
                match self {
                    $(Lab::$variant => <$module::$spec as LabSpec>::INFO,)*
                }
            }

            pub fn resume(self, run: &RunDir, console: &Console) -> Result<Summary> {
                match self {
                    $(Lab::$variant => <$module::$spec as LabSpec>::resume(run, console),)*
                }
            }

            pub fn predict(self, run: &RunDir, request: &PredictRequest) -> Result<Vec<String>> {
                match self {
                    $(Lab::$variant => <$module::$spec as LabSpec>::predict(run, request),)*
                }
            }

            pub fn serve(self, run: &RunDir) -> Result<Box<dyn Served>> {
                match self {
                    $(Lab::$variant => <$module::$spec as LabSpec>::serve(run),)*
                }
            }

            pub fn generate(self, run: &RunDir, request: &GenerateRequest) -> Result<()> {
                match self {
                    $(Lab::$variant => <$module::$spec as LabSpec>::generate(run, request),)*
                }
            }
        }

        impl LabCommand {
            pub fn lab(&self) -> Lab {
                match self {
                    $(LabCommand::$variant(_) => Lab::$variant,)*
                }
            }

            /// The flags every lab takes, as given.
            pub fn common(&self) -> &RunOptions {
                match self {
                    $(LabCommand::$variant(args) => &args.common,)*
                }
            }

            /// Refuses flags that cannot make a run, before anything is created.
            pub fn validate(&self) -> Result<()> {
                match self {
                    $(LabCommand::$variant(args) => {
                        args.common.validate()?;
                        <$module::$spec as LabSpec>::check(&args.common, &args.lab)
                    })*
                }
            }

            /// Trains the lab into `run`.
            pub fn run(&self, run: &RunDir, console: &Console) -> Result<Summary> {
                match self {
                    $(LabCommand::$variant(args) => {
                        <$module::$spec as LabSpec>::run(&args.common, &args.lab, run, console)
                    })*
                }
            }
        }
    };
}

registry! {
    LinearRegression => linear_regression::LinearRegressionLab,
    PolynomialRegression => polynomial_regression::PolynomialRegressionLab,
    LogisticRegression => logistic_regression::LogisticRegressionLab,
    Perceptron => perceptron::PerceptronLab,
    Kmeans => kmeans::KmeansLab,
    Pca => pca::PcaLab,
    MlpRegression => mlp_regression::MlpRegressionLab,
    MlpClassifier => mlp_classifier::MlpClassifierLab,
    Cnn => cnn::CnnLab,
    Rnn => rnn::RnnLab,
    Sentiment => sentiment::SentimentLab,
    Transformer => transformer::TransformerLab,
    Gcn => gcn::GcnLab,
    Autoencoder => autoencoder::AutoencoderLab,
    Vae => vae::VaeLab,
    Gan => gan::GanLab,
    Cgan => cgan::CganLab,
    Pix2pix => pix2pix::Pix2PixLab,
    SuperResolution => super_resolution::SuperResolutionLab,
}

impl Lab {
    /// The lab that made a run, read from its `config.toml`.
    pub fn of_run(run: &RunDir) -> Result<Lab> {
        let LabOfRun { lab } = run.read_toml("config.toml")?;
        Lab::ALL
            .iter()
            .copied()
            .find(|l| l.info().name == lab)
            .ok_or_else(|| Error::BadRunDir {
                path: run.file("config.toml"),
                reason: format!("unknown lab {lab:?}"),
            })
    }
}
