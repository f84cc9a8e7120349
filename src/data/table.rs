//! Numeric tables from CSV files: every cell checked, every error naming its row and column.
//!
//! Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is
//! row 2.

use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A table of numbers with named columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The file it came from (or a name for embedded data), for errors.
    pub source: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    /// Reads a CSV file with a header row; `separator` is usually `,` or `;`.
    pub fn read_csv(path: &Path, separator: u8) -> Result<Table> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse_csv(&path.display().to_string(), &bytes, separator)
    }

    /// Parses CSV text already in memory; `source` names it in errors.
    pub fn parse_csv(source: &str, bytes: &[u8], separator: u8) -> Result<Table> {
        let bad = |reason: String| Error::BadCsv {
            source_name: source.to_string(),
            reason,
        };
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(bad("empty file: no header row".to_string()));
        }
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(separator)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        if columns.len() == 1 && separator != b';' && columns[0].contains(';') {
            return Err(bad(
                "one column only, with ';' in its name: try --sep ';'".to_string()
            ));
        }
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let row = i + 2;
            let record = record.map_err(|e| match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    len, expected_len, ..
                } => bad(format!(
                    "row {row}: {len} cells, but the header has {expected_len} columns"
                )),
                _ => bad(format!("row {row}: {e}")),
            })?;
            let mut values = Vec::with_capacity(columns.len());
            for (c, cell) in record.iter().enumerate() {
                let value: f64 = cell.parse().map_err(|_| Error::BadCell {
                    source_name: source.to_string(),
                    row,
                    column: columns[c].clone(),
                    reason: if cell.is_empty() {
                        "the cell is empty".to_string()
                    } else {
                        format!("{cell:?} is not a number")
                    },
                })?;
                // Training computes in f32: a value beyond its range would become infinite there
                // (and its column's σ in f64 could overflow), so it is refused here, by name.
                if !value.is_finite() || value.abs() > f32::MAX as f64 {
                    return Err(Error::BadCell {
                        source_name: source.to_string(),
                        row,
                        column: columns[c].clone(),
                        reason: format!(
                            "{cell:?} is not a finite number within ±3.4e38 (32-bit floats)"
                        ),
                    });
                }
                values.push(value);
            }
            rows.push(values);
        }
        Ok(Table {
            source: source.to_string(),
            columns,
            rows,
        })
    }

    /// The index of a column, or an error listing the columns there are.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        self.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| Error::BadCsv {
                source_name: self.source.clone(),
                reason: format!(
                    "no column {name:?}; the columns are {}",
                    self.columns.join(", ")
                ),
            })
    }

    /// Fails unless the table has at least `min` data rows.
    pub fn require_rows(&self, min: usize) -> Result<()> {
        if self.rows.len() < min {
            return Err(Error::BadCsv {
                source_name: self.source.clone(),
                reason: format!("{} data row(s); at least {min} are needed", self.rows.len()),
            });
        }
        Ok(())
    }

    /// Splits the table into feature rows and the target column.
    pub fn features_and_target(&self, target: &str) -> Result<Features> {
        let t = self.column_index(target)?;
        if self.columns.len() < 2 {
            return Err(Error::BadCsv {
                source_name: self.source.clone(),
                reason: format!("only the target column {target:?}: no feature to learn from"),
            });
        }
        Ok(Features {
            names: self
                .columns
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != t)
                .map(|(_, c)| c.clone())
                .collect(),
            x: self
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .enumerate()
                        .filter(|(i, _)| *i != t)
                        .map(|(_, v)| *v)
                        .collect()
                })
                .collect(),
            y: self.rows.iter().map(|r| r[t]).collect(),
        })
    }

    /// Checks that every value of `column` is 0 or 1, and that both occur: a classifier learns
    /// nothing from one class (sklearn refuses it too).
    pub fn require_binary(&self, column: &str) -> Result<()> {
        let c = self.column_index(column)?;
        if let Some((i, row)) = self
            .rows
            .iter()
            .enumerate()
            .find(|(_, r)| r[c] != 0.0 && r[c] != 1.0)
        {
            return Err(Error::BadCell {
                source_name: self.source.clone(),
                row: i + 2,
                column: column.to_string(),
                reason: format!("{} is not a class: a binary target must be 0 or 1", row[c]),
            });
        }
        let ones = self.rows.iter().filter(|r| r[c] == 1.0).count();
        if ones == 0 || ones == self.rows.len() {
            return Err(Error::BadCsv {
                source_name: self.source.clone(),
                reason: format!(
                    "column {column:?} holds one class only ({}); a classifier needs both 0 and 1",
                    if ones == 0 { 0 } else { 1 }
                ),
            });
        }
        Ok(())
    }
}

