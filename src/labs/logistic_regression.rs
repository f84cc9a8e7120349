//! # Logistic regression: one artificial neuron
//!
//! ŷ = σ(Θᵀ·x + b), σ(t) = 1/(1 + e⁻ᵗ);   L = −(1/n)·Σ [y·log ŷ + (1 − y)·log(1 − ŷ)].
//! ∂L/∂Θ = (1/n)·Xᵀ(ŷ − y),   ∂L/∂b = (1/n)·Σ (ŷ − y),   then Θ ← Θ − η·∂L/∂Θ, b ← b − η·∂L/∂b.
//!
//! Shows that a single neuron, trained by gradient descent, draws a line between two classes —
//! "a neural network of… 1 neuron!". Data: 1,000 synthetic students (hours of work and of sleep;
//! pass or fail), 80/20 split, standardized with the training statistics; `--poly 3` adds squared
//! and cubed terms; `--data FILE.csv --target COLUMN` for any binary CSV. Expected: about 0.9
//! test accuracy on the students (the rule that made them is noisy), `--quick` close to it.

use serde::{Deserialize, Serialize};

use super::{CsvArgs, LabInfo, LabSpec, Reference, RunOptions};
use crate::data::synthetic;
use crate::data::table::{Features, Standardizer, read_binary_features, split_indices};
use crate::error::{Error, Result};
use crate::report::config::VERSION;
use crate::report::metrics::Split;
use crate::report::plot::{PointGroup, Scatter, learning_curves, scatter_chart};
use crate::report::{MetricsLog, RunDir, Summary};
use crate::train::Console;

pub const INFO: LabInfo = LabInfo {
    name: "logistic-regression",
    chapter: "Logistic regression (an artificial neuron)",
    dataset: "synthetic students",
    shows: "one neuron with a sigmoid learns to tell students who pass from those who fail",
    formula: "ŷ = σ(θᵀx + b),  L = −[y log ŷ + (1 − y) log(1 − ŷ)]",
    reference: Reference {
        dataset: "students",
        metric: "accuracy",
        expected: 0.925,
        higher_is_better: true,
        compared_with: "none: the rule that made the students is noisy",
    },
};

/// The flags of `neurons run logistic-regression`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Add the features' powers up to this degree
    #[arg(long, allow_negative_numbers = true)]
    pub poly: Option<usize>,
    /// Number of synthetic students
    #[arg(long, allow_negative_numbers = true)]
    pub n: Option<usize>,
    #[command(flatten)]
    pub csv: CsvArgs,
}

pub struct LogisticRegressionLab;

/// The fewest synthetic students.
const MIN_STUDENTS: usize = 20;

impl LabSpec for LogisticRegressionLab {
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

    fn check(options: &RunOptions, args: &Options) -> Result<()> {
        if let Some(n) = args.n.filter(|&n| n < MIN_STUDENTS) {
            return Err(Error::Usage(format!(
                "--n {n}: at least {MIN_STUDENTS} students, so that both classes reach the test split"
            )));
        }
        super::within(
            "--n",
            args.n,
            MIN_STUDENTS..=crate::train::config::limits::MAX_POINTS,
        )?;
        // degree d of two features makes (d + 1)(d + 2)/2 columns: 66 at 10
        super::within("--poly", args.poly, 1..=10)?;
        if options.data.is_none() && options.dataset.is_some() {
            return Err(Error::Usage(format!(
                "{}: no named data set; use the synthetic students or --data FILE.csv --target COLUMN",
                INFO.name
            )));
        }
        Ok(())
    }
}

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticRegressionConfig {
    pub lab: String,
    pub neurons_version: String,
    pub seed: u64,
    /// `students` or the CSV file.
    pub dataset: String,
    pub target: String,
    pub epochs: usize,
    pub learning_rate: f64,
    /// Powers of each feature added, up to this degree (1: the features alone).
    pub poly: usize,
    pub test_fraction: f64,
}

