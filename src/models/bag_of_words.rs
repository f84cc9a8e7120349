//! The baseline of the text labs: logistic (softmax) regression on a bag of words, the
//! classic "TF-IDF + logistic regression" (uni- and bigrams, each row scaled to length 1, an L2
//! penalty), so that a learner sees what reading the words in order adds.
//!
//! Written here rather than through burn: the rows are sparse (a sentence holds 40 of some
//! 60,000 n-grams), and a dense `[sentences, n-grams]` matrix would take 2 GB. Trained by full-batch
//! gradient descent with Adam steps, the objective convex, so the seed does not matter.

use std::collections::HashMap;

use crate::data::text::tokenize;

/// A sentence as (feature, weight) pairs, the weights' squares summing to 1.
type SparseRow = Vec<(usize, f64)>;

/// TF-IDF features of uni- and bigrams seen in the training sentences.
#[derive(Debug, Clone)]
pub struct NgramFeatures {
    index: HashMap<String, usize>,
    /// ln((1 + n)/(1 + df)) + 1 per feature, as scikit-learn's smoothed IDF.
    idf: Vec<f64>,
}

fn ngrams(text: &str) -> Vec<String> {
    let words = tokenize(text);
    let bigrams = words.windows(2).map(|w| format!("{} {}", w[0], w[1]));
    words.iter().cloned().chain(bigrams).collect()
}

impl NgramFeatures {
    pub fn fit(texts: &[String]) -> Self {
        let mut index = HashMap::new();
        let mut document_frequency: Vec<usize> = Vec::new();
        for text in texts {
            let mut seen: Vec<usize> = ngrams(text)
                .into_iter()
                .map(|g| {
                    let next = index.len();
                    *index.entry(g).or_insert(next)
                })
                .collect();
            seen.sort_unstable();
            seen.dedup();
            document_frequency.resize(index.len(), 0);
            for f in seen {
                document_frequency[f] += 1;
            }
        }
        let n = texts.len() as f64;
        let idf = document_frequency
            .iter()
            .map(|&df| ((1.0 + n) / (1.0 + df as f64)).ln() + 1.0)
            .collect();
        Self { index, idf }
    }

    pub fn len(&self) -> usize {
        self.idf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// The sentence's counts × IDF, scaled to length 1; unknown n-grams are left out.
    pub fn transform(&self, text: &str) -> SparseRow {
        let mut counts: HashMap<usize, f64> = HashMap::new();
        for g in ngrams(text) {
            if let Some(&f) = self.index.get(&g) {
                *counts.entry(f).or_default() += 1.0;
            }
        }
        let mut row: SparseRow = counts
            .into_iter()
            .map(|(f, c)| (f, c * self.idf[f]))
            .collect();
        row.sort_unstable_by_key(|&(f, _)| f);
        let norm = row.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|(_, v)| *v /= norm);
        }
        row
    }
}

/// Softmax regression on sparse rows: p(k | x) = softmax(W·x + b)ₖ, trained on
/// (1/n)·Σ −log p(yᵢ | xᵢ) + (λ/2)·‖W‖².
#[derive(Debug, Clone)]
pub struct BagOfWordsClassifier {
    pub features: NgramFeatures,
    classes: usize,
    /// `[feature][class]`
    weights: Vec<f64>,
    bias: Vec<f64>,
}

/// Full-batch steps: the objective is smooth and convex; 300 Adam steps of 0.05 bring the
/// training loss within 10⁻³ of its minimum on the movie reviews.
const STEPS: usize = 300;
const STEP_SIZE: f64 = 0.05;

impl BagOfWordsClassifier {
    /// Fits the features and the regression on `texts`; `l2` is λ.
    pub fn fit(texts: &[String], labels: &[u8], classes: usize, l2: f64) -> Self {
        let features = NgramFeatures::fit(texts);
        let rows: Vec<SparseRow> = texts.iter().map(|t| features.transform(t)).collect();
        let mut model = Self {
            classes,
            weights: vec![0.0; features.len() * classes],
            bias: vec![0.0; classes],
            features,
        };
        model.train(&rows, labels, l2);
        model
    }

