//! The binary cross-entropy of an image from its pixels' logits, summed over each image, as one
//! pass forward and one backward (see [`bce_with_logits_per_image`]).
//!
//! Why by hand: written with burn's operations, `softplus(l) − x·l` is nine single-threaded
//! passes over the pixels (clamp, abs, neg, exp, add, log, add, mul, sub), then a sum, each with
//! its own backward pass (two of them `mask_fill`s); at the end of the VAE's decoder they ran
//! while the second thread waited, with scalar `expf` and `logf`.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::activation::{exp, sigmoid};
use super::flex::{flex_tensor, on_flex_f32, values};

/// `Σ_pixels softplus(l) − x·l` for each image of logits `l` and targets `x` in 0..=1 (both
/// `[batch, ...]`), `[batch]`: the binary cross-entropy of `σ(l)` against `x`. Through
/// [`LossKernels`] on f32 values on the CPU backend, else with burn's operations
/// ([`by_burn`]). Its gradient: `σ(l) − x` for the logits, `−l` for the targets.
pub fn bce_with_logits_per_image<const D: usize>(logits: Tensor<D>, x: Tensor<D>) -> Tensor<1> {
    if !on_flex_f32(&logits) || !on_flex_f32(&x) || logits.dims() != x.dims() || D < 2 {
        return by_burn(logits, x);
    }
    Tensor::from_dispatch(<Dispatch as LossKernels>::bce_with_logits_fast(
        logits.into_dispatch(),
        x.into_dispatch(),
    ))
}

/// [`bce_with_logits_per_image`] with burn's operations, for the other backends.
fn by_burn<const D: usize>(logits: Tensor<D>, x: Tensor<D>) -> Tensor<1> {
    let softplus = logits.clone().clamp_min(0.0) + (logits.clone().abs().neg().exp() + 1.0).log();
    (softplus - x * logits)
        .flatten::<2>(1, D - 1)
        .sum_dim(1)
        .squeeze_dim(1)
}

/// The binary cross-entropy of each image from its logits, on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait LossKernels: Backend {
    /// `[batch]` from logits and targets of the same shape `[batch, ...]`.
    fn bce_with_logits_fast(logits: FloatTensor<Self>, x: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl LossKernels for Flex {
    fn bce_with_logits_fast(logits: FlexTensor, x: FlexTensor) -> FlexTensor {
        let ((shape, logits), (_, x)) = (values(logits), values(x));
        let losses = per_image(logits.as_slice(), x.as_slice(), shape[0]);
        flex_tensor(losses, vec![shape[0]])
    }
}

impl<C: CheckpointStrategy> LossKernels for Autodiff<Flex, C> {
    fn bce_with_logits_fast(logits: FloatTensor<Self>, x: FloatTensor<Self>) -> FloatTensor<Self> {
        match BceBackward
            .prepare::<C>([logits.node(), x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&logits), prep.checkpoint(&x));
                let y = Flex::bce_with_logits_fast(logits.into_primitive(), x.into_primitive());
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::bce_with_logits_fast(
                logits.into_primitive(),
                x.into_primitive(),
            )),
        }
    }
}

/// `dl = g_b·(σ(l) − x)`, `dx = −g_b·l`, for g `[batch]` the gradient of the per-image losses.
#[derive(Debug)]
struct BceBackward;

impl Backward<Flex, 2> for BceBackward {
    /// The logits and the targets.
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_logits, node_x] = ops.parents;
        let (_, g) = values(grads.consume::<Flex>(&ops.node));
        let (shape, logits) = values(checkpointer.retrieve_node_output::<FlexTensor>(ops.state.0));
        let (_, x) = values(checkpointer.retrieve_node_output::<FlexTensor>(ops.state.1));
        let inputs = (logits.as_slice(), x.as_slice(), g.as_slice());
        if let Some(node) = node_logits {
            let dlogits = each_value(inputs, |l, x, g| g * (sigmoid(l) - x));
            grads.register::<Flex>(node.id, flex_tensor(dlogits, shape.clone()));
        }
        if let Some(node) = node_x {
            let dx = each_value(inputs, |l, _, g| -g * l);
            grads.register::<Flex>(node.id, flex_tensor(dx, shape));
        }
    }
}

