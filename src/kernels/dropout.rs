//! Dropout whose mask is drawn faster than burn's, from one seed per call (see [`dropout`]).
//!
//! Plugged into burn as [`DropoutKernels`] on the CPU backend: the mask is applied in place as it
//! is drawn and never stored, and [`DropoutBackward`] draws it again from its seed.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::Dropout;
use burn::tensor::{DType, Distribution, Tensor, TensorData};
use rand::SeedableRng;

use super::flex::{on_flex_f32, values_mut};

/// `layer.forward(x)`: while training, each value kept with probability `1 − p` and scaled by
/// `1 / (1 − p)`, else zeroed; the identity otherwise.
///
/// Burn draws the mask one value at a time from the device's ChaCha20 generator, which took a
/// fifth of the `cnn` lab's time. Here the device's generator gives one 64-bit seed per call and
/// ChaCha8 draws the mask: still reproducible from the run's seed. The mask is a constant of
/// the graph, so the backward pass is `grad · mask`. On the CPU backend the mask multiplies the
/// values as it is drawn and is drawn again for the backward pass: no mask tensor is ever held
/// (in `gcn_train_large`, the 102 MB mask of the features was a third of the peak memory).
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    if x.dtype() != DType::F32 {
        return layer.forward(x);
    }
    let keep = 1.0 - layer.prob;
    let device = x.device();
    let draws: Vec<f32> = Tensor::<1>::random([2], Distribution::Uniform(0.0, 1.0), &device)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("converted to f32 just before");
    let seed = ((draws[0].to_bits() as u64) << 32) | draws[1].to_bits() as u64;
    if on_flex_f32(&x) {
        return Tensor::from_dispatch(<Dispatch as DropoutKernels>::dropout_fast(
            x.into_dispatch(),
            seed,
            keep,
        ));
    }
    let shape = x.shape();
    let mut mask = vec![1.0; shape.num_elements()];
    apply_mask(seed, keep, &mut mask);
    let mask = Tensor::<D>::from_data(TensorData::new(mask, shape), &device);
    x * mask
}

/// Dropout with the mask of `seed` (see [`apply_mask`]), on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait DropoutKernels: Backend {
    /// x times the mask of `seed` that keeps a share `keep` of the values, scaled by 1 / keep.
    fn dropout_fast(x: FloatTensor<Self>, seed: u64, keep: f64) -> FloatTensor<Self>;
}

impl DropoutKernels for Flex {
    fn dropout_fast(x: FlexTensor, seed: u64, keep: f64) -> FlexTensor {
        let (_, mut x) = values_mut(x);
        apply_mask(seed, keep, x.storage_mut::<f32>());
        x
    }
}

impl<C: CheckpointStrategy> DropoutKernels for Autodiff<Flex, C> {
    fn dropout_fast(x: FloatTensor<Self>, seed: u64, keep: f64) -> FloatTensor<Self> {
        match DropoutBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                (seed, keep),
                Flex::dropout_fast(x.into_primitive(), seed, keep),
            ),
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::dropout_fast(x.into_primitive(), seed, keep))
            }
        }
    }
}

/// The gradient of dropout: the output's gradient times the same mask, drawn again from its seed.
#[derive(Debug)]
struct DropoutBackward;

impl Backward<Flex, 1> for DropoutBackward {
    /// The mask's seed and the share it keeps.
    type State = (u64, f64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (seed, keep) = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |dy| {
            Flex::dropout_fast(dy, seed, keep)
        });
    }
}

/// Values drawn per ChaCha8 stream: each chunk of the mask has its own stream of the same
/// seed, so the chunks are drawn in parallel and the mask is still a function of `seed` alone.
const MASK_CHUNK: usize = 1 << 14;