    fn train(&mut self, rows: &[SparseRow], labels: &[u8], l2: f64) {
        let k = self.classes;
        let n = rows.len().max(1) as f64;
        let parameters = self.weights.len() + k;
        let (mut m, mut v) = (vec![0.0; parameters], vec![0.0; parameters]);
        let (beta1, beta2, epsilon) = (0.9f64, 0.999f64, 1e-8);
        for step in 1..=STEPS {
            let mut gradient: Vec<f64> = self
                .weights
                .iter()
                .map(|w| l2 * w)
                .chain(std::iter::repeat_n(0.0, k))
                .collect();
            for (row, &label) in rows.iter().zip(labels) {
                let p = self.probabilities_of(row);
                for c in 0..k {
                    let error = (p[c] - f64::from(u8::from(label as usize == c))) / n;
                    for &(f, x) in row {
                        gradient[f * k + c] += error * x;
                    }
                    gradient[self.weights.len() + c] += error;
                }
            }
            let (c1, c2) = (1.0 - beta1.powi(step as i32), 1.0 - beta2.powi(step as i32));
            for (i, g) in gradient.into_iter().enumerate() {
                m[i] = beta1 * m[i] + (1.0 - beta1) * g;
                v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
                let update = STEP_SIZE * (m[i] / c1) / ((v[i] / c2).sqrt() + epsilon);
                if i < self.weights.len() {
                    self.weights[i] -= update;
                } else {
                    self.bias[i - self.weights.len()] -= update;
                }
            }
        }
    }

    fn probabilities_of(&self, row: &SparseRow) -> Vec<f64> {
        let k = self.classes;
        let mut logits = self.bias.clone();
        for &(f, x) in row {
            for (c, logit) in logits.iter_mut().enumerate() {
                *logit += self.weights[f * k + c] * x;
            }
        }
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.into_iter().map(|e| e / sum).collect()
    }

    /// The probability of each class for `text`.
    pub fn probabilities(&self, text: &str) -> Vec<f64> {
        self.probabilities_of(&self.features.transform(text))
    }

    /// The most probable class of `text`.
    pub fn predict(&self, text: &str) -> u8 {
        let p = self.probabilities(text);
        (0..p.len()).fold(0, |best, c| if p[c] > p[best] { c } else { best }) as u8
    }

    /// The share of `texts` whose class is predicted right.
    pub fn accuracy(&self, texts: &[String], labels: &[u8]) -> f64 {
        let right = texts
            .iter()
            .zip(labels)
            .filter(|(t, l)| self.predict(t) == **l)
            .count();
        right as f64 / texts.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_idf_rows_have_length_one_and_rarer_ngrams_weigh_more() {
        let texts = ["good film", "bad film", "good good"].map(String::from);
        let features = NgramFeatures::fit(&texts);
        // good, film, good film, bad, bad film, good good
        assert_eq!(features.len(), 6);
        let row = features.transform("good film");
        let norm: f64 = row.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-12);
        let weight = |g: &str| row.iter().find(|(f, _)| *f == features.index[g]).unwrap().1;
        assert!(weight("good film") > weight("film"));
        assert!(features.transform("unseen words").is_empty());
    }

    #[test]
    fn gradient_descent_reaches_the_minimum_of_the_penalised_loss() {
        // Three separable classes: the fitted model classifies them, and its gradient is zero.
        let texts: Vec<String> = [
            "red apple",
            "red cherry",
            "green pear",
            "green lime",
            "blue sky",
            "blue sea",
        ]
        .map(String::from)
        .to_vec();
        let labels = [0, 0, 1, 1, 2, 2];
        let l2 = 1e-2;
        let model = BagOfWordsClassifier::fit(&texts, &labels, 3, l2);
        assert_eq!(model.accuracy(&texts, &labels), 1.0);
        assert_eq!(model.predict("a red thing"), 0);
        let rows: Vec<SparseRow> = texts.iter().map(|t| model.features.transform(t)).collect();
        let k = 3;
        let mut gradient: Vec<f64> = model.weights.iter().map(|w| l2 * w).collect();
        for (row, &label) in rows.iter().zip(&labels) {
            let p = model.probabilities_of(row);
            for c in 0..k {
                let error = (p[c] - f64::from(u8::from(label as usize == c))) / 6.0;
                for &(f, x) in row {
                    gradient[f * k + c] += error * x;
                }
            }
        }
        let largest = gradient.iter().fold(0.0f64, |a, g| a.max(g.abs()));
        assert!(largest < 1e-3, "gradient {largest}");
    }
}
