//! # Polynomial regression: under- and over-fitting (FIDLE POLR1)
//!
//! ŷ = Σₖ θₖ·Tₖ(x/5), k = 0…d, with θ̂ = argmin ‖Aθ − y‖² solved by QR, where Tₖ are the Chebyshev
//! polynomials: the same fits as with powers xᵏ, but a basis that stays well conditioned up to
//! degree 24 on the scaled interval [−1, 1].
//!
//! Shows that a richer model always fits its training points better, yet past some degree
//! predicts new points worse: degree 1 under-fits, degree 24 over-fits. Data: 100 points of a
//! random degree-7 polynomial plus noise, x ~ U(−5,5), 80 to fit and 20 to test. Expected: on the
//! default seed degree 24 has the lowest train error and a higher test error than degree 5.

use serde::{Deserialize, Serialize};

use super::{LabInfo, LabSpec, Reference, RunOptions};
use crate::data::synthetic;
use crate::data::table::{Features, split_indices};
use crate::error::{Error, Result};
use crate::linalg::least_squares;
use crate::report::config::VERSION;
use crate::report::metrics::Split;
use crate::report::plot::{Curve, PointGroup, Scatter, scatter_chart};
use crate::report::{MetricsLog, RunDir, Summary};
use crate::train::Console;

pub const INFO: LabInfo = LabInfo {
    name: "polynomial-regression",
    chapter: "Linear regression, polynomial features (FIDLE POLR1)",
    dataset: "synthetic polynomial",
    shows: "fitting degrees 1, 5 and 24: under-fitting, a good fit, over-fitting",
    formula: "ŷ = Σₖ θₖ xᵏ (k ≤ degree), least squares",
    reference: Reference {
        dataset: "synthetic polynomial",
        metric: "rmse_test_degree_5",
        expected: 4.07,
        higher_is_better: false,
        compared_with: "degrees 1 and 24 under- and over-fit: test RMSE 4.75 and 7.59",
    },
};

/// The flags of `neurons run polynomial-regression`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Polynomial degrees to fit, e.g. 1,5,24
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub degrees: Option<Vec<usize>>,
    /// Number of synthetic points
    #[arg(long, allow_negative_numbers = true)]
    pub n: Option<usize>,
    /// Standard deviation of the synthetic noise
    #[arg(long, allow_negative_numbers = true)]
    pub noise: Option<f64>,
}

pub struct PolynomialRegressionLab;

/// The share of the points held out to test each fit.
const TEST_FRACTION: f64 = 0.2;

impl LabSpec for PolynomialRegressionLab {
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
        if options.data.is_some() || options.dataset.is_some() {
            return Err(Error::Usage(format!(
                "{} works on its own synthetic polynomial: no --data or --dataset",
                INFO.name
            )));
        }
        super::within("--n", args.n, 2..=crate::train::config::limits::MAX_POINTS)?;
        super::finite_within("--noise", args.noise, 1e6)?;
        if args.noise.is_some_and(|v| v < 0.0) {
            return Err(Error::Usage(
                "--noise: a standard deviation, at least 0".to_string(),
            ));
        }
        if let Some(most) = args.degrees.iter().flatten().copied().find(|&d| d > 50) {
            return Err(Error::Usage(format!(
                "--degrees {most}: at most 50 (x⁵⁰ already spans 10⁵⁰ on this data)"
            )));
        }
        let n = args.n.unwrap_or(100);
        let degrees = args.degrees.clone().unwrap_or_else(|| vec![1, 5, 24]);
        let most = degrees.iter().copied().max().unwrap_or(0);
        let n_train = n - (n as f64 * TEST_FRACTION).round() as usize;
        if degrees.is_empty() || most + 1 > n_train || n_train == n {
            return Err(Error::Usage(format!(
                "--degrees: fitting degree {most} needs more than {most} training points, and a test point beside them; {n_train} of --n {n} are for training"
            )));
        }
        Ok(())
    }
}

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolynomialRegressionConfig {
    pub lab: String,
    pub neurons_version: String,
    pub seed: u64,
    pub n: usize,
    /// Degree of the hidden polynomial that made the points.
    pub true_degree: usize,
    pub noise: f64,
    pub test_fraction: f64,
    /// The degrees fitted.
    pub degrees: Vec<usize>,
}

const TRUE_DEGREE: usize = 7;
const X_SCALE: f64 = 5.0;

// --- Model -------------------------------------------------------------------------------------

/// T₀(t)…T_d(t) at t = x/5, by the recurrence Tₖ₊₁ = 2t·Tₖ − Tₖ₋₁.
pub fn chebyshev_features(x: f64, degree: usize) -> Vec<f64> {
    let t = x / X_SCALE;
    let mut features = vec![1.0];
    if degree >= 1 {
        features.push(t);
    }
    for k in 2..=degree {
        let next = 2.0 * t * features[k - 1] - features[k - 2];
        features.push(next);
    }
    features
}

/// A fitted polynomial of degree `degree`.
#[derive(Debug, Clone)]
pub struct PolynomialFit {
    pub degree: usize,
    pub theta: Vec<f64>,
}

impl PolynomialFit {
    pub fn fit(f: &Features, degree: usize) -> Result<Self> {
        let a: Vec<Vec<f64>> =
            f.x.iter()
                .map(|x| chebyshev_features(x[0], degree))
                .collect();
        Ok(Self {
            degree,
            theta: least_squares(&a, &f.y)?,
        })
    }

    pub fn predict(&self, x: f64) -> f64 {
        chebyshev_features(x, self.degree)
            .iter()
            .zip(&self.theta)
            .map(|(t, c)| t * c)
            .sum()
    }

