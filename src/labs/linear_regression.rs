//! # Linear regression, then gradient descent (FIDLE LINR1 and GRAD1)
//!
//! Y = X·θ + N.   Closed form (the normal equation): θ̂ = (XᵀX)⁻¹·XᵀY, here solved by a QR
//! factorisation of X, never by an explicit inverse.
//! Gradient descent on MSE(θ) = (1/n)·‖Xθ − Y‖²:   ∇θ MSE = (2/n)·Xᵀ(Xθ − Y),   θ ← θ − η·∇θ MSE.
//! Then mini-batch stochastic gradient descent, with η decaying as η₀/(1 + t/10).
//!
//! Shows that a direct solution exists for a line, and that following the gradient finds the same
//! one. Data: 100 points y = 4x + 2 + 7·N(0,1), x ~ U(0,10) (`--n --slope --intercept --noise`),
//! or `--data FILE.csv --target COLUMN` for several features. Expected: both solutions agree to
//! 1e-3; `--quick` is the same in fewer iterations.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{CsvArgs, LabInfo, LabSpec, Reference, RunOptions};
use crate::data::synthetic;
use crate::data::table::{Features, Standardizer, read_features};
use crate::error::{Error, Result};
use crate::linalg::least_squares;
use crate::report::config::VERSION;
use crate::report::metrics::Split;
use crate::report::plot::{Curve, PointGroup, Scatter, line_chart, scatter_chart};
use crate::report::{MetricsLog, RunDir, Summary};
use crate::train::Console;
use crate::train::config::limits::MAX_POINTS;

pub const INFO: LabInfo = LabInfo {
    name: "linear-regression",
    chapter: "Linear regression, Gradient descent (FIDLE LINR1, GRAD1)",
    dataset: "synthetic line",
    shows: "the normal equation and gradient descent find the same line through noisy points",
    formula: "θ̂ = (XᵀX)⁻¹Xᵀy;  gradient descent θ ← θ − η·∇L(θ), L = ‖Xθ − y‖²/n",
    reference: Reference {
        dataset: "synthetic line",
        metric: "distance_between_solutions",
        expected: 1e-6,
        higher_is_better: false,
        compared_with: "the closed form (QR): gradient descent ends within 10⁻⁶ of it (2·10⁻⁸ with the defaults)",
    },
};

/// The flags of `neurons run linear-regression`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Number of synthetic points
    #[arg(long, allow_negative_numbers = true)]
    pub n: Option<usize>,
    /// Slope a of the synthetic line y = a·x + b + noise
    #[arg(long, allow_hyphen_values = true)]
    pub slope: Option<f64>,
    /// Intercept b of the synthetic line
    #[arg(long, allow_hyphen_values = true)]
    pub intercept: Option<f64>,
    /// Standard deviation of the synthetic noise
    #[arg(long, allow_negative_numbers = true)]
    pub noise: Option<f64>,
    #[command(flatten)]
    pub csv: CsvArgs,
}

pub struct LinearRegressionLab;

/// The fewest synthetic points: three to fit the line on, one to test it.
const MIN_POINTS: usize = 4;

impl LabSpec for LinearRegressionLab {
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
        if options.data.is_none() {
            if let Some(name) = &options.dataset {
                return Err(Error::Usage(format!(
                    "{}: no named data set {name:?}; use the synthetic line or --data FILE.csv --target COLUMN",
                    INFO.name
                )));
            }
            super::within("--n", args.n, MIN_POINTS..=MAX_POINTS)?;
            for (flag, value) in [
                ("--slope", args.slope),
                ("--intercept", args.intercept),
                ("--noise", args.noise),
            ] {
                super::finite_within(flag, value, 1e6)?;
            }
            let noise = args.noise.unwrap_or(7.0);
            if args.n.unwrap_or(100) < MIN_POINTS || !noise.is_finite() || noise < 0.0 {
                return Err(Error::Usage(format!(
                    "--n must be at least {MIN_POINTS} (a line fitted on 3 points, tested on 1) and --noise at least 0"
                )));
            }
        }
        Ok(())
    }
}

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearRegressionConfig {
    pub lab: String,
    pub neurons_version: String,
    pub seed: u64,
    pub data: LinearData,
    /// Full-batch gradient descent: iterations and learning rate η.
    pub iterations: usize,
    pub learning_rate: f64,
    /// Mini-batch SGD: epochs, batch size and initial η.
    pub sgd_epochs: usize,
    pub sgd_batch_size: usize,
    pub sgd_learning_rate: f64,
}

