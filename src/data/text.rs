//! Labelled sentences for the text labs: the embedded movie-review sentences, a user's CSV or TSV
//! of texts and labels, the tokenizer and the vocabulary, and batches of token ids.
//!
//! Rows are numbered as a spreadsheet shows them: the header is row 1.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::SharedItems;
use crate::error::{Error, Result};

/// The name of the embedded data set.
pub const MOVIE_REVIEWS: &str = "movie-reviews";

/// 10,605 Rotten Tomatoes sentences with their mean human rating on −4…+4 (Pang & Lee's sentence
/// polarity corpus as rated for VADER; provenance in `data/README.md`).
const MOVIE_REVIEWS_TSV_GZ: &[u8] = include_bytes!("../../data/movie-review-snippets.tsv.gz");

/// The split is a constant of the data, not of `--seed`: figures compare across runs and with
/// the references measured on an 80/20 split.
const SPLIT_SEED: u64 = 2014;
const TEST_FRACTION: f64 = 0.2;
/// The share of the training split held out to watch training (curves, early stopping): the test
/// split is only measured at the end.
const VALIDATION_FRACTION: f64 = 0.1;

/// Punctuation kept as a token because it carries tone; every other token without a letter or
/// digit is dropped.
const KEPT_PUNCTUATION: [&str; 2] = ["!", "?"];

/// The words of a text as the labs read them: Unicode word boundaries (UAX #29, so "don't" and
/// "j.r.r" stay whole), lower-cased, "!" and "?" kept, other punctuation and spaces dropped.
pub fn tokenize(text: &str) -> Vec<String> {
    text.split_word_bounds()
        .filter_map(|piece| {
            if piece.chars().any(char::is_alphanumeric) {
                Some(piece.to_lowercase())
            } else if KEPT_PUNCTUATION.contains(&piece) {
                Some(piece.to_string())
            } else {
                None
            }
        })
        .collect()
}

/// Sentences and their classes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextSet {
    pub texts: Vec<String>,
    pub labels: Vec<u8>,
}

impl TextSet {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    fn select(&self, indices: &[usize]) -> TextSet {
        TextSet {
            texts: indices.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}

/// A text classification data set, split once and for all.
#[derive(Debug, Clone)]
pub struct TextDataset {
    /// `movie-reviews`, or the file's path.
    pub name: String,
    /// The class names, indexed by label.
    pub classes: Vec<String>,
    /// What the model learns from.
    pub train: TextSet,
    /// Held out of `train`: watched while training.
    pub validation: TextSet,
    /// Measured once, at the end.
    pub test: TextSet,
}

/// Where a run's text came from, as its `config.toml` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextDataConfig {
    /// A named data set (`movie-reviews`), or none for a file.
    pub dataset: Option<String>,
    /// The user's file, made absolute.
    pub path: Option<PathBuf>,
    pub text_column: Option<String>,
    pub target: Option<String>,
    pub separator: Option<char>,
    /// SHA-256 of the user's file, so that a resumed run refuses a file that changed.
    pub sha256: Option<String>,
}

impl TextDataConfig {
    /// The embedded movie reviews.
    pub fn movie_reviews() -> Self {
        Self {
            dataset: Some(MOVIE_REVIEWS.to_string()),
            path: None,
            text_column: None,
            target: None,
            separator: None,
            sha256: None,
        }
    }

    /// A user's file; `.tsv` files are read with tabs unless `separator` says otherwise.
    pub fn file(
        path: &Path,
        text_column: &str,
        target: &str,
        separator: Option<char>,
    ) -> Result<Self> {
        let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
        let separator = separator.or_else(|| {
            let tsv = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
            Some(if tsv { '\t' } else { ',' })
        });
        Ok(Self {
            dataset: None,
            path: Some(absolute.clone()),
            text_column: Some(text_column.to_string()),
            target: Some(target.to_string()),
            separator,
            sha256: Some(super::download::sha256_file(&absolute)?),
        })
    }

