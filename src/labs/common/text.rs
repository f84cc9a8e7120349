//! The run of a text classification lab: its data and vocabulary, its `config.toml`, training
//! through the shared loop with a bag-of-words baseline beside it, the pictures every text lab
//! draws, its resumption, and `neurons predict --text` with its model.

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::tensor::Device;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data::text::{
    TextBatch, TextDataConfig, TextDataset, TextItem, UNKNOWN, Vocabulary, encode_batch,
    encode_set, tokenize,
};
use crate::error::{Error, Result};
use crate::labs::{CsvArgs, PredictRequest, RunOptions, TrainingArgs};
use crate::models::bag_of_words::BagOfWordsClassifier;
use crate::report::config::VERSION;
use crate::report::{RunDir, Summary};
use crate::train::Console;
use crate::train::classify::top_class;
use crate::train::config::{TrainingConfig, TrainingDefaults};
use crate::train::text::{
    TextClassification, TextClassifier, TextEvaluation, class_probabilities, evaluate,
};

/// The flags of a text lab.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TextArgs {
    /// The column holding the texts, with --data FILE.csv
    #[arg(long, value_name = "NAME")]
    pub text_column: Option<String>,
    #[command(flatten)]
    pub csv: CsvArgs,
    #[command(flatten)]
    pub training: TrainingArgs,
}

impl TextArgs {
    /// Where the text comes from: `--data FILE --text-column NAME --target NAME`, or the
    /// embedded movie reviews.
    pub fn data(&self, lab: &str, options: &RunOptions) -> Result<TextDataConfig> {
        match &options.data {
            Some(path) => {
                let (Some(text), Some(target)) = (&self.text_column, &self.csv.target) else {
                    return Err(Error::Usage(format!(
                        "{lab} --data {}: name the columns with --text-column NAME --target NAME",
                        path.display()
                    )));
                };
                self.csv.separator()?;
                TextDataConfig::file(path, text, target, self.csv.sep)
            }
            None => {
                if self.text_column.is_some() || self.csv.target.is_some() || self.csv.sep.is_some()
                {
                    return Err(Error::Usage(format!(
                        "{lab}: --text-column, --target and --sep go with --data FILE.csv"
                    )));
                }
                match options.dataset.as_deref() {
                    None | Some(crate::data::text::MOVIE_REVIEWS) => {
                        Ok(TextDataConfig::movie_reviews())
                    }
                    Some(other) => Err(Error::Usage(format!(
                        "{lab} --dataset {other}: the text labs know {} (or --data FILE.csv)",
                        crate::data::text::MOVIE_REVIEWS
                    ))),
                }
            }
        }
    }
}

/// How sentences become token ids: the `[text]` table of `config.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// A training word seen fewer times is `<unk>`.
    pub min_count: usize,
    /// Words of a sentence read at most (the rest cut).
    pub max_len: usize,
}

/// The `config.toml` of a text lab's run; `M` is its `[model]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextRunConfig<M> {
    pub lab: String,
    pub neurons_version: String,
    pub data: TextDataConfig,
    pub text: Reading,
    pub training: TrainingConfig,
    pub model: M,
}

/// The settings of a text classifier, which build it.
pub trait TextModelConfig {
    type Model: TextClassifier;
    fn init(&self, device: &Device) -> Self::Model;
    /// Refuses a `[model]` table that cannot make a working network reading `reading`, for a
    /// vocabulary of `vocabulary` words and `classes` classes, naming the field.
    fn validate(
        &self,
        reading: &Reading,
        vocabulary: usize,
        classes: usize,
    ) -> std::result::Result<(), String>;
}

