//! Image classification as a supervised task: logits = model(x), and the cross-entropy
//! L = −(1/B)·Σᵢ log softmax(logitsᵢ)[yᵢ]; accuracy as the metric. The loop itself is
//! [`super::fit`]'s.

use std::sync::Arc;

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor};

use super::fit::{BatchOutcome, Supervised};
use crate::data::images::{ImageBatch, ImageBatcher, ImageDataset, ImageSet, ImageSetDataset};
use crate::error::{Error, Result};

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
        let batcher = ImageBatcher {
            rows: self.train.rows,
            cols: self.train.cols,
        };
        DataLoaderBuilder::new(batcher)
            .batch_size(batch_size)
            .shuffle(shuffle_seed)
            .set_device(device.clone())
            .build(ImageSetDataset::new(self.train.clone()))
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

/// What a classification lab got from [`train_classifier`].
pub struct ClassifierOutcome<M> {
    /// The trained model, out of autodiff.
    pub model: M,
    pub test: Evaluation,
    pub summary: crate::report::Summary,
}

/// Trains an image classifier end to end: seeds the device, builds the model with `init`, runs
/// [`super::fit::fit`] (or resumes it), saves `model.bpk`, measures the test split and draws the
/// classification pictures. `lab` and `title` name it in files and pictures.
#[allow(clippy::too_many_arguments)] // the pieces of one run, each used once
pub fn train_classifier<M: ImageClassifier>(
    lab: &str,
    title: &str,
    data: &ImageDataset,
    training: &crate::report::config::TrainingConfig,
    init: impl FnOnce(&Device) -> M,
    run: &crate::report::RunDir,
    console: &super::Console,
    resume: bool,
) -> Result<ClassifierOutcome<M>> {
    console.line(&format!(
        "{lab}: {} train / {} test images from {}, {} epochs of batches of {}, {} η={} on {}",
        data.train.len(),
        data.test.len(),
        data.name,
        training.epochs,
        training.batch_size,
        training.optimizer,
        training.learning_rate,
        training.device
    ));
    let task = ImageClassification::<M>::new(data);
    let (trained, device) = super::fit::train_model(&task, training, init, run, console, resume)?;
    let test = evaluate(&trained.model, &data.test, 256, &device)?;
    crate::report::classification::write_pictures(
        run,
        title,
        &trained.log,
        &data.test,
        &data.classes,
        &test.predicted,
    )?;
    let metrics = std::collections::BTreeMap::from([
        ("accuracy".to_string(), test.accuracy),
        ("loss".to_string(), test.loss),
    ]);
    let summary = trained.summary(lab, &data.name, training, metrics);
    Ok(ClassifierOutcome {
        model: trained.model,
        test,
        summary,
    })
}

/// `neurons predict` for an image classifier: one line per input picture or IDX image, with the
/// predicted class and its probability.
pub fn predict_images<M: ImageClassifier>(
    model: &M,
    classes: &[String],
    image_size: [usize; 2],
    inputs: &[std::path::PathBuf],
    device: &Device,
) -> Result<Vec<String>> {
    if image_size != [28, 28] {
        return Err(Error::Usage(format!(
            "predict reads 28×28 digits; this model takes {image_size:?} images"
        )));
    }
    let images = crate::data::images::read_inputs(inputs)?;
    let pixels: Vec<Vec<f32>> = images.iter().map(|i| i.pixels.clone()).collect();
    let logits = model.forward(crate::data::images::images_tensor(&pixels, 28, 28, device));
    let (predicted, probabilities) = top_class(logits);
    Ok(images
        .iter()
        .zip(predicted.iter().zip(&probabilities))
        .map(|(image, (&class, &p))| {
            let name = classes
                .get(class as usize)
                .map(String::as_str)
                .unwrap_or("?");
            format!("{}: {name} (probability {p:.3})", image.name)
        })
        .collect())
}

/// A trained digit classifier that judges generated images (the GAN labs' measure of quality).
pub trait Judge {
    /// For images as 28×28 floats in 0..=1: the class probabilities of each, and its features
    /// from the layer before the output.
    fn judge(&self, images: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<Vec<f64>>);
}

/// How generated digits look to a [`Judge`].
#[derive(Debug, Clone)]
pub struct JudgedSamples {
    /// The mean probability of each sample's most probable class.
    pub mean_top_probability: f64,
    /// The share of the samples given to each class.
    pub class_share: Vec<f64>,
    /// The most probable class of each sample.
    pub classes: Vec<usize>,
    /// Features of the samples, for a Fréchet distance.
    pub features: Vec<Vec<f64>>,
}

pub fn judge_samples(judge: &dyn Judge, images: &[Vec<f32>], n_classes: usize) -> JudgedSamples {
    let mut probabilities = Vec::new();
    let mut features = Vec::new();
    for chunk in images.chunks(500) {
        let (p, f) = judge.judge(chunk);
        probabilities.extend(p);
        features.extend(f);
    }
    let mut class_share = vec![0.0; n_classes];
    let mut classes = Vec::with_capacity(images.len());
    let mut top_sum = 0.0;
    for p in &probabilities {
        let (k, top) =
            p.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (k, &v)| if v > b.1 { (k, v) } else { b },
            );
        top_sum += top as f64;
        class_share[k.min(n_classes - 1)] += 1.0 / images.len().max(1) as f64;
        classes.push(k);
    }
    JudgedSamples {
        mean_top_probability: top_sum / images.len().max(1) as f64,
        class_share,
        classes,
        features,
    }
}
