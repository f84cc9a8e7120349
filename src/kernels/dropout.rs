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

use burn::backend::autodiff::NodeId;
use rayon::prelude::*;

use super::flex::{flex_tensor, on_flex_f32, values, values_mut};
use super::product::{Strided, matmul, share_of, sum};

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
    if !drops(layer, &x) {
        return x;
    }
    if x.dtype() != DType::F32 {
        return layer.forward(x);
    }
    let keep = 1.0 - layer.prob;
    let device = x.device();
    let seed = draw_seed(&device);
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

/// Whether `layer` drops anything from `x`: only while training (on an autodiff device) and
/// with a rate above 0; else dropout is the identity.
fn drops<const D: usize>(layer: &Dropout, x: &Tensor<D>) -> bool {
    layer.training.is_enabled() && x.device().is_autodiff() && layer.prob != 0.0
}

/// One seed for a call's mask, from the device's generator: a function of the run's seed.
fn draw_seed(device: &burn::tensor::Device) -> u64 {
    let draws: Vec<f32> = Tensor::<1>::random([2], Distribution::Uniform(0.0, 1.0), device)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("converted to f32 just before");
    ((draws[0].to_bits() as u64) << 32) | draws[1].to_bits() as u64
}

/// `dropout(layer, x).matmul(weight)` for x `[rows, features]` and weight `[features,
/// outputs]`, with the same mask as [`dropout`] would draw. On the CPU backend while training,
/// the dropped-out x is never held: the product runs over blocks of rows, each masked as it is
/// copied, and the backward pass draws the blocks again for the weight's gradient. In the graph
/// network's first layer x is the node features (100 MB in `gcn_train_large`): their dropped-out
/// copy, kept for the backward pass, was a third of the peak memory.
///
/// Below [`FUSED_MIN_VALUES`] values of x it is `dropout(layer, x).matmul(weight)` itself: the
/// dropped-out copy is then small, and drawing the mask a second time for the backward pass cost
/// more than it saved (Cora's 2,708 × 1,433 features: `gcn_train` 575k → 419k nodes/s fused;
/// `gcn_train_large`'s 200,000 × 128: 1.54M → 2.06M, peak memory 312 → 216 MiB).
pub fn dropout_matmul(layer: &Dropout, x: Tensor<2>, weight: Tensor<2>) -> Tensor<2> {
    dropout_matmul_from(FUSED_MIN_VALUES, layer, x, weight)
}

/// Values of x from which [`dropout_matmul`] never holds the dropped-out x (32 MB of f32).
const FUSED_MIN_VALUES: usize = 1 << 23;

/// [`dropout_matmul`], fused from `min_values` values of x.
fn dropout_matmul_from(
    min_values: usize,
    layer: &Dropout,
    x: Tensor<2>,
    weight: Tensor<2>,
) -> Tensor<2> {
    let small = x.shape().num_elements() < min_values;
    if !drops(layer, &x) || small || !on_flex_f32(&x) || !on_flex_f32(&weight) {
        return dropout(layer, x).matmul(weight);
    }
    let seed = draw_seed(&x.device());
    Tensor::from_dispatch(<Dispatch as DropoutKernels>::dropout_matmul_fast(
        x.into_dispatch(),
        weight.into_dispatch(),
        seed,
        1.0 - layer.prob,
    ))
}

/// Dropout with the mask of `seed` (see [`apply_mask`]), on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait DropoutKernels: Backend {
    /// x times the mask of `seed` that keeps a share `keep` of the values, scaled by 1 / keep.
    fn dropout_fast(x: FloatTensor<Self>, seed: u64, keep: f64) -> FloatTensor<Self>;

    /// `dropout_fast(x, seed, keep) · weight` for x `[rows, features]`, weight `[features,
    /// outputs]`, without holding the dropped-out x.
    fn dropout_matmul_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        seed: u64,
        keep: f64,
    ) -> FloatTensor<Self>;
}

impl DropoutKernels for Flex {
    fn dropout_fast(x: FlexTensor, seed: u64, keep: f64) -> FlexTensor {
        let (_, mut x) = values_mut(x);
        apply_mask(seed, keep, x.storage_mut::<f32>());
        x
    }

