//! # The perceptron (Rosenblatt, 1958) on Fisher's Iris
//!
//! ŷ = step(wᵀx + b) ∈ {0, 1};   for each misclassified flower: w ← w + η·(y − ŷ)·x,
//! b ← b + η·(y − ŷ).
//!
//! Shows the first learning machine: it corrects itself on each mistake, and on linearly
//! separable classes it stops making any (the perceptron convergence theorem). Data: Iris petal
//! length and width, setosa against the other two species, 120 flowers to learn and 30 to test;
//! `--data FILE.csv --target COLUMN` for any binary CSV. Expected: no error left after a few
//! epochs, test accuracy 1.0. On classes that no line separates, it stops at `--epochs`, keeps the
//! best weights seen (the "pocket" variant) and says that it did not converge.

use serde::{Deserialize, Serialize};

use super::{CsvArgs, LabInfo, LabSpec, Reference, RunOptions};
use crate::data::iris;
use crate::data::table::{Features, read_binary_features, split_indices};
use crate::error::{Error, Result};
use crate::report::config::VERSION;
use crate::report::metrics::Split;
use crate::report::plot::{Curve, PointGroup, Scatter, scatter_chart};
use crate::report::{MetricsLog, RunDir, Summary};
use crate::train::Console;

pub const INFO: LabInfo = LabInfo {
    name: "perceptron",
    chapter: "Perceptron (Rosenblatt 1958), Iris plants dataset",
    dataset: "iris (embedded)",
    shows: "Rosenblatt's rule separates setosa irises from the others by their petals",
    formula: "ŷ = step(wᵀx + b);  w ← w + η(y − ŷ)x on each mistake",
    reference: Reference {
        dataset: "iris",
        metric: "accuracy",
        expected: 1.0,
        higher_is_better: true,
        compared_with: "the convergence theorem: separable classes, no error left",
    },
};

/// The flags of `neurons run perceptron`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub csv: CsvArgs,
}

pub struct PerceptronLab;

impl LabSpec for PerceptronLab {
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
}

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerceptronConfig {
    pub lab: String,
    pub neurons_version: String,
    pub seed: u64,
    pub dataset: String,
    pub target: String,
    pub features: Vec<String>,
    /// The most epochs before giving up on convergence.
    pub epochs: usize,
    pub learning_rate: f64,
    pub test_samples: usize,
}

const EPOCHS: usize = 100;
const LEARNING_RATE: f64 = 0.1;

// --- Model -------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Perceptron {
    pub w: Vec<f64>,
    pub b: f64,
}

impl Perceptron {
    /// ŷ = 1 if wᵀx + b > 0, else 0
    pub fn predict(&self, x: &[f64]) -> f64 {
        let activation: f64 = x.iter().zip(&self.w).map(|(a, b)| a * b).sum::<f64>() + self.b;
        if activation > 0.0 { 1.0 } else { 0.0 }
    }

    pub fn errors(&self, f: &Features) -> usize {
        f.x.iter()
            .zip(&f.y)
            .filter(|(x, y)| self.predict(x) != **y)
            .count()
    }
}

/// How training ended.
#[derive(Debug, Clone)]
pub struct Training {
    /// The weights of the epoch with the fewest errors (the last one when it converged).
    pub best: Perceptron,
    /// Errors made during each epoch.
    pub errors_per_epoch: Vec<usize>,
    /// The epoch after which no error was left, if any.
    pub converged_at: Option<usize>,
}

/// Rosenblatt's rule, one pass over the samples per epoch, until an epoch makes no error.
pub fn train(f: &Features, learning_rate: f64, max_epochs: usize) -> Training {
    let mut p = Perceptron {
        w: vec![0.0; f.x.first().map_or(0, Vec::len)],
        b: 0.0,
    };
    let mut best = (usize::MAX, p.clone());
    let mut errors_per_epoch = Vec::new();
    for epoch in 1..=max_epochs {
        let mut errors = 0;
        for (x, &y) in f.x.iter().zip(&f.y) {
            let delta = y - p.predict(x); // +1, 0 or −1
            if delta != 0.0 {
                errors += 1;
                for (w, xi) in p.w.iter_mut().zip(x) {
                    *w += learning_rate * delta * xi;
                }
                p.b += learning_rate * delta;
            }
        }
        errors_per_epoch.push(errors);
        let remaining = p.errors(f);
        if remaining < best.0 {
            best = (remaining, p.clone());
        }
        if errors == 0 {
            return Training {
                best: p,
                errors_per_epoch,
                converged_at: Some(epoch),
            };
        }
    }
    Training {
        best: best.1,
        errors_per_epoch,
        converged_at: None,
    }
}

// --- Training ----------------------------------------------------------------------------------

