//! Image classification as a supervised task: logits = model(x), and the cross-entropy
//! L = −(1/B)·Σᵢ log softmax(logitsᵢ)[yᵢ]; accuracy as the metric. The loop itself is
//! [`super::fit`]'s.

use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor};

use super::fit::{BatchOutcome, Supervised};
use crate::data::images::{ImageBatch, ImageDataset, ImageSet, image_loader};
use crate::error::{Error, Result};
use crate::train::FloatValues;

/// A network that maps images `[batch, 1, rows, cols]` to class logits `[batch, classes]`.
pub trait ImageClassifier: Module {
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;
}

/// Classification of the images of an [`ImageDataset`]: cross-entropy loss, accuracy, the test
/// split serving as validation (as in FIDLE's notebooks).
pub struct ImageClassification<'a, M> {
    pub data: &'a ImageDataset,
    train: Arc<ImageSet>,
    _model: std::marker::PhantomData<M>,
}

impl<'a, M> ImageClassification<'a, M> {
    pub fn new(data: &'a ImageDataset) -> Self {
        Self {
            data,
            train: Arc::new(data.train.clone()),
            _model: std::marker::PhantomData,
        }
    }
}

/// The metric columns of `metrics.csv` for classification.
pub const METRICS: [&str; 1] = ["accuracy"];

impl<M: ImageClassifier> Supervised for ImageClassification<'_, M> {
    type Model = M;
    type Batch = ImageBatch;

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
    ) -> Arc<dyn DataLoader<ImageBatch>> {
        image_loader(self.train.clone(), batch_size, Some(shuffle_seed), device)
    }

    fn batch(&self, model: &M, batch: ImageBatch) -> BatchOutcome {
        let size = batch.targets.dims()[0];
        let logits = model.forward(batch.images);
        let loss = CrossEntropyLoss::new(None, &logits.device())
            .forward(logits.clone(), batch.targets.clone());
        let correct = count_correct(logits, batch.targets);
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
        let e = evaluate(model, &self.data.test, 256, device)?;
        Ok((e.loss, vec![e.accuracy]))
    }
}

fn count_correct(logits: Tensor<2>, targets: Tensor<1, Int>) -> usize {
    let [batch, _] = logits.dims();
    let predicted = logits.argmax(1).reshape([batch]);
    predicted.equal(targets).int().sum().into_scalar::<i64>() as usize
}

/// A model measured on a labelled set.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    /// The predicted class of every image.
    pub predicted: Vec<u8>,
    /// The probability the model gives its predicted class.
    pub confidence: Vec<f32>,
}

/// Measures `model` (without autodiff) on `set`: mean cross-entropy, accuracy, predictions.
pub fn evaluate<M: ImageClassifier>(
    model: &M,
    set: &ImageSet,
    batch_size: usize,
    device: &Device,
) -> Result<Evaluation> {
    let device = device.clone().inner();
    let loss_fn = CrossEntropyLoss::new(None, &device);
    let mut loss_sum = 0.0;
    let mut predicted = Vec::with_capacity(set.len());
    let mut confidence = Vec::with_capacity(set.len());
    let loader = image_loader(Arc::new(set.clone()), batch_size, None, &device);
    for batch in loader.iter() {
        let batch = batch.map_err(|e| Error::DataLoader(e.to_string()))?;
        let size = batch.targets.dims()[0];
        let logits = model.forward(batch.images);
        loss_sum += loss_fn
            .forward(logits.clone(), batch.targets)
            .into_scalar::<f32>() as f64
            * size as f64;
        let (classes, probs) = top_class(logits);
        predicted.extend(classes);
        confidence.extend(probs);
    }
    let correct = predicted
        .iter()
        .zip(&set.labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(Evaluation {
        loss: loss_sum / set.len().max(1) as f64,
        accuracy: correct as f64 / set.len().max(1) as f64,
        predicted,
        confidence,
    })
}

/// The most probable class of each row of logits, and its softmax probability.
pub fn top_class(logits: Tensor<2>) -> (Vec<u8>, Vec<f32>) {
    let [_, classes] = logits.dims();
    let probs: Vec<f32> = softmax(logits, 1).floats();
    probs
        .chunks(classes)
        .map(|row| {
            let (k, p) = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (k, &p)| {
                    if p > best.1 { (k, p) } else { best }
                });
            (k as u8, p)
        })
        .unzip()
}

/// The settings of an image classifier, which build it: what a classification lab saves as the
/// `[model]` table of its `config.toml`.
pub trait ImageClassifierConfig {
    type Model: ImageClassifier;
    fn init(&self, device: &Device) -> Self::Model;
    /// The names of the classes, in the order of the outputs.
    fn classes(&self) -> &[String];
    /// `[rows, cols]` of the input images.
    fn image_size(&self) -> [usize; 2];
    /// Refuses a `[model]` table read from a run that cannot make a working network, naming the
    /// field: checked before any tensor is built.
    fn validate(&self) -> std::result::Result<(), String>;
}

/// What every image classifier's `[model]` table must satisfy: images of at least `min_size`,
/// at least two classes, and a finite input standardization with σ > 0 (σ = 0 would make every
/// probability NaN or infinite).
pub fn validate_image_model(
    image_size: [usize; 2],
    min_size: usize,
    classes: &[String],
    (mean, std): (f32, f32),
) -> std::result::Result<(), String> {
    let most = crate::train::config::limits::MAX_IMAGE_SIDE;
    if image_size.iter().any(|&s| s < min_size || s > most) {
        return Err(format!(
            "[model] image_size: {image_size:?}; from {min_size}×{min_size} to {most}×{most}"
        ));
    }
    let mut names: Vec<&str> = classes.iter().map(|c| c.trim()).collect();
    names.sort_unstable();
    if names.iter().any(|n| n.is_empty()) || names.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!(
            "[model] classes: {classes:?}; each named, no two alike"
        ));
    }
    if classes.len() < 2 {
        return Err(format!(
            "[model] classes: {} given; at least 2",
            classes.len()
        ));
    }
    if !mean.is_finite() {
        return Err(format!("[model] input_mean: {mean}; a finite number"));
    }
    if !(std.is_finite() && std > 0.0) {
        return Err(format!("[model] input_std: {std}; a positive number"));
    }
    Ok(())
}