/// Where the points come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
pub enum LinearData {
    Synthetic {
        n: usize,
        slope: f64,
        intercept: f64,
        noise: f64,
    },
    Csv {
        path: String,
        target: String,
    },
}

const ITERATIONS: usize = 200;
const QUICK_ITERATIONS: usize = 100;
const LEARNING_RATE: f64 = 0.05;
const SGD_EPOCHS: usize = 30;
const SGD_BATCH_SIZE: usize = 10;
const SGD_LEARNING_RATE: f64 = 0.05;

// --- Model -------------------------------------------------------------------------------------

/// The design matrix: each row of features followed by a 1, so that θ = (a₁…a_m, b).
fn design(x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    x.iter()
        .map(|row| row.iter().copied().chain([1.0]).collect())
        .collect()
}

fn predict(theta: &[f64], row: &[f64]) -> f64 {
    row.iter().zip(theta).map(|(x, t)| x * t).sum::<f64>() + theta[theta.len() - 1]
}

/// MSE(θ) = (1/n)·Σ (h_θ(xᵢ) − yᵢ)², θ in the units of the data.
pub fn mse(theta: &[f64], f: &Features) -> f64 {
    f.x.iter()
        .zip(&f.y)
        .map(|(x, y)| (predict(theta, x) - y).powi(2))
        .sum::<f64>()
        / f.len().max(1) as f64
}

/// ∇θ MSE = (2/n)·Xᵀ(Xθ − Y), for a design matrix `xd` (features then 1).
pub fn mse_gradient(theta: &[f64], xd: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let n = xd.len().max(1) as f64;
    let mut gradient = vec![0.0; theta.len()];
    for (row, &target) in xd.iter().zip(y) {
        let error: f64 = row.iter().zip(theta).map(|(x, t)| x * t).sum::<f64>() - target;
        for (g, x) in gradient.iter_mut().zip(row) {
            *g += 2.0 / n * error * x;
        }
    }
    gradient
}

/// Back from standardized units: ŷ = μy + σy·(Σⱼ θⱼ(xⱼ − μⱼ)/σⱼ + θ_b) gives aⱼ = σy·θⱼ/σⱼ and
/// b = μy + σy·(θ_b − Σⱼ θⱼμⱼ/σⱼ).
fn to_original_units(theta: &[f64], xs: &Standardizer, ys: &Standardizer) -> Vec<f64> {
    let m = theta.len() - 1;
    let (my, sy) = (ys.mean[0], ys.std[0]);
    let mut original: Vec<f64> = (0..m).map(|j| sy * theta[j] / xs.std[j]).collect();
    let shift: f64 = (0..m).map(|j| theta[j] * xs.mean[j] / xs.std[j]).sum();
    original.push(my + sy * (theta[m] - shift));
    original
}

// --- Training ----------------------------------------------------------------------------------

/// The lecture's table: `#i  Loss  Gradient  Theta`, then e.g.
/// `  0  +12.481  -6.777 -1.732  -3.388 +0.000`.
pub fn table_header() -> String {
    "#i  Loss  Gradient  Theta".to_string()
}

pub fn table_row(i: usize, loss: f64, gradient: &[f64], theta: &[f64]) -> String {
    let join = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:+.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("{i:>3}  {loss:+.3}  {}  {}", join(gradient), join(theta))
}

/// Full-batch gradient descent from θ₀ on standardized data; returns θ and the loss per iteration.
pub fn gradient_descent(
    xd: &[Vec<f64>],
    y: &[f64],
    theta0: Vec<f64>,
    learning_rate: f64,
    iterations: usize,
    mut on_iteration: impl FnMut(usize, f64, &[f64], &[f64]),
) -> (Vec<f64>, Vec<f64>) {
    let mut theta = theta0;
    let mut losses = Vec::with_capacity(iterations + 1);
    for i in 0..=iterations {
        let gradient = mse_gradient(&theta, xd, y);
        let loss = xd
            .iter()
            .zip(y)
            .map(|(r, t)| (r.iter().zip(&theta).map(|(x, w)| x * w).sum::<f64>() - t).powi(2))
            .sum::<f64>()
            / xd.len().max(1) as f64;
        losses.push(loss);
        on_iteration(i, loss, &gradient, &theta);
        if i < iterations {
            // θ ← θ − η·∇θ MSE
            for (t, g) in theta.iter_mut().zip(&gradient) {
                *t -= learning_rate * g;
            }
        }
    }
    (theta, losses)
}

