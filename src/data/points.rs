//! Points to learn from without labels (clustering, reduction): synthetic blobs, Iris, the
//! embedded MNIST digits, or a CSV file. Labels, where there are some, are kept aside to judge
//! the result, never shown to the algorithm.

use std::path::Path;

use super::table::Table;
use super::{iris, mnist, synthetic};
use crate::error::{Error, Result};

/// Points in d dimensions, with their true classes when known.
#[derive(Debug, Clone)]
pub struct PointSet {
    pub name: String,
    pub feature_names: Vec<String>,
    pub x: Vec<Vec<f64>>,
    /// The true class of each point, when the data has one.
    pub labels: Option<Vec<usize>>,
    pub class_names: Vec<String>,
    /// `(rows, cols)` when each point is an image.
    pub image_size: Option<(usize, usize)>,
}

/// The named data sets of the unsupervised labs.
pub const NAMES: [&str; 3] = ["blobs", "iris", "mnist-10k"];

/// Loads `--data FILE.csv [--target COLUMN]`, or `--dataset NAME`, or `default`.
pub fn load(
    dataset: Option<&str>,
    data: Option<&Path>,
    target: Option<&str>,
    separator: u8,
    default: &str,
    seed: u64,
) -> Result<PointSet> {
    if let Some(path) = data {
        let table = Table::read_csv(path, separator)?;
        table.require_rows(2)?;
        return Ok(match target {
            Some(t) => {
                let f = table.features_and_target(t)?;
                let (labels, class_names) = classes_of(&f.y);
                PointSet {
                    name: path.display().to_string(),
                    feature_names: f.names,
                    x: f.x,
                    labels: Some(labels),
                    class_names,
                    image_size: None,
                }
            }
            None => PointSet {
                name: path.display().to_string(),
                feature_names: table.columns.clone(),
                x: table.rows,
                labels: None,
                class_names: Vec::new(),
                image_size: None,
            },
        });
    }
    match dataset.unwrap_or(default) {
        "blobs" => {
            let f = synthetic::blobs(600, 4, 1.0, seed);
            Ok(PointSet {
                name: "blobs".to_string(),
                feature_names: f.names,
                x: f.x,
                labels: Some(f.y.iter().map(|&y| y as usize).collect()),
                class_names: (0..4).map(|i| format!("blob {i}")).collect(),
                image_size: None,
            })
        }
        "iris" => {
            let t = iris::iris()?;
            let f = t.features_and_target("species")?;
            Ok(PointSet {
                name: "iris".to_string(),
                feature_names: f.names,
                x: f.x,
                labels: Some(f.y.iter().map(|&y| y as usize).collect()),
                class_names: iris::SPECIES.iter().map(|s| s.to_string()).collect(),
                image_size: None,
            })
        }
        "mnist-10k" => {
            let set = mnist::ImageSource::Mnist10k.load()?;
            // all 10,000 digits: nothing here is trained on labels, so no test split is needed
            let (train, test) = (&set.train, &set.test);
            let x = (0..train.len())
                .map(|i| pixels(train.image(i)))
                .chain((0..test.len()).map(|i| pixels(test.image(i))))
                .collect();
            let labels = train
                .labels
                .iter()
                .chain(&test.labels)
                .map(|&l| l as usize)
                .collect();
            Ok(PointSet {
                name: "mnist-10k".to_string(),
                feature_names: (0..train.rows * train.cols)
                    .map(|i| format!("pixel{i}"))
                    .collect(),
                x,
                labels: Some(labels),
                class_names: set.classes.clone(),
                image_size: Some((train.rows, train.cols)),
            })
        }
        other => Err(Error::Usage(format!(
            "unknown data set {other:?}: expected {} or --data FILE.csv",
            NAMES.join(", ")
        ))),
    }
}

fn pixels(image: &[u8]) -> Vec<f64> {
    image.iter().map(|&p| p as f64 / 255.0).collect()
}

/// Class indices for a column of class values (sorted), and their names.
fn classes_of(y: &[f64]) -> (Vec<usize>, Vec<String>) {
    let mut values: Vec<f64> = y.to_vec();
    values.sort_by(f64::total_cmp);
    values.dedup();
    let labels = y
        .iter()
        .map(|v| values.iter().position(|u| u == v).unwrap_or(0))
        .collect();
    (labels, values.iter().map(|v| format!("{v}")).collect())
}

impl PointSet {
    /// The first `n` points only.
    pub fn truncated(mut self, n: usize) -> Self {
        self.x.truncate(n);
        if let Some(labels) = &mut self.labels {
            labels.truncate(n);
        }
        self
    }

    pub fn dims(&self) -> usize {
        self.x.first().map_or(0, Vec::len)
    }
}