/// The `[model]` sizes that a run's vocabulary (`vocab.txt`) and classes fix: they must agree.
pub fn matches_data(
    model_vocabulary: usize,
    vocabulary: usize,
    model_classes: usize,
    classes: usize,
) -> std::result::Result<(), String> {
    if model_vocabulary != vocabulary {
        return Err(format!(
            "[model] vocabulary: {model_vocabulary}, but vocab.txt holds {vocabulary} words"
        ));
    }
    if model_classes != classes || classes < 2 {
        return Err(format!(
            "[model] classes: {model_classes}, but the data have {classes} (at least 2)"
        ));
    }
    Ok(())
}

/// A run's `[model]` table checked against its vocabulary and classes, before any tensor.
fn checked_model<M: TextModelConfig>(
    run: &RunDir,
    config: &TextRunConfig<M>,
    vocabulary: usize,
    classes: usize,
) -> Result<()> {
    let reading = &config.text;
    let most = crate::train::config::limits::MAX_SEQUENCE;
    let result = if !(1..=most).contains(&reading.max_len) {
        Err(format!(
            "[text] max_len: {}; from 1 to {most}",
            reading.max_len
        ))
    } else {
        config.model.validate(reading, vocabulary, classes)
    };
    result.map_err(|reason| Error::BadRunDir {
        path: run.file("config.toml"),
        reason,
    })
}

/// How both text labs train, measured on the validation split: AdamW (decay 0.01) and a cosine
/// decay of η from 2·10⁻³; a constant η left the validation accuracy falling after its peak.
pub const TRAINING: TrainingDefaults = TrainingDefaults {
    epochs: 10,
    quick_epochs: 2,
    batch_size: 64,
    learning_rate: 2e-3,
    optimizer: crate::train::optimizer::OptimizerKind::Adamw,
    weight_decay: 0.01,
    schedule: crate::train::schedule::LrSchedule::Cosine,
};

/// How both text labs read: words seen twice in training, sentences cut at 56 words (the
/// length of the PyTorch references in `data/README.md`).
pub const READING: Reading = Reading {
    min_count: 2,
    max_len: 56,
};

/// What a text lab gives the shared run.
pub struct TextLab<M> {
    pub name: &'static str,
    pub defaults: TrainingDefaults,
    pub reading: Reading,
    /// The model for a vocabulary of this many words and this many classes.
    pub model: fn(vocabulary: usize, classes: usize, reading: &Reading) -> M,
}

const VOCABULARY: &str = "vocab.txt";

impl<M: TextModelConfig + Serialize> TextLab<M> {
    /// Refuses flags or data that cannot make a run, before the run directory exists.
    pub fn check(&self, options: &RunOptions, args: &TextArgs) -> Result<()> {
        args.training.validate()?;
        args.data(self.name, options)?.load().map(|_| ())
    }

    /// Reads the data, writes `vocab.txt`, `classes.txt` and `config.toml`: the run as it will
    /// be resumed. `adjust` sets what the lab's own flags change in the model.
    pub fn start(
        &self,
        options: &RunOptions,
        args: &TextArgs,
        run: &RunDir,
        adjust: impl FnOnce(&mut M),
    ) -> Result<TextRunConfig<M>> {
        let data_config = args.data(self.name, options)?;
        let data = data_config.load()?;
        let vocabulary = Vocabulary::build(&data.train.texts, self.reading.min_count);
        let mut model = (self.model)(vocabulary.len(), data.classes.len(), &self.reading);
        adjust(&mut model);
        let config = TextRunConfig {
            lab: self.name.to_string(),
            neurons_version: VERSION.to_string(),
            data: data_config,
            text: self.reading,
            training: options.training(&args.training, &self.defaults),
            model,
        };
        run.write_bytes(VOCABULARY, vocabulary.to_text().as_bytes())?;
        run.write_bytes(CLASSES, format!("{}\n", data.classes.join("\n")).as_bytes())?;
        run.write_toml("config.toml", &config)?;
        Ok(config)
    }
}

/// What a text run gave, for the lab's own pictures.
pub struct TextOutcome<Model> {
    /// The trained model, out of autodiff.
    pub model: Model,
    pub device: Device,
    pub data: TextDataset,
    pub vocabulary: Vocabulary,
    pub test: TextEvaluation,
    pub summary: Summary,
}

