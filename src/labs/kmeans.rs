//! # Clustering: k-means ("finding common relationships")
//!
//! Minimise the inertia J = Σᵢ ‖xᵢ − μ_c(i)‖² by alternating two steps until nothing moves:
//! assign each point to its nearest centroid, c(i) = argminₖ ‖xᵢ − μₖ‖²; move each centroid to the
//! mean of its points, μₖ = mean{xᵢ : c(i) = k}. Centroids start by k-means++ (each new one drawn
//! with probability ∝ its squared distance to the nearest chosen one); of several restarts, the
//! lowest inertia wins.
//!
//! Shows that structure can be found without labels: the labels, where there are some, only judge
//! the result (adjusted Rand index: 1 for the same partition, about 0 for chance). Data: 600
//! points in 4 Gaussian blobs by default; `--dataset iris|mnist-10k` or `--data FILE.csv
//! [--target COLUMN]`. Expected: ARI 1.0 on the blobs, about 0.73 on Iris, about 0.35 on MNIST.
//!
//! Written here rather than taken from linfa-clustering: the two steps above are the lesson, and
//! the lab keeps every restart seeded from `--seed` without bringing in ndarray.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{CsvArgs, LabInfo, LabSpec, Reference, RunOptions};
use crate::data::points::{self, PointSet};
use crate::error::{Error, Result};
use crate::linalg::Pca;
use crate::report::config::VERSION;
use crate::report::metrics::Split;
use crate::report::plot::{Curve, PointGroup, Scatter, line_chart, scatter_chart};
use crate::report::{MetricsLog, RunDir, Summary};
use crate::train::Console;

pub const INFO: LabInfo = LabInfo {
    name: "kmeans",
    chapter: "Clustering: finding common relationships",
    dataset: "blobs (synthetic)",
    shows: "k-means groups points into clusters without ever seeing a label",
    formula: "argmin Σᵢ ‖xᵢ − μ_c(i)‖², k-means++ then Lloyd",
    reference: Reference {
        dataset: "blobs",
        metric: "adjusted_rand_index",
        expected: 1.0,
        higher_is_better: true,
        compared_with: "the true labels: 1 is the same partition, about 0 chance",
    },
};

/// The flags of `neurons run kmeans`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Number of clusters
    #[arg(long, allow_negative_numbers = true)]
    pub k: Option<usize>,
    /// Number of k-means restarts, the best kept
    #[arg(long, allow_negative_numbers = true)]
    pub restarts: Option<usize>,
    #[command(flatten)]
    pub csv: CsvArgs,
}

pub struct KmeansLab;

impl LabSpec for KmeansLab {
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
        super::within("--restarts", args.restarts, 1..=1000)?;
        super::within("--k", args.k, 1..=crate::train::config::limits::MAX_POINTS)?;
        args.csv.separator().map(|_| ())
    }
}

// --- Config ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KMeansConfig {
    pub lab: String,
    pub neurons_version: String,
    pub seed: u64,
    pub dataset: String,
    pub points: usize,
    pub k: usize,
    pub restarts: usize,
    pub max_iterations: usize,
}

const RESTARTS: usize = 10;
const MAX_ITERATIONS: usize = 100;
const QUICK_POINTS: usize = 1000;

// --- Model -------------------------------------------------------------------------------------

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn nearest(x: &[f64], centroids: &[Vec<f64>]) -> (usize, f64) {
    centroids
        .iter()
        .enumerate()
        .map(|(k, c)| (k, squared_distance(x, c)))
        .fold(
            (0, f64::INFINITY),
            |best, d| if d.1 < best.1 { d } else { best },
        )
}

/// k-means++: the first centroid uniformly, each next one with probability ∝ D(x)².
pub fn kmeans_plus_plus(x: &[Vec<f64>], k: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let mut centroids = vec![x[rng.random_range(0..x.len())].clone()];
    let mut d2: Vec<f64> = x
        .iter()
        .map(|p| squared_distance(p, &centroids[0]))
        .collect();
    while centroids.len() < k {
        let total: f64 = d2.iter().sum();
        let next = if total > 0.0 {
            let mut target = rng.random_range(0.0..total);
            d2.iter()
                .position(|&d| {
                    target -= d;
                    target < 0.0
                })
                .unwrap_or(x.len() - 1)
        } else {
            rng.random_range(0..x.len()) // every point is already a centroid
        };
        centroids.push(x[next].clone());
        for (d, p) in d2.iter_mut().zip(x) {
            *d = d.min(squared_distance(p, &centroids[centroids.len() - 1]));
        }
    }
    centroids
}

/// A clustering and how it was reached.
#[derive(Debug, Clone)]
pub struct Clustering {
    pub centroids: Vec<Vec<f64>>,
    pub assignment: Vec<usize>,
    pub inertia: f64,
    /// J after each assignment step.
    pub inertia_per_iteration: Vec<f64>,
}

