//! The run of an image classifier lab: its `config.toml`, its training through the shared loop
//! with the classification pictures, its resumption, and `neurons predict` with its model.

use std::path::PathBuf;

use burn::tensor::Device;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data::images::ImageDataset;
use crate::data::mnist::DataConfig;
use crate::error::{Error, Result};
use crate::report::config::VERSION;
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::classify::{
    Evaluation, ImageClassification, ImageClassifierConfig, evaluate, top_class,
};
use crate::train::config::TrainingConfig;

/// The `config.toml` of an image classifier's run; `M` is its `[model]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig<M> {
    pub lab: String,
    pub neurons_version: String,
    pub data: DataConfig,
    pub training: TrainingConfig,
    pub model: M,
}

impl<M> ClassifierConfig<M> {
    pub fn new(lab: &str, data: &ImageDataset, training: TrainingConfig, model: M) -> Self {
        Self {
            lab: lab.to_string(),
            neurons_version: VERSION.to_string(),
            data: DataConfig::of(data),
            training,
            model,
        }
    }
}

/// What a classification run gave.
pub struct ClassifierOutcome<M> {
    /// The trained model, out of autodiff.
    pub model: M,
    pub test: Evaluation,
    pub summary: Summary,
}

/// Trains the classifier that `config` describes on `data` (or resumes it): the shared loop,
/// `model.bpk`, the test split measured, and the pictures (curves, confusion matrix,
/// misclassified digits). `title` names the network in the pictures.
pub fn train<M: ImageClassifierConfig>(
    config: &ClassifierConfig<M>,
    title: &str,
    data: &ImageDataset,
    run: &RunDir,
    console: &Console,
    resume: bool,
) -> Result<ClassifierOutcome<M::Model>> {
    let training = &config.training;
    console.line(&format!(
        "{}: {} train / {} test images from {}, {} epochs of batches of {}, {} η={} on {}",
        config.lab,
        data.train.len(),
        data.test.len(),
        data.name,
        training.epochs,
        training.batch_size,
        training.optimizer,
        training.learning_rate,
        training.device
    ));
    let task = ImageClassification::<M::Model>::new(data);
    let (trained, device) = crate::train::fit::train_model(
        &task,
        training,
        |device| config.model.init(device),
        run,
        console,
        resume,
    )?;
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
    let summary = trained.summary(&config.lab, &data.name, training, metrics);
    Ok(ClassifierOutcome {
        model: trained.model,
        test,
        summary,
    })
}

/// A run's `config.toml` and its data loaded again, to resume it.
pub fn reload<M: ImageClassifierConfig + DeserializeOwned>(
    run: &RunDir,
) -> Result<(ClassifierConfig<M>, ImageDataset)> {
    let config: ClassifierConfig<M> = run.read_toml("config.toml")?;
    config.training.validate(&run.file("config.toml"))?;
    checked_model(run, &config.model)?;
    let data = config.data.reload(&run.file("config.toml"))?;
    let images = [data.train.rows, data.train.cols];
    if config.model.image_size() != images {
        return Err(Error::BadRunDir {
            path: run.file("config.toml"),
            reason: format!(
                "[model] image_size: {:?}, but the data's images are {}×{}",
                config.model.image_size(),
                images[0],
                images[1]
            ),
        });
    }
    Ok((config, data))
}

/// Refuses a run's `[model]` table that cannot make a working network, naming `config.toml`.
fn checked_model<M: ImageClassifierConfig>(run: &RunDir, model: &M) -> Result<()> {
    model.validate().map_err(|reason| Error::BadRunDir {
        path: run.file("config.toml"),
        reason,
    })
}

/// A finished run's model, rebuilt from its `config.toml` and `model.bpk`.
pub fn load<M: ImageClassifierConfig + DeserializeOwned>(
    run: &RunDir,
    device: &Device,
) -> Result<(ClassifierConfig<M>, M::Model)> {
    let config: ClassifierConfig<M> = run.read_toml("config.toml")?;
    config.training.validate(&run.file("config.toml"))?;
    let model = load_model(run, &config.model, device)?;
    Ok((config, model))
}