/// Mini-batch SGD: each epoch visits the samples in a new seeded order, one step per batch, with
/// η_t = η₀/(1 + t/10) at epoch t.
pub fn minibatch_sgd(
    xd: &[Vec<f64>],
    y: &[f64],
    theta0: Vec<f64>,
    learning_rate: f64,
    epochs: usize,
    batch_size: usize,
    seed: u64,
) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut theta = theta0;
    let mut order: Vec<usize> = (0..xd.len()).collect();
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let eta = learning_rate / (1.0 + epoch as f64 / 10.0);
        for batch in order.chunks(batch_size.max(1)) {
            let bx: Vec<Vec<f64>> = batch.iter().map(|&i| xd[i].clone()).collect();
            let by: Vec<f64> = batch.iter().map(|&i| y[i]).collect();
            let gradient = mse_gradient(&theta, &bx, &by);
            for (t, g) in theta.iter_mut().zip(gradient) {
                *t -= eta * g;
            }
        }
    }
    theta
}

pub fn run(
    options: &RunOptions,
    args: &Options,
    run: &RunDir,
    console: &Console,
) -> Result<Summary> {
    let (data, features) = match &options.data {
        Some(path) => {
            let f = read_features(path, args.csv.target.as_deref(), args.csv.separator()?, 2)?;
            let data = LinearData::Csv {
                path: path.display().to_string(),
                target: args.csv.target.clone().unwrap_or_default(),
            };
            (data, f)
        }
        None => {
            if let Some(name) = &options.dataset {
                return Err(Error::Usage(format!(
                    "{}: no named data set {name:?}; use the synthetic line or --data FILE.csv --target COLUMN",
                    INFO.name
                )));
            }
            let (n, slope, intercept, noise) = (
                args.n.unwrap_or(100),
                args.slope.unwrap_or(4.0),
                args.intercept.unwrap_or(2.0),
                args.noise.unwrap_or(7.0),
            );
            let f = synthetic::line(n, slope, intercept, noise, options.seed);
            (
                LinearData::Synthetic {
                    n,
                    slope,
                    intercept,
                    noise,
                },
                f,
            )
        }
    };
    let config = LinearRegressionConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        seed: options.seed,
        data,
        iterations: options.epochs.unwrap_or(if options.quick {
            QUICK_ITERATIONS
        } else {
            ITERATIONS
        }),
        learning_rate: options.lr.unwrap_or(LEARNING_RATE),
        sgd_epochs: SGD_EPOCHS,
        sgd_batch_size: options.batch_size.unwrap_or(SGD_BATCH_SIZE),
        sgd_learning_rate: SGD_LEARNING_RATE,
    };
    // 1. The closed form θ̂ = (XᵀX)⁻¹XᵀY, by QR; before the run directory is written, since
    // collinear columns (a constant, a copy) are the data's fault, named with the data.
    let started = std::time::Instant::now();
    let theta_closed_form =
        least_squares(&design(&features.x), &features.y).map_err(|e| match &config.data {
            LinearData::Csv { path, .. } => Error::BadCsv {
                source_name: path.clone(),
                reason: format!(
                    "{e} (the columns {} and the intercept)",
                    features.names.join(", ")
                ),
            },
            LinearData::Synthetic { .. } => e,
        })?;
    run.write_toml("config.toml", &config)?;
    console.line(&format!(
        "closed form:       θ̂ = {}",
        show(&theta_closed_form)
    ));

    // 2. Gradient descent on standardized X and Y, from a random θ₀.
    let x_scaler = Standardizer::fit(&features.x);
    let y_rows: Vec<Vec<f64>> = features.y.iter().map(|&v| vec![v]).collect();
    let y_scaler = Standardizer::fit(&y_rows);
    let xd = design(&x_scaler.transform(&features.x));
    let ys: Vec<f64> = y_scaler
        .transform(&y_rows)
        .into_iter()
        .map(|r| r[0])
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let theta0: Vec<f64> = (0..xd[0].len())
        .map(|_| 3.0 * Distribution::<f64>::sample(&StandardNormal, &mut rng))
        .collect();
    let every = (config.iterations / 10).max(1);
    console.line(&table_header());
    let mut log = MetricsLog::new(&["gradient_norm"]);
    let (theta_scaled, losses) = gradient_descent(
        &xd,
        &ys,
        theta0.clone(),
        config.learning_rate,
        config.iterations,
        |i, loss, gradient, theta| {
            if i % every == 0 {
                console.line(&table_row(i, loss, gradient, theta));
            }
            log.push(
                i,
                Split::Train,
                loss,
                &[gradient.iter().map(|g| g * g).sum::<f64>().sqrt()],
            );
        },
    );
    if losses.iter().any(|l| !l.is_finite()) {
        return Err(Error::Diverged {
            epoch: losses.iter().position(|l| !l.is_finite()).unwrap_or(0),
            batch: 1,
            value: f32::NAN,
        });
    }
    log.write(run)?;
    let theta_gradient_descent = to_original_units(&theta_scaled, &x_scaler, &y_scaler);
    console.line(&format!(
        "gradient descent:  θ  = {}",
        show(&theta_gradient_descent)
    ));

    // 3. Mini-batch SGD with a decaying learning rate.
    let theta_sgd_scaled = minibatch_sgd(
        &xd,
        &ys,
        theta0,
        config.sgd_learning_rate,
        config.sgd_epochs,
        config.sgd_batch_size,
        options.seed,
    );
    let theta_sgd = to_original_units(&theta_sgd_scaled, &x_scaler, &y_scaler);
    console.line(&format!("mini-batch SGD:    θ  = {}", show(&theta_sgd)));
    let train_seconds = started.elapsed().as_secs_f64();

    let distance = theta_closed_form
        .iter()
        .zip(&theta_gradient_descent)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let mse_closed_form = mse(&theta_closed_form, &features);

    draw(
        run,
        &features,
        &theta_closed_form,
        &theta_gradient_descent,
        &losses,
    )?;
    Ok(Summary {
        lab: INFO.name.to_string(),
        dataset: match &config.data {
            LinearData::Synthetic { .. } => "synthetic line".to_string(),
            LinearData::Csv { path, .. } => path.clone(),
        },
        seed: options.seed,
        device: "cpu".to_string(),
        epochs: config.iterations,
        train_seconds,
        samples_per_second: (features.len() * config.iterations) as f64 / train_seconds.max(1e-9),
        metrics: [
            ("mse".to_string(), mse_closed_form),
            ("rmse".to_string(), mse_closed_form.sqrt()),
            (
                "mse_gradient_descent".to_string(),
                mse(&theta_gradient_descent, &features),
            ),
            ("mse_sgd".to_string(), mse(&theta_sgd, &features)),
            ("distance_between_solutions".to_string(), distance),
        ]
        .into(),
        parameters: [
            ("theta_closed_form".to_string(), theta_closed_form),
            ("theta_gradient_descent".to_string(), theta_gradient_descent),
            ("theta_sgd".to_string(), theta_sgd),
        ]
        .into(),
    })
}

