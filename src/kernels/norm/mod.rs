//! Batch normalization in training mode, normalized by the batch's own statistics, as one
//! operation with its backward pass: the formulas, and why by hand, in [`kernel`].
//!
//! Plugged into burn as [`NormKernels`]: the statistics (never tracked) and the normalization on
//! flex tensors, and under autodiff [`BatchNormBackward`], which accounts for the statistics'
//! dependence on the input.

mod kernel;
#[cfg(test)]
mod tests;

pub(super) use kernel::lane_sum;

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::BatchNorm;
use burn::tensor::Tensor;

use super::flex::{flex_tensor, on_flex_f32, register, values, values_mut};
use super::rectifier::{Rectified, Rectifier, rectify};
use kernel::Planes;

/// `layer.forward(x)` for a batch normalization: while training (on an autodiff device, the
/// layer not frozen), normalized by the batch's own statistics, which also update the running
/// ones as burn does; by the running statistics otherwise (burn's own op). Through [`NormKernels`]
/// on f32 values on the CPU backend.
pub fn batch_norm<const D: usize>(layer: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    rectified_batch_norm(layer, x, None)
}

/// `relu(batch_norm(layer, x))`, the rectifier applied inside the kernel.
pub fn batch_norm_relu<const D: usize>(layer: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    rectified_batch_norm(layer, x, Some(0.0))
}

/// `leaky_relu(batch_norm(layer, x), slope)`, the rectifier applied inside the kernel.
pub fn batch_norm_leaky_relu<const D: usize>(
    layer: &BatchNorm,
    x: Tensor<D>,
    slope: f64,
) -> Tensor<D> {
    rectified_batch_norm(layer, x, Some(slope as f32))
}

fn rectified_batch_norm<const D: usize>(
    layer: &BatchNorm,
    x: Tensor<D>,
    slope: Option<f32>,
) -> Tensor<D> {
    let training = x.device().is_autodiff() && layer.training.is_enabled();
    if !training || !on_flex_f32(&x) || D < 2 {
        return rectify(layer.forward(x), slope);
    }
    let stats: Tensor<2> = Tensor::from_dispatch(
        <Dispatch as NormKernels>::batch_norm_statistics_fast(x.clone().detach().into_dispatch()),
    );
    let y = <Dispatch as NormKernels>::batch_norm_fast(
        x.into_dispatch(),
        layer.gamma.val().into_dispatch(),
        layer.beta.val().into_dispatch(),
        stats.clone().into_dispatch(),
        layer.epsilon,
        slope,
    );
    let [_, channels] = stats.dims();
    let (mean, variance) = (
        stats.clone().narrow(0, 0, 1).reshape([channels]),
        stats.narrow(0, 1, 1).reshape([channels]),
    );
    let m = layer.momentum;
    let device = mean.device();
    let running = |state: &burn::module::RunningState<Tensor<1>>, batch: Tensor<1>| {
        let updated = state
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - m)
            .add(batch.mul_scalar(m));
        state.update(updated.detach());
    };
    running(&layer.running_mean, mean);
    running(&layer.running_var, variance);
    Tensor::from_dispatch(y)
}

/// Batch normalization in training mode (with an optional rectifier), on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait NormKernels: Backend {
    /// The mean and biased variance of each channel of x `[b, c, ...]`, as `[2, c]`; never tracked
    /// by autodiff.
    fn batch_norm_statistics_fast(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Batch normalization of x `[b, c, ...]` by its own statistics `stats` (`[2, c]`, from
    /// `batch_norm_statistics_fast`), scaled by γ and shifted by β (`[c]`), then the rectifier of
    /// negative slope `slope` if there is one (see [`super::rectifier`]); its backward pass
    /// accounts for the statistics' dependence on x.
    fn batch_norm_fast(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        slope: Option<f32>,
    ) -> FloatTensor<Self>;
}

impl NormKernels for Flex {
    fn batch_norm_statistics_fast(x: FlexTensor) -> FlexTensor {
        batch_norm_statistics(x)
    }

    fn batch_norm_fast(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
        slope: Option<f32>,
    ) -> FlexTensor {
        batch_norm_on_flex(x, gamma, beta, stats, epsilon, slope)
    }
}

impl<C: CheckpointStrategy> NormKernels for Autodiff<Flex, C> {
    fn batch_norm_statistics_fast(x: FloatTensor<Self>) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(batch_norm_statistics(x.into_primitive()))
    }

    fn batch_norm_fast(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        slope: Option<f32>,
    ) -> FloatTensor<Self> {
        let stats = stats.into_primitive();
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let mut state = NormState {
                    x: prep.checkpoint(&x),
                    gamma: prep.checkpoint(&gamma),
                    stats: Arc::new(values(stats.clone()).1.as_slice().to_vec()),
                    epsilon,
                    rectified: Rectified::new(slope),
                };
                let y = batch_norm_on_flex(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    stats,
                    epsilon,
                    slope,
                );
                state.rectified.keep(&y);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(batch_norm_on_flex(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                stats,
                epsilon,
                slope,
            )),
        }
    }
}

/// `[batch, channels, ...]` seen as planes of pixels.
fn planes(shape: &[usize]) -> Planes {
    Planes {
        batch: shape[0],
        channels: shape[1],
        pixels: shape[2..].iter().product(),
    }
}

fn batch_norm_statistics(x: FlexTensor) -> FlexTensor {
    let (xs, x) = values(x);
    let p = planes(&xs);
    let (mut mean, variance) = kernel::statistics(&p, x.as_slice());
    mean.extend(variance);
    flex_tensor(mean, vec![2, p.channels])
}

fn batch_norm_on_flex(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    stats: FlexTensor,
    epsilon: f64,
    slope: Option<f32>,
) -> FlexTensor {
    let ((xs, x), (_, gamma), (_, beta), (_, stats)) =
        (values(x), values(gamma), values(beta), values(stats));
    let p = planes(&xs);
    let (mean, variance) = stats.as_slice().split_at(p.channels);
    let y = kernel::forward(
        &p,
        x.as_slice(),
        (gamma.as_slice(), beta.as_slice()),
        (mean, variance),
        epsilon,
        slope.map(|slope| Rectifier { slope }),
    );
    flex_tensor(y, xs)
}

/// What the backward pass of a batch normalization needs besides its input and γ.
#[derive(Debug, Clone)]
struct NormState {
    x: NodeId,
    gamma: NodeId,
    stats: Arc<Vec<f32>>,
    epsilon: f64,
    rectified: Rectified,
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = NormState;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let (_, mut dy) = values_mut(grads.consume::<Flex>(&ops.node));
        let s = ops.state;
        let rectified = s.rectified.into_parts();
        let (xs, x) = values(checkpointer.retrieve_node_output::<FlexTensor>(s.x));
        let (_, gamma) = values(checkpointer.retrieve_node_output::<FlexTensor>(s.gamma));
        let p = planes(&xs);
        let (mean, variance) = s.stats.split_at(p.channels);
        let (dx, dgamma, dbeta) = kernel::backward(
            &p,
            x.as_slice(),
            dy.storage_mut::<f32>(),
            rectified.as_ref().map(|(r, y)| (*r, y.as_slice())),
            gamma.as_slice(),
            (mean, variance),
            s.epsilon,
        );
        register(
            grads,
            [
                (node_x.map(|n| n.id), dx, xs),
                (node_gamma.map(|n| n.id), dgamma, vec![p.channels]),
                (node_beta.map(|n| n.id), dbeta, vec![p.channels]),
            ],
        );
    }
}
