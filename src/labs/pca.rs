//! # Reduction: principal component analysis ("simplify while keeping meaning")
//!
//! Centre the data, X̃ = X − μ, and decompose it, X̃ = U·S·Vᵀ (SVD). The rows of Vᵀ are the
//! principal axes; a point's coordinates on the first k are z = Vₖᵀ(x − μ), its reconstruction
//! x̂ = μ + Vₖ·z, and axis j explains a share sⱼ² / Σᵢ sᵢ² of the variance.
//!
//! Shows that 784 pixels carry far fewer independent directions: a handful of axes keeps most of
//! what tells digits apart. Data: the embedded `mnist-10k` by default, `--dataset iris|blobs` or
//! `--data FILE.csv [--target COLUMN]`. Expected on MNIST: the first two axes explain about 17%
//! of the variance, fifty about 83%.

use serde::{Deserialize, Serialize};

use super::{CsvArgs, LabInfo, LabSpec, Reference, RunOptions};
use crate::data::points::{self, PointSet};
use crate::error::{Error, Result};
use crate::linalg::Pca;
use crate::report::config::VERSION;
use crate::report::metrics::Split;
use crate::report::picture::pixel_grid;
use crate::report::plot::{PointGroup, Scatter, scatter_chart};
use crate::report::{MetricsLog, RunDir, Summary};
use crate::train::Console;

pub const INFO: LabInfo = LabInfo {
    name: "pca",
    chapter: "Reduction: simplify while keeping meaning",
    dataset: "mnist-10k",
    shows: "principal component analysis keeps most of the digits' variance in a few axes",
    formula: "X ≈ U_k Σ_k V_kᵀ: the k axes of largest variance",
    reference: Reference {
        dataset: "mnist-10k",
        metric: "explained_variance_50_components",
        expected: 0.83,
        higher_is_better: true,
        compared_with: "the 784 pixels' total variance",
    },
};

/// The flags of `neurons run pca`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub csv: CsvArgs,
}

pub struct PcaLab;