const EPOCHS: usize = 500;
const QUICK_EPOCHS: usize = 100;
const LEARNING_RATE: f64 = 0.5;

// --- Model -------------------------------------------------------------------------------------

/// x, x², …, x^degree of each feature.
pub fn polynomial_features(row: &[f64], degree: usize) -> Vec<f64> {
    (1..=degree.max(1))
        .flat_map(|p| row.iter().map(move |x| x.powi(p as i32)))
        .collect()
}

pub fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// The neuron: weights Θ and bias b.
#[derive(Debug, Clone, PartialEq)]
pub struct Neuron {
    pub theta: Vec<f64>,
    pub bias: f64,
}

impl Neuron {
    /// ŷ = σ(Θᵀx + b)
    pub fn predict(&self, x: &[f64]) -> f64 {
        sigmoid(x.iter().zip(&self.theta).map(|(a, b)| a * b).sum::<f64>() + self.bias)
    }

    /// Binary cross-entropy, with ŷ kept away from 0 and 1 so that the log stays finite.
    pub fn log_loss(&self, x: &[Vec<f64>], y: &[f64]) -> f64 {
        let eps = 1e-12;
        let sum: f64 = x
            .iter()
            .zip(y)
            .map(|(x, &y)| {
                let p = self.predict(x).clamp(eps, 1.0 - eps);
                -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
            })
            .sum();
        sum / y.len().max(1) as f64
    }

    /// (∂L/∂Θ, ∂L/∂b) = ((1/n)·Xᵀ(ŷ − y), (1/n)·Σ(ŷ − y))
    pub fn gradient(&self, x: &[Vec<f64>], y: &[f64]) -> (Vec<f64>, f64) {
        let n = y.len().max(1) as f64;
        let mut d_theta = vec![0.0; self.theta.len()];
        let mut d_bias = 0.0;
        for (x, &y) in x.iter().zip(y) {
            let error = self.predict(x) - y;
            for (d, xi) in d_theta.iter_mut().zip(x) {
                *d += error * xi / n;
            }
            d_bias += error / n;
        }
        (d_theta, d_bias)
    }
}

/// Accuracy, precision, recall and F1 of the class 1, at the threshold ½.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinaryScores {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

pub fn binary_scores(predicted: &[f64], y: &[f64]) -> BinaryScores {
    let (mut tp, mut fp, mut fn_, mut tn) = (0.0, 0.0, 0.0, 0.0);
    for (&p, &y) in predicted.iter().zip(y) {
        match (p >= 0.5, y == 1.0) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            (false, false) => tn += 1.0,
        }
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let (precision, recall) = (ratio(tp, tp + fp), ratio(tp, tp + fn_));
    BinaryScores {
        accuracy: ratio(tp + tn, tp + tn + fp + fn_),
        precision,
        recall,
        f1: ratio(2.0 * precision * recall, precision + recall),
    }
}

// --- Training ----------------------------------------------------------------------------------