    /// Reads the data this config names, refusing a file whose content changed since.
    pub fn load(&self) -> Result<TextDataset> {
        match (&self.dataset, &self.path) {
            (Some(name), None) if name == MOVIE_REVIEWS => movie_reviews(),
            (Some(name), None) => Err(Error::Usage(format!(
                "--dataset {name}: the text labs know only {MOVIE_REVIEWS} (or --data FILE.csv)"
            ))),
            (None, Some(path)) => {
                if let Some(expected) = &self.sha256 {
                    super::download::refuse_changed(path, std::slice::from_ref(path), expected)?;
                }
                let separator = self.separator.unwrap_or(',');
                if !separator.is_ascii() {
                    return Err(Error::Usage(format!(
                        "--sep {separator:?}: the separator must be one ASCII character"
                    )));
                }
                let column = |c: &Option<String>, flag: &str| {
                    c.clone().ok_or_else(|| {
                        Error::Usage(format!("--data {}: {flag} is needed", path.display()))
                    })
                };
                read_labelled_texts(
                    path,
                    &column(&self.text_column, "--text-column NAME")?,
                    &column(&self.target, "--target NAME")?,
                    separator as u8,
                )
            }
            _ => Err(Error::Usage(
                "a text run needs either a data set name or a file, not both".to_string(),
            )),
        }
    }
}

/// The embedded movie reviews: sentences rated above 0 are positive, below 0 negative (the 37
/// rated exactly 0 are left out), 10,568 in all.
pub fn movie_reviews() -> Result<TextDataset> {
    let source = "movie-review-snippets.tsv.gz (embedded)";
    let bad = |reason: String| Error::BadCsv {
        source_name: source.to_string(),
        reason,
    };
    let mut text = String::new();
    flate2::read::GzDecoder::new(MOVIE_REVIEWS_TSV_GZ)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.to_string()))?;
    let mut all = TextSet::default();
    for (i, line) in text.lines().enumerate().skip(1) {
        let row = i + 1;
        let mut cells = line.trim_end_matches('\r').splitn(3, '\t');
        let (Some(_id), Some(rating), Some(sentence)) = (cells.next(), cells.next(), cells.next())
        else {
            return Err(bad(format!("row {row}: expected id, sentiment and text")));
        };
        let rating: f64 = rating
            .parse()
            .map_err(|_| bad(format!("row {row}: rating {rating:?} is not a number")))?;
        if rating != 0.0 {
            all.texts.push(sentence.to_string());
            all.labels.push(u8::from(rating > 0.0));
        }
    }
    split(
        MOVIE_REVIEWS,
        vec!["negative".to_string(), "positive".to_string()],
        all,
    )
}

/// Reads a CSV (or TSV) of texts and their classes. The classes may be any strings or integers,
/// two or more; they are numbered in sorted order (numerically when all are integers).
pub fn read_labelled_texts(
    path: &Path,
    text_column: &str,
    target: &str,
    separator: u8,
) -> Result<TextDataset> {
    let source = path.display().to_string();
    let bad = |reason: String| Error::BadCsv {
        source_name: source.clone(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(bad("empty file: no header row".to_string()));
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .flexible(false)
        .from_reader(bytes.as_slice());
    let header = reader
        .headers()
        .map_err(|e| bad(csv_reason(&e, 1)))?
        .clone();
    let find = |name: &str| {
        header.iter().position(|c| c.trim() == name).ok_or_else(|| {
            bad(format!(
                "no column {name:?}; the columns are {}",
                header.iter().collect::<Vec<_>>().join(", ")
            ))
        })
    };
    let (text_at, target_at) = (find(text_column)?, find(target)?);
    let mut texts = Vec::new();
    let mut targets = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let record = record.map_err(|e| bad(csv_reason(&e, row)))?;
        let cell = |at: usize, column: &str| -> Result<String> {
            let value = record.get(at).unwrap_or("").trim();
            if value.is_empty() {
                return Err(Error::BadCell {
                    source_name: source.clone(),
                    row,
                    column: column.to_string(),
                    reason: "the cell is empty".to_string(),
                });
            }
            Ok(value.to_string())
        };
        texts.push(cell(text_at, text_column)?);
        targets.push(cell(target_at, target)?);
    }
    if texts.is_empty() {
        return Err(bad("no data row under the header".to_string()));
    }
    let classes = class_names(&targets);
    if classes.len() < 2 {
        return Err(bad(format!(
            "column {target:?}: every row is of the class {:?}; at least two classes are needed",
            targets[0]
        )));
    }
    if classes.len() > u8::MAX as usize {
        return Err(bad(format!(
            "column {target:?}: {} classes; at most 255",
            classes.len()
        )));
    }
    let index: HashMap<&str, u8> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u8))
        .collect();
    let labels = targets.iter().map(|t| index[t.as_str()]).collect();
    split(&source, classes, TextSet { texts, labels })
}

/// One line for a CSV reader's error at `row`, naming what the user can fix.
pub(super) fn csv_reason(error: &csv::Error, row: usize) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!(
            "row {row}, column {}: the bytes are not UTF-8 text",
            err.field() + 1
        ),
        csv::ErrorKind::UnequalLengths {
            len, expected_len, ..
        } => format!("row {row}: {len} cells, but the header has {expected_len} columns"),
        _ => format!("row {row}: {error}"),
    }
}

