//! Pixel shuffle (Shi et al. 2016, PyTorch's `nn.PixelShuffle`): `[b, c·r², h, w]` →
//! `[b, c, h·r, w·r]` with out[b, k, y·r + i, x·r + j] = in[b, k·r² + i·r + j, y, x], and its
//! backward pass, the inverse permutation of the output gradient.
//!
//! Why by hand: as burn's reshape → 6-D permute → reshape, the shuffle of the `super-resolution`
//! generator (64 images, 128 channels of 14×14) took 12.4 ms forward and backward, against
//! 17.1 ms for the convolution that feeds it; it is a copy, one pass each way.
//!
//! Plugged into burn as [`ShuffleKernels`], with [`PixelShuffleBackward`] under autodiff.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::flex::{flex_tensor, on_flex_f32, values};

/// Pixel shuffle by `r`, through the kernel below on f32 CPU tensors, through burn's reshape and
/// permute otherwise. The channels must be a multiple of r².
pub fn pixel_shuffle(x: Tensor<4>, r: usize) -> Tensor<4> {
    let [b, channels, h, w] = x.dims();
    assert!(
        r > 0 && channels.is_multiple_of(r * r),
        "pixel shuffle by {r} of {channels} channels"
    );
    if !on_flex_f32(&x) {
        let c = channels / (r * r);
        return x
            .reshape([b, c, r, r, h, w])
            .permute([0, 1, 4, 2, 5, 3])
            .reshape([b, c, h * r, w * r]);
    }
    Tensor::from_dispatch(<Dispatch as ShuffleKernels>::pixel_shuffle_fast(
        x.into_dispatch(),
        r,
    ))
}

/// Pixel shuffle on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait ShuffleKernels: Backend {
    /// x `[b, c·r², h, w]` → `[b, c, h·r, w·r]`.
    fn pixel_shuffle_fast(x: FloatTensor<Self>, r: usize) -> FloatTensor<Self>;
}

impl ShuffleKernels for Flex {
    fn pixel_shuffle_fast(x: FlexTensor, r: usize) -> FlexTensor {
        shuffle_on_flex(x, r)
    }
}

impl<C: CheckpointStrategy> ShuffleKernels for Autodiff<Flex, C> {
    fn pixel_shuffle_fast(x: FloatTensor<Self>, r: usize) -> FloatTensor<Self> {
        match PixelShuffleBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(r, shuffle_on_flex(x.into_primitive(), r)),
            OpsKind::UnTracked(prep) => prep.finish(shuffle_on_flex(x.into_primitive(), r)),
        }
    }
}

fn shuffle_on_flex(x: FlexTensor, r: usize) -> FlexTensor {
    let (shape, x) = values(x);
    let [b, channels, h, w] = [shape[0], shape[1], shape[2], shape[3]];
    let c = channels / (r * r);
    let mut out = vec![0.0; x.as_slice().len()];
    let plane = (h * r) * (w * r);
    // one output plane per (image, channel): its r² input planes interleaved
    out.par_chunks_mut(plane)
        .zip(x.as_slice().par_chunks(r * r * h * w))
        .for_each(|(out, planes)| {
            for y in 0..h {
                for i in 0..r {
                    let row = &mut out[(y * r + i) * w * r..(y * r + i + 1) * w * r];
                    for j in 0..r {
                        let source = &planes[(i * r + j) * h * w + y * w..][..w];
                        for (x, &v) in source.iter().enumerate() {
                            row[x * r + j] = v;
                        }
                    }
                }
            }
        });
    flex_tensor(out, vec![b, c, h * r, w * r])
}

/// The inverse of [`shuffle_on_flex`]: `[b, c, h·r, w·r]` → `[b, c·r², h, w]`.
fn unshuffle(dy: &[f32], [b, c, big_h, big_w]: [usize; 4], r: usize) -> (Vec<f32>, Vec<usize>) {
    let (h, w) = (big_h / r, big_w / r);
    let mut dx = vec![0.0; dy.len()];
    dx.par_chunks_mut(r * r * h * w)
        .zip(dy.par_chunks(big_h * big_w))
        .for_each(|(planes, dy)| {
            for y in 0..h {
                for i in 0..r {
                    let row = &dy[(y * r + i) * big_w..][..big_w];
                    for j in 0..r {
                        let target = &mut planes[(i * r + j) * h * w + y * w..][..w];
                        for (x, t) in target.iter_mut().enumerate() {
                            *t = row[x * r + j];
                        }
                    }
                }
            }
        });
    (dx, vec![b, c * r * r, h, w])
}

#[derive(Debug)]
struct PixelShuffleBackward;

impl Backward<Flex, 1> for PixelShuffleBackward {
    type State = usize;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let r = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |dy| {
            let (shape, dy) = values(dy);
            let (dx, shape) = unshuffle(dy.as_slice(), [shape[0], shape[1], shape[2], shape[3]], r);
            flex_tensor(dx, shape)
        });
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::pixel_shuffle;
    use crate::kernels::testing::{assert_all_close, autodiff_device, value_and_grads};

    /// burn's own formulation: reshape, permute, reshape.
    fn by_permutation(x: Tensor<4>, r: usize) -> Tensor<4> {
        let [b, channels, h, w] = x.dims();
        let c = channels / (r * r);
        x.reshape([b, c, r, r, h, w])
            .permute([0, 1, 4, 2, 5, 3])
            .reshape([b, c, h * r, w * r])
    }

    #[test]
    fn pixel_shuffle_matches_burns_permutation_values_and_gradients() {
        // the generator's shapes, odd sizes, a factor 3
        for (b, channels, [h, w], r) in [
            (4, 128, [7, 7], 2),
            (2, 128, [14, 14], 2),
            (3, 8, [5, 3], 2),
            (2, 18, [4, 5], 3),
            (1, 1, [3, 2], 1),
        ] {
            let device = autodiff_device();
            let input =
                Tensor::<4>::random([b, channels, h, w], Distribution::Normal(0.0, 1.0), &device);
            let out = [b, channels / (r * r), h * r, w * r];
            let weights = Tensor::<4>::random(out, Distribution::Uniform(-1.0, 1.0), &device);
            assert_all_close(
                value_and_grads(&input, &weights, &[], |x| pixel_shuffle(x, r)),
                value_and_grads(&input, &weights, &[], |x| by_permutation(x, r)),
            );
        }
    }
}