fn show(theta: &[f64]) -> String {
    let parts: Vec<String> = theta.iter().map(|t| format!("{t:+.4}")).collect();
    format!("({})", parts.join(", "))
}

// --- Pictures ----------------------------------------------------------------------------------

fn draw(
    run: &RunDir,
    f: &Features,
    closed_form: &[f64],
    descent: &[f64],
    losses: &[f64],
) -> Result<()> {
    let loss_curve = Curve {
        label: "MSE (standardized)".to_string(),
        points: losses
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as f64, l))
            .collect(),
    };
    line_chart(
        &run.file("loss.png"),
        "Gradient descent: loss per iteration",
        "iteration",
        "MSE",
        &[loss_curve],
    )?;
    let mut plot;
    if f.names.len() == 1 {
        plot = Scatter::new("Linear regression", &f.names[0], "y");
        plot.groups.push(PointGroup {
            label: "observations".to_string(),
            points: f.x.iter().zip(&f.y).map(|(x, &y)| (x[0], y)).collect(),
        });
        let (lo, hi) =
            f.x.iter()
                .map(|x| x[0])
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
        for (label, theta) in [("closed form", closed_form), ("gradient descent", descent)] {
            plot.curves.push(Curve {
                label: label.to_string(),
                points: vec![(lo, predict(theta, &[lo])), (hi, predict(theta, &[hi]))],
            });
        }
    } else {
        // several features: predicted against observed, the diagonal being perfect
        plot = Scatter::new(
            "Linear regression: predicted against observed",
            "observed",
            "predicted",
        );
        plot.groups.push(PointGroup {
            label: "closed form".to_string(),
            points: f
                .x
                .iter()
                .zip(&f.y)
                .map(|(x, &y)| (y, predict(closed_form, x)))
                .collect(),
        });
        let (lo, hi) =
            f.y.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
        plot.curves.push(Curve {
            label: "perfect prediction".to_string(),
            points: vec![(lo, lo), (hi, hi)],
        });
    }
    scatter_chart(&run.file("regression.png"), &plot)
}

