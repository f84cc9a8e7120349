//! # Sequences data: a recurrent network (RNN; FIDLE LADYBUG1)
//!
//! A GRU reads a window of 20 positions x₁…x₂₀ one after the other, carrying a hidden state:
//! zₜ = σ(W_z·xₜ + U_z·hₜ₋₁ + b_z), rₜ = σ(W_r·xₜ + U_r·hₜ₋₁ + b_r),
//! ñₜ = tanh(W_n·xₜ + rₜ ⊙ (U_n·hₜ₋₁ + b_n)), hₜ = (1 − zₜ) ⊙ ñₜ + zₜ ⊙ hₜ₋₁;
//! then x̂₂₁ = W·h₂₀ + b, trained on MSE = (1/2B)·Σ ‖x̂₂₁ − x₂₁‖².
//!
//! Shows a network with a memory: from where a ladybug has been, where it goes next, and, fed its
//! own predictions, where it goes after that. Data: the ladybug's path (generated, as in FIDLE:
//! each coordinate a sum of four waves), 25,000 positions 0.02 apart, the first 80% to train on,
//! the rest to test; coordinates standardized on the training part. The model is the
//! benchmark's `gru_train` (GRU 2→200, Linear 200→2), through the fused GRU kernel. Expected
//! (seed 1; distances in standard deviations of the path): the next position within 0.012, eight
//! times nearer than continuing the last step in a straight line (0.097); ten positions ahead on
//! its own predictions 0.68 (a straight line: 3.5); in about 14 s. `--quick`: 0.063 and 1.07.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{LabInfo, LabSpec, Reference, RunOptions, TrainingArgs};
use crate::data::download::refuse_other_hash;
use crate::data::table::Standardizer;
use crate::data::trajectory::{SequenceItem, ladybug, sha256_of_ladybug, windows};
use crate::error::{Error, Result};
use crate::models::forecaster::{GruForecaster, RnnModelConfig};
use crate::report::config::VERSION;
use crate::report::plot::{Curve, PointGroup, Scatter, learning_curves, scatter_chart};
use crate::report::{MetricsLog, RunDir, Summary};
use crate::train::Console;
use crate::train::config::TrainingConfig;
use crate::train::config::TrainingDefaults;
use crate::train::fit::train_model;
use crate::train::forecast::{Forecast, predict};

pub const INFO: LabInfo = LabInfo {
    name: "rnn",
    chapter: "Sequences data: RNN (FIDLE LADYBUG1)",
    dataset: "ladybug (generated)",
    shows: "a GRU learns where a ladybug walks next from its last 20 positions",
    formula: "hₜ = GRU(xₜ, hₜ₋₁),  x̂ₜ₊₁ = W·hₜ + b",
    reference: Reference {
        dataset: "ladybug",
        metric: "distance",
        expected: 0.012,
        higher_is_better: false,
        compared_with: "going straight on: 0.097",
    },
};

/// The flags of `neurons run rnn`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub training: TrainingArgs,
}

pub struct RnnLab;

impl LabSpec for RnnLab {
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

    fn check(_options: &RunOptions, args: &Options) -> Result<()> {
        args.training.validate()
    }

    fn resume(dir: &RunDir, console: &Console) -> Result<Summary> {
        resume(dir, console)
    }
}

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnConfig {
    pub lab: String,
    pub neurons_version: String,
    pub data: TrajectoryData,
    pub training: TrainingConfig,
    pub model: RnnModelConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryData {
    pub dataset: String,
    pub points: usize,
    /// Time between two positions.
    pub dt: f64,
    /// Seed of the path's waves (the same path whatever the training seed).
    pub path_seed: u64,
    /// The share of the path, from its start, to train on.
    pub train_fraction: f64,
    /// Positions in a window.
    pub steps: usize,
    /// SHA-256 of the parameters above ([`sha256_of_ladybug`]): a resumed run refuses a `[data]`
    /// section edited since it started (by mistake: deleting this line as well skips the check).
    /// Absent from runs of versions before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl TrajectoryData {
    /// Refuses a path that cannot make windows to train on and to test (a `config.toml` edited
    /// by hand): both parts must hold a window and the positions forecast after it.
    fn validate(&self, file: &std::path::Path) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::BadRunDir {
                path: file.to_path_buf(),
                reason: format!("[data] {reason}"),
            })
        };
        if !(self.train_fraction > 0.0 && self.train_fraction < 1.0) {
            return bad(format!(
                "train_fraction = {}: a share strictly between 0 and 1",
                self.train_fraction
            ));
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return bad(format!("dt = {}: a positive time step", self.dt));
        }
        if self.steps < 2 || self.steps > 10_000 {
            return bad(format!(
                "steps = {}: 2 to 10,000 positions a window",
                self.steps
            ));
        }
        if self.points > 10_000_000 {
            return bad(format!("points = {}: at most 10,000,000", self.points));
        }
        let train = cut(self);
        // the forecasts start from 100 places of the test part and go HORIZON steps ahead
        let needed = self.steps + HORIZON + 100;
        if train <= self.steps || self.points - train < needed {
            return bad(format!(
                "points = {}: {train} to train on and {} to test; each part needs more than a window ({} positions), the test part {needed}",
                self.points,
                self.points - train,
                self.steps
            ));
        }
        Ok(())
    }
}