/// Gradient descent on the whole training set; `on_epoch(epoch, neuron)` after every step.
pub fn train(
    x: &[Vec<f64>],
    y: &[f64],
    learning_rate: f64,
    epochs: usize,
    mut on_epoch: impl FnMut(usize, &Neuron),
) -> Neuron {
    let mut neuron = Neuron {
        theta: vec![0.0; x.first().map_or(0, Vec::len)],
        bias: 0.0,
    };
    for epoch in 1..=epochs {
        let (d_theta, d_bias) = neuron.gradient(x, y);
        for (t, d) in neuron.theta.iter_mut().zip(d_theta) {
            *t -= learning_rate * d;
        }
        neuron.bias -= learning_rate * d_bias;
        on_epoch(epoch, &neuron);
    }
    neuron
}

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
            if options.dataset.is_some() {
                return Err(Error::Usage(format!(
                    "{}: the data are the synthetic students or --data FILE.csv --target COLUMN",
                    INFO.name
                )));
            }
            (
                "students".to_string(),
                "pass".to_string(),
                synthetic::students(args.n.unwrap_or(1000), options.seed),
            )
        }
    };
    let config = LogisticRegressionConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        seed: options.seed,
        dataset,
        target,
        epochs: options
            .epochs
            .unwrap_or(if options.quick { QUICK_EPOCHS } else { EPOCHS }),
        learning_rate: options.lr.unwrap_or(LEARNING_RATE),
        poly: args.poly.unwrap_or(1).max(1),
        test_fraction: 0.2,
    };
    run.write_toml("config.toml", &config)?;
    let started = std::time::Instant::now();

    let (train_idx, test_idx) = split_indices(data.len(), config.test_fraction, options.seed);
    let (train_set, test_set) = (data.select(&train_idx), data.select(&test_idx));
    let expand = |rows: &[Vec<f64>]| -> Vec<Vec<f64>> {
        rows.iter()
            .map(|r| polynomial_features(r, config.poly))
            .collect()
    };
    let scaler = Standardizer::fit(&expand(&train_set.x));
    let inputs = |rows: &[Vec<f64>]| scaler.transform(&expand(rows));
    let (x_train, x_test) = (inputs(&train_set.x), inputs(&test_set.x));

    let mut log = MetricsLog::new(&["accuracy"]);
    let every = (config.epochs / 10).max(1);
    let neuron = train(
        &x_train,
        &train_set.y,
        config.learning_rate,
        config.epochs,
        |epoch, neuron| {
            for (split, x, y) in [
                (Split::Train, &x_train, &train_set.y),
                (Split::Test, &x_test, &test_set.y),
            ] {
                let p: Vec<f64> = x.iter().map(|x| neuron.predict(x)).collect();
                log.push(
                    epoch,
                    split,
                    neuron.log_loss(x, y),
                    &[binary_scores(&p, y).accuracy],
                );
            }
            if epoch % every == 0 || epoch == config.epochs {
                let rows = log.rows();
                let (train_row, test_row) = (&rows[rows.len() - 2], &rows[rows.len() - 1]);
                console.line(&format!(
                "epoch {epoch:>4}/{}  train log-loss {:.4} accuracy {:.4}  test log-loss {:.4} accuracy {:.4}",
                config.epochs, train_row.loss, train_row.values[0], test_row.loss, test_row.values[0]
            ));
            }
        },
    );
    log.write(run)?;
    let train_seconds = started.elapsed().as_secs_f64();

    let probabilities: Vec<f64> = x_test.iter().map(|x| neuron.predict(x)).collect();
    let scores = binary_scores(&probabilities, &test_set.y);
    let log_loss = neuron.log_loss(&x_test, &test_set.y);
    console.line(&format!(
        "test: accuracy {:.4}, precision {:.4}, recall {:.4}, F1 {:.4}, log-loss {log_loss:.4}",
        scores.accuracy, scores.precision, scores.recall, scores.f1
    ));

    draw(run, &log, &data, &|row: &[f64]| {
        neuron.predict(&scaler.transform_row(&polynomial_features(row, config.poly)))
    })?;
    Ok(Summary {
        lab: INFO.name.to_string(),
        dataset: config.dataset.clone(),
        seed: options.seed,
        device: "cpu".to_string(),
        epochs: config.epochs,
        train_seconds,
        samples_per_second: (train_set.len() * config.epochs) as f64 / train_seconds.max(1e-9),
        metrics: [
            ("accuracy".to_string(), scores.accuracy),
            ("precision".to_string(), scores.precision),
            ("recall".to_string(), scores.recall),
            ("f1".to_string(), scores.f1),
            ("log_loss".to_string(), log_loss),
        ]
        .into(),
        parameters: [
            ("theta".to_string(), neuron.theta.clone()),
            ("bias".to_string(), vec![neuron.bias]),
        ]
        .into(),
    })
}

