//! `metrics.csv` (one row per epoch and split) and `summary.json` (the run's final figures).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RunDir;
use crate::error::{Error, Result};

/// Which part of the data a row of `metrics.csv` was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    /// Held out of the training data and watched while training; the test split is then
    /// measured once, at the end.
    Validation,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    pub epoch: usize,
    pub split: Split,
    pub loss: f64,
    /// The values of the log's metric columns, in order.
    pub values: Vec<f64>,
}

/// The per-epoch history of a run, written as `metrics.csv`: `epoch,split,loss,<metric>...`.
#[derive(Debug, Clone)]
pub struct MetricsLog {
    metric_names: Vec<&'static str>,
    rows: Vec<MetricsRow>,
}

impl MetricsLog {
    /// A log whose rows carry these metrics after the loss, e.g. `["accuracy"]`.
    pub fn new(metric_names: &[&'static str]) -> Self {
        Self {
            metric_names: metric_names.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, epoch: usize, split: Split, loss: f64, values: &[f64]) {
        debug_assert_eq!(values.len(), self.metric_names.len());
        self.rows.push(MetricsRow {
            epoch,
            split,
            loss,
            values: values.to_vec(),
        });
    }

    pub fn rows(&self) -> &[MetricsRow] {
        &self.rows
    }

    /// The series `(epoch, value)` of one column on one split, for the curves.
    /// `None` as the column means the loss.
    pub fn series(&self, split: Split, metric: Option<&str>) -> Vec<(f64, f64)> {
        let column = metric.and_then(|m| self.metric_names.iter().position(|n| *n == m));
        self.rows
            .iter()
            .filter(|r| r.split == split)
            .map(|r| {
                let value = match column {
                    Some(c) => r.values[c],
                    None => r.loss,
                };
                (r.epoch as f64, value)
            })
            .collect()
    }

    /// The CSV text: a header row, then one row per epoch and split.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("epoch,split,loss");
        for name in &self.metric_names {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&format!("{},{},{}", row.epoch, row.split.name(), row.loss));
            for v in &row.values {
                out.push_str(&format!(",{v}"));
            }
            out.push('\n');
        }
        out
    }

    /// Rewrites `metrics.csv` whole: it is small, and a whole rewrite keeps it consistent.
    pub fn write(&self, run: &RunDir) -> Result<()> {
        run.write_bytes("metrics.csv", self.to_csv().as_bytes())
    }

    /// Reads a log back from a run directory (to resume a run, or in tests).
    pub fn read(run: &RunDir, metric_names: &[&'static str]) -> Result<Self> {
        let path = run.file("metrics.csv");
        let bad = |reason: String| Error::BadRunDir {
            path: path.clone(),
            reason,
        };
        let mut reader = csv::Reader::from_path(&path).map_err(|e| bad(e.to_string()))?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let expected: Vec<&str> = ["epoch", "split", "loss"]
            .into_iter()
            .chain(metric_names.iter().copied())
            .collect();
        if header != expected {
            return Err(bad(format!("header {header:?}, expected {expected:?}")));
        }
        let mut log = Self::new(metric_names);
        for (i, record) in reader.records().enumerate() {
            let row = i + 2;
            let record = record.map_err(|e| bad(e.to_string()))?;
            // NaN is never a measurement: the divergence guard stops a run before its loss is
            // logged as one, so a NaN here was written by something else
            let number = |c: usize| -> Result<f64> {
                match record[c].parse::<f64>() {
                    Ok(value) if !value.is_nan() => Ok(value),
                    _ => Err(bad(format!(
                        "row {row}, column {:?}: {:?} is not a number",
                        expected[c], &record[c]
                    ))),
                }
            };
            let epoch = match record[0].parse::<usize>() {
                Ok(epoch) if epoch >= 1 => epoch,
                _ => {
                    return Err(bad(format!(
                        "row {row}, column \"epoch\": {:?} is not an epoch (1, 2, …)",
                        &record[0]
                    )));
                }
            };
            let split = match &record[1] {
                "train" => Split::Train,
                "validation" => Split::Validation,
                "test" => Split::Test,
                other => return Err(bad(format!("row {row}: unknown split {other:?}"))),
            };
            let values = (3..expected.len())
                .map(number)
                .collect::<Result<Vec<_>>>()?;
            log.push(epoch, split, number(2)?, &values);
        }
        Ok(log)
    }
}

/// `summary.json`: what a run achieved, in one small file that scripts can read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub lab: String,
    pub dataset: String,
    pub seed: u64,
    pub device: String,
    pub epochs: usize,
    pub train_seconds: f64,
    pub samples_per_second: f64,
    /// The final test metrics, e.g. `{"accuracy": 0.97, "loss": 0.09}`.
    pub metrics: BTreeMap<String, f64>,
    /// Learnt parameters worth reading, e.g. `{"theta_closed_form": [4.1, 1.8]}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Vec<f64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_csv_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(Some(dir.path()), "lab").unwrap();
        let mut log = MetricsLog::new(&["accuracy"]);
        log.push(1, Split::Train, 0.5, &[0.8]);
        log.push(1, Split::Test, 0.25, &[0.875]);
        log.write(&run).unwrap();
        let text = std::fs::read_to_string(run.file("metrics.csv")).unwrap();
        assert_eq!(
            text,
            "epoch,split,loss,accuracy\n1,train,0.5,0.8\n1,test,0.25,0.875\n"
        );
        let back = MetricsLog::read(&run, &["accuracy"]).unwrap();
        assert_eq!(back.rows(), log.rows());
        assert_eq!(
            back.series(Split::Test, Some("accuracy")),
            vec![(1.0, 0.875)]
        );
    }

    #[test]
    fn a_damaged_metrics_csv_is_refused_with_its_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(Some(dir.path()), "lab").unwrap();
        for (row, named) in [
            ("1,test,NaN,0.875", "row 3, column \"loss\": \"NaN\""),
            ("1,test,0.25,nan", "row 3, column \"accuracy\": \"nan\""),
            ("1,test,0.25,", "row 3, column \"accuracy\": \"\""),
            ("1.5,test,0.25,0.875", "row 3, column \"epoch\": \"1.5\""),
            ("0,test,0.25,0.875", "row 3, column \"epoch\": \"0\""),
            ("-1,test,0.25,0.875", "row 3, column \"epoch\": \"-1\""),
        ] {
            let text = format!("epoch,split,loss,accuracy\n1,train,0.5,0.8\n{row}\n");
            std::fs::write(run.file("metrics.csv"), text).unwrap();
            let err = MetricsLog::read(&run, &["accuracy"])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("metrics.csv") && err.contains(named),
                "{row}: {err}"
            );
        }
    }
}
