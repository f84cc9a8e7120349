//! The Transformer encoder classifier of the `transformer` lab and of the benchmark's
//! `transformer_train` workload (Vaswani et al. 2017, the encoder only, post-norm as in the
//! paper): embedding + learnt positions → N × [self-attention, feed-forward, each with a residual
//! and layer norm] → mean over the words → dropout → linear.
//!
//! The attention is written out rather than taken from burn's `MultiHeadAttention` so that the
//! formula reads as on the slide and its weights come back with the output for the pictures; it
//! is tested against burn's, values and gradients.

use burn::module::{Module, Param};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
    Linear, LinearConfig,
};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::sequence::{masked_mean, word_dropout};
use crate::data::text::TextBatch;
use crate::train::text::TextClassifier;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerModelConfig {
    /// Words known, `<pad>` and `<unk>` included.
    pub vocabulary: usize,
    pub classes: usize,
    /// The longest sentence, in words: the number of learnt positions.
    pub max_len: usize,
    /// d_model: the width of every word's vector.
    pub width: usize,
    pub heads: usize,
    pub layers: usize,
    /// The hidden width of the feed-forward part.
    pub feed_forward: usize,
    /// Dropout on the input vectors, the attention weights, after each sub-layer and on the
    /// pooled vector.
    pub dropout: f64,
    /// The probability that a word is hidden from the encoder while training.
    pub word_dropout: f64,
}

/// Multi-head self-attention: for each head, softmax(Q·Kᵀ/√d_k + padding)·V, the heads joined
/// and mixed by a last linear map.
#[derive(Module, Debug)]
pub struct SelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    dropout: Dropout,
    heads: usize,
}

/// What self-attention gives: the new vector of every word, and who attended to whom.
pub struct Attended {
    /// `[batch, steps, width]`
    pub context: Tensor<3>,
    /// `[batch, heads, steps (query), steps (key)]`: each row sums to 1 over the words.
    pub weights: Tensor<4>,
}

/// Added to the score of a padding key: exp(score − 10⁹) is 0 in f32, so padding gets no weight
/// at all, and a row never has every score at −∞ (which would make the softmax 0/0).
const PADDING_SCORE: f32 = -1.0e9;

impl SelfAttention {
    pub fn init(width: usize, heads: usize, dropout: f64, device: &Device) -> Self {
        let linear = || LinearConfig::new(width, width).init(device);
        Self {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            dropout: DropoutConfig::new(dropout).init(),
            heads,
        }
    }

    /// `x` `[batch, steps, width]`, `mask` `[batch, steps]` (1 on words, 0 on padding).
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2>) -> Attended {
        let [batch, steps, width] = x.dims();
        let head_width = width / self.heads;
        let heads = |linear: &Linear| {
            per_word(linear, x.clone())
                .reshape([batch, steps, self.heads, head_width])
                .swap_dims(1, 2) // [batch, heads, steps, head_width]
        };
        let (q, k, v) = (heads(&self.query), heads(&self.key), heads(&self.value));
        let padding = (mask.reshape([batch, 1, 1, steps]) - 1.0) * (-PADDING_SCORE);
        let scores = q.matmul(k.transpose()) / (head_width as f64).sqrt() + padding;
        let weights = softmax(scores, 3);
        let context = crate::kernels::dropout(&self.dropout, weights.clone())
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, steps, width]);
        Attended {
            context: per_word(&self.output, context),
            weights,
        }
    }
}

/// `linear` applied to every word of `x` `[batch, steps, width]`, as one product of all the words
/// `[batch·steps, width]` by the weight. Given the 3-D tensor itself, burn's `Linear` broadcasts
/// the weight to a batched product, whose backward pass makes one weight gradient per sentence
/// and then sums them: a quarter of `transformer_train`'s time.
fn per_word(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [batch, steps, width] = x.dims();
    let y = linear.forward(x.reshape([batch * steps, width]));
    let out = y.dims()[1];
    y.reshape([batch, steps, out])
}

