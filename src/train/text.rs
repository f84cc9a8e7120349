//! Text classification as a supervised task: logits = model(sentences), the cross-entropy loss
//! and accuracy, the validation part of the training split watched while training. The loop is
//! [`super::fit`]'s.

use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::tensor::Device;

use super::classify::{METRICS, top_class};
use super::fit::{BatchOutcome, Supervised};
use crate::data::text::{TextBatch, TextItem, text_loader};
use crate::error::{Error, Result};
use crate::report::metrics::Split;

/// A network that maps a batch of sentences to class logits `[batch, classes]`.
pub trait TextClassifier: Module {
    fn forward(&self, batch: &TextBatch) -> burn::tensor::Tensor<2>;
}

/// Sentences already encoded by the run's vocabulary.
pub struct TextClassification<M> {
    train: Arc<Vec<TextItem>>,
    validation: Arc<Vec<TextItem>>,
    _model: std::marker::PhantomData<M>,
}

impl<M> TextClassification<M> {
    pub fn new(train: Vec<TextItem>, validation: Vec<TextItem>) -> Self {
        Self {
            train: Arc::new(train),
            validation: Arc::new(validation),
            _model: std::marker::PhantomData,
        }
    }
}

impl<M: TextClassifier> Supervised for TextClassification<M> {
    type Model = M;
    type Batch = TextBatch;

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
    ) -> Arc<dyn DataLoader<TextBatch>> {
        text_loader(self.train.clone(), batch_size, Some(shuffle_seed), device)
    }

    fn batch(&self, model: &M, batch: TextBatch) -> BatchOutcome {
        let size = batch.targets.dims()[0];
        let logits = model.forward(&batch);
        let loss = CrossEntropyLoss::new(None, &logits.device())
            .forward(logits.clone(), batch.targets.clone());
        let predicted = logits.argmax(1).reshape([size]);
        let correct = predicted
            .equal(batch.targets)
            .int()
            .sum()
            .into_scalar::<i64>();
        BatchOutcome {
            loss,
            size,
            sums: vec![correct as f64],
        }
    }

    fn finish(&self, sums: &[f64], samples: usize) -> Vec<f64> {
        vec![sums[0] / samples.max(1) as f64]
    }

    fn validate(&self, model: &M, device: &Device) -> Result<(f64, Vec<f64>)> {
        let e = evaluate(model, &self.validation, device)?;
        Ok((e.loss, vec![e.accuracy]))
    }

    fn watched_split(&self) -> Split {
        Split::Validation
    }
}

/// A text classifier measured on labelled sentences.
#[derive(Debug, Clone)]
pub struct TextEvaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub predicted: Vec<u8>,
    /// The probability of every class, per sentence.
    pub probabilities: Vec<Vec<f32>>,
}

/// Measures `model` (without autodiff) on `items`: mean cross-entropy, accuracy, predictions.
pub fn evaluate<M: TextClassifier>(
    model: &M,
    items: &Arc<Vec<TextItem>>,
    device: &Device,
) -> Result<TextEvaluation> {
    if items.is_empty() {
        return Err(Error::Usage("no sentence to evaluate on".to_string()));
    }
    let device = device.clone().inner();
    let loss_fn = CrossEntropyLoss::new(None, &device);
    let mut loss_sum = 0.0;
    let mut predicted = Vec::with_capacity(items.len());
    let mut probabilities = Vec::with_capacity(items.len());
    for batch in text_loader(items.clone(), 256, None, &device).iter() {
        let batch = batch.map_err(|e| Error::DataLoader(e.to_string()))?;
        let size = batch.targets.dims()[0];
        let logits = model.forward(&batch);
        loss_sum += loss_fn
            .forward(logits.clone(), batch.targets)
            .into_scalar::<f32>() as f64
            * size as f64;
        probabilities.extend(class_probabilities(logits.clone())?);
        predicted.extend(top_class(logits).0);
    }
    let correct = predicted
        .iter()
        .zip(items.iter())
        .filter(|(p, item)| **p == item.label)
        .count();
    Ok(TextEvaluation {
        loss: loss_sum / items.len() as f64,
        accuracy: correct as f64 / items.len() as f64,
        predicted,
        probabilities,
    })
}

/// softmax of each row of `logits`.
pub fn class_probabilities(logits: burn::tensor::Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [_, classes] = logits.dims();
    let values = burn::tensor::activation::softmax(logits, 1)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Numerical(format!("probabilities: {e:?}")))?;
    Ok(values.chunks(classes).map(<[f32]>::to_vec).collect())
}
