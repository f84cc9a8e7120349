//! The command line: `neurons list | run | predict | generate | inpaint | tour | report | serve |
//! bench`.
//!
//! Arguments are parsed by clap into typed values, then each subcommand calls the library. Errors
//! come back as values; `main` prints them on one line and picks the exit code.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::course::{ReportEntry, finish, write_report};
use crate::error::Error;
use crate::labs::{Lab, LabCommand, PredictRequest};
use crate::report::RunDir;
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
    /// Fill a hole in digits with a trained gan or cgan (Yeh et al. 2017), or measure it (--evaluate)
    Inpaint(crate::inpaint::InpaintArgs),
    /// Run every lab in the lecture's order into one folder, then write its HTML report
    Tour(crate::course::TourArgs),
    /// Make one self-contained HTML page of run directories (what a tour writes at its end)
    Report(ReportArgs),
    /// Serve a page on 127.0.0.1 to play with trained models (draw a digit, move in a VAE's plane...)
    Serve(crate::serve::ServeArgs),
    /// Time the benchmark workloads (samples per second); bench/compare.sh puts them beside PyTorch
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// One JSON object per workload, as the PyTorch reference prints
    #[arg(long)]
    pub json: bool,
    /// Multiply the number of samples of each workload
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub scale: f64,
    /// Threads for the computations
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub threads: usize,
    /// Workloads to run (default: all of them)
    #[arg(value_enum)]
    pub workloads: Vec<crate::bench::Workload>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories, of any labs (a tour's are DIR/<lab>)
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The HTML file to write
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
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
    #[arg(long, allow_negative_numbers = true)]
    pub digit: Option<usize>,
    /// How many images
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub count: usize,
    /// Seed of the noise: the same seed draws the same images
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// The PNG file to write
    #[arg(long)]
    pub out: PathBuf,
}

/// `neurons run <lab> [flags]`, or `neurons run --resume RUN_DIR`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "LAB",
    subcommand_help_heading = "Labs"
)]
pub struct RunArgs {
    /// The lab to run, with its flags (`neurons run <lab> --help` lists them)
    #[command(subcommand)]
    pub lab: Option<LabCommand>,
    /// Continue the run in this directory from its last checkpoint (all settings come from it)
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// With --resume: print summary.json on stdout at the end
    #[arg(long, requires = "resume")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The run directory whose model predicts
    #[arg(long)]
    pub run: PathBuf,
    /// Inputs: PNG pictures of a digit, IDX image files, or a CSV of features
    #[arg(required_unless_present_any = ["text", "text_file", "node"])]
    pub inputs: Vec<PathBuf>,
    /// A text to classify (text labs); may be repeated
    #[arg(long)]
    pub text: Vec<String>,
    /// A file of texts to classify, one per line (text labs)
    #[arg(long, value_name = "FILE")]
    pub text_file: Option<PathBuf>,
    /// One JSON object per line (text labs)
    #[arg(long)]
    pub json: bool,
    /// Also print the words the model weighed most (transformer)
    #[arg(long)]
    pub explain: bool,
    /// A node of the run's graph whose class to predict (gcn), by its id; may be repeated
    #[arg(long)]
    pub node: Vec<String>,
    /// The picture to write (autoencoder, pix2pix, super-resolution): the restored image, or
    /// the restored images side by side
    #[arg(long, value_name = "FILE.png")]
    pub out: Option<PathBuf>,
}