/// The distinct targets, sorted as numbers when every one is an integer, else as strings.
pub(super) fn class_names(targets: &[String]) -> Vec<String> {
    let distinct: std::collections::BTreeSet<&String> = targets.iter().collect();
    let numbers: Option<BTreeMap<i64, &String>> = distinct
        .iter()
        .map(|t| t.parse::<i64>().ok().map(|n| (n, *t)))
        .collect();
    match numbers {
        Some(by_value) => by_value.into_values().cloned().collect(),
        None => distinct.into_iter().cloned().collect(),
    }
}

/// The fixed stratified split: per class, a shuffle from [`SPLIT_SEED`], 20% to test, then 10%
/// of the rest to validation. Refuses a class too small to appear in every part.
fn split(name: &str, classes: Vec<String>, all: TextSet) -> Result<TextDataset> {
    let mut rng = ChaCha8Rng::seed_from_u64(SPLIT_SEED);
    let (mut train, mut validation, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (class, class_name) in classes.iter().enumerate() {
        let mut members: Vec<usize> = (0..all.len())
            .filter(|&i| all.labels[i] as usize == class)
            .collect();
        if members.len() < 3 {
            return Err(Error::BadCsv {
                source_name: name.to_string(),
                reason: format!(
                    "class {class_name:?} has {} text(s); each class needs at least 3 (train, validation, test)",
                    members.len()
                ),
            });
        }
        members.shuffle(&mut rng);
        let n_test = ((members.len() as f64 * TEST_FRACTION).round() as usize).max(1);
        let rest = members.split_off(n_test);
        test.extend(members);
        let n_validation =
            ((rest.len() as f64 * VALIDATION_FRACTION).round() as usize).clamp(1, rest.len() - 1);
        validation.extend_from_slice(&rest[..n_validation]);
        train.extend_from_slice(&rest[n_validation..]);
    }
    // Classes interleaved as in the file, not in blocks: the order seen by evaluation and pictures.
    for part in [&mut train, &mut validation, &mut test] {
        part.sort_unstable();
    }
    Ok(TextDataset {
        name: name.to_string(),
        classes,
        train: all.select(&train),
        validation: all.select(&validation),
        test: all.select(&test),
    })
}

/// The non-blank lines of a text file (`predict --text-file`), refusing bytes that are not UTF-8
/// with the line they are on.
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut lines = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(line).map_err(|_| Error::BadCsv {
            source_name: path.display().to_string(),
            reason: format!("line {}: the bytes are not UTF-8 text", i + 1),
        })?;
        let line = line.trim();
        if !line.is_empty() {
            lines.push(line.to_string());
        }
    }
    if lines.is_empty() {
        return Err(Error::BadCsv {
            source_name: path.display().to_string(),
            reason: "no text in the file".to_string(),
        });
    }
    Ok(lines)
}

/// The words a model knows: `<pad>` (0), `<unk>` (1), then the training split's words seen at
/// least `min_count` times, most frequent first. Saved as `vocab.txt`, one word per line, so
/// that `predict` reads texts exactly as training did.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    words: Vec<String>,
    index: HashMap<String, u32>,
}

pub const PAD: u32 = 0;
pub const UNKNOWN: u32 = 1;
const SPECIAL: [&str; 2] = ["<pad>", "<unk>"];