/// Trains the classifier that `config` describes (or resumes it): the shared loop on the
/// training split, watched on the validation split; `model.bpk`; the test split measured; the
/// bag-of-words baseline fitted on the same split; curves and confusion matrix.
pub fn train<M: TextModelConfig>(
    config: &TextRunConfig<M>,
    title: &str,
    run: &RunDir,
    console: &Console,
    resume: bool,
) -> Result<TextOutcome<M::Model>> {
    let data = config.data.load()?;
    let vocabulary = read_vocabulary(run)?;
    checked_model(run, config, vocabulary.len(), data.classes.len())?;
    let encode = |set| encode_set(set, &vocabulary, config.text.max_len);
    let (train_items, validation_items) = (encode(&data.train), encode(&data.validation));
    let test_items = Arc::new(encode(&data.test));
    let training = &config.training;
    console.line(&format!(
        "{}: {} train / {} validation / {} test sentences from {}, {} words known, {} epochs of batches of {}, {} η={} on {}",
        config.lab,
        data.train.len(),
        data.validation.len(),
        data.test.len(),
        data.name,
        vocabulary.len(),
        training.epochs,
        training.batch_size,
        training.optimizer,
        training.learning_rate,
        training.device
    ));
    let task = TextClassification::<M::Model>::new(train_items, validation_items);
    let (trained, device) = crate::train::fit::train_model(
        &task,
        training,
        |device| config.model.init(device),
        run,
        console,
        resume,
    )?;
    let test = evaluate(&trained.model, &test_items, &device)?;
    let baseline = baseline_accuracy(&data);
    console.line(&format!(
        "test accuracy {:.4}; a bag-of-words logistic regression on the same split: {:.4}",
        test.accuracy, baseline
    ));

    crate::report::classification::curves_and_confusion(
        run,
        title,
        &trained.log,
        &data.test.labels,
        &data.classes,
        &test.predicted,
    )?;

    let metrics = BTreeMap::from([
        ("accuracy".to_string(), test.accuracy),
        ("loss".to_string(), test.loss),
        ("baseline_accuracy".to_string(), baseline),
    ]);
    let summary = trained.summary(&config.lab, &data.name, training, metrics);
    Ok(TextOutcome {
        model: trained.model,
        device,
        data,
        vocabulary,
        test,
        summary,
    })
}

/// The baseline's L2 penalties tried; the one best on the validation split is kept.
const BASELINE_PENALTIES: [f64; 3] = [1e-4, 3e-4, 1e-3];

/// The test accuracy of TF-IDF + logistic regression fitted on the training split, its penalty
/// chosen on the validation split.
fn baseline_accuracy(data: &TextDataset) -> f64 {
    let classes = data.classes.len();
    let best = BASELINE_PENALTIES
        .iter()
        .map(|&l2| {
            let model =
                BagOfWordsClassifier::fit(&data.train.texts, &data.train.labels, classes, l2);
            let validation = model.accuracy(&data.validation.texts, &data.validation.labels);
            (validation, model)
        })
        .fold(
            None::<(f64, BagOfWordsClassifier)>,
            |best, (v, m)| match best {
                Some((bv, bm)) if bv >= v => Some((bv, bm)),
                _ => Some((v, m)),
            },
        );
    best.map_or(0.0, |(_, model)| {
        model.accuracy(&data.test.texts, &data.test.labels)
    })
}

/// A run's `config.toml` read again, to resume it.
pub fn reload<M: DeserializeOwned>(run: &RunDir) -> Result<TextRunConfig<M>> {
    run.read_toml("config.toml")
}

/// A run's `vocab.txt`.
pub fn read_vocabulary(run: &RunDir) -> Result<Vocabulary> {
    let path = run.file(VOCABULARY);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    Vocabulary::from_text(&path, &text)
}