/// Adam and batches of 32, as FIDLE.
const DEFAULTS: TrainingDefaults = TrainingDefaults::adam(5, 2, 32);

const POINTS: usize = 25_000;
const QUICK_POINTS: usize = 5_000;
/// How far the forecasts fed with their own predictions go.
const HORIZON: usize = 10;

// --- Training ----------------------------------------------------------------------------------

/// The positions to train on.
fn cut(data: &TrajectoryData) -> usize {
    (data.points as f64 * data.train_fraction) as usize
}

/// The fingerprint of the path `data` describes ([`sha256_of_ladybug`]).
fn fingerprint(data: &TrajectoryData) -> String {
    sha256_of_ladybug(data.points, data.dt, data.path_seed, cut(data), data.steps)
}

/// The standardized path, cut into its training part and its test part.
fn load(data: &TrajectoryData, standardizer: Option<&Standardizer>) -> (Standardizer, Path) {
    let raw: Vec<Vec<f64>> = ladybug(data.points, data.dt, data.path_seed)
        .iter()
        .map(|p| p.to_vec())
        .collect();
    let train_positions = cut(data);
    let standardizer = standardizer
        .cloned()
        .unwrap_or_else(|| Standardizer::fit(&raw[..train_positions]));
    let path = standardizer.transform(&raw);
    let test = path[train_positions..].to_vec();
    let mut train = path;
    train.truncate(train_positions);
    (standardizer, Path { train, test })
}

struct Path {
    train: Vec<Vec<f64>>,
    test: Vec<Vec<f64>>,
}

pub fn run(
    options: &RunOptions,
    args: &Options,
    run: &RunDir,
    console: &Console,
) -> Result<Summary> {
    if options.data.is_some() || options.dataset.as_deref().is_some_and(|d| d != "ladybug") {
        return Err(Error::Usage(format!(
            "{}: the data are the generated ladybug path (--dataset ladybug)",
            INFO.name
        )));
    }
    let mut data = TrajectoryData {
        dataset: "ladybug".to_string(),
        points: if options.quick { QUICK_POINTS } else { POINTS },
        dt: 0.02,
        path_seed: 122,
        train_fraction: 0.8,
        steps: 20,
        sha256: None,
    };
    data.sha256 = Some(fingerprint(&data));
    let (standardizer, _) = load(&data, None);
    let config = RnnConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        data,
        training: options.training(&args.training, &DEFAULTS),
        model: RnnModelConfig {
            hidden: 200,
            standardizer,
        },
    };
    run.write_toml("config.toml", &config)?;
    train(&config, run, console, false)
}

/// Continues a run from its last checkpoint.
pub fn resume(run: &RunDir, console: &Console) -> Result<Summary> {
    let config: RnnConfig = run.read_toml("config.toml")?;
    config.data.validate(&run.file("config.toml"))?;
    if let Some(expected) = &config.data.sha256 {
        refuse_other_hash(
            &run.file("config.toml"),
            expected,
            fingerprint(&config.data),
        )?;
    }
    let model = &config.model;
    let s = &model.standardizer;
    if !(1..=crate::train::config::limits::MAX_WIDTH).contains(&model.hidden)
        || s.mean.len() != 2
        || s.mean.iter().any(|m| !m.is_finite())
        || s.std.len() != 2
        || s.std.iter().any(|v| !(v.is_finite() && *v > 0.0))
    {
        return Err(Error::BadRunDir {
            path: run.file("config.toml"),
            reason: "[model] hidden must be from 1 to 4096 and the standardizer hold two finite means and two positive standard deviations".to_string(),
        });
    }
    train(&config, run, console, true)
}