impl Vocabulary {
    /// The vocabulary of `texts` (the training split's).
    pub fn build(texts: &[String], min_count: usize) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for word in tokenize(text) {
                *counts.entry(word).or_default() += 1;
            }
        }
        let mut kept: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(_, n)| *n >= min_count.max(1))
            .collect();
        kept.sort_by(|(a, n), (b, m)| m.cmp(n).then_with(|| a.cmp(b)));
        let words = SPECIAL
            .iter()
            .map(|s| s.to_string())
            .chain(kept.into_iter().map(|(w, _)| w))
            .collect();
        Self::from_words(words)
    }

    fn from_words(words: Vec<String>) -> Self {
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Self { words, index }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The word of id `id`.
    pub fn word(&self, id: u32) -> &str {
        self.words.get(id as usize).map_or("<unk>", String::as_str)
    }

    /// The id of a word (already tokenized), `<unk>` when unknown.
    pub fn id(&self, word: &str) -> u32 {
        self.index.get(word).copied().unwrap_or(UNKNOWN)
    }

    /// The ids of a text's first `max_len` words; a text without a word reads as one `<unk>`,
    /// so that every sequence has at least one step.
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids: Vec<u32> = tokenize(text)
            .iter()
            .take(max_len.max(1))
            .map(|w| self.id(w))
            .collect();
        if ids.is_empty() {
            ids.push(UNKNOWN);
        }
        ids
    }

    /// `vocab.txt`: one word per line.
    pub fn to_text(&self) -> String {
        let mut text = self.words.join("\n");
        text.push('\n');
        text
    }

    /// Reads `vocab.txt` back, refusing one that cannot be a vocabulary.
    pub fn from_text(path: &Path, text: &str) -> Result<Self> {
        let bad = |reason: String| Error::BadRunDir {
            path: path.to_path_buf(),
            reason,
        };
        let words: Vec<String> = text.lines().map(str::to_string).collect();
        if words.len() < SPECIAL.len() || words[..2] != SPECIAL {
            return Err(bad(
                "the first two lines must be <pad> and <unk>".to_string()
            ));
        }
        let vocabulary = Self::from_words(words);
        if vocabulary.index.len() != vocabulary.words.len() {
            return Err(bad("a word appears twice".to_string()));
        }
        if let Some(line) = vocabulary.words.iter().position(|w| w.trim().is_empty()) {
            return Err(bad(format!("line {} is empty", line + 1)));
        }
        Ok(vocabulary)
    }
}

/// One encoded sentence.
#[derive(Debug, Clone)]
pub struct TextItem {
    pub ids: Vec<u32>,
    pub label: u8,
}

/// A batch of sentences, padded with `<pad>` at the end to the longest of the batch.
#[derive(Debug, Clone)]
pub struct TextBatch {
    /// `[batch, steps]` token ids.
    pub tokens: Tensor<2, Int>,
    /// `[batch·steps]`: the rows of a `[batch·steps, …]` tensor of the batch's steps that read
    /// each sentence from its last word to its first, padding still at the end (for the
    /// backward direction of a recurrent network).
    pub reversed: Tensor<1, Int>,
    /// `[batch, steps]`: 1 on words, 0 on padding.
    pub mask: Tensor<2>,
    pub targets: Tensor<1, Int>,
}

pub struct TextBatcher;

impl Batcher<TextItem, TextBatch> for TextBatcher {
    fn batch(&self, items: Vec<TextItem>, device: &Device) -> TextBatch {
        encode_batch(&items, device)
    }
}

/// Pads `items` into a [`TextBatch`].
pub fn encode_batch(items: &[TextItem], device: &Device) -> TextBatch {
    let batch = items.len();
    let steps = items.iter().map(|i| i.ids.len()).max().unwrap_or(1).max(1);
    let mut tokens = vec![PAD as i64; batch * steps];
    let mut reversed: Vec<i64> = (0..(batch * steps) as i64).collect();
    let mut mask = vec![0f32; batch * steps];
    for (b, item) in items.iter().enumerate() {
        let n = item.ids.len();
        for (t, &id) in item.ids.iter().enumerate() {
            tokens[b * steps + t] = id as i64;
            reversed[b * steps + t] = (b * steps + n - 1 - t) as i64;
            mask[b * steps + t] = 1.0;
        }
    }
    let targets: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
    TextBatch {
        tokens: Tensor::from_data(TensorData::new(tokens, [batch, steps]), device),
        reversed: Tensor::from_data(TensorData::new(reversed, [batch * steps]), device),
        mask: Tensor::from_data(TensorData::new(mask, [batch, steps]), device),
        targets: Tensor::from_data(TensorData::new(targets, [batch]), device),
    }
}

/// The sentences of `set` encoded with `vocabulary`.
pub fn encode_set(set: &TextSet, vocabulary: &Vocabulary, max_len: usize) -> Vec<TextItem> {
    set.texts
        .iter()
        .zip(&set.labels)
        .map(|(text, &label)| TextItem {
            ids: vocabulary.encode(text, max_len),
            label,
        })
        .collect()
}