    fn dropout_matmul_fast(x: FlexTensor, weight: FlexTensor, seed: u64, keep: f64) -> FlexTensor {
        let ((xs, x), (ws, w)) = (values(x), values(weight));
        let mask = Mask { seed, keep };
        let y = masked_product(&mask, x.as_slice(), [xs[0], xs[1]], w.as_slice(), ws[1]);
        flex_tensor(y, vec![xs[0], ws[1]])
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
    fn dropout_matmul_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        seed: u64,
        keep: f64,
    ) -> FloatTensor<Self> {
        match DropoutMatmulBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (
                    prep.checkpoint(&x),
                    prep.checkpoint(&weight),
                    Mask { seed, keep },
                );
                let y = Flex::dropout_matmul_fast(
                    x.into_primitive(),
                    weight.into_primitive(),
                    seed,
                    keep,
                );
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::dropout_matmul_fast(
                x.into_primitive(),
                weight.into_primitive(),
                seed,
                keep,
            )),
        }
    }
}

/// Backward of y = (x ⊙ mask)·W: ∂L/∂x = (∂L/∂y·Wᵀ) ⊙ mask, ∂L/∂W = (x ⊙ mask)ᵀ·∂L/∂y, the
/// masked x drawn again block by block.
#[derive(Debug)]
struct DropoutMatmulBackward;

impl Backward<Flex, 2> for DropoutMatmulBackward {
    type State = (NodeId, NodeId, Mask);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w] = ops.parents;
        let (x_id, w_id, mask) = ops.state;
        let (_, dy) = values(grads.consume::<Flex>(&ops.node));
        let (xs, x) = values(checkpointer.retrieve_node_output::<FlexTensor>(x_id));
        let (ws, w) = values(checkpointer.retrieve_node_output::<FlexTensor>(w_id));
        let (rows, features, outputs) = (xs[0], xs[1], ws[1]);
        if let Some(node) = node_w {
            let dw = masked_weight_grad(
                &mask,
                x.as_slice(),
                [rows, features],
                dy.as_slice(),
                outputs,
            );
            grads.register::<Flex>(node.id, flex_tensor(dw, vec![features, outputs]));
        }
        if let Some(node) = node_x {
            let mut dx = vec![0.0; rows * features];
            matmul(
                (rows, features, outputs),
                Strided::new(&mut dx, (features, 1)),
                false,
                (dy.as_slice(), (outputs, 1)),
                (w.as_slice(), (1, outputs)),
            );
            apply_mask(mask.seed, mask.keep, &mut dx);
            grads.register::<Flex>(node.id, flex_tensor(dx, vec![rows, features]));
        }
    }
}

/// The mask of one call: its seed and the share it keeps.
#[derive(Debug, Clone, Copy)]
struct Mask {
    seed: u64,
    keep: f64,
}

impl Mask {
    /// Rows `first..first + n` of x (`[rows, features]`), each value times its entry of the mask.
    fn rows(&self, x: &[f32], features: usize, first: usize, n: usize) -> Vec<f32> {
        let mut masked = x[first * features..(first + n) * features].to_vec();
        apply_mask_at(self.seed, self.keep, &mut masked, first * features);
        masked
    }
}

/// Rows of x per block of the masked products: a block's masked copy (256 × 1,433 values for
/// Cora) stays in a core's L2 cache.
const BLOCK_ROWS: usize = 256;

/// `(x ⊙ mask)·W`, `[rows, outputs]`, a block of rows at a time.
fn masked_product(
    mask: &Mask,
    x: &[f32],
    [rows, features]: [usize; 2],
    w: &[f32],
    outputs: usize,
) -> Vec<f32> {
    let mut y = vec![0.0; rows * outputs];
    y.par_chunks_mut(BLOCK_ROWS * outputs)
        .enumerate()
        .for_each(|(block, y)| {
            let first = block * BLOCK_ROWS;
            let n = BLOCK_ROWS.min(rows - first);
            matmul(
                (n, outputs, features),
                Strided::new(y, (outputs, 1)),
                false,
                (&mask.rows(x, features, first, n), (features, 1)),
                (w, (outputs, 1)),
            );
        });
    y
}

