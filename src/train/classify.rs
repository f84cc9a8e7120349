//! Supervised training of an image classifier: the loop every classification lab shares.
//!
//! One epoch: for each shuffled batch, logits = model(x), L = −(1/B) Σᵢ log softmax(logits)ᵢ,yᵢ,
//! gradients by backpropagation, one optimizer step. After each epoch the model is measured on the
//! test split and a row per split goes to `metrics.csv`.

use std::sync::Arc;

use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor};

use super::progress::{Console, EpochProgress};
use crate::data::images::{ImageBatcher, ImageDataset, ImageSet, ImageSetDataset};
use crate::error::{Error, Result};
use crate::report::metrics::Split;
use crate::report::{MetricsLog, RunDir};

/// A network that maps images `[batch, 1, rows, cols]` to class logits `[batch, classes]`.
pub trait ImageClassifier: Module {
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;
}

/// The settings of the loop itself.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub schedule: super::schedule::LrSchedule,
    pub seed: u64,
}

/// A trained model and what its training left.
pub struct Trained<M> {
    pub model: M,
    pub log: MetricsLog,
    pub train_seconds: f64,
    pub samples_seen: usize,
}

/// The metric columns of `metrics.csv` for classification.
pub const METRICS: [&str; 1] = ["accuracy"];

/// Trains `model` on `data.train`, measuring it on `data.test` after every epoch.
/// `device` must be an autodiff device; `metrics.csv` is rewritten after every epoch.
pub fn train<M: ImageClassifier>(
    mut model: M,
    optimizer: &mut ModuleOptimizer,
    data: &ImageDataset,
    settings: &LoopSettings,
    device: &Device,
    run: &RunDir,
    console: &Console,
) -> Result<Trained<M>> {
    let train_set = Arc::new(data.train.clone());
    let batcher = ImageBatcher {
        rows: data.train.rows,
        cols: data.train.cols,
    };
    let loss_fn = CrossEntropyLoss::new(None, device);
    let mut log = MetricsLog::new(&METRICS);
    let (mut train_seconds, mut samples_seen) = (0.0, 0);
    let mut guard = super::DivergenceGuard::default();

    for epoch in 1..=settings.epochs {
        let loader = DataLoaderBuilder::new(batcher)
            .batch_size(settings.batch_size)
            .shuffle(super::epoch_seed(settings.seed, epoch))
            .set_device(device.clone())
            .build(ImageSetDataset::new(train_set.clone()));
        let batches = train_set.len().div_ceil(settings.batch_size);
        let mut progress = EpochProgress::start(console, epoch, settings.epochs, batches);

        for (index, batch) in loader.iter().enumerate() {
            let batch = batch.map_err(|e| Error::DataLoader(e.to_string()))?;
            let size = batch.targets.dims()[0];
            let logits = model.forward(batch.images);
            let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
            let loss_value = loss.clone().into_scalar::<f32>();
            guard.check(epoch, index + 1, loss_value)?;
            let correct = count_correct(logits, batch.targets);
            // backward: ∂L/∂θ for every parameter, then one optimizer step θ ← update(θ, ∂L/∂θ)
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = settings.schedule.learning_rate(
                settings.learning_rate,
                epoch - 1,
                index,
                batches,
                settings.epochs,
            );
            model = optimizer.step(lr, model, grads);
            progress.batch(loss_value as f64, correct, size);
        }

        train_seconds += progress.seconds();
        samples_seen += progress.samples();
        let test = evaluate(
            &model.valid(),
            &data.test,
            settings.batch_size.max(256),
            device,
        )?;
        log.push(
            epoch,
            Split::Train,
            progress.mean_loss(),
            &[progress.accuracy()],
        );
        log.push(epoch, Split::Test, test.loss, &[test.accuracy]);
        log.write(run)?;
        let line = format!(
            "epoch {epoch:>3}/{}  train loss {:.4} accuracy {:.4}  test loss {:.4} accuracy {:.4}  {:.0} samples/s",
            settings.epochs,
            progress.mean_loss(),
            progress.accuracy(),
            test.loss,
            test.accuracy,
            progress.samples_per_second()
        );
        progress.finish(console, &line);
    }
    Ok(Trained {
        model,
        log,
        train_seconds,
        samples_seen,
    })
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
    let batcher = ImageBatcher {
        rows: set.rows,
        cols: set.cols,
    };
    let mut loss_sum = 0.0;
    let mut predicted = Vec::with_capacity(set.len());
    let mut confidence = Vec::with_capacity(set.len());
    let dataset = ImageSetDataset::new(Arc::new(set.clone()));
    let loader = DataLoaderBuilder::new(batcher)
        .batch_size(batch_size)
        .set_device(device.clone())
        .build(dataset);
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
    let probs: Vec<f32> = softmax(logits, 1)
        .into_data()
        .try_into_vec::<f32>()
        .unwrap_or_default();
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

/// The confusion matrix: `counts[true][predicted]`.
pub fn confusion(labels: &[u8], predicted: &[u8], classes: usize) -> Vec<Vec<usize>> {
    let mut counts = vec![vec![0; classes]; classes];
    for (&l, &p) in labels.iter().zip(predicted) {
        counts[l as usize][p as usize] += 1;
    }
    counts
}