/// The largest `bench --scale`: the biggest workload's inputs then take about 2 GB.
const MAX_BENCH_SCALE: f64 = 10.0;
/// More threads than any machine here has cores would only measure the scheduler.
const MAX_BENCH_THREADS: usize = 256;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    // Everything runs on the worker threads of one pool (as many as the cores, or `bench
    // --threads`): with the main thread outside the pool, N workers spinning for work and the
    // main thread issuing it would share N cores, which made mlp_train slower on two threads
    // than on one.
    let threads = match &cli.command {
        // checked before the pool is built: 100,000 threads would exhaust the memory first
        Command::Bench(args) if !(1..=MAX_BENCH_THREADS).contains(&args.threads) => {
            return Err(Error::Usage(format!(
                "--threads {}: from 1 to {MAX_BENCH_THREADS}",
                args.threads
            ))
            .into());
        }
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
        Command::Inpaint(args) => Ok(crate::inpaint::inpaint(&args)?),
        Command::Tour(args) => crate::course::tour(&args),
        Command::Report(args) => report(args),
        Command::Serve(args) => crate::serve::serve(&args),
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
    if let Some(dir) = &args.resume {
        let console = Console::new(args.json);
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
        return Ok(finish(&run, &summary, &console, args.json, None)?);
    }
    let Some(command) = args.lab else {
        return Err(Error::Usage("name a lab to run, or --resume RUN_DIR".to_string()).into());
    };
    command.validate()?;
    let (lab, common) = (command.lab(), command.common());
    let console = Console::new(common.json);
    let run = RunDir::create(common.out.as_deref(), lab.info().name)?;
    let summary = match command.run(&run, &console) {
        Ok(summary) => summary,
        // A lab that fails before writing anything (its data refused once read, say) leaves no
        // empty run directory behind to mislead: the error alone says what went wrong.
        Err(err) if run.remove_if_untouched() => return Err(err.into()),
        Err(err) => {
            return Err(anyhow::Error::from(err).context(format!(
                "{} failed (run directory {})",
                lab.info().name,
                run.path().display()
            )));
        }
    };
    Ok(finish(
        &run,
        &summary,
        &console,
        common.json,
        Some(common.quick),
    )?)
}

fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let run = RunDir::open(&args.run)?;
    let lab = Lab::of_run(&run)?;
    let mut texts = args.text;
    if let Some(path) = &args.text_file {
        texts.extend(crate::data::text::read_lines(path)?);
    }
    let request = PredictRequest {
        inputs: args.inputs,
        texts,
        json: args.json,
        explain: args.explain,
        nodes: args.node,
        out: args.out,
    };
    for line in lab.predict(&run, &request)? {
        print_line(&line);
    }
    Ok(())
}

fn generate(args: GenerateArgs) -> anyhow::Result<()> {
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
    if let Some(z) = &args.z
        && let Some(v) = z.iter().find(|v| !v.is_finite())
    {
        return Err(Error::Usage(format!("--z: {v} is not a point of the latent space")).into());
    }
    let run = RunDir::open(&args.run)?;
    let lab = Lab::of_run(&run)?;
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

fn report(args: ReportArgs) -> anyhow::Result<()> {
    // every directory is read before anything is written
    for dir in &args.runs {
        RunDir::open(dir)?;
    }
    let entries: Vec<ReportEntry> = args
        .runs
        .iter()
        .map(|dir| ReportEntry {
            dir: dir.clone(),
            failure: None,
        })
        .collect();
    write_report(
        &entries,
        &args.out,
        &format!(
            "{} run directories, report made {}",
            entries.len(),
            chrono::Local::now().format("%Y-%m-%d %H:%M")
        ),
    )?;
    print_line(&format!("wrote {}", args.out.display()));
    Ok(())
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    // (--threads was checked before the thread pool was built)
    if !(args.scale.is_finite() && args.scale > 0.0 && args.scale <= MAX_BENCH_SCALE) {
        return Err(
            Error::Usage(format!(
                "--scale must be above 0 and at most {MAX_BENCH_SCALE} (the inputs are made in memory first)"
            ))
            .into(),
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

/// clap's message for a usage mistake on one line, like every other error of `neurons`: its
/// first line and the usage of the command it concerns (e.g. `error: unexpected argument '--k'
/// found (usage: neurons run pca [OPTIONS]; see --help)`). `None` for `--help` and `--version`,
/// which clap prints itself.
pub fn usage_line(err: &clap::Error) -> Option<String> {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return None;
    }
    let text = err.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("error: bad usage");
    // clap lists what the first line speaks of on the lines below it (the missing arguments):
    // they join the one line, or it would name nothing
    let mut details = Vec::new();
    let mut usage = None;
    for line in lines {
        if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u);
        } else if usage.is_none() && !line.starts_with("tip:") && !line.starts_with("For more") {
            details.push(line);
        }
    }
    let first = match details.is_empty() {
        true => first.to_string(),
        false => format!("{first} {}", details.join(", ")),
    };
    Some(match usage {
        Some(usage) => format!("{first} (usage: {usage}; see --help)"),
        None => first,
    })
}
