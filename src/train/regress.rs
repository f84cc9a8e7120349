//! Regression of a number from a row of features as a supervised task: ŷ = model(x), the loss
//! MSE = (1/B)·Σ (ŷ − y)², and the mean absolute error and root mean squared error as metrics.

use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::fit::{BatchOutcome, Supervised};
use crate::data::table::{RowBatch, RowBatcher, RowItem};
use crate::data::{SharedItems, batches};
use crate::error::{Error, Result};
use crate::train::FloatValues;

/// A network mapping features `[batch, d]` to one number each `[batch, 1]`.
pub trait Regressor: Module {
    fn forward(&self, x: Tensor<2>) -> Tensor<2>;
}

/// The metric columns of `metrics.csv` for regression.
pub const METRICS: [&str; 2] = ["mae", "rmse"];

/// Rows to learn from and rows to validate on (already standardized).
pub struct TabularRegression<M> {
    train: Arc<Vec<RowItem>>,
    test: Arc<Vec<RowItem>>,
    _model: std::marker::PhantomData<M>,
}

impl<M> TabularRegression<M> {
    pub fn new(train: Vec<RowItem>, test: Vec<RowItem>) -> Self {
        Self {
            train: Arc::new(train),
            test: Arc::new(test),
            _model: std::marker::PhantomData,
        }
    }
}

impl<M: Regressor> Supervised for TabularRegression<M> {
    type Model = M;
    type Batch = RowBatch;

    fn metric_names(&self) -> &'static [&'static str] {
        &METRICS
    }

    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn train_loader(
        &self,
        batch_size: usize,
        shuffle_seed: u64,
        device: &Device,
    ) -> Arc<dyn DataLoader<RowBatch>> {
        batches(
            RowBatcher,
            SharedItems::new(self.train.clone()),
            batch_size,
            Some(shuffle_seed),
            device,
        )
    }

    fn batch(&self, model: &M, batch: RowBatch) -> BatchOutcome {
        let [size, _] = batch.y.dims();
        let error = model.forward(batch.x) - batch.y; // [batch, 1]
        let loss = error.clone().square().mean(); // MSE
        let errors: Vec<f32> = error.floats();
        let absolute: f64 = errors.iter().map(|e| e.abs() as f64).sum();
        let squared: f64 = errors.iter().map(|e| (e * e) as f64).sum();
        BatchOutcome {
            loss: loss.reshape([1]),
            size,
            sums: vec![absolute, squared],
        }
    }

    fn finish(&self, sums: &[f64], samples: usize) -> Vec<f64> {
        let n = samples.max(1) as f64;
        vec![sums[0] / n, (sums[1] / n).sqrt()]
    }

    fn validate(&self, model: &M, device: &Device) -> Result<(f64, Vec<f64>)> {
        let predictions = predict(model, &self.test, device)?;
        let n = self.test.len().max(1) as f64;
        let errors: Vec<f64> = predictions
            .iter()
            .zip(self.test.iter())
            .map(|(p, r)| p - r.y as f64)
            .collect();
        let mse = errors.iter().map(|e| e * e).sum::<f64>() / n;
        let mae = errors.iter().map(|e| e.abs()).sum::<f64>() / n;
        Ok((mse, vec![mae, mse.sqrt()]))
    }
}

/// Predictions of `model` (out of autodiff) for `rows`.
pub fn predict<M: Regressor>(model: &M, rows: &[RowItem], device: &Device) -> Result<Vec<f64>> {
    let device = device.clone().inner();
    let mut out = Vec::with_capacity(rows.len());
    let loader = batches(
        RowBatcher,
        SharedItems::new(Arc::new(rows.to_vec())),
        512,
        None,
        &device,
    );
    for batch in loader.iter() {
        let batch = batch.map_err(|e| Error::DataLoader(e.to_string()))?;
        let y: Vec<f32> = model.forward(batch.x).floats();
        out.extend(y.into_iter().map(f64::from));
    }
    Ok(out)
}
