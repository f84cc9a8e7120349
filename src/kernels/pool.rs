//! 2-D max pooling without padding or dilation (every pooling layer of the labs), forward with
//! the position of each window's maximum, and the backward pass that routes each output
//! gradient to that position.
//!
//! Why by hand: flex pools through a generic 3-D loop that recomputes the valid window for every
//! output and keeps 64-bit indices; in the `cnn` lab it took a third of the time.
//!
//! Plugged into burn as [`PoolKernels`]: the forward pass on flex tensors, and under autodiff
//! [`MaxPool2dBackward`], which keeps the positions of the maxima.

use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::flex::{flex_tensor, on_flex_f32, values};

/// `pool.forward(x)`, through the kernel below where it applies (no padding, dilation 1, floor
/// rounding, f32 on the CPU backend), through burn's otherwise.
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    if !kernel_applies(pool, [height, width]) || !on_flex_f32(&x) {
        return pool.forward(x);
    }
    Tensor::from_dispatch(<Dispatch as PoolKernels>::max_pool2d_fast(
        x.into_dispatch(),
        pool.kernel_size,
        pool.stride,
    ))
}

/// Whether `pool` on planes of `[height, width]` is one the kernel computes: no padding, dilation
/// 1, floor rounding, a window that fits.
pub(super) fn kernel_applies(pool: &MaxPool2d, [height, width]: [usize; 2]) -> bool {
    let unpadded = matches!(pool.padding, PaddingConfig2d::Valid)
        || matches!(pool.padding, PaddingConfig2d::Explicit(0, 0, 0, 0));
    let fits = height >= pool.kernel_size[0] && width >= pool.kernel_size[1];
    unpadded && pool.dilation == [1, 1] && !pool.ceil_mode && fits
}

/// Max pooling without padding or dilation, on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait PoolKernels: Backend {
    /// Max pooling of x `[b, c, h, w]` over `kernel` windows every `stride` pixels.
    fn max_pool2d_fast(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self>;
}

impl PoolKernels for Flex {
    fn max_pool2d_fast(x: FlexTensor, kernel: [usize; 2], stride: [usize; 2]) -> FlexTensor {
        maxima_on_flex(x, kernel, stride)
    }
}

impl<C: CheckpointStrategy> PoolKernels for Autodiff<Flex, C> {
    fn max_pool2d_fast(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self> {
        match MaxPool2dBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, state) = max_pool2d_on_flex(x.into_primitive(), kernel, stride);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(maxima_on_flex(x.into_primitive(), kernel, stride))
            }
        }
    }
}

/// Max pooling without a backward pass: the pooled tensor alone (no positions kept, which in
/// `cnn_infer` were a tenth of the peak memory).
fn maxima_on_flex(x: FlexTensor, kernel: [usize; 2], stride: [usize; 2]) -> FlexTensor {
    let (xs, x) = values(x);
    let windows = Windows::over(&xs, kernel, stride);
    let (size, pixels) = (windows.height * windows.width, windows.out_pixels());
    let mut y = vec![0.0; xs[0] * xs[1] * pixels];
    y.par_chunks_mut(pixels)
        .zip(x.as_slice().par_chunks(size))
        .for_each(|(out, plane)| windows.pool_plane(plane, out, None));
    flex_tensor(y, windows.pooled_shape(&xs))
}

/// Max pooling: the pooled tensor, and for the backward pass the position of every maximum.
fn max_pool2d_on_flex(
    x: FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
) -> (FlexTensor, PoolState) {
    let (xs, x) = values(x);
    let windows = Windows::over(&xs, kernel, stride);
    let (y, at) = forward(&windows, xs[0] * xs[1], x.as_slice());
    let shape = windows.pooled_shape(&xs);
    let state = PoolState {
        windows,
        input_shape: xs,
        at: Arc::new(at),
    };
    (flex_tensor(y, shape), state)
}