/// `f(l, x, g_b)` for every value of the logits and targets, `g_b` their image's gradient, one
/// image per task.
fn each_value(
    (logits, x, g): (&[f32], &[f32], &[f32]),
    f: impl Fn(f32, f32, f32) -> f32 + Sync,
) -> Vec<f32> {
    let image = (logits.len() / g.len().max(1)).max(1);
    let mut d = vec![0.0; logits.len()];
    d.par_chunks_mut(image)
        .zip(logits.par_chunks(image))
        .zip(x.par_chunks(image))
        .zip(g.par_iter())
        .for_each(|(((d, l), x), g)| {
            d.iter_mut()
                .zip(l)
                .zip(x)
                .for_each(|((d, l), x)| *d = f(*l, *x, *g));
        });
    d
}

/// The per-image sums of `softplus(l) − x·l`, one image per task.
fn per_image(logits: &[f32], x: &[f32], batch: usize) -> Vec<f32> {
    let image = (logits.len() / batch.max(1)).max(1);
    logits
        .par_chunks(image)
        .zip(x.par_chunks(image))
        .map(|(l, x)| {
            // in f64, so that a sum of hundreds of terms keeps every digit of f32
            l.iter()
                .zip(x)
                .map(|(l, x)| (softplus(*l) - x * l) as f64)
                .sum::<f64>() as f32
        })
        .collect()
}

/// `softplus(l) = log(1 + e^l) = max(l, 0) + ln(1 + e^−|l|)`, without overflow.
#[inline(always)]
fn softplus(l: f32) -> f32 {
    l.max(0.0) + ln_1p_unit(exp(-l.abs()))
}

/// `ln(1 + y)` for y in 0..=1, without a call into libm: `2·atanh(t)` with `t = y / (2 + y)` in
/// 0..=1/3, by its series to t¹³ (the next term is below 1e-8).
#[inline(always)]
fn ln_1p_unit(y: f32) -> f32 {
    let t = y / (2.0 + y);
    let t2 = t * t;
    let series = 1.0
        + t2 * (1.0 / 3.0
            + t2 * (1.0 / 5.0
                + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0 + t2 * (1.0 / 11.0 + t2 * (1.0 / 13.0))))));
    2.0 * t * series
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_all_close, autodiff_device, value_and_grads};
    use burn::tensor::Distribution;

    #[test]
    fn softplus_matches_the_standard_library() {
        for i in -3000..=3000 {
            let l = i as f32 * 0.01;
            let exact = (l as f64).exp().ln_1p() as f32;
            let fast = softplus(l);
            assert!(
                (fast - exact).abs() <= 2e-7 * exact.max(1.0),
                "softplus({l}) = {fast}, not {exact}"
            );
        }
        // far out: e^−87 (where `exp` saturates) for 0, and l itself
        assert!((0.0..1e-37).contains(&softplus(-1e6)));
        assert_eq!(softplus(1e6), 1e6);
    }

    #[test]
    fn bce_matches_burns_values_and_gradients() {
        let device = autodiff_device();
        // the VAE's decoder output, and an odd shape
        for shape in [[64, 1, 28, 28], [3, 2, 5, 7]] {
            let logits = Tensor::<4>::random(shape, Distribution::Normal(0.0, 4.0), &device);
            let x = Tensor::<4>::random(shape, Distribution::Uniform(0.0, 1.0), &device);
            let weights =
                Tensor::<1>::random([shape[0]], Distribution::Uniform(-1.0, 1.0), &device);
            // with respect to the logits, then to the targets
            let fast = |x: Tensor<4>| move |l| bce_with_logits_per_image(l, x.clone());
            let slow = |x: Tensor<4>| move |l| by_burn(l, x.clone());
            assert_all_close(
                value_and_grads(&logits, &weights, &[], fast(x.clone())),
                value_and_grads(&logits, &weights, &[], slow(x.clone())),
            );
            let l = logits.clone();
            assert_all_close(
                value_and_grads(&x, &weights, &[], |x| {
                    bce_with_logits_per_image(l.clone(), x)
                }),
                value_and_grads(&x, &weights, &[], |x| by_burn(logits.clone(), x)),
            );
        }
    }
}