/// Lloyd's algorithm from the given centroids.
pub fn lloyd(x: &[Vec<f64>], mut centroids: Vec<Vec<f64>>, max_iterations: usize) -> Clustering {
    let (k, d) = (centroids.len(), x[0].len());
    let mut assignment = vec![usize::MAX; x.len()];
    let mut inertia_per_iteration = Vec::new();
    for _ in 0..max_iterations {
        // assignment step
        let mut changed = false;
        let mut inertia = 0.0;
        for (a, p) in assignment.iter_mut().zip(x) {
            let (c, d2) = nearest(p, &centroids);
            changed |= *a != c;
            *a = c;
            inertia += d2;
        }
        inertia_per_iteration.push(inertia);
        if !changed {
            break;
        }
        // update step: each centroid to the mean of its points (an empty cluster keeps its place)
        let mut sums = vec![vec![0.0; d]; k];
        let mut counts = vec![0usize; k];
        for (&a, p) in assignment.iter().zip(x) {
            counts[a] += 1;
            for (s, v) in sums[a].iter_mut().zip(p) {
                *s += v;
            }
        }
        for ((c, s), &n) in centroids.iter_mut().zip(sums).zip(&counts) {
            if n > 0 {
                *c = s.into_iter().map(|v| v / n as f64).collect();
            }
        }
    }
    let inertia = *inertia_per_iteration.last().unwrap_or(&0.0);
    Clustering {
        centroids,
        assignment,
        inertia,
        inertia_per_iteration,
    }
}

/// The best of `restarts` k-means runs (at least one; the command line refuses 0), each seeded
/// from `seed`.
pub fn kmeans(
    x: &[Vec<f64>],
    k: usize,
    restarts: usize,
    max_iterations: usize,
    seed: u64,
) -> Clustering {
    (0..restarts.max(1))
        .map(|r| {
            let mut rng = ChaCha8Rng::seed_from_u64(crate::train::epoch_seed(seed, r));
            lloyd(x, kmeans_plus_plus(x, k, &mut rng), max_iterations)
        })
        .min_by(|a, b| a.inertia.total_cmp(&b.inertia))
        .expect("at least one restart")
}

/// The adjusted Rand index of two partitions (Hubert and Arabie, 1985):
/// ARI = (Σᵢⱼ C(nᵢⱼ,2) − E) / (½(Σᵢ C(aᵢ,2) + Σⱼ C(bⱼ,2)) − E), with E = Σᵢ C(aᵢ,2)·Σⱼ C(bⱼ,2)/C(n,2).
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let (ka, kb) = (
        a.iter().max().map_or(0, |m| m + 1),
        b.iter().max().map_or(0, |m| m + 1),
    );
    let mut table = vec![vec![0f64; kb]; ka];
    for (&i, &j) in a.iter().zip(b) {
        table[i][j] += 1.0;
    }
    let pairs = |n: f64| n * (n - 1.0) / 2.0;
    let index: f64 = table.iter().flatten().map(|&n| pairs(n)).sum();
    let rows: f64 = table.iter().map(|r| pairs(r.iter().sum())).sum();
    let cols: f64 = (0..kb)
        .map(|j| pairs(table.iter().map(|r| r[j]).sum()))
        .sum();
    let expected = rows * cols / pairs(a.len() as f64);
    let max = 0.5 * (rows + cols);
    if (max - expected).abs() < 1e-12 {
        1.0
    } else {
        (index - expected) / (max - expected)
    }
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
        "blobs",
        options.seed,
    )?;
    if options.quick {
        set = set.truncated(QUICK_POINTS);
    }
    let k = args.k.unwrap_or({
        if set.class_names.is_empty() {
            3
        } else {
            set.class_names.len()
        }
    });
    if k < 1 || k > set.x.len() {
        return Err(Error::Usage(format!(
            "--k {k}: need between 1 and {} clusters",
            set.x.len()
        )));
    }
    let config = KMeansConfig {
        lab: INFO.name.to_string(),
        neurons_version: VERSION.to_string(),
        seed: options.seed,
        dataset: set.name.clone(),
        points: set.x.len(),
        k,
        // fewer restarts on big sets (MNIST: 10,000 × 784), where one restart costs seconds
        restarts: args.restarts.unwrap_or(
            if options.quick || set.x.len() * set.dims() > 1_000_000 {
                3
            } else {
                RESTARTS
            },
        ),
        max_iterations: options.epochs.unwrap_or(MAX_ITERATIONS),
    };
    run.write_toml("config.toml", &config)?;
    console.line(&format!(
        "{}: {} points in {} dimensions, k = {k}, {} restarts",
        INFO.name,
        set.x.len(),
        set.dims(),
        config.restarts
    ));
    let started = std::time::Instant::now();

    let clustering = kmeans(
        &set.x,
        k,
        config.restarts,
        config.max_iterations,
        options.seed,
    );
    let train_seconds = started.elapsed().as_secs_f64();
    let mut log = MetricsLog::new(&[]);
    for (i, &j) in clustering.inertia_per_iteration.iter().enumerate() {
        console.line(&format!("iteration {:>3}: inertia {j:.4}", i + 1));
        log.push(i + 1, Split::Train, j, &[]);
    }
    log.write(run)?;
    let mut metrics = std::collections::BTreeMap::from([
        ("inertia".to_string(), clustering.inertia),
        (
            "iterations".to_string(),
            clustering.inertia_per_iteration.len() as f64,
        ),
    ]);
    if let Some(labels) = &set.labels {
        let ari = adjusted_rand_index(labels, &clustering.assignment);
        console.line(&format!(
            "adjusted Rand index against the true classes: {ari:.4}"
        ));
        metrics.insert("adjusted_rand_index".to_string(), ari);
    }

    draw(run, &set, &clustering)?;
    Ok(Summary {
        lab: INFO.name.to_string(),
        dataset: set.name.clone(),
        seed: options.seed,
        device: "cpu".to_string(),
        epochs: clustering.inertia_per_iteration.len(),
        train_seconds,
        samples_per_second: (set.x.len() * clustering.inertia_per_iteration.len() * config.restarts)
            as f64
            / train_seconds.max(1e-9),
        metrics,
        parameters: Default::default(),
    })
}