/// What the backward pass of a max pooling needs.
#[derive(Debug, Clone)]
struct PoolState {
    windows: Windows,
    input_shape: Vec<usize>,
    at: Arc<Vec<u32>>,
}

#[derive(Debug)]
struct MaxPool2dBackward;

impl Backward<Flex, 1> for MaxPool2dBackward {
    type State = PoolState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |dy| {
            let (_, dy) = values(dy);
            let planes = state.input_shape[0] * state.input_shape[1];
            let dx = backward(&state.windows, planes, dy.as_slice(), &state.at);
            flex_tensor(dx, state.input_shape)
        });
    }
}

/// Pooling windows over one `[height, width]` plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
}

impl Windows {
    /// The windows over each plane of a `[batch, channels, height, width]` tensor.
    fn over(shape: &[usize], kernel: [usize; 2], stride: [usize; 2]) -> Self {
        Self {
            height: shape[2],
            width: shape[3],
            kernel,
            stride,
        }
    }

    /// The shape of that tensor pooled.
    fn pooled_shape(&self, shape: &[usize]) -> Vec<usize> {
        vec![shape[0], shape[1], self.out_height(), self.out_width()]
    }

    pub fn out_height(&self) -> usize {
        (self.height - self.kernel[0]) / self.stride[0] + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width - self.kernel[1]) / self.stride[1] + 1
    }

    pub fn out_pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Maximum of every window of `plane` into `out`, and where `at` is given, the position in
    /// the plane of each maximum. The first maximum wins a tie; a NaN wins its window (the last
    /// one if several), as in burn and PyTorch.
    pub fn pool_plane(&self, plane: &[f32], out: &mut [f32], at: Option<&mut [u32]>) {
        if self.kernel == [2, 2] && self.stride == [2, 2] {
            return self.pool_plane_2x2(plane, out, at);
        }
        let (ow_n, [kh, kw], [sh, sw]) = (self.out_width(), self.kernel, self.stride);
        let mut at = at;
        for (oh, out_row) in out.chunks_exact_mut(ow_n).enumerate() {
            for (ow, o) in out_row.iter_mut().enumerate() {
                let first = oh * sh * self.width + ow * sw;
                let (mut best, mut best_at) = (plane[first], first);
                for i in 0..kh {
                    let row = first + i * self.width;
                    for (j, &v) in plane[row..row + kw].iter().enumerate() {
                        if v > best || v.is_nan() {
                            best = v;
                            best_at = row + j;
                        }
                    }
                }
                *o = best;
                if let Some(at) = at.as_deref_mut() {
                    at[oh * ow_n + ow] = best_at as u32;
                }
            }
        }
    }

    /// [`Self::pool_plane`] for 2×2 windows every 2 pixels (every pooling of the labs), in
    /// branch-free loops over whole rows that the compiler vectorizes: the loop above, one value
    /// at a time behind a branch, was a third of `cnn_train`'s step.
    fn pool_plane_2x2(&self, plane: &[f32], out: &mut [f32], mut at: Option<&mut [u32]>) {
        let (width, ow_n) = (self.width, self.out_width());
        for (oh, out_row) in out.chunks_exact_mut(ow_n).enumerate() {
            let top_at = 2 * oh * width;
            let top = plane[top_at..top_at + 2 * ow_n].chunks_exact(2);
            let bottom = plane[top_at + width..top_at + width + 2 * ow_n].chunks_exact(2);
            let windows = top
                .zip(bottom)
                .map(|(t, b)| max_of_four([t[0], t[1], b[0], b[1]]));
            match at.as_deref_mut() {
                None => out_row
                    .iter_mut()
                    .zip(windows)
                    .for_each(|(o, (best, _))| *o = best),
                Some(at) => {
                    let at_row = &mut at[oh * ow_n..(oh + 1) * ow_n];
                    for (ow, ((o, a), (best, k))) in
                        out_row.iter_mut().zip(at_row).zip(windows).enumerate()
                    {
                        *o = best;
                        // k = 0, 1 on the top row, 2, 3 below
                        *a = (top_at + 2 * ow + (k & 1) + (k >> 1) * width) as u32;
                    }
                }
            }
        }
    }
}

