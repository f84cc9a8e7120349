//! The recurrent text classifier of the `sentiment` lab and of the benchmark's `text_gru_train`
//! workload: embedding → word dropout → bidirectional GRU (the project's fused kernel, each
//! direction reading only the sentence's own words) → mean over the words → dropout → linear.

use burn::module::Module;
use burn::nn::gru::{Gru, GruConfig};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig,
};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::sequence::{masked_mean, word_dropout};
use crate::data::text::TextBatch;
use crate::train::text::TextClassifier;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentModelConfig {
    /// Words known, `<pad>` and `<unk>` included.
    pub vocabulary: usize,
    pub classes: usize,
    pub embedding: usize,
    /// The hidden state of each direction.
    pub hidden: usize,
    /// The probability that a word is hidden from the GRU while training.
    pub word_dropout: f64,
    /// Dropout on the pooled sentence vector.
    pub dropout: f64,
}

/// Embedding, two GRUs (one per reading direction) and the classifier.
#[derive(Module, Debug)]
pub struct SentimentGru {
    pub embedding: Embedding,
    forward_gru: Gru,
    backward_gru: Gru,
    word_dropout: Dropout,
    dropout: Dropout,
    output: Linear,
}

impl SentimentModelConfig {
    /// The `sentiment` lab's network (and the benchmark's `text_gru_train`): embedding 128,
    /// GRU 64 each way, word dropout 0.3, dropout 0.5.
    pub fn lab(vocabulary: usize, classes: usize) -> Self {
        Self {
            vocabulary,
            classes,
            embedding: 128,
            hidden: 64,
            word_dropout: 0.3,
            dropout: 0.5,
        }
    }

    pub fn init(&self, device: &Device) -> SentimentGru {
        // PyTorch's GRU initialisation, U(±1/√hidden), which trained better here than burn's
        // Xavier normal.
        let bound = 1.0 / (self.hidden as f64).sqrt();
        let gru = || {
            GruConfig::new(self.embedding, self.hidden, true)
                .with_initializer(Initializer::Uniform {
                    min: -bound,
                    max: bound,
                })
                .init(device)
        };
        SentimentGru {
            embedding: EmbeddingConfig::new(self.vocabulary, self.embedding).init(device),
            forward_gru: gru(),
            backward_gru: gru(),
            word_dropout: DropoutConfig::new(self.word_dropout).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(2 * self.hidden, self.classes).init(device),
        }
    }
}

impl SentimentGru {
    /// The sentence vectors `[batch, 2·hidden]`: both directions' states averaged over the words.
    pub fn encode(&self, batch: &TextBatch) -> Tensor<2> {
        let words = word_dropout(
            &self.word_dropout,
            self.embedding.forward(batch.tokens.clone()),
        );
        let [b, steps, width] = words.dims();
        // The backward direction reads each sentence from its last word: its steps are the
        // same rows reordered, so that padding stays at the end and is never read before a word.
        let reversed = words
            .clone()
            .reshape([b * steps, width])
            .select(0, batch.reversed.clone())
            .reshape([b, steps, width]);
        let forward = crate::kernels::gru(&self.forward_gru, words);
        let backward = crate::kernels::gru(&self.backward_gru, reversed);
        // The mean over the words is blind to their order: no need to turn `backward` around.
        Tensor::cat(
            vec![
                masked_mean(forward, batch.mask.clone()),
                masked_mean(backward, batch.mask.clone()),
            ],
            1,
        )
    }
}

impl TextClassifier for SentimentGru {
    fn forward(&self, batch: &TextBatch) -> Tensor<2> {
        let sentence = self.encode(batch);
        self.output
            .forward(crate::kernels::dropout(&self.dropout, sentence))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Tolerance;

    use super::*;
    use crate::data::text::{TextItem, encode_batch};

    #[test]
    fn a_padded_sentence_reads_as_the_same_sentence_alone_in_both_directions() {
        let device = Device::flex();
        let model = SentimentModelConfig {
            vocabulary: 20,
            classes: 2,
            embedding: 8,
            hidden: 6,
            word_dropout: 0.3,
            dropout: 0.5,
        }
        .init(&device);
        let short = TextItem {
            ids: vec![4, 7, 9],
            label: 0,
        };
        let long = TextItem {
            ids: vec![3, 5, 6, 8, 2, 11, 12],
            label: 1,
        };
        let alone = model.encode(&encode_batch(std::slice::from_ref(&short), &device));
        let padded = model
            .encode(&encode_batch(&[long, short], &device))
            .narrow(0, 1, 1);
        alone
            .into_data()
            .assert_approx_eq::<f32>(&padded.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
        // and the backward reading is not the forward one read again: the words' order matters
        let reordered = model.encode(&encode_batch(
            &[TextItem {
                ids: vec![9, 7, 4],
                label: 0,
            }],
            &device,
        ));
        let (a, b) = (
            model.encode(&encode_batch(
                &[TextItem {
                    ids: vec![4, 7, 9],
                    label: 0,
                }],
                &device,
            )),
            reordered,
        );
        let difference: f32 = (a - b).abs().sum().into_scalar();
        assert!(difference > 1e-3, "{difference}");
    }
}