pub fn run(
    options: &RunOptions,
    args: &Options,
    run: &RunDir,
    console: &Console,
) -> Result<Summary> {
    let (dataset, target, data) = match &options.data {
        Some(path) => {
            let features =
                read_binary_features(path, args.csv.target.as_deref(), args.csv.separator()?)?;
            let target = args.csv.target.clone().unwrap_or_default();
            (path.display().to_string(), target, features)
        }
        None => {
            if options.dataset.as_deref().is_some_and(|d| d != "iris") {
                return Err(Error::Usage(format!(
                    "{}: the data are iris or --data FILE.csv --target COLUMN",
                    INFO.name
                )));
            }
            let table = iris::iris()?;
            let (length, width, species) = (
                table.column_index("petal_length")?,
                table.column_index("petal_width")?,
                table.column_index("species")?,
            );
            let data = Features {
                names: vec![
                    "petal length (cm)".to_string(),
                    "petal width (cm)".to_string(),
                ],
                x: table
                    .rows
                    .iter()
                    .map(|r| vec![r[length], r[width]])
                    .collect(),
                y: table
                    .rows
                    .iter()
                    .map(|r| if r[species] == 0.0 { 1.0 } else { 0.0 })
                    .collect(),
            };
            ("iris".to_string(), "setosa".to_string(), data)
        }
    };
    let test_fraction = 0.2; // on Iris: 120 flowers to learn, 30 to test
    let (train_idx, test_idx) = split_indices(data.len(), test_fraction, options.seed);
    let (train_set, test_set) = (data.select(&train_idx), data.select(&test_idx));
    let config = PerceptronConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        seed: options.seed,
        dataset: dataset.clone(),
        target,
        features: data.names.clone(),
        epochs: options.epochs.unwrap_or(EPOCHS),
        learning_rate: options.lr.unwrap_or(LEARNING_RATE),
        test_samples: test_set.len(),
    };
    run.write_toml("config.toml", &config)?;
    let started = std::time::Instant::now();

    let training = train(&train_set, config.learning_rate, config.epochs);
    let mut log = MetricsLog::new(&["errors"]);
    for (i, &errors) in training.errors_per_epoch.iter().enumerate() {
        console.line(&format!("epoch {:>3}: {errors} errors", i + 1));
        log.push(
            i + 1,
            Split::Train,
            errors as f64 / train_set.len() as f64,
            &[errors as f64],
        );
    }
    let test_errors = training.best.errors(&test_set);
    let accuracy = 1.0 - test_errors as f64 / test_set.len().max(1) as f64;
    log.push(
        training.errors_per_epoch.len(),
        Split::Test,
        test_errors as f64 / test_set.len().max(1) as f64,
        &[test_errors as f64],
    );
    log.write(run)?;
    let train_seconds = started.elapsed().as_secs_f64();
    match training.converged_at {
        Some(epoch) => console.line(&format!("converged: no error left after epoch {epoch}")),
        None => console.line(&format!(
            "did not converge in {} epochs (the classes may not be linearly separable); kept the best weights, {} training errors",
            config.epochs,
            training.best.errors(&train_set)
        )),
    }
    console.line(&format!(
        "test accuracy {accuracy:.4} ({test_errors} errors on {} flowers)",
        test_set.len()
    ));

    if data.names.len() == 2 {
        draw(run, &data, &training.best)?;
    }
    Ok(Summary {
        lab: INFO.name.to_string(),
        dataset,
        seed: options.seed,
        device: "cpu".to_string(),
        epochs: training.errors_per_epoch.len(),
        train_seconds,
        samples_per_second: (train_set.len() * training.errors_per_epoch.len()) as f64
            / train_seconds.max(1e-9),
        metrics: [
            ("accuracy".to_string(), accuracy),
            (
                "converged".to_string(),
                if training.converged_at.is_some() {
                    1.0
                } else {
                    0.0
                },
            ),
            (
                "epochs_to_converge".to_string(),
                training.converged_at.map_or(f64::NAN, |e| e as f64),
            ),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        .collect(),
        parameters: [
            ("w".to_string(), training.best.w.clone()),
            ("b".to_string(), vec![training.best.b]),
        ]
        .into(),
    })
}

// --- Pictures ----------------------------------------------------------------------------------

fn draw(run: &RunDir, data: &Features, p: &Perceptron) -> Result<()> {
    let mut plot = Scatter::new(
        "Perceptron: the separating line",
        &data.names[0],
        &data.names[1],
    );
    for (label, class) in [("others (0)", 0.0), ("target (1)", 1.0)] {
        let points = data
            .x
            .iter()
            .zip(&data.y)
            .filter(|(_, y)| **y == class)
            .map(|(x, _)| (x[0], x[1]))
            .collect();
        plot.groups.push(PointGroup {
            label: label.to_string(),
            points,
        });
    }
    // the line w₀x + w₁y + b = 0, drawn across the range of x when it is not vertical
    if p.w[1].abs() > 1e-12 {
        let (lo, hi) = data
            .x
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
                (lo.min(r[0]), hi.max(r[0]))
            });
        let points = (0..=100)
            .map(|i| lo + (hi - lo) * i as f64 / 100.0)
            .map(|x| (x, -(p.w[0] * x + p.b) / p.w[1]))
            .collect();
        plot.curves.push(Curve {
            label: "wᵀx + b = 0".to_string(),
            points,
        });
    }
    scatter_chart(&run.file("separation.png"), &plot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_classes_converge_with_no_error() {
        let f = Features {
            names: vec!["a".into(), "b".into()],
            x: vec![
                vec![1.0, 1.0],
                vec![2.0, 1.5],
                vec![-1.0, -1.0],
                vec![-2.0, 0.5],
            ],
            y: vec![1.0, 1.0, 0.0, 0.0],
        };
        let t = train(&f, 0.1, 100);
        assert!(t.converged_at.is_some());
        assert_eq!(t.best.errors(&f), 0);
    }

    #[test]
    fn xor_does_not_converge_and_keeps_its_best_weights() {
        let f = Features {
            names: vec!["a".into(), "b".into()],
            x: vec![
                vec![0.0, 0.0],
                vec![1.0, 1.0],
                vec![0.0, 1.0],
                vec![1.0, 0.0],
            ],
            y: vec![0.0, 0.0, 1.0, 1.0],
        };
        let t = train(&f, 0.1, 50);
        assert_eq!(t.converged_at, None);
        assert_eq!(t.errors_per_epoch.len(), 50);
        assert!(
            t.best.errors(&f) <= 2,
            "the pocket keeps weights at least as good as chance"
        );
    }
}