/// One encoder layer: x ← LayerNorm(x + Dropout(Attention(x))), then
/// x ← LayerNorm(x + Dropout(W₂·ReLU(W₁·x))).
#[derive(Module, Debug)]
pub struct EncoderLayer {
    pub attention: SelfAttention,
    attention_norm: LayerNorm,
    expand: Linear,
    contract: Linear,
    feed_forward_norm: LayerNorm,
    dropout: Dropout,
}

impl EncoderLayer {
    fn forward(&self, x: Tensor<3>, mask: Tensor<2>) -> (Tensor<3>, Tensor<4>) {
        let dropout = |t| crate::kernels::dropout(&self.dropout, t);
        let attended = self.attention.forward(x.clone(), mask);
        let x = self.attention_norm.forward(x + dropout(attended.context));
        let hidden = dropout(relu(per_word(&self.expand, x.clone())));
        let x = self
            .feed_forward_norm
            .forward(x + dropout(per_word(&self.contract, hidden)));
        (x, attended.weights)
    }
}

#[derive(Module, Debug)]
pub struct TransformerClassifier {
    pub embedding: Embedding,
    positions: Param<Tensor<2>>,
    pub layers: Vec<EncoderLayer>,
    word_dropout: Dropout,
    dropout: Dropout,
    output: Linear,
}

impl TransformerModelConfig {
    /// The `transformer` lab's network (and the benchmark's `transformer_train`): one layer,
    /// d 64, 4 heads, feed-forward 256, dropout 0.3, word dropout 0.3. (d 128 reads no better
    /// from 7,610 training sentences, in half again the time: seed 1 0.759 against 0.777.)
    pub fn lab(vocabulary: usize, classes: usize, max_len: usize) -> Self {
        Self {
            vocabulary,
            classes,
            max_len,
            width: 64,
            heads: 4,
            layers: 1,
            feed_forward: 256,
            dropout: 0.3,
            word_dropout: 0.3,
        }
    }

    pub fn init(&self, device: &Device) -> TransformerClassifier {
        let layers = (0..self.layers)
            .map(|_| EncoderLayer {
                attention: SelfAttention::init(self.width, self.heads, self.dropout, device),
                attention_norm: LayerNormConfig::new(self.width).init(device),
                expand: LinearConfig::new(self.width, self.feed_forward).init(device),
                contract: LinearConfig::new(self.feed_forward, self.width).init(device),
                feed_forward_norm: LayerNormConfig::new(self.width).init(device),
                dropout: DropoutConfig::new(self.dropout).init(),
            })
            .collect();
        TransformerClassifier {
            embedding: EmbeddingConfig::new(self.vocabulary, self.width).init(device),
            positions: Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([self.max_len, self.width], device),
            layers,
            word_dropout: DropoutConfig::new(self.word_dropout).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(self.width, self.classes).init(device),
        }
    }

    /// Refuses a shape the encoder cannot have.
    pub fn check(&self) -> Result<(), String> {
        if self.heads == 0 || !self.width.is_multiple_of(self.heads) {
            return Err(format!(
                "the width {} must be a multiple of the number of heads {}",
                self.width, self.heads
            ));
        }
        Ok(())
    }
}

impl TransformerClassifier {
    /// Every word's final vector `[batch, steps, width]` and each layer's attention weights.
    pub fn encode(&self, batch: &TextBatch) -> (Tensor<3>, Vec<Tensor<4>>) {
        let words = self.embedding.forward(batch.tokens.clone());
        let [_, steps, width] = words.dims();
        let positions = self
            .positions
            .val()
            .narrow(0, 0, steps)
            .reshape([1, steps, width]);
        // dropout on the sum of the word and position vectors, as in the paper (§5.4)
        let mut x = crate::kernels::dropout(
            &self.dropout,
            word_dropout(&self.word_dropout, words) + positions,
        );
        let mut weights = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (next, w) = layer.forward(x, batch.mask.clone());
            x = next;
            weights.push(w);
        }
        (x, weights)
    }
}