/// The trained network of a run whose `[model]` table is `model`, from its `model.bpk`.
pub fn load_model<M: ImageClassifierConfig>(
    run: &RunDir,
    model: &M,
    device: &Device,
) -> Result<M::Model> {
    checked_model(run, model)?;
    run.load_weights("model.bpk", model.init(device))
}

/// `neurons predict` with a classifier run: one line per input picture or IDX image, with the
/// predicted class and its probability.
pub fn predict<M: ImageClassifierConfig + DeserializeOwned>(
    run: &RunDir,
    inputs: &[PathBuf],
) -> Result<Vec<String>> {
    let device = Device::flex();
    let (config, model) = load::<M>(run, &device)?;
    let image_size = config.model.image_size();
    if image_size != [28, 28] {
        return Err(Error::Usage(format!(
            "predict reads 28×28 digits; this model takes {image_size:?} images"
        )));
    }
    let images = crate::data::images::read_inputs(inputs)?;
    let pixels: Vec<Vec<f32>> = images.iter().map(|i| i.pixels.clone()).collect();
    let logits = crate::train::classify::ImageClassifier::forward(
        &model,
        crate::data::images::images_tensor(&pixels, 28, 28, &device),
    );
    let (predicted, probabilities) = top_class(logits);
    let classes = config.model.classes();
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

/// A classifier run kept for `neurons serve`: a digit drawn on the page, its classes'
/// probabilities.
struct DigitReader<Model> {
    model: Model,
    classes: Vec<String>,
    device: Device,
}

/// The largest drawing the page may send, a side.
const MAX_DRAWING_SIDE: usize = 280;

impl<Model: crate::train::classify::ImageClassifier + Send> super::serve::Served
    for DigitReader<Model>
{
    fn kind(&self) -> &'static str {
        "draw-digit"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "classes": self.classes })
    }

    /// `{"pixels": [...]}`: a square drawing, row by row, ink 1 on a background 0; made to look
    /// like an MNIST digit as `predict` does with a picture.
    fn answer(&self, request: &serde_json::Value) -> Result<serde_json::Value> {
        let pixels = super::serve::floats(request, "pixels", MAX_DRAWING_SIDE.pow(2))?;
        let side = (pixels.len() as f64).sqrt() as usize;
        if side * side != pixels.len() || side < 8 {
            return Err(Error::Usage(format!(
                "\"pixels\": {} values; a square drawing of 8×8 to {MAX_DRAWING_SIDE}×{MAX_DRAWING_SIDE} is expected",
                pixels.len()
            )));
        }
        // ink is 0 to 1: a value outside was not drawn by the page, and clamping it would answer
        // a question that was not asked
        if let Some((i, v)) = pixels
            .iter()
            .enumerate()
            .find(|(_, v)| !(0.0..=1.0).contains(*v))
        {
            return Err(Error::Usage(format!(
                "\"pixels\"[{i}]: {v} is outside 0 to 1 (ink 1, background 0)"
            )));
        }
        let picture = image::GrayImage::from_fn(side as u32, side as u32, |x, y| {
            let v = pixels[y as usize * side + x as usize];
            image::Luma([(v * 255.0).round() as u8])
        });
        let digit = crate::data::images::mnist_like(&picture);
        let logits = crate::train::classify::ImageClassifier::forward(
            &self.model,
            crate::data::images::images_tensor(std::slice::from_ref(&digit), 28, 28, &self.device),
        );
        let probabilities = crate::train::text::class_probabilities(logits)?
            .pop()
            .unwrap_or_default();
        Ok(serde_json::json!({ "probabilities": probabilities, "classes": self.classes }))
    }
}

/// A finished classifier run, kept in memory for `neurons serve`.
pub fn served<M: ImageClassifierConfig + DeserializeOwned>(
    run: &RunDir,
) -> Result<Box<dyn super::serve::Served>>
where
    M::Model: Send + 'static,
{
    let device = Device::flex();
    let (config, model) = load::<M>(run, &device)?;
    if config.model.image_size() != [28, 28] {
        return Err(Error::Usage(format!(
            "{}: the page draws 28×28 digits; this model takes {:?} images",
            run.path().display(),
            config.model.image_size()
        )));
    }
    Ok(Box::new(DigitReader {
        model,
        classes: config.model.classes().to_vec(),
        device,
    }))
}