    pub fn rmse(&self, f: &Features) -> f64 {
        let mse =
            f.x.iter()
                .zip(&f.y)
                .map(|(x, y)| (self.predict(x[0]) - y).powi(2))
                .sum::<f64>()
                / f.len().max(1) as f64;
        mse.sqrt()
    }
}

// --- Training ----------------------------------------------------------------------------------

pub fn run(
    options: &RunOptions,
    args: &Options,
    run: &RunDir,
    console: &Console,
) -> Result<Summary> {
    if options.data.is_some() || options.dataset.is_some() {
        return Err(Error::Usage(format!(
            "{} works on its own synthetic polynomial: no --data or --dataset",
            INFO.name
        )));
    }
    let config = PolynomialRegressionConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        seed: options.seed,
        n: args.n.unwrap_or(100),
        true_degree: TRUE_DEGREE,
        noise: args.noise.unwrap_or(4.0),
        test_fraction: TEST_FRACTION,
        degrees: args.degrees.clone().unwrap_or_else(|| vec![1, 5, 24]),
    };
    let most = config.degrees.iter().copied().max().unwrap_or(0);
    let n_train = config.n - (config.n as f64 * config.test_fraction).round() as usize;
    if config.degrees.is_empty() || most + 1 > n_train {
        return Err(Error::Usage(format!(
            "--degrees: fitting degree {most} needs more than {most} training points; {n_train} of --n {} are for training",
            config.n
        )));
    }
    run.write_toml("config.toml", &config)?;
    let started = std::time::Instant::now();

    let (points, _) =
        synthetic::polynomial(config.n, config.true_degree, config.noise, options.seed);
    let (train_idx, test_idx) = split_indices(points.len(), config.test_fraction, options.seed);
    let (train, test) = (points.select(&train_idx), points.select(&test_idx));

    let mut log = MetricsLog::new(&["degree", "rmse"]);
    let mut fits = Vec::new();
    console.line("degree  train RMSE  test RMSE");
    for (i, &degree) in config.degrees.iter().enumerate() {
        let fit = PolynomialFit::fit(&train, degree)?;
        let (train_rmse, test_rmse) = (fit.rmse(&train), fit.rmse(&test));
        console.line(&format!(
            "{degree:>6}  {train_rmse:>10.3}  {test_rmse:>9.3}"
        ));
        log.push(
            i + 1,
            Split::Train,
            train_rmse.powi(2),
            &[degree as f64, train_rmse],
        );
        log.push(
            i + 1,
            Split::Test,
            test_rmse.powi(2),
            &[degree as f64, test_rmse],
        );
        fits.push((fit, train_rmse, test_rmse));
    }
    log.write(run)?;
    let train_seconds = started.elapsed().as_secs_f64();

    draw(run, &train, &test, &fits)?;
    let mut metrics = std::collections::BTreeMap::new();
    for (fit, train_rmse, test_rmse) in &fits {
        metrics.insert(format!("rmse_train_degree_{}", fit.degree), *train_rmse);
        metrics.insert(format!("rmse_test_degree_{}", fit.degree), *test_rmse);
    }
    Ok(Summary {
        lab: INFO.name.to_string(),
        dataset: "synthetic polynomial".to_string(),
        seed: options.seed,
        device: "cpu".to_string(),
        epochs: fits.len(),
        train_seconds,
        samples_per_second: (train.len() * fits.len()) as f64 / train_seconds.max(1e-9),
        metrics,
        parameters: fits
            .iter()
            .map(|(f, _, _)| {
                (
                    format!("chebyshev_coefficients_degree_{}", f.degree),
                    f.theta.clone(),
                )
            })
            .collect(),
    })
}

// --- Pictures ----------------------------------------------------------------------------------

fn draw(
    run: &RunDir,
    train: &Features,
    test: &Features,
    fits: &[(PolynomialFit, f64, f64)],
) -> Result<()> {
    let mut plot = Scatter::new("Polynomial regression: under- and over-fitting", "x", "y");
    for (label, f) in [("train", train), ("test", test)] {
        plot.groups.push(PointGroup {
            label: label.to_string(),
            points: f.x.iter().zip(&f.y).map(|(x, &y)| (x[0], y)).collect(),
        });
    }
    for (fit, _, test_rmse) in fits {
        let points = (0..=400)
            .map(|i| -X_SCALE + 2.0 * X_SCALE * i as f64 / 400.0)
            .map(|x| (x, fit.predict(x)))
            .collect();
        plot.curves.push(Curve {
            label: format!("degree {} (test RMSE {test_rmse:.2})", fit.degree),
            points,
        });
    }
    scatter_chart(&run.file("fits.png"), &plot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chebyshev_features_match_their_closed_forms() {
        let f = chebyshev_features(2.5, 3); // t = 0.5
        let expected = [1.0, 0.5, 2.0 * 0.25 - 1.0, 4.0 * 0.125 - 3.0 * 0.5];
        for (a, b) in f.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn a_polynomial_of_the_true_degree_is_recovered_without_noise() {
        let (points, coefficients) = synthetic::polynomial(60, 7, 0.0, 2);
        let fit = PolynomialFit::fit(&points, 7).unwrap();
        for x in [-4.9, -1.0, 0.3, 4.2] {
            let truth = synthetic::evaluate_polynomial(&coefficients, x);
            assert!((fit.predict(x) - truth).abs() < 1e-8 * truth.abs().max(1.0));
        }
    }

    #[test]
    fn train_error_never_rises_with_the_degree() {
        let (points, _) = synthetic::polynomial(80, 7, 3.0, 4);
        let errors: Vec<f64> = (1..=24)
            .map(|d| PolynomialFit::fit(&points, d).unwrap().rmse(&points))
            .collect();
        assert!(errors.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{errors:?}");
    }
}