impl TextClassifier for TransformerClassifier {
    fn forward(&self, batch: &TextBatch) -> Tensor<2> {
        let (x, _) = self.encode(batch);
        let sentence = masked_mean(x, batch.mask.clone());
        self.output
            .forward(crate::kernels::dropout(&self.dropout, sentence))
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::attention::{MhaInput, MultiHeadAttentionConfig};
    use burn::tensor::{Bool, Distribution, TensorData, Tolerance};

    use super::*;
    use crate::data::text::{TextItem, encode_batch};

    fn device() -> Device {
        let device = Device::flex().autodiff();
        device.seed(3);
        device
    }

    /// Two sentences of 5 and 3 words: the mask, and burn's padding mask (true on padding).
    fn masks(device: &Device) -> (Tensor<2>, Tensor<2, Bool>) {
        let mask = Tensor::<2>::from_data(
            TensorData::new(vec![1f32, 1., 1., 1., 1., 1., 1., 1., 0., 0.], [2, 5]),
            device,
        );
        let padding = mask.clone().equal_elem(0.0);
        (mask, padding)
    }

    #[test]
    fn attention_matches_burns_multi_head_attention_values_and_gradients() {
        let device = device();
        let burns = MultiHeadAttentionConfig::new(8, 2)
            .with_dropout(0.0)
            .init(&device);
        let ours = SelfAttention {
            query: burns.query.clone(),
            key: burns.key.clone(),
            value: burns.value.clone(),
            output: burns.output.clone(),
            dropout: DropoutConfig::new(0.0).init(),
            heads: 2,
        };
        let (mask, padding) = masks(&device);
        let x = Tensor::<3>::random([2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let weights = Tensor::<3>::random([2, 5, 8], Distribution::Uniform(-1.0, 1.0), &device);
        let run = |ours_or_burns: bool| {
            let x = x.clone().detach().require_grad();
            let (context, attention) = if ours_or_burns {
                let a = ours.forward(x.clone(), mask.clone());
                (a.context, a.weights)
            } else {
                let a = burns.forward(MhaInput::self_attn(x.clone()).mask_pad(padding.clone()));
                (a.context, a.weights)
            };
            let grads = (context.clone() * weights.clone()).sum().backward();
            let query_weight = if ours_or_burns {
                &ours.query
            } else {
                &burns.query
            };
            vec![
                context.into_data(),
                attention.into_data(),
                x.grad(&grads).unwrap().into_data(),
                query_weight.weight.val().grad(&grads).unwrap().into_data(),
            ]
        };
        for (a, b) in run(true).iter().zip(run(false)) {
            a.assert_approx_eq::<f32>(&b, Tolerance::rel_abs(1e-4, 1e-5));
        }
    }

    #[test]
    fn attention_rows_sum_to_one_and_give_padding_nothing() {
        let device = Device::flex();
        let attention = SelfAttention::init(8, 2, 0.0, &device);
        let (mask, _) = masks(&device);
        let x = Tensor::<3>::random([2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let weights = attention.forward(x, mask).weights; // [2, 2, 5, 5]
        let values = weights.into_data().try_to_vec::<f32>().unwrap();
        for (r, row) in values.chunks(5).enumerate() {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "row {r} sums to {sum}");
            if r >= 20 {
                // the second sentence: its last two words are padding
                assert_eq!(&row[3..], [0.0, 0.0], "row {r}");
            }
        }
    }

    #[test]
    fn a_padded_sentence_reads_as_the_same_sentence_alone() {
        let device = Device::flex();
        let config = TransformerModelConfig {
            vocabulary: 20,
            classes: 3,
            max_len: 10,
            width: 16,
            heads: 4,
            layers: 2,
            feed_forward: 32,
            dropout: 0.3,
            word_dropout: 0.3,
        };
        let model = config.init(&device);
        let short = TextItem {
            ids: vec![4, 7, 9],
            label: 0,
        };
        let long = TextItem {
            ids: vec![3, 5, 6, 8, 2, 11, 12],
            label: 1,
        };
        let alone = model.forward(&encode_batch(std::slice::from_ref(&short), &device));
        let padded = model.forward(&encode_batch(&[short, long], &device));
        let padded_first = padded.narrow(0, 0, 1);
        alone
            .into_data()
            .assert_approx_eq::<f32>(&padded_first.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
    }
}