/// The largest of four values taken in that order, and which it was: the first maximum wins a
/// tie, the last NaN wins over everything (the rule of [`Windows::pool_plane`]), with selects
/// rather than branches.
#[inline(always)]
fn max_of_four(v: [f32; 4]) -> (f32, usize) {
    let (mut best, mut which) = (v[0], 0);
    for (k, &value) in v.iter().enumerate().skip(1) {
        let take = value > best || value.is_nan();
        best = if take { value } else { best };
        which = if take { k } else { which };
    }
    (best, which)
}

/// `x` `[planes, height, width]` → maxima `[planes, oh, ow]` and their positions in each plane.
fn forward(w: &Windows, planes: usize, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let (size, pixels) = (w.height * w.width, w.out_pixels());
    let mut out = vec![0.0; planes * pixels];
    let mut at = vec![0u32; planes * pixels];
    out.par_chunks_mut(pixels)
        .zip(at.par_chunks_mut(pixels))
        .zip(x.par_chunks(size))
        .for_each(|((out, at), plane)| w.pool_plane(plane, out, Some(at)));
    (out, at)
}

/// Gradient of the input: each output's gradient added at the position of its maximum.
fn backward(w: &Windows, planes: usize, dy: &[f32], at: &[u32]) -> Vec<f32> {
    let (size, pixels) = (w.height * w.width, w.out_pixels());
    let mut dx = vec![0.0; planes * size];
    dx.par_chunks_mut(size)
        .zip(dy.par_chunks(pixels).zip(at.par_chunks(pixels)))
        .for_each(|(dx, (dy, at))| {
            for (&g, &a) in dy.iter().zip(at) {
                dx[a as usize] += g;
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::max_pool2d;
    use crate::kernels::testing::{assert_all_close, autodiff_device, value_and_grads};

    #[test]
    fn max_pool2d_matches_burns_values_and_gradients() {
        use burn::nn::pool::MaxPool2dConfig;
        // (batch, channels, size, kernel, stride): the labs' 2×2 pools, overlapping windows,
        // odd sizes that leave a row or column out
        let cases = [
            (4, 3, [28, 28], [2, 2], [2, 2]),
            (2, 5, [11, 13], [2, 2], [2, 2]),
            (2, 2, [9, 8], [3, 3], [2, 2]),
            (1, 3, [7, 6], [2, 3], [1, 2]),
            (3, 1, [4, 4], [4, 4], [4, 4]),
        ];
        for (batch, channels, [h, w], kernel, stride) in cases {
            let device = autodiff_device();
            let pool = MaxPool2dConfig::new(kernel).with_strides(stride).init();
            let input = Tensor::<4>::random(
                [batch, channels, h, w],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let out = pool.forward(input.clone()).dims();
            let weights = Tensor::<4>::random(out, Distribution::Uniform(-1.0, 1.0), &device);
            assert_all_close(
                value_and_grads(&input, &weights, &[], |x| max_pool2d(&pool, x)),
                value_and_grads(&input, &weights, &[], |x| pool.forward(x)),
            );
        }
    }

    #[test]
    fn max_pool2d_lets_a_nan_win_its_window() {
        use burn::nn::pool::MaxPool2dConfig;
        let device = Device::flex();
        let pool = MaxPool2dConfig::new([2, 2]).init();
        let x = Tensor::<4>::from_floats(
            [[[[1.0, f32::NAN, 5.0, 2.0], [3.0, 4.0, 0.0, 1.0]]]],
            &device,
        );
        let y: Vec<f32> = max_pool2d(&pool, x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(y[0].is_nan() && y[1] == 5.0, "{y:?}");
    }
}