/// Reads `--data FILE.csv --target COLUMN`: the features and target of a CSV with at least
/// `min_rows` data rows.
pub fn read_features(
    path: &Path,
    target: Option<&str>,
    separator: u8,
    min_rows: usize,
) -> Result<Features> {
    let target = target.ok_or_else(|| {
        Error::Usage(format!(
            "--data {}: name the column to predict with --target COLUMN",
            path.display()
        ))
    })?;
    let table = Table::read_csv(path, separator)?;
    table.column_index(target)?;
    table.require_rows(min_rows)?;
    table.features_and_target(target)
}

/// Reads `--data FILE.csv --target COLUMN` for binary classification: the target must hold only
/// 0 and 1.
pub fn read_binary_features(path: &Path, target: Option<&str>, separator: u8) -> Result<Features> {
    let target = target.ok_or_else(|| {
        Error::Usage(format!(
            "--data {}: name the 0/1 column with --target COLUMN",
            path.display()
        ))
    })?;
    let table = Table::read_csv(path, separator)?;
    table.column_index(target)?;
    table.require_rows(2)?;
    table.require_binary(target)?;
    table.features_and_target(target)
}

/// Features `x` (one row per sample) and the target `y`.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub names: Vec<String>,
    pub x: Vec<Vec<f64>>,
    pub y: Vec<f64>,
}

impl Features {
    /// The samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Features {
        Features {
            names: self.names.clone(),
            x: indices.iter().map(|&i| self.x[i].clone()).collect(),
            y: indices.iter().map(|&i| self.y[i]).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// One row of features and its target, as burn's data loader hands them to [`RowBatcher`].
#[derive(Debug, Clone)]
pub struct RowItem {
    pub x: Vec<f32>,
    pub y: f32,
}

/// A batch of rows: features `[batch, d]` and targets `[batch, 1]`.
#[derive(Debug, Clone)]
pub struct RowBatch {
    pub x: burn::tensor::Tensor<2>,
    pub y: burn::tensor::Tensor<2>,
}

/// Stacks [`RowItem`]s into a [`RowBatch`] on the loader's device.
#[derive(Debug, Clone, Copy)]
pub struct RowBatcher;

impl burn::data::dataloader::batcher::Batcher<RowItem, RowBatch> for RowBatcher {
    fn batch(&self, items: Vec<RowItem>, device: &burn::tensor::Device) -> RowBatch {
        let (n, d) = (items.len(), items.first().map_or(0, |i| i.x.len()));
        let x: Vec<f32> = items.iter().flat_map(|i| i.x.iter().copied()).collect();
        let y: Vec<f32> = items.iter().map(|i| i.y).collect();
        RowBatch {
            x: burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(x, [n, d]), device),
            y: burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(y, [n, 1]), device),
        }
    }
}

/// Reads the columns `names` of a CSV, in that order, whatever order the file has them in;
/// a missing column is an error naming it.
pub fn read_columns(path: &Path, names: &[String], separator: u8) -> Result<Vec<Vec<f64>>> {
    let table = Table::read_csv(path, separator)?;
    let indices = names
        .iter()
        .map(|n| table.column_index(n))
        .collect::<Result<Vec<_>>>()?;
    Ok(table
        .rows
        .iter()
        .map(|r| indices.iter().map(|&i| r[i]).collect())
        .collect())
}

/// A seeded shuffle of `0..n` cut into train and test indices, `test_fraction` of them for test
/// (at least one of each).
pub fn split_indices(n: usize, test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut indices: Vec<usize> = (0..n).collect();
    indices.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_test = ((n as f64 * test_fraction).round() as usize).clamp(1, n.saturating_sub(1).max(1));
    let test = indices.split_off(n - n_test);
    (indices, test)
}

