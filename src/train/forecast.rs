//! Forecasting the next point of a sequence as a supervised task: ŷ = model(window), the loss
//! MSE = (1/(B·d))·Σ (ŷ − y)², and as metrics the mean distance between predicted and true points
//! and the root mean squared error per coordinate.

use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::fit::{BatchOutcome, Supervised};
use crate::data::trajectory::{SequenceBatcher, SequenceItem};
use crate::data::{SharedItems, batches};
use crate::error::{Error, Result};
use crate::train::FloatValues;

/// A network mapping windows `[batch, steps, d]` to the next point `[batch, d]`.
pub trait Forecaster: Module {
    fn forward(&self, x: Tensor<3>) -> Tensor<2>;
}

/// The metric columns of `metrics.csv` for forecasting.
pub const METRICS: [&str; 2] = ["distance", "rmse"];

/// Windows to learn from and windows to validate on, `steps` points each.
pub struct Forecast<M> {
    train: Arc<Vec<SequenceItem>>,
    test: Arc<Vec<SequenceItem>>,
    steps: usize,
    _model: std::marker::PhantomData<M>,
}

impl<M> Forecast<M> {
    pub fn new(train: Vec<SequenceItem>, test: Vec<SequenceItem>, steps: usize) -> Self {
        Self {
            train: Arc::new(train),
            test: Arc::new(test),
            steps,
            _model: std::marker::PhantomData,
        }
    }
}

/// Sums of the distances between predicted and true points and of the squared errors.
fn error_sums(predicted: &[f32], truth: &[f32], d: usize) -> (f64, f64) {
    predicted
        .chunks(d)
        .zip(truth.chunks(d))
        .fold((0.0, 0.0), |(distance, squared), (p, t)| {
            let s: f64 = p.iter().zip(t).map(|(p, t)| ((p - t) as f64).powi(2)).sum();
            (distance + s.sqrt(), squared + s)
        })
}

impl<M: Forecaster> Supervised for Forecast<M> {
    type Model = M;
    type Batch = crate::data::trajectory::SequenceBatch;

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
    ) -> Arc<dyn DataLoader<Self::Batch>> {
        batches(
            SequenceBatcher { steps: self.steps },
            SharedItems::new(self.train.clone()),
            batch_size,
            Some(shuffle_seed),
            device,
        )
    }

    fn batch(&self, model: &M, batch: Self::Batch) -> BatchOutcome {
        let [size, d] = batch.y.dims();
        let predicted = model.forward(batch.x);
        let loss = (predicted.clone() - batch.y.clone()).square().mean();
        let values = |t: Tensor<2>| t.floats();
        let (distance, squared) = error_sums(&values(predicted.detach()), &values(batch.y), d);
        BatchOutcome {
            loss: loss.reshape([1]),
            size,
            sums: vec![distance, squared / d as f64],
        }
    }

    fn finish(&self, sums: &[f64], samples: usize) -> Vec<f64> {
        let n = samples.max(1) as f64;
        vec![sums[0] / n, (sums[1] / n).sqrt()]
    }

    fn validate(&self, model: &M, device: &Device) -> Result<(f64, Vec<f64>)> {
        let predicted = predict(model, &self.test, self.steps, device)?;
        let d = self.test.first().map_or(1, |i| i.y.len());
        let truth: Vec<f32> = self.test.iter().flat_map(|i| i.y.clone()).collect();
        let flat: Vec<f32> = predicted.iter().flatten().copied().collect();
        let (distance, squared) = error_sums(&flat, &truth, d);
        let n = self.test.len().max(1) as f64;
        let mse = squared / (n * d as f64);
        Ok((mse, vec![distance / n, mse.sqrt()]))
    }
}

/// The next point `model` (out of autodiff) predicts after each window of `items`.
pub fn predict<M: Forecaster>(
    model: &M,
    items: &[SequenceItem],
    steps: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let loader = batches(
        SequenceBatcher { steps },
        SharedItems::new(Arc::new(items.to_vec())),
        1024,
        None,
        &device.clone().inner(),
    );
    let mut out = Vec::with_capacity(items.len());
    for batch in loader.iter() {
        let batch = batch.map_err(|e| Error::DataLoader(e.to_string()))?;
        let [_, d] = batch.y.dims();
        let values: Vec<f32> = model.forward(batch.x).floats();
        out.extend(values.chunks(d).map(<[f32]>::to_vec));
    }
    Ok(out)
}