// --- Pictures ----------------------------------------------------------------------------------

/// Maps a point to the plane of the picture.
type Projection = Box<dyn Fn(&[f64]) -> (f64, f64)>;

fn draw(run: &RunDir, set: &PointSet, c: &Clustering) -> Result<()> {
    let curve = Curve {
        label: "inertia".to_string(),
        points: c
            .inertia_per_iteration
            .iter()
            .enumerate()
            .map(|(i, &j)| ((i + 1) as f64, j))
            .collect(),
    };
    line_chart(
        &run.file("inertia.png"),
        "k-means: inertia per iteration",
        "iteration",
        "inertia J",
        &[curve],
    )?;
    // in more than two dimensions, show the first two principal axes
    let (project, x_label, y_label): (Projection, String, String) = if set.dims() == 1 {
        // one feature: the points on a line
        (
            Box::new(|p: &[f64]| (p[0], 0.0)),
            set.feature_names[0].clone(),
            "(one feature)".to_string(),
        )
    } else if set.dims() == 2 {
        (
            Box::new(|p: &[f64]| (p[0], p[1])),
            set.feature_names[0].clone(),
            set.feature_names[1].clone(),
        )
    } else {
        let pca = Pca::fit(&set.x)?;
        (
            Box::new(move |p: &[f64]| {
                let z = pca.project(p, 2);
                (z[0], z[1])
            }),
            "principal axis 1".to_string(),
            "principal axis 2".to_string(),
        )
    };
    let mut plot = Scatter::new("k-means: clusters and centroids", &x_label, &y_label);
    for k in 0..c.centroids.len() {
        let points = set
            .x
            .iter()
            .zip(&c.assignment)
            .filter(|(_, a)| **a == k)
            .map(|(p, _)| project(p))
            .collect();
        plot.groups.push(PointGroup {
            label: format!("cluster {k}"),
            points,
        });
    }
    plot.markers = c.centroids.iter().map(|m| project(m)).collect();
    scatter_chart(&run.file("clusters.png"), &plot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic;

    #[test]
    fn well_separated_blobs_are_found_exactly() {
        let f = synthetic::blobs(400, 4, 0.5, 3);
        let labels: Vec<usize> = f.y.iter().map(|&y| y as usize).collect();
        let c = kmeans(&f.x, 4, 5, 100, 1);
        assert_eq!(adjusted_rand_index(&labels, &c.assignment), 1.0);
    }

    #[test]
    fn inertia_never_rises() {
        let f = synthetic::blobs(300, 5, 3.0, 2);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let c = lloyd(&f.x, kmeans_plus_plus(&f.x, 5, &mut rng), 100);
        assert!(
            c.inertia_per_iteration
                .windows(2)
                .all(|w| w[1] <= w[0] + 1e-9),
            "{:?}",
            c.inertia_per_iteration
        );
    }

    #[test]
    fn the_rand_index_is_1_for_relabelled_partitions_and_near_0_for_chance() {
        assert_eq!(
            adjusted_rand_index(&[0, 0, 1, 1, 2, 2], &[2, 2, 0, 0, 1, 1]),
            1.0
        );
        let a: Vec<usize> = (0..3000).map(|i| i % 3).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let b: Vec<usize> = (0..3000).map(|_| rng.random_range(0..3)).collect();
        assert!(adjusted_rand_index(&a, &b).abs() < 0.02);
    }
}
