//! What the text models share: dropout of whole words, and the mean over a sentence's words.

use burn::nn::Dropout;
use burn::tensor::Tensor;

/// While training, each word's whole embedding is zeroed with probability `layer.prob`: the model
/// must read a sentence without any one word it relies on. The kept words are not scaled up (a
/// sentence with fewer words is still a sentence; scaling by 1/(1 − p) measured 1 point worse
/// on the `sentiment` lab). The identity otherwise.
pub fn word_dropout(layer: &Dropout, words: Tensor<3>) -> Tensor<3> {
    let [batch, steps, _] = words.dims();
    if layer.prob == 0.0 || !words.device().is_autodiff() {
        return words;
    }
    let keep =
        crate::kernels::dropout(layer, Tensor::<3>::ones([batch, steps, 1], &words.device()))
            * (1.0 - layer.prob);
    words * keep
}

/// `states` `[batch, steps, width]` averaged over the steps where `mask` `[batch, steps]` is 1.
pub fn masked_mean(states: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, steps, width] = states.dims();
    let mask = mask.reshape([batch, steps, 1]);
    let words = mask.clone().sum_dim(1).clamp_min(1.0).reshape([batch, 1]);
    (states * mask).sum_dim(1).reshape([batch, width]) / words
}