/// Standardization z = (x − μ)/σ per column, with μ and σ learnt on the training rows and saved
/// with the model so that predictions see inputs scaled the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Learns μ and σ of each column; a constant column gets σ = 1 so that it maps to 0.
    pub fn fit(rows: &[Vec<f64>]) -> Self {
        let n = rows.len().max(1) as f64;
        let d = rows.first().map_or(0, Vec::len);
        let mean: Vec<f64> = (0..d)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let std = (0..d)
            .map(|j| {
                let var = rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
                if var > 1e-24 { var.sqrt() } else { 1.0 }
            })
            .collect();
        Self { mean, std }
    }

    pub fn transform_row(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(x, (m, s))| (x - m) / s)
            .collect()
    }

    pub fn transform(&self, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        rows.iter().map(|r| self.transform_row(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Table> {
        Table::parse_csv("t.csv", text.as_bytes(), b',')
    }

    #[test]
    fn a_value_beyond_f32_is_refused_by_row_and_column() {
        let err = parse("a,b\n1,2\n3,1e300\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "t.csv: row 3, column \"b\": \"1e300\" is not a finite number within ±3.4e38 (32-bit floats)"
        );
        assert!(parse("a\n3e38\n").is_ok());
    }

    #[test]
    fn parses_numbers_with_a_header() {
        let t = parse("a,b\n1,2.5\n-3, 4e2\n").unwrap();
        assert_eq!(t.columns, vec!["a", "b"]);
        assert_eq!(t.rows, vec![vec![1.0, 2.5], vec![-3.0, 400.0]]);
        let f = t.features_and_target("a").unwrap();
        assert_eq!(f.names, vec!["b"]);
        assert_eq!(f.y, vec![1.0, -3.0]);
    }

    #[test]
    fn a_text_cell_names_row_and_column() {
        let err = parse("x,price\n1,2\n3,abc\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "t.csv: row 3, column \"price\": \"abc\" is not a number"
        );
    }

    #[test]
    fn nan_empty_cells_and_ragged_rows_are_errors() {
        let err = parse("x,y\n1,NaN\n").unwrap_err().to_string();
        assert!(
            err.contains("row 2, column \"y\": \"NaN\" is not a finite number"),
            "{err}"
        );
        let err = parse("x,y\n1,\n").unwrap_err().to_string();
        assert!(
            err.contains("row 2, column \"y\": the cell is empty"),
            "{err}"
        );
        let err = parse("x,y\n1,2\n3\n").unwrap_err().to_string();
        assert!(
            err.contains("row 3: 1 cells, but the header has 2 columns"),
            "{err}"
        );
    }

    #[test]
    fn empty_files_missing_columns_and_single_rows_are_errors() {
        assert!(parse("").unwrap_err().to_string().contains("empty file"));
        let t = parse("x,y\n1,2\n").unwrap();
        let err = t.features_and_target("price").unwrap_err().to_string();
        assert!(
            err.contains("no column \"price\"; the columns are x, y"),
            "{err}"
        );
        let err = t.require_rows(2).unwrap_err().to_string();
        assert!(err.contains("1 data row(s); at least 2"), "{err}");
    }

    #[test]
    fn a_semicolon_file_read_with_commas_suggests_sep() {
        let err = parse("a;b\n1;2\n").unwrap_err().to_string();
        assert!(err.contains("--sep ';'"), "{err}");
        let t = Table::parse_csv("t.csv", b"a;b\n1;2\n", b';').unwrap();
        assert_eq!(t.rows, vec![vec![1.0, 2.0]]);
    }

    #[test]
    fn splits_are_seeded_disjoint_and_complete() {
        let (train, test) = split_indices(100, 0.2, 3);
        assert_eq!((train.len(), test.len()), (80, 20));
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split_indices(100, 0.2, 3), (train, test));
        assert_ne!(split_indices(100, 0.2, 4).1, split_indices(100, 0.2, 3).1);
    }

    #[test]
    fn standardized_columns_have_mean_0_and_std_1() {
        let rows = vec![vec![1.0, 5.0], vec![2.0, 5.0], vec![3.0, 5.0]];
        let s = Standardizer::fit(&rows);
        let z = s.transform(&rows);
        let mean0 = z.iter().map(|r| r[0]).sum::<f64>() / 3.0;
        let var0 = z.iter().map(|r| r[0] * r[0]).sum::<f64>() / 3.0;
        assert!(mean0.abs() < 1e-12 && (var0 - 1.0).abs() < 1e-12);
        assert!(z.iter().all(|r| r[1] == 0.0), "a constant column maps to 0");
    }
}