/// A finished run's model, rebuilt from its `config.toml`, `vocab.txt` and `model.bpk`, with the
/// names of its classes.
pub struct LoadedText<M: TextModelConfig> {
    pub config: TextRunConfig<M>,
    pub vocabulary: Vocabulary,
    pub classes: Vec<String>,
    pub model: M::Model,
}

/// The `classes.txt` a run keeps, so that `predict` names classes without reading the data.
const CLASSES: &str = "classes.txt";

pub fn load<M: TextModelConfig + DeserializeOwned>(
    run: &RunDir,
    device: &Device,
) -> Result<LoadedText<M>> {
    let config: TextRunConfig<M> = run.read_toml("config.toml")?;
    config.training.validate(&run.file("config.toml"))?;
    let vocabulary = read_vocabulary(run)?;
    let path = run.file(CLASSES);
    let classes: Vec<String> = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(&path, e))?
        .lines()
        .map(str::to_string)
        .collect();
    checked_model(run, &config, vocabulary.len(), classes.len())?;
    let model = run.load_weights("model.bpk", config.model.init(device))?;
    Ok(LoadedText {
        config,
        vocabulary,
        classes,
        model,
    })
}

/// The class probabilities the model gives each text.
pub fn classify<M: TextModelConfig>(
    loaded: &LoadedText<M>,
    texts: &[String],
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let items: Vec<TextItem> = texts
        .iter()
        .map(|t| TextItem {
            ids: loaded.vocabulary.encode(t, loaded.config.text.max_len),
            label: 0,
        })
        .collect();
    let mut probabilities = Vec::with_capacity(items.len());
    for chunk in items.chunks(256) {
        let logits = loaded.model.forward(&encode_batch(chunk, device));
        probabilities.extend(class_probabilities(logits)?);
    }
    Ok(probabilities)
}

/// A text's tokens as the model reads them (`<unk>` for unknown words), cut at `max_len`.
pub fn read_as<M: TextModelConfig>(loaded: &LoadedText<M>, text: &str) -> Vec<String> {
    let known = loaded.vocabulary.encode(text, loaded.config.text.max_len);
    let words = tokenize(text);
    known
        .iter()
        .zip(
            words
                .iter()
                .map(String::as_str)
                .chain(std::iter::repeat("")),
        )
        .map(|(&id, word)| {
            if id == UNKNOWN {
                "<unk>".to_string()
            } else {
                word.to_string()
            }
        })
        .collect()
}

/// A lab's weight of each word of a one-sentence batch, for `--explain`.
pub type WordWeights<'a, Model> = &'a dyn Fn(&Model, &TextBatch) -> Result<Vec<f64>>;