fn train(config: &RnnConfig, run: &RunDir, console: &Console, resume: bool) -> Result<Summary> {
    let (_, path) = load(&config.data, Some(&config.model.standardizer));
    let steps = config.data.steps;
    let (train_items, test_items) = (windows(&path.train, steps), windows(&path.test, steps));
    let training = &config.training;
    console.line(&format!(
        "{}: {} train / {} test windows of {} positions, {} epochs of batches of {}, {} η={}",
        INFO.name,
        train_items.len(),
        test_items.len(),
        steps,
        training.epochs,
        training.batch_size,
        training.optimizer,
        training.learning_rate
    ));
    let task = Forecast::new(train_items, test_items.clone(), steps);
    let (trained, device) = train_model(
        &task,
        training,
        |device| config.model.init(device),
        run,
        console,
        resume,
    )?;
    let model = &trained.model;

    // one step ahead, against two ways of guessing without learning
    let predicted = predict(model, &test_items, steps, &device)?;
    let truth: Vec<[f64; 2]> = test_items.iter().map(|i| point(&i.y)).collect();
    let last = |i: &SequenceItem, back: usize| point(&i.x[(steps - back) * 2..]);
    let stay: Vec<[f64; 2]> = test_items.iter().map(|i| last(i, 1)).collect();
    let straight: Vec<[f64; 2]> = test_items
        .iter()
        .map(|i| {
            let (a, b) = (last(i, 2), last(i, 1));
            [2.0 * b[0] - a[0], 2.0 * b[1] - a[1]]
        })
        .collect();
    let model_points: Vec<[f64; 2]> = predicted.iter().map(|p| point(p)).collect();
    let distance = mean_distance(&model_points, &truth);
    console.line(&format!(
        "next position: {distance:.4} from the truth (standing still {:.4}, straight on {:.4})",
        mean_distance(&stay, &truth),
        mean_distance(&straight, &truth)
    ));

    // HORIZON steps ahead, feeding the predictions back, from starts spread over the test path
    let starts: Vec<usize> = (0..100)
        .map(|k| k * (path.test.len() - steps - HORIZON) / 100)
        .collect();
    let forecasts = forecast(model, &path.test, &starts, steps, &device)?;
    let horizon_truth: Vec<[f64; 2]> = starts
        .iter()
        .map(|&s| point_of(&path.test[s + steps + HORIZON - 1]))
        .collect();
    let horizon_model: Vec<[f64; 2]> = forecasts.iter().map(|f| f[HORIZON - 1]).collect();
    let horizon_straight: Vec<[f64; 2]> = starts
        .iter()
        .map(|&s| {
            let (a, b) = (
                point_of(&path.test[s + steps - 2]),
                point_of(&path.test[s + steps - 1]),
            );
            let k = HORIZON as f64;
            [b[0] + k * (b[0] - a[0]), b[1] + k * (b[1] - a[1])]
        })
        .collect();
    let horizon_distance = mean_distance(&horizon_model, &horizon_truth);
    console.line(&format!(
        "{HORIZON} positions ahead, on its own predictions: {horizon_distance:.4} (straight on {:.4})",
        mean_distance(&horizon_straight, &horizon_truth)
    ));

    draw(run, &trained.log, &path.test, &model_points, steps)?;
    draw_forecast(run, &path.test, starts[1], &forecasts[1], steps)?;
    let metrics = std::collections::BTreeMap::from([
        ("distance".to_string(), distance),
        (
            "rmse".to_string(),
            (mean_squared(&model_points, &truth) / 2.0).sqrt(),
        ),
        (
            "baseline_distance_standing_still".to_string(),
            mean_distance(&stay, &truth),
        ),
        (
            "baseline_distance_straight_on".to_string(),
            mean_distance(&straight, &truth),
        ),
        (format!("distance_{HORIZON}_ahead"), horizon_distance),
        (
            format!("baseline_distance_{HORIZON}_ahead_straight_on"),
            mean_distance(&horizon_straight, &horizon_truth),
        ),
    ]);
    Ok(trained.summary(INFO.name, &config.data.dataset, training, metrics))
}