/// `(x ⊙ mask)ᵀ·dy`, `[features, outputs]`: each thread sums its share of the blocks.
fn masked_weight_grad(
    mask: &Mask,
    x: &[f32],
    [rows, features]: [usize; 2],
    dy: &[f32],
    outputs: usize,
) -> Vec<f32> {
    let blocks = rows.div_ceil(BLOCK_ROWS);
    let per_share = share_of(blocks);
    let partial: Vec<Vec<f32>> = (0..blocks)
        .step_by(per_share)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|first_block| {
            let mut dw = vec![0.0; features * outputs];
            for block in first_block..(first_block + per_share).min(blocks) {
                let first = block * BLOCK_ROWS;
                let n = BLOCK_ROWS.min(rows - first);
                matmul(
                    (features, outputs, n),
                    Strided::new(&mut dw, (outputs, 1)),
                    block > first_block,
                    (&mask.rows(x, features, first, n), (1, features)),
                    (&dy[first * outputs..(first + n) * outputs], (outputs, 1)),
                );
            }
            dw
        })
        .collect();
    sum(partial, features * outputs)
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
    apply_mask_at(seed, keep, values, 0);
}

/// [`apply_mask`] for the values at `start..` of a longer tensor: the same mask entries as the
/// whole tensor's. Each piece of a chunk of the mask starts its stream at its word.
fn apply_mask_at(seed: u64, keep: f64, values: &mut [f32], start: usize) {
    use rand::Rng;
    // keep when the top 24 bits of a 32-bit draw, a uniform integer below 2²⁴ and exact in
    // f32, fall below keep · 2²⁴: a float comparison and a select, which vectorize
    let threshold = (keep * 16_777_216.0) as f32;
    let scale = (1.0 / keep) as f32;
    // the values split where the chunks of the whole tensor's mask begin
    let head = (MASK_CHUNK - start % MASK_CHUNK) % MASK_CHUNK;
    let (first, rest) = values.split_at_mut(head.min(values.len()));
    let pieces = std::iter::once((start, first))
        .filter(|(_, piece)| !piece.is_empty())
        .chain(
            rest.chunks_mut(MASK_CHUNK)
                .enumerate()
                .map(|(n, piece)| (start + head + n * MASK_CHUNK, piece)),
        )
        .collect::<Vec<_>>();
    pieces.into_par_iter().for_each(move |(at, values)| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream((at / MASK_CHUNK) as u64);
        rng.set_word_pos((at % MASK_CHUNK) as u128);
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

    use super::{MASK_CHUNK, apply_mask_at, dropout, dropout_mask, dropout_matmul_from};
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
    fn a_part_of_a_mask_drawn_alone_is_that_part_of_the_whole_mask() {
        let whole = dropout_mask(9, 0.6, 3 * MASK_CHUNK + 77);
        for (start, len) in [
            (0, 10),
            (100, 5000),
            (MASK_CHUNK - 3, 10),
            (MASK_CHUNK, MASK_CHUNK + 9),
            (MASK_CHUNK + 5, 2 * MASK_CHUNK),
        ] {
            let mut part = vec![1.0; len];
            apply_mask_at(9, 0.6, &mut part, start);
            assert_eq!(
                part,
                whole[start..start + len],
                "start {start}, length {len}"
            );
        }
    }

    #[test]
    fn dropout_matmul_matches_dropout_then_matmul_values_and_gradients() {
        use burn::nn::DropoutConfig;
        let layer = DropoutConfig::new(0.4).init();
        let device = autodiff_device();
        // more rows than a block, and not a whole number of blocks
        let x = Tensor::<2>::random([600, 37], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<2>::random([37, 5], Distribution::Normal(0.0, 1.0), &device);
        let loss_weights = Tensor::<2>::random([600, 5], Distribution::Normal(0.0, 1.0), &device);
        let run = |fused: bool| {
            device.seed(11);
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let y = if fused {
                dropout_matmul_from(0, &layer, x.clone(), w.clone())
            } else {
                dropout(&layer, x.clone()).matmul(w.clone())
            };
            let grads = (y.clone() * loss_weights.clone()).sum().backward();
            [
                y.into_data(),
                x.grad(&grads).unwrap().into_data(),
                w.grad(&grads).unwrap().into_data(),
            ]
        };
        for (fused, plain) in run(true).iter().zip(run(false).iter()) {
            fused.assert_approx_eq::<f32>(plain, burn::tensor::Tolerance::rel_abs(1e-5, 1e-5));
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