/// `neurons predict --text ...`: one line per text, its class and probability (a JSON object with
/// `--json`); with `explain`, the words weighed most, from the lab's `weigh` (a weight per word).
pub fn predict<M: TextModelConfig + DeserializeOwned>(
    lab: &str,
    run: &RunDir,
    request: &PredictRequest,
    weigh: Option<WordWeights<M::Model>>,
) -> Result<Vec<String>> {
    let texts = request.texts(lab)?;
    if request.explain && weigh.is_none() {
        return Err(Error::Usage(format!(
            "{lab} has no --explain: the transformer's attention says which words it weighed"
        )));
    }
    let device = Device::flex();
    let loaded = load::<M>(run, &device)?;
    let probabilities = classify(&loaded, texts, &device)?;
    let mut lines = Vec::with_capacity(texts.len());
    for (text, p) in texts.iter().zip(&probabilities) {
        let logits = burn::tensor::Tensor::<2>::from_data(
            burn::tensor::TensorData::new(p.clone(), [1, p.len()]),
            &device,
        );
        let class = top_class(logits).0[0] as usize;
        let name = loaded.classes.get(class).map_or("?", String::as_str);
        let words = read_as(&loaded, text);
        let weighed: Vec<(String, f64)> = match (request.explain, weigh) {
            (true, Some(weigh)) => {
                let item = TextItem {
                    ids: loaded.vocabulary.encode(text, loaded.config.text.max_len),
                    label: 0,
                };
                let weights = weigh(&loaded.model, &encode_batch(&[item], &device))?;
                let mut pairs: Vec<(String, f64)> = words.iter().cloned().zip(weights).collect();
                pairs.sort_by(|a, b| b.1.total_cmp(&a.1));
                pairs.truncate(5);
                pairs
            }
            _ => Vec::new(),
        };
        let unknown = words.iter().filter(|w| *w == "<unk>").count();
        if request.json {
            let mut object = serde_json::json!({
                "text": text,
                "class": name,
                "probability": p[class],
                "probabilities": loaded.classes.iter().cloned().zip(p.iter().map(|&v| v as f64)).collect::<BTreeMap<String, f64>>(),
                "unknown_words": unknown,
            });
            if request.explain {
                object["weighed_words"] = serde_json::json!(weighed);
            }
            lines.push(object.to_string());
        } else {
            let mut line = format!("{name} (probability {:.3}): {text}", p[class]);
            if unknown > 0 {
                line.push_str(&format!(" [{unknown} of {} words unknown]", words.len()));
            }
            if request.explain {
                let list: Vec<String> =
                    weighed.iter().map(|(w, v)| format!("{w} {v:.2}")).collect();
                line.push_str(&format!("\n  words weighed most: {}", list.join(", ")));
            }
            lines.push(line);
        }
    }
    Ok(lines)
}

/// A lab's weight of each word of a text (the transformer's attention), as a plain function.
pub type WeighWords<Model> = fn(&Model, &TextBatch) -> Result<Vec<f64>>;

/// The longest text `neurons serve` classifies, in characters.
const MAX_SERVED_TEXT: usize = 10_000;

/// A text classifier kept for `neurons serve`: a sentence typed on the page, its classes'
/// probabilities, the words as the model read them and, for a lab that has one, how much each
/// weighed (the transformer's attention).
pub struct ServedText<M: TextModelConfig> {
    loaded: LoadedText<M>,
    device: Device,
    weigh: Option<WeighWords<M::Model>>,
}

impl<M> ServedText<M>
where
    M: TextModelConfig + DeserializeOwned + Send + 'static,
    M::Model: Send,
{
    pub fn load(
        run: &RunDir,
        weigh: Option<WeighWords<M::Model>>,
    ) -> Result<Box<dyn super::serve::Served>> {
        let device = Device::flex();
        let loaded = load::<M>(run, &device)?;
        Ok(Box::new(Self {
            loaded,
            device,
            weigh,
        }))
    }
}

impl<M> super::serve::Served for ServedText<M>
where
    M: TextModelConfig + Send,
    M::Model: Send,
{
    fn kind(&self) -> &'static str {
        "text"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "classes": self.loaded.classes, "explains": self.weigh.is_some() })
    }

    /// `{"text": "..."}` → `{"probabilities", "classes", "words", "weights"}`.
    fn answer(&self, request: &serde_json::Value) -> Result<serde_json::Value> {
        let text = super::serve::text(request, "text", MAX_SERVED_TEXT)?.to_string();
        let probabilities = classify(&self.loaded, std::slice::from_ref(&text), &self.device)?
            .pop()
            .unwrap_or_default();
        let words = read_as(&self.loaded, &text);
        let weights = match self.weigh {
            Some(weigh) => {
                let item = TextItem {
                    ids: self
                        .loaded
                        .vocabulary
                        .encode(&text, self.loaded.config.text.max_len),
                    label: 0,
                };
                weigh(&self.loaded.model, &encode_batch(&[item], &self.device))?
            }
            None => Vec::new(),
        };
        Ok(serde_json::json!({
            "probabilities": probabilities,
            "classes": self.loaded.classes,
            "words": words,
            "weights": weights,
        }))
    }
}