// --- Tests -------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_noise_the_closed_form_recovers_slope_and_intercept() {
        let f = synthetic::line(100, 4.0, 2.0, 0.0, 1);
        let theta = least_squares(&design(&f.x), &f.y).unwrap();
        assert!(
            (theta[0] - 4.0).abs() < 1e-9 && (theta[1] - 2.0).abs() < 1e-9,
            "{theta:?}"
        );
    }

    #[test]
    fn gradient_descent_ends_within_1e_3_of_the_closed_form() {
        let f = synthetic::line(100, 4.0, 2.0, 7.0, 3);
        let closed = least_squares(&design(&f.x), &f.y).unwrap();
        let xs = Standardizer::fit(&f.x);
        let y_rows: Vec<Vec<f64>> = f.y.iter().map(|&v| vec![v]).collect();
        let ys_scaler = Standardizer::fit(&y_rows);
        let ys: Vec<f64> = ys_scaler
            .transform(&y_rows)
            .into_iter()
            .map(|r| r[0])
            .collect();
        let (theta, losses) = gradient_descent(
            &design(&xs.transform(&f.x)),
            &ys,
            vec![-3.0, 1.0],
            LEARNING_RATE,
            ITERATIONS,
            |_, _, _, _| {},
        );
        let theta = to_original_units(&theta, &xs, &ys_scaler);
        for (a, b) in theta.iter().zip(&closed) {
            assert!((a - b).abs() < 1e-3, "{theta:?} vs {closed:?}");
        }
        assert!(
            losses.windows(2).all(|w| w[1] <= w[0] + 1e-12),
            "the loss never rises"
        );
    }

    #[test]
    fn the_analytic_gradient_matches_finite_differences() {
        let f = synthetic::line(20, 1.5, -1.0, 2.0, 5);
        let xd = design(&f.x);
        let theta = vec![0.3, -0.7];
        let g = mse_gradient(&theta, &xd, &f.y);
        let loss = |t: &[f64]| {
            xd.iter()
                .zip(&f.y)
                .map(|(r, y)| (r[0] * t[0] + r[1] * t[1] - y).powi(2))
                .sum::<f64>()
                / 20.0
        };
        for k in 0..2 {
            let h = 1e-6;
            let (mut plus, mut minus) = (theta.clone(), theta.clone());
            plus[k] += h;
            minus[k] -= h;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
            assert!(
                (numeric - g[k]).abs() < 1e-5 * numeric.abs().max(1.0),
                "{numeric} vs {}",
                g[k]
            );
        }
    }

    #[test]
    fn the_table_has_the_lecture_format() {
        assert_eq!(table_header(), "#i  Loss  Gradient  Theta");
        assert_eq!(
            table_row(0, 12.481, &[-6.777, -1.732], &[-3.388, 0.0]),
            "  0  +12.481  -6.777 -1.732  -3.388 +0.000"
        );
    }
}