/// Batches of encoded sentences, shuffled from `shuffle` when training.
pub fn text_loader(
    items: Arc<Vec<TextItem>>,
    batch_size: usize,
    shuffle: Option<u64>,
    device: &Device,
) -> Arc<dyn DataLoader<TextBatch>> {
    super::batches(
        TextBatcher,
        SharedItems::new(items),
        batch_size,
        shuffle,
        device,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_lower_case_words_with_exclamation_and_question_marks() {
        assert_eq!(
            tokenize("The Rock isn't ''Conan'', J.R.R. Tolkien's co-writer... Wow! Really?"),
            [
                "the",
                "rock",
                "isn't",
                "conan",
                "j.r.r",
                "tolkien's",
                "co",
                "writer",
                "wow",
                "!",
                "really",
                "?"
            ]
        );
        assert_eq!(
            tokenize("Été À L'Œil — 21st"),
            ["été", "à", "l'œil", "21st"]
        );
        assert!(tokenize(" ... -- ").is_empty());
    }

    #[test]
    fn vocabulary_keeps_frequent_training_words_most_frequent_first() {
        let texts = ["a good film", "a bad film", "a film !", "unique"].map(String::from);
        let vocabulary = Vocabulary::build(&texts, 2);
        assert_eq!(vocabulary.words, ["<pad>", "<unk>", "a", "film"]);
        assert_eq!(
            vocabulary.encode("A FILM, good!", 10),
            [2, 3, UNKNOWN, UNKNOWN]
        );
        assert_eq!(vocabulary.encode("a film a film", 3), [2, 3, 2]);
        assert_eq!(vocabulary.encode("...", 3), [UNKNOWN]);
        let path = Path::new("vocab.txt");
        let back = Vocabulary::from_text(path, &vocabulary.to_text()).unwrap();
        assert_eq!(back, vocabulary);
        assert!(Vocabulary::from_text(path, "a\nb\n").is_err());
        assert!(Vocabulary::from_text(path, "<pad>\n<unk>\nx\nx\n").is_err());
    }

    #[test]
    fn movie_reviews_split_is_fixed_stratified_and_disjoint() {
        let data = movie_reviews().unwrap();
        let total = data.train.len() + data.validation.len() + data.test.len();
        assert_eq!(total, 10_568);
        assert_eq!(data.test.len(), 2_113); // 20% of each class, rounded
        let positive =
            |s: &TextSet| s.labels.iter().filter(|&&l| l == 1).count() as f64 / s.len() as f64;
        for part in [&data.train, &data.validation, &data.test] {
            assert!((positive(part) - 0.496).abs() < 0.01, "{}", positive(part));
        }
        let again = movie_reviews().unwrap();
        assert_eq!(again.test, data.test);
        let train: std::collections::HashSet<&String> = data.train.texts.iter().collect();
        let shared = data.test.texts.iter().filter(|t| train.contains(t)).count();
        // A handful of sentences occur twice in the corpus; none of the split's own making.
        assert!(shared < 10, "{shared} test sentences also in train");
    }

    #[test]
    fn a_batch_pads_at_the_end_and_reverses_within_each_sentence() {
        let device = Device::default();
        let items = [
            TextItem {
                ids: vec![5, 6, 7],
                label: 1,
            },
            TextItem {
                ids: vec![8],
                label: 0,
            },
        ];
        let batch = encode_batch(&items, &device);
        let ints = |t: burn::tensor::TensorData| t.convert::<i64>().try_to_vec::<i64>().unwrap();
        assert_eq!(ints(batch.tokens.into_data()), [5, 6, 7, 8, 0, 0]);
        // rows: sentence 0 at 0..3, sentence 1 at 3..6
        assert_eq!(ints(batch.reversed.into_data()), [2, 1, 0, 3, 4, 5]);
        assert_eq!(
            batch.mask.into_data().try_to_vec::<f32>().unwrap(),
            [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
        );
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_users_csv_names_its_classes_and_every_bad_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = String::from("review;stars\n");
        for i in 0..30 {
            rows.push_str(&format!("text number {i};{}\n", [10, 2, 3][i % 3]));
        }
        let good = write(dir.path(), "good.csv", rows.as_bytes());
        let data = read_labelled_texts(&good, "review", "stars", b';').unwrap();
        assert_eq!(data.classes, ["2", "3", "10"]);
        assert_eq!(
            data.train.len() + data.validation.len() + data.test.len(),
            30
        );

        let error = |name: &str, bytes: &[u8]| {
            let path = write(dir.path(), name, bytes);
            read_labelled_texts(&path, "text", "label", b',')
                .unwrap_err()
                .to_string()
        };
        assert!(error("empty.csv", b"").contains("empty file"));
        assert!(error("missing.csv", b"text,class\na,b\n").contains("no column \"label\""));
        assert!(
            error("blank.csv", b"text,label\nfine,a\n  ,b\n")
                .contains("row 3, column \"text\": the cell is empty")
        );
        assert!(error("one.csv", b"text,label\nx,a\ny,a\n").contains("at least two classes"));
        assert!(
            error("bytes.csv", b"text,label\nok,a\nbad \xff\xfe,b\n")
                .contains("row 3, column 1: the bytes are not UTF-8")
        );
        assert!(error("header.csv", b"text,label\n").contains("no data row"));
    }
}