/// Multiplies each of `values` by its entry of the mask of `seed`: `1 / keep` with probability
/// `keep`, else 0 (so a NaN stays NaN, as `x · mask` leaves it), a function of `seed` alone.
///
/// The draws are made a block at a time (`fill`) and turned into the mask without a branch:
/// drawing one `u32` at a time behind a branch took a tenth of `transformer_train`.
fn apply_mask(seed: u64, keep: f64, values: &mut [f32]) {
    use rand::Rng;
    use rayon::prelude::*;
    // keep when the top 24 bits of a 32-bit draw, a uniform integer below 2²⁴ and exact in
    // f32, fall below keep · 2²⁴: a float comparison and a select, which vectorize
    let threshold = (keep * 16_777_216.0) as f32;
    let scale = (1.0 / keep) as f32;
    values
        .par_chunks_mut(MASK_CHUNK)
        .enumerate()
        .for_each(move |(chunk, values)| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(chunk as u64);
            let mut draws = [0u32; 256];
            for block in values.chunks_mut(draws.len()) {
                let draws = &mut draws[..block.len()];
                rng.fill(draws);
                for (value, &draw) in block.iter_mut().zip(draws.iter()) {
                    *value *= if ((draw >> 8) as f32) < threshold {
                        scale
                    } else {
                        0.0
                    };
                }
            }
        });
}

/// The mask of `seed` itself, `len` values (for the tests).
#[cfg(test)]
fn dropout_mask(seed: u64, keep: f64, len: usize) -> Vec<f32> {
    let mut mask = vec![1.0; len];
    apply_mask(seed, keep, &mut mask);
    mask
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::{MASK_CHUNK, dropout, dropout_mask};
    use crate::kernels::testing::autodiff_device;

    #[test]
    fn dropout_keeps_a_share_one_minus_p_scaled_and_routes_gradients_through_the_kept() {
        use burn::nn::DropoutConfig;
        let layer = DropoutConfig::new(0.3).init();
        let device = autodiff_device();
        let x = Tensor::<2>::random([200, 500], Distribution::Uniform(1.0, 2.0), &device)
            .require_grad();
        let y = dropout(&layer, x.clone());
        let grads = y.clone().sum().backward();
        let (xs, ys): (Vec<f32>, Vec<f32>) = (
            x.clone().into_data().try_to_vec().unwrap(),
            y.into_data().try_to_vec().unwrap(),
        );
        let g: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        // the same draw on a tensor outside the graph (the gcn's features): the same values
        device.seed(7);
        let untracked = dropout(&layer, x.clone().detach());
        device.seed(7);
        let tracked = dropout(&layer, x.clone());
        untracked.into_data().assert_eq(&tracked.into_data(), true);
        let dropped = ys.iter().filter(|&&v| v == 0.0).count() as f64 / ys.len() as f64;
        assert!((dropped - 0.3).abs() < 0.01, "dropped share {dropped}");
        for ((x, y), g) in xs.iter().zip(&ys).zip(&g) {
            if *y == 0.0 {
                assert_eq!(*g, 0.0);
            } else {
                assert!((y - x / 0.7).abs() < 1e-5 && (g - 1.0 / 0.7).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn dropout_masks_are_a_function_of_their_seed_and_dropout_is_off_outside_training() {
        use burn::nn::DropoutConfig;
        // The device's generator is shared by the tests running in parallel, so the mask is
        // checked against its own seed here; the CLI tests check that whole runs with dropout
        // are reproducible from `--seed` (and resume to the same metrics).
        assert_eq!(dropout_mask(5, 0.5, 256), dropout_mask(5, 0.5, 256));
        assert_ne!(dropout_mask(5, 0.5, 256), dropout_mask(6, 0.5, 256));
        // the chunks drawn in parallel each have their own stream: no chunk repeats another
        let long = dropout_mask(5, 0.5, 3 * MASK_CHUNK);
        let chunks: Vec<&[f32]> = long.chunks(MASK_CHUNK).collect();
        assert!(chunks[0] != chunks[1] && chunks[1] != chunks[2] && chunks[0] != chunks[2]);
        assert_eq!(&long[..256], &dropout_mask(5, 0.5, 256)[..]);
        let layer = DropoutConfig::new(0.5).init();
        // inference: no autodiff on the device, the identity
        let plain = Tensor::<1>::ones([8], &Device::flex());
        assert_eq!(
            dropout(&layer, plain)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            vec![1.0; 8]
        );
    }
}