// --- Pictures ----------------------------------------------------------------------------------

fn draw(
    run: &RunDir,
    log: &MetricsLog,
    data: &Features,
    probability: &dyn Fn(&[f64]) -> f64,
) -> Result<()> {
    learning_curves(
        &run.file("loss.png"),
        "Logistic regression: log-loss",
        "log-loss",
        log,
        None,
    )?;
    if data.names.len() != 2 {
        return Ok(()); // the maps need two features to lie on a plane
    }
    let groups = || {
        [("fail (0)", 0.0), ("pass (1)", 1.0)]
            .into_iter()
            .map(|(label, class)| PointGroup {
                label: label.to_string(),
                points: data
                    .x
                    .iter()
                    .zip(&data.y)
                    .filter(|(_, y)| **y == class)
                    .map(|(x, _)| (x[0], x[1]))
                    .collect(),
            })
            .collect::<Vec<_>>()
    };
    let boundary = |a: f64, b: f64| {
        if probability(&[a, b]) >= 0.5 {
            1.0
        } else {
            0.0
        }
    };
    let mut plot = Scatter::new(
        "Logistic regression: the decision boundary",
        &data.names[0],
        &data.names[1],
    );
    plot.groups = groups();
    plot.background = Some(&boundary);
    scatter_chart(&run.file("decision-boundary.png"), &plot)?;

    let surface = |a: f64, b: f64| probability(&[a, b]);
    let mut plot = Scatter::new(
        "Logistic regression: probability of class 1",
        &data.names[0],
        &data.names[1],
    );
    plot.groups = groups();
    plot.background = Some(&surface);
    scatter_chart(&run.file("probability.png"), &plot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // indices mirror the formulas being checked
    #[allow(clippy::needless_range_loop)]
    fn the_analytic_gradient_matches_finite_differences() {
        let data = synthetic::students(50, 3);
        let x: Vec<Vec<f64>> = data
            .x
            .iter()
            .map(|r| vec![r[0] - 5.0, r[1] - 7.0])
            .collect();
        let neuron = Neuron {
            theta: vec![0.4, -0.3],
            bias: 0.1,
        };
        let (d_theta, d_bias) = neuron.gradient(&x, &data.y);
        let h = 1e-6;
        for k in 0..3 {
            let shifted = |delta: f64| {
                let mut n = neuron.clone();
                if k < 2 {
                    n.theta[k] += delta
                } else {
                    n.bias += delta
                }
                n.log_loss(&x, &data.y)
            };
            let numeric = (shifted(h) - shifted(-h)) / (2.0 * h);
            let analytic = if k < 2 { d_theta[k] } else { d_bias };
            assert!(
                (numeric - analytic).abs() < 1e-6,
                "parameter {k}: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn linearly_separable_data_is_learnt_perfectly() {
        let x: Vec<Vec<f64>> = (0..100)
            .map(|i| vec![(i % 10) as f64 - 4.5, (i / 10) as f64 - 4.5])
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|r| if r[0] + 0.5 * r[1] > 0.3 { 1.0 } else { 0.0 })
            .collect();
        let neuron = train(&x, &y, 1.0, 2000, |_, _| {});
        let p: Vec<f64> = x.iter().map(|r| neuron.predict(r)).collect();
        assert_eq!(binary_scores(&p, &y).accuracy, 1.0);
    }

    #[test]
    fn scores_are_named_for_what_they_are() {
        // 3 true positives, 1 false positive, 2 false negatives, 4 true negatives
        let p = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let y = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let s = binary_scores(&p, &y);
        assert_eq!(s.accuracy, 0.7);
        assert_eq!(s.precision, 0.75);
        assert_eq!(s.recall, 0.6);
        assert!((s.f1 - 2.0 * 0.75 * 0.6 / 1.35).abs() < 1e-12);
    }
}