impl LabSpec for PcaLab {
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
pub struct PcaConfig {
    pub lab: String,
    pub neurons_version: String,
    pub seed: u64,
    pub dataset: String,
    pub points: usize,
    pub dimensions: usize,
    /// Numbers of components whose reconstruction is measured (and drawn, for images).
    pub reconstructions: Vec<usize>,
}

const QUICK_POINTS: usize = 2000;
const RECONSTRUCTIONS: [usize; 3] = [2, 10, 50];

/// The mean squared error of rebuilding every point from its first `k` coordinates.
pub fn reconstruction_error(pca: &Pca, x: &[Vec<f64>], k: usize) -> f64 {
    let total: f64 = x
        .iter()
        .map(|row| {
            let rebuilt = pca.reconstruct(&pca.project(row, k));
            row.iter()
                .zip(&rebuilt)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
        })
        .sum();
    total / (x.len() * x[0].len()).max(1) as f64
}

// --- Training ----------------------------------------------------------------------------------

pub fn run(
    options: &RunOptions,
    args: &Options,
    run: &RunDir,
    console: &Console,
) -> Result<Summary> {
    let mut set = points::load(
        options.dataset.as_deref(),
        options.data.as_deref(),
        args.csv.target.as_deref(),
        args.csv.separator()?,
        "mnist-10k",
        options.seed,
    )?;
    if options.quick {
        set = set.truncated(QUICK_POINTS);
    }
    let d = set.dims();
    if d < 2 {
        return Err(Error::Usage(format!(
            "{}: {d} feature(s); PCA needs at least 2",
            set.name
        )));
    }
    let config = PcaConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        seed: options.seed,
        dataset: set.name.clone(),
        points: set.x.len(),
        dimensions: d,
        reconstructions: RECONSTRUCTIONS
            .iter()
            .copied()
            .filter(|&k| k < d)
            .chain([d.min(2)])
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    run.write_toml("config.toml", &config)?;
    console.line(&format!(
        "{}: {} points in {d} dimensions",
        INFO.name,
        set.x.len()
    ));
    let started = std::time::Instant::now();
    let pca = Pca::fit(&set.x)?;
    let train_seconds = started.elapsed().as_secs_f64();

    let ratios = pca.explained_variance_ratio();
    let mut metrics = std::collections::BTreeMap::new();
    let mut cumulative = 0.0;
    console.line("component  explained variance  cumulative");
    for (j, r) in ratios.iter().take(10).enumerate() {
        cumulative += r;
        console.line(&format!("{:>9}  {:>18.4}  {cumulative:>10.4}", j + 1, r));
        metrics.insert(format!("explained_variance_ratio_{}", j + 1), *r);
    }
    let mut log = MetricsLog::new(&["components", "explained_variance"]);
    for (i, &k) in config.reconstructions.iter().enumerate() {
        let error = reconstruction_error(&pca, &set.x, k);
        let explained: f64 = ratios.iter().take(k).sum();
        console.line(&format!(
            "{k:>3} components: {:.1}% of the variance, reconstruction MSE {error:.5}",
            100.0 * explained
        ));
        metrics.insert(format!("reconstruction_mse_{k}"), error);
        metrics.insert(format!("explained_variance_{k}_components"), explained);
        log.push(i + 1, Split::Train, error, &[k as f64, explained]);
    }
    log.write(run)?;

    draw(run, &set, &pca, &config.reconstructions)?;
    Ok(Summary {
        lab: INFO.name.to_string(),
        dataset: set.name.clone(),
        seed: options.seed,
        device: "cpu".to_string(),
        epochs: 1,
        train_seconds,
        samples_per_second: set.x.len() as f64 / train_seconds.max(1e-9),
        metrics,
        parameters: [(
            "explained_variance_ratio".to_string(),
            ratios.into_iter().take(50).collect(),
        )]
        .into(),
    })
}

// --- Pictures ----------------------------------------------------------------------------------

fn draw(run: &RunDir, set: &PointSet, pca: &Pca, reconstructions: &[usize]) -> Result<()> {
    let mut plot = Scatter::new(
        "PCA: projection on the first two axes",
        "principal axis 1",
        "principal axis 2",
    );
    let shown = set.x.len().min(3000); // beyond that the points only hide each other
    match &set.labels {
        Some(labels) => {
            for (c, name) in set.class_names.iter().enumerate() {
                let points = set.x[..shown]
                    .iter()
                    .zip(labels)
                    .filter(|(_, l)| **l == c)
                    .map(|(p, _)| to_pair(pca.project(p, 2)))
                    .collect();
                plot.groups.push(PointGroup {
                    label: name.clone(),
                    points,
                });
            }
        }
        None => plot.groups.push(PointGroup {
            label: "points".to_string(),
            points: set.x[..shown]
                .iter()
                .map(|p| to_pair(pca.project(p, 2)))
                .collect(),
        }),
    }
    scatter_chart(&run.file("projection.png"), &plot)?;

    let Some((rows, cols)) = set.image_size else {
        return Ok(());
    };
    // the first 8 axes as images, each stretched to 0..=1
    let components: Vec<Vec<f32>> = pca
        .components
        .iter()
        .take(8)
        .map(|axis| {
            let (lo, hi) = axis
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            axis.iter()
                .map(|&v| ((v - lo) / (hi - lo).max(1e-12)) as f32)
                .collect()
        })
        .collect();
    let captions: Vec<String> = (1..=components.len())
        .map(|k| format!("axis {k}"))
        .collect();
    pixel_grid(
        &run.file("components.png"),
        &components,
        (cols, rows),
        8,
        3,
        Some(&captions),
    )?;

    // ten digits (one per row), then their reconstructions from k components
    let originals: Vec<&Vec<f64>> = set.x.iter().take(10).collect();
    let mut pixels: Vec<Vec<f32>> = Vec::new();
    let mut captions = Vec::new();
    for original in &originals {
        pixels.push(original.iter().map(|&v| v as f32).collect());
        captions.push("original".to_string());
        for &k in reconstructions {
            pixels.push(
                pca.reconstruct(&pca.project(original, k))
                    .iter()
                    .map(|&v| v as f32)
                    .collect(),
            );
            captions.push(format!("{k} axes"));
        }
    }
    pixel_grid(
        &run.file("reconstructions.png"),
        &pixels,
        (cols, rows),
        1 + reconstructions.len(),
        3,
        Some(&captions),
    )
}

fn to_pair(z: Vec<f64>) -> (f64, f64) {
    (z[0], z[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::iris;
    use crate::linalg::symmetric_eigenvalues;

    #[test]
    fn explained_variance_matches_the_covariance_eigenvalues() {
        let t = iris::iris().unwrap();
        let x: Vec<Vec<f64>> = t.rows.iter().map(|r| r[..4].to_vec()).collect();
        let pca = Pca::fit(&x).unwrap();
        // independently: the covariance matrix, then its eigenvalues
        let n = x.len() as f64;
        let mean: Vec<f64> = (0..4)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let cov: Vec<Vec<f64>> = (0..4)
            .map(|a| {
                (0..4)
                    .map(|b| {
                        x.iter()
                            .map(|r| (r[a] - mean[a]) * (r[b] - mean[b]))
                            .sum::<f64>()
                            / (n - 1.0)
                    })
                    .collect()
            })
            .collect();
        let eigen = symmetric_eigenvalues(&cov).unwrap();
        for (v, e) in pca.explained_variance.iter().zip(&eigen) {
            assert!((v - e).abs() <= 1e-6 * e.abs(), "{v} vs {e}");
        }
        let trace: f64 = (0..4).map(|j| cov[j][j]).sum();
        let ratios = pca.explained_variance_ratio();
        assert!((ratios[0] - eigen[0] / trace).abs() < 1e-9);
        // the axes are orthonormal
        for a in 0..4 {
            for b in 0..4 {
                let dot: f64 = pca.components[a]
                    .iter()
                    .zip(&pca.components[b])
                    .map(|(p, q)| p * q)
                    .sum();
                assert!((dot - if a == b { 1.0 } else { 0.0 }).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn the_reconstruction_error_falls_as_components_are_added() {
        let set = points::load(Some("mnist-10k"), None, None, b',', "mnist-10k", 1)
            .unwrap()
            .truncated(500);
        let pca = Pca::fit(&set.x).unwrap();
        let errors: Vec<f64> = [1, 2, 5, 10, 50, 200]
            .iter()
            .map(|&k| reconstruction_error(&pca, &set.x, k))
            .collect();
        assert!(errors.windows(2).all(|w| w[1] < w[0]), "{errors:?}");
    }
}
