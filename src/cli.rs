//! The command line: `neurons list | run | predict`.
//!
//! Arguments are parsed by clap into typed values, then each subcommand calls the library. Errors
//! come back as values; `main` prints them on one line and picks the exit code.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::error::Error;
use crate::labs::{Lab, RunOptions};
use crate::report::{RunDir, Summary};
use crate::train::progress::print_line;
use crate::train::{Console, DeviceChoice};

#[derive(Debug, Parser)]
#[command(
    name = "neurons",
    version,
    about = "Every system of the FIDLE lecture \"Deep Learning, histoire et principes\", from the first neuron to GANs, as labs you can run",
    after_help = "Start with `neurons list`, then e.g. `neurons run mlp-classifier --quick`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// `run` carries many flags: the enum is built once per process, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every lab: its name, lecture chapter, default data set and what it shows
    List,
    /// Train a lab and leave a run directory with metrics, weights and pictures
    Run(RunArgs),
    /// Predict inputs with the model of a finished run
    Predict(PredictArgs),
    /// Draw new images with a generative run (vae, gan, cgan)
    Generate(GenerateArgs),
    /// Time the benchmark workloads (samples per second), as shared/bench/pytorch_reference.py
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// One JSON object per workload, as the PyTorch reference prints
    #[arg(long)]
    pub json: bool,
    /// Multiply the number of samples of each workload
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Threads for the computations
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Workloads to run (default: all six)
    #[arg(value_enum)]
    pub workloads: Vec<crate::bench::Workload>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The run directory of a generative lab
    #[arg(long)]
    pub run: PathBuf,
    /// A point of the latent space, e.g. 0.5,-1 (vae)
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub z: Option<Vec<f64>>,
    /// The digit to draw, 0 to 9 (cgan)
    #[arg(long)]
    pub digit: Option<usize>,
    /// How many images
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Seed of the noise: the same seed draws the same images
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The PNG file to write
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The lab to run (see `neurons list`)
    #[arg(value_enum, required_unless_present = "resume")]
    pub lab: Option<Lab>,
    /// Continue the run in this directory from its last checkpoint (all settings come from it)
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["lab", "epochs", "batch_size", "lr", "lr_schedule", "optimizer", "weight_decay", "early_stopping", "dataset", "data", "out", "quick"])]
    pub resume: Option<PathBuf>,
    /// Passes over the training data (default: the lab's)
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Samples per optimizer step (default: the lab's)
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate (default: the lab's)
    #[arg(long)]
    pub lr: Option<f64>,
    /// How the learning rate changes over the run (default: the lab's)
    #[arg(long, value_enum)]
    pub lr_schedule: Option<crate::train::schedule::LrSchedule>,
    /// The update rule (default: the lab's)
    #[arg(long, value_enum)]
    pub optimizer: Option<crate::train::optimizer::OptimizerKind>,
    /// L2 penalty on the weights (decoupled for adamw)
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Stop after N epochs without a better test loss, keeping the best weights
    #[arg(long, value_name = "N")]
    pub early_stopping: Option<usize>,
    /// Seed of every random choice: same seed, same machine, same metrics
    #[arg(long, default_value_t = 1)]
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
    #[command(flatten)]
    pub lab_args: crate::labs::LabArgs,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The run directory whose model predicts
    #[arg(long)]
    pub run: PathBuf,
    /// Inputs: PNG pictures of a digit, or IDX image files
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    // Everything runs on the worker threads of one pool (as many as the cores, or `bench
    // --threads`): with the main thread outside the pool, N workers spinning for work and the
    // main thread issuing it would share N cores, which made mlp_train slower on two threads
    // than on one.
    let threads = match &cli.command {
        Command::Bench(args) => args.threads,
        _ => 0, // rayon's default: one per core
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the thread pool: {e}"))?;
    pool.install(|| match cli.command {
        Command::List => {
            list();
            Ok(())
        }
        Command::Run(args) => run_lab(args),
        Command::Predict(args) => predict(args),
        Command::Generate(args) => generate(args),
        Command::Bench(args) => bench(args),
    })
}

fn list() {
    let labs: Vec<_> = Lab::ALL.iter().map(|l| l.info()).collect();
    let name_width = labs.iter().map(|l| l.name.len()).max().unwrap_or(0);
    let chapter_width = labs.iter().map(|l| l.chapter.len()).max().unwrap_or(0);
    let dataset_width = labs.iter().map(|l| l.dataset.len()).max().unwrap_or(0);
    for lab in labs {
        print_line(&format!(
            "{:name_width$}  {:chapter_width$}  {:dataset_width$}  {}",
            lab.name, lab.chapter, lab.dataset, lab.shows
        ));
    }
}

fn run_lab(args: RunArgs) -> anyhow::Result<()> {
    let console = Console::new(args.json);
    if let Some(dir) = &args.resume {
        let run = RunDir::open(dir)?;
        if run.file("summary.json").exists() {
            return Err(Error::Usage(format!(
                "{}: this run is complete (summary.json); nothing to resume",
                dir.display()
            ))
            .into());
        }
        let lab = Lab::of_run(&run)?;
        let summary = lab.resume(&run, &console).with_context(|| {
            format!(
                "{} failed (run directory {})",
                lab.info().name,
                run.path().display()
            )
        })?;
        return finish(&run, &summary, &console, args.json);
    }
    let Some(lab) = args.lab else {
        return Err(Error::Usage("name a lab to run, or --resume RUN_DIR".to_string()).into());
    };
    if args.epochs == Some(0) || args.batch_size == Some(0) || args.early_stopping == Some(0) {
        return Err(Error::Usage(
            "--epochs, --batch-size and --early-stopping must be at least 1".to_string(),
        )
        .into());
    }
    if let Some(wd) = args.weight_decay
        && !(wd.is_finite() && wd >= 0.0)
    {
        return Err(Error::Usage(format!("--weight-decay {wd}: must be a number ≥ 0")).into());
    }
    if let Some(lr) = args.lr
        && !(lr.is_finite() && lr > 0.0)
    {
        return Err(Error::Usage(format!(
            "--lr {lr}: the learning rate must be a positive number"
        ))
        .into());
    }
    let training_flags: Vec<&'static str> = [
        ("--optimizer", args.optimizer.is_some()),
        ("--weight-decay", args.weight_decay.is_some()),
        ("--lr-schedule", args.lr_schedule.is_some()),
        ("--early-stopping", args.early_stopping.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect();
    lab.check_flags(&args.lab_args, &training_flags)?;
    let options = RunOptions {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        lr_schedule: args.lr_schedule,
        optimizer: args.optimizer,
        weight_decay: args.weight_decay,
        early_stopping: args.early_stopping,
        seed: args.seed,
        device: args.device,
        dataset: args.dataset,
        data: args.data,
        quick: args.quick,
        lab_args: args.lab_args,
    };
    let run = RunDir::create(args.out.as_deref(), lab.info().name)?;
    let summary = lab.run(&options, &run, &console).with_context(|| {
        format!(
            "{} failed (run directory {})",
            lab.info().name,
            run.path().display()
        )
    })?;
    finish(&run, &summary, &console, args.json)
}

/// Writes `summary.json`, says where the run is, and prints the summary for `--json`.
fn finish(run: &RunDir, summary: &Summary, console: &Console, json: bool) -> anyhow::Result<()> {
    let mut written = serde_json::to_value(summary)?;
    if let (Some(seconds), Some(fields)) = (
        crate::runtime::seconds_to_first_batch(),
        written.as_object_mut(),
    ) {
        fields.insert("seconds_to_first_batch".into(), seconds.into());
    }
    run.write_json("summary.json", &written)?;
    crate::train::fit::remove_checkpoints(run)?;
    let metrics: Vec<String> = if summary.metrics.len() <= 6 {
        summary
            .metrics
            .iter()
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect()
    } else {
        vec![format!("{} figures in summary.json", summary.metrics.len())]
    };
    console.line(&format!(
        "done in {:.1} s: {}; run directory {}",
        summary.train_seconds,
        metrics.join(", "),
        run.path().display()
    ));
    if json {
        print_line(&serde_json::to_string_pretty(&written)?);
    }
    Ok(())
}

fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let run = RunDir::open(&args.run)?;
    let lab = Lab::of_run(&run)?;
    for line in lab.predict(&run, &args.inputs)? {
        print_line(&line);
    }
    Ok(())
}

fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let run = RunDir::open(&args.run)?;
    let lab = Lab::of_run(&run)?;
    if let Some(digit) = args.digit
        && digit > 9
    {
        return Err(Error::Usage(format!("--digit {digit}: a digit is 0 to 9")).into());
    }
    if args.count == 0 || args.count > 1024 {
        return Err(
            Error::Usage(format!("--count {}: between 1 and 1024 images", args.count)).into(),
        );
    }
    let request = crate::labs::GenerateRequest {
        z: args.z,
        digit: args.digit,
        count: args.count,
        seed: args.seed,
        out: args.out.clone(),
    };
    lab.generate(&run, &request)?;
    print_line(&format!("wrote {}", args.out.display()));
    Ok(())
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0) || args.threads == 0 {
        return Err(
            Error::Usage("--scale must be above 0 and --threads at least 1".to_string()).into(),
        );
    }
    let device = DeviceChoice::Cpu.device()?;
    let workloads = if args.workloads.is_empty() {
        crate::bench::Workload::ALL.to_vec()
    } else {
        args.workloads
    };
    for workload in workloads {
        let result = crate::bench::run(workload, args.scale, &device);
        if args.json {
            print_line(&serde_json::to_string(&result)?);
        } else {
            print_line(&format!(
                "{:<10} {:>7} samples in {:>8.3} s: {:>10.1} samples/s",
                result.workload, result.samples, result.seconds, result.samples_per_second
            ));
        }
    }
    Ok(())
}