fn point(values: &[f32]) -> [f64; 2] {
    [values[0] as f64, values[1] as f64]
}

fn point_of(values: &[f64]) -> [f64; 2] {
    [values[0], values[1]]
}

fn mean_squared(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let n = a.len().max(1) as f64;
    a.iter()
        .zip(b)
        .map(|(p, q)| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2))
        .sum::<f64>()
        / n
}

fn mean_distance(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let n = a.len().max(1) as f64;
    a.iter()
        .zip(b)
        .map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
        .sum::<f64>()
        / n
}

/// From each start, the `HORIZON` positions the model predicts after the window there, each
/// prediction becoming the newest position of the next window.
fn forecast(
    model: &GruForecaster,
    path: &[Vec<f64>],
    starts: &[usize],
    steps: usize,
    device: &Device,
) -> Result<Vec<Vec<[f64; 2]>>> {
    let mut items: Vec<SequenceItem> = starts
        .iter()
        .map(|&s| SequenceItem {
            x: path[s..s + steps]
                .iter()
                .flatten()
                .map(|&v| v as f32)
                .collect(),
            y: vec![0.0; 2],
        })
        .collect();
    let mut out = vec![Vec::with_capacity(HORIZON); starts.len()];
    for _ in 0..HORIZON {
        let next = predict(model, &items, steps, device)?;
        for ((item, p), track) in items.iter_mut().zip(&next).zip(&mut out) {
            item.x.drain(..2);
            item.x.extend_from_slice(p);
            track.push(point(p));
        }
    }
    Ok(out)
}

// --- Pictures ----------------------------------------------------------------------------------

/// The loss curves, and a stretch of the test path with the positions predicted one step ahead.
fn draw(
    run: &RunDir,
    log: &MetricsLog,
    test_path: &[Vec<f64>],
    predicted: &[[f64; 2]],
    steps: usize,
) -> Result<()> {
    learning_curves(
        &run.file("loss.png"),
        "RNN: MSE of the next position",
        "MSE",
        log,
        None,
    )?;
    let shown = 150.min(predicted.len());
    let mut plot = Scatter::new(
        "RNN: the ladybug's test path and the positions predicted one step ahead",
        "x (standardized)",
        "y (standardized)",
    );
    plot.curves.push(Curve {
        label: "true path".to_string(),
        points: test_path[steps..steps + shown]
            .iter()
            .map(|p| (p[0], p[1]))
            .collect(),
    });
    // both paths as lines: the prediction of each position, joined in order
    plot.curves.push(Curve {
        label: "predicted, each position from the 20 before".to_string(),
        points: predicted[..shown].iter().map(|p| (p[0], p[1])).collect(),
    });
    scatter_chart(&run.file("trajectory.png"), &plot)
}

/// For one start: the window the model saw, what followed, and what it forecast.
fn draw_forecast(
    run: &RunDir,
    test_path: &[Vec<f64>],
    start: usize,
    forecast: &[[f64; 2]],
    steps: usize,
) -> Result<()> {
    let mut plot = Scatter::new(
        "RNN: 10 positions ahead, each prediction fed back as the newest position",
        "x (standardized)",
        "y (standardized)",
    );
    let stretch = |from: usize, to: usize| -> Vec<(f64, f64)> {
        test_path[from..to].iter().map(|p| (p[0], p[1])).collect()
    };
    let seen = stretch(start, start + steps);
    let followed = stretch(start + steps - 1, start + steps + HORIZON);
    plot.groups.push(PointGroup {
        label: format!("the {steps} positions seen"),
        points: seen,
    });
    plot.groups.push(PointGroup {
        label: "what followed".to_string(),
        points: followed[1..].to_vec(),
    });
    plot.groups.push(PointGroup {
        label: "forecast".to_string(),
        points: forecast.iter().map(|p| (p[0], p[1])).collect(),
    });
    scatter_chart(&run.file("forecast.png"), &plot)
}
