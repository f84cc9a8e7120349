//! 2-D convolutions and transposed convolutions (groups 1, dilation 1) with their bias and an
//! optional rectifier, as matrix products with both backward passes written out: the formulas,
//! and why by hand, in [`products`]. Each layer takes the first way that covers it: Winograd's
//! minimal filtering ([`winograd`]: 3×3 stride 1, 4×4 stride 2, channels by 16), our own tiles
//! that read their operands in place ([`implicit`]: the other strided layers with outputs by 16),
//! kernels for the 3×3 stride-1 layers from a single channel ([`single`]: forward and weight
//! gradient), else im2col and `gemm`.
//!
//! Plugged into burn as [`ConvKernels`]: the convolution on flex tensors, and under autodiff
//! [`ConvBackward`], which saves the input and the weight (and the output, for a rectifier).

mod im2col;
mod implicit;
mod products;
mod single;
#[cfg(test)]
mod tests;
mod winograd;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;

use super::flex::{FlexValues, flex_tensor, on_flex_f32, register, values, values_mut};
use super::pool::{PoolKernels, Windows, kernel_applies as pool_kernel_applies, max_pool2d};
use super::rectifier::{Rectified, Rectifier, rectify};
use im2col::Geometry;
use products::Epilogue;

/// Whether this CPU has AVX-512F, for which the Winograd transforms, the implicit tiles and the
/// single-channel kernels are
/// compiled (checked at run time: the release build targets any x86-64).
fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `conv.forward(x)`, through [`ConvKernels`] where they apply (groups 1, dilation 1, the same
/// padding on both sides, f32 on the CPU backend), through burn's otherwise.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    rectified_conv2d(conv, x, None)
}

/// `relu(conv.forward(x))`, the rectifier applied inside the kernel (see [`conv2d`]).
pub fn conv2d_relu(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    rectified_conv2d(conv, x, Some(0.0))
}

/// `leaky_relu(conv.forward(x), slope)`, the rectifier applied inside the kernel.
pub fn conv2d_leaky_relu(conv: &Conv2d, x: Tensor<4>, slope: f64) -> Tensor<4> {
    rectified_conv2d(conv, x, Some(slope as f32))
}

/// `max_pool(relu(conv.forward(x)))`. Without autodiff (inference) on the CPU backend, in one
/// pass that never holds the convolution's whole output ([`products::forward_pooled`]); under
/// autodiff, which keeps that output for the backward pass anyway, as the two kernels in turn.
pub fn conv2d_relu_max_pool2d(conv: &Conv2d, pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let Some(padding) = kernel_padding(conv, &x) else {
        return max_pool2d(pool, conv2d_relu(conv, x));
    };
    let [_, _, height, width] = x.dims();
    let [kh, kw] = conv.kernel_size;
    let out = |size: usize, k: usize, axis: usize| {
        (size + 2 * padding[axis])
            .checked_sub(k)
            .map(|room| room / conv.stride[axis] + 1)
    };
    let (Some(oh), Some(ow)) = (out(height, kh, 0), out(width, kw, 1)) else {
        return max_pool2d(pool, conv2d_relu(conv, x));
    };
    if !pool_kernel_applies(pool, [oh, ow]) {
        return max_pool2d(pool, conv2d_relu(conv, x));
    }
    let bias = bias_or_zeros(conv.bias.as_ref(), conv.weight.dims()[0], &x);
    Tensor::from_dispatch(<Dispatch as ConvPoolKernels>::conv2d_relu_max_pool2d_fast(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        bias.into_dispatch(),
        [conv.stride, padding],
        [pool.kernel_size, pool.stride],
    ))
}

/// The padding on each axis if the kernels compute `conv` on `x` (groups 1, dilation 1, the
/// same padding on both sides, f32 on the CPU backend), `None` where burn must.
fn kernel_padding(conv: &Conv2d, x: &Tensor<4>) -> Option<[usize; 2]> {
    // `Same` padding is left to burn: it may differ between the two sides.
    let padding = match conv.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([top, left])
        }
        _ => None,
    };
    padding.filter(|_| conv.groups == 1 && conv.dilation == [1, 1] && on_flex_f32(x))
}

fn rectified_conv2d(conv: &Conv2d, x: Tensor<4>, slope: Option<f32>) -> Tensor<4> {
    let Some(padding) = kernel_padding(conv, &x) else {
        return rectify(conv.forward(x), slope);
    };
    let bias = bias_or_zeros(conv.bias.as_ref(), conv.weight.dims()[0], &x);
    Tensor::from_dispatch(<Dispatch as ConvKernels>::conv2d_fast(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        bias.into_dispatch(),
        conv.stride,
        padding,
        slope,
    ))
}

/// `conv.forward(x)` for a transposed convolution, through [`ConvKernels`] where they apply.
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    rectified_conv_transpose2d(conv, x, None)
}

/// `relu(conv.forward(x))` for a transposed convolution, the rectifier inside the kernel.
pub fn conv_transpose2d_relu(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    rectified_conv_transpose2d(conv, x, Some(0.0))
}

/// `leaky_relu(conv.forward(x), slope)` for a transposed convolution, the rectifier inside the
/// kernel.
pub fn conv_transpose2d_leaky_relu(conv: &ConvTranspose2d, x: Tensor<4>, slope: f64) -> Tensor<4> {
    rectified_conv_transpose2d(conv, x, Some(slope as f32))
}

fn rectified_conv_transpose2d(
    conv: &ConvTranspose2d,
    x: Tensor<4>,
    slope: Option<f32>,
) -> Tensor<4> {
    if conv.groups != 1 || conv.dilation != [1, 1] || !on_flex_f32(&x) {
        return rectify(conv.forward(x), slope);
    }
    let [_, _, height, width] = x.dims();
    let out = |size: usize, axis: usize| {
        (size - 1) * conv.stride[axis] + conv.kernel_size[axis] + conv.padding_out[axis]
            - 2 * conv.padding[axis]
    };
    let bias = bias_or_zeros(conv.bias.as_ref(), conv.weight.dims()[1], &x);
    Tensor::from_dispatch(<Dispatch as ConvKernels>::conv_transpose2d_fast(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        bias.into_dispatch(),
        conv.stride,
        conv.padding,
        [out(height, 0), out(width, 1)],
        slope,
    ))
}

/// The bias of a layer with `channels` outputs: its own, or zeros (constant) if it has none.
fn bias_or_zeros(
    bias: Option<&burn::module::Param<Tensor<1>>>,
    channels: usize,
    x: &Tensor<4>,
) -> Tensor<1> {
    bias.map(|b| b.val())
        .unwrap_or_else(|| Tensor::zeros([channels], &x.device()))
}

/// Convolutions (groups 1, dilation 1) with their bias and an optional rectifier, on f32
/// tensors.
#[backend_extension(Flex, Autodiff)]
pub trait ConvKernels: Backend {
    /// x `[b, c, h, w]` ⊛ weight `[o, c, kh, kw]` + bias `[o]` → `[b, o, oh, ow]`, then the
    /// rectifier of negative slope `slope` if there is one (see [`Epilogue`]).
    fn conv2d_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        slope: Option<f32>,
    ) -> FloatTensor<Self>;

    /// Transposed convolution: x `[b, c_in, h, w]`, weight `[c_in, c_out, kh, kw]`, bias
    /// `[c_out]` → `[b, c_out, out[0], out[1]]`, then the rectifier as in `conv2d_fast`.
    fn conv_transpose2d_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        out: [usize; 2],
        slope: Option<f32>,
    ) -> FloatTensor<Self>;
}

/// A convolution, its bias, a ReLU and a max pooling in one pass (see
/// [`conv2d_relu_max_pool2d`]).
#[backend_extension(Flex, Autodiff)]
pub trait ConvPoolKernels: Backend {
    /// `max_pool(relu(x ⊛ weight + bias))`: x `[b, c, h, w]`, weight `[o, c, kh, kw]`, bias
    /// `[o]`; `[stride, padding]` of the convolution, `[kernel, stride]` of the pooling.
    fn conv2d_relu_max_pool2d_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        conv: [[usize; 2]; 2],
        pool: [[usize; 2]; 2],
    ) -> FloatTensor<Self>;
}

impl ConvPoolKernels for Flex {
    fn conv2d_relu_max_pool2d_fast(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        [stride, padding]: [[usize; 2]; 2],
        [kernel, pool_stride]: [[usize; 2]; 2],
    ) -> FlexTensor {
        let ((xs, x), (ws, w), (_, b)) = (values(x), values(weight), values(bias));
        let g = geometry(&xs, &ws, stride, padding);
        let windows = Windows {
            height: g.out_height(),
            width: g.out_width(),
            kernel,
            stride: pool_stride,
        };
        let epilogue = Epilogue {
            channels: ws[0],
            pixels: g.out_pixels(),
            rectifier: Some(Rectifier { slope: 0.0 }),
        };
        let y = products::forward_pooled(
            &g,
            xs[0],
            (x.as_slice(), w.as_slice(), b.as_slice()),
            &epilogue,
            &windows,
        );
        let shape = vec![xs[0], ws[0], windows.out_height(), windows.out_width()];
        flex_tensor(y, shape)
    }
}

impl<C: CheckpointStrategy> ConvPoolKernels for Autodiff<Flex, C> {
    fn conv2d_relu_max_pool2d_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        [stride, padding]: [[usize; 2]; 2],
        [kernel, pool_stride]: [[usize; 2]; 2],
    ) -> FloatTensor<Self> {
        let y = <Self as ConvKernels>::conv2d_fast(x, weight, bias, stride, padding, Some(0.0));
        <Self as PoolKernels>::max_pool2d_fast(y, kernel, pool_stride)
    }
}

impl ConvKernels for Flex {
    fn conv2d_fast(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
        slope: Option<f32>,
    ) -> FlexTensor {
        let ((xs, x), (ws, w), (_, bias)) = (values(x), values(weight), values(bias));
        let g = geometry(&xs, &ws, stride, padding);
        let epilogue = Epilogue {
            channels: ws[0],
            pixels: g.out_pixels(),
            rectifier: slope.map(|slope| Rectifier { slope }),
        };
        let y = products::forward_with_epilogue(
            &g,
            xs[0],
            (x.as_slice(), w.as_slice(), bias.as_slice()),
            &epilogue,
        );
        flex_tensor(y, vec![xs[0], ws[0], g.out_height(), g.out_width()])
    }

    fn conv_transpose2d_fast(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
        out: [usize; 2],
        slope: Option<f32>,
    ) -> FlexTensor {
        epilogue(
            conv2d_input_grad(x, weight, stride, padding, out),
            bias,
            slope,
        )
    }
}

impl<C: CheckpointStrategy> ConvKernels for Autodiff<Flex, C> {
    fn conv2d_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        slope: Option<f32>,
    ) -> FloatTensor<Self> {
        let xs = x.primitive().layout().shape().to_vec();
        let ws = weight.primitive().layout().shape().to_vec();
        tracked_conv::<C>(
            [x, weight, bias],
            |x, w| ConvState {
                x,
                w,
                transposed: false,
                stride,
                padding,
                kernel: [ws[2], ws[3]],
                size: [xs[2], xs[3]],
                rectified: Rectified::new(slope),
            },
            |x, w, b| Flex::conv2d_fast(x, w, b, stride, padding, slope),
        )
    }

    fn conv_transpose2d_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        out: [usize; 2],
        slope: Option<f32>,
    ) -> FloatTensor<Self> {
        let ws = weight.primitive().layout().shape().to_vec();
        tracked_conv::<C>(
            [x, weight, bias],
            |x, w| ConvState {
                x,
                w,
                transposed: true,
                stride,
                padding,
                kernel: [ws[2], ws[3]],
                size: out,
                rectified: Rectified::new(slope),
            },
            |x, w, b| Flex::conv_transpose2d_fast(x, w, b, stride, padding, out, slope),
        )
    }
}

/// The geometry of the convolution from `input` (`[b, c, h, w]`) by `weight` (`[o, c, kh, kw]`).
fn geometry(
    input: &[usize],
    weight: &[usize],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Geometry {
    Geometry {
        channels: input[1],
        height: input[2],
        width: input[3],
        kernel: [weight[2], weight[3]],
        stride,
        padding,
    }
}

fn conv2d_on_flex(
    x: FlexTensor,
    weight: FlexTensor,
    stride: [usize; 2],
    padding: [usize; 2],
) -> FlexTensor {
    let ((xs, x), (ws, w)) = (values(x), values(weight));
    let g = geometry(&xs, &ws, stride, padding);
    let y = products::forward(&g, xs[0], x.as_slice(), w.as_slice(), ws[0]);
    flex_tensor(y, vec![xs[0], ws[0], g.out_height(), g.out_width()])
}

/// The gradient of a convolution's input `[b, c, out[0], out[1]]` from that of its output `dy`;
/// also the forward pass of a transposed convolution.
fn conv2d_input_grad(
    dy: FlexTensor,
    weight: FlexTensor,
    stride: [usize; 2],
    padding: [usize; 2],
    out: [usize; 2],
) -> FlexTensor {
    let ((ys, dy), (ws, w)) = (values(dy), values(weight));
    let input = [ys[0], ws[1], out[0], out[1]];
    let g = geometry(&input, &ws, stride, padding);
    assert_eq!(
        [g.out_height(), g.out_width()],
        [ys[2], ys[3]],
        "conv2d_input_grad: output size {out:?} does not match"
    );
    let dx = products::input_grad(&g, ys[0], dy.as_slice(), w.as_slice(), ws[0]);
    flex_tensor(dx, input.to_vec())
}

/// The gradient of a convolution's weight `[o, c, kh, kw]` from its input and output gradient.
fn conv2d_weight_grad(
    x: FlexTensor,
    dy: FlexTensor,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> FlexTensor {
    let ((xs, x), (ys, dy)) = (values(x), values(dy));
    let weight = [ys[1], xs[1], kernel[0], kernel[1]];
    let g = geometry(&xs, &weight, stride, padding);
    let dw = products::weight_grad(&g, xs[0], x.as_slice(), dy.as_slice(), ys[1]);
    flex_tensor(dw, weight.to_vec())
}

/// The convolution of `x` by `weight`, and the gradient of that weight for the output gradient
/// `dy`: both backward products of a transposed convolution, which read the same `cols(x)`.
fn conv2d_and_weight_grad(
    x: FlexTensor,
    weight: FlexTensor,
    dy: FlexTensor,
    stride: [usize; 2],
    padding: [usize; 2],
) -> (FlexTensor, FlexTensor) {
    let ((xs, x), (ws, w), (_, dy)) = (values(x), values(weight), values(dy));
    let g = geometry(&xs, &ws, stride, padding);
    let (y, dw) = products::forward_and_weight_grad(
        &g,
        xs[0],
        x.as_slice(),
        w.as_slice(),
        dy.as_slice(),
        ws[0],
    );
    (
        flex_tensor(y, vec![xs[0], ws[0], g.out_height(), g.out_width()]),
        flex_tensor(dw, ws),
    )
}

/// The [`Epilogue`] of a convolution's output `y` (`[b, c, h, w]`).
fn epilogue_of(y: &FlexTensor, slope: Option<f32>) -> Epilogue {
    let shape = y.layout().shape();
    Epilogue {
        channels: shape[1],
        pixels: shape[2] * shape[3],
        rectifier: slope.map(|slope| Rectifier { slope }),
    }
}

/// `y`, just computed by a convolution kernel, with the bias added and the rectifier applied.
fn epilogue(y: FlexTensor, bias: FlexTensor, slope: Option<f32>) -> FlexTensor {
    let (shape, mut y) = values_mut(y);
    let (_, bias) = values(bias);
    epilogue_of(&y, slope).forward(y.storage_mut::<f32>(), bias.as_slice());
    debug_assert_eq!(y.layout().shape().to_vec(), shape);
    y
}

/// Backward of a convolution `y = rectify(conv2d(x, w) + b)`: first the gradient before the
/// rectifier and the bias gradient ([`Epilogue::backward`]), then from that gradient `dz`:
/// dx = input grad of dz, dw = weight grad of (x, dz); or of a transposed convolution, its
/// mirror: dx = conv2d(dz, w), dw = weight grad of the convolution from y's shape to x's, that
/// is of (dz, x).
#[derive(Debug)]
struct ConvBackward;

/// Saved for the backward pass of a convolution or a transposed one.
#[derive(Debug, Clone)]
struct ConvState {
    x: NodeId,
    w: NodeId,
    transposed: bool,
    stride: [usize; 2],
    padding: [usize; 2],
    kernel: [usize; 2],
    /// Height and width of a convolution's input (unused when transposed).
    size: [usize; 2],
    rectified: Rectified,
}

impl Backward<Flex, 3> for ConvBackward {
    type State = ConvState;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let (_, mut dy) = values_mut(grads.consume::<Flex>(&ops.node));
        let s = ops.state;
        let epilogue = epilogue_of(&dy, s.rectified.slope);
        let output = s.rectified.into_parts().map(|(_, y)| y);
        let db = epilogue.backward(
            output.as_ref().map(FlexValues::as_slice),
            dy.storage_mut::<f32>(),
        );
        register(grads, [(node_b.map(|n| n.id), db, vec![epilogue.channels])]);
        let x = checkpointer.retrieve_node_output::<FlexTensor>(s.x);
        let w = checkpointer.retrieve_node_output::<FlexTensor>(s.w);
        if let (true, Some(node_x), Some(node_w)) = (s.transposed, &node_x, &node_w) {
            let (dx, dw) = conv2d_and_weight_grad(dy, w, x, s.stride, s.padding);
            grads.register::<Flex>(node_x.id, dx);
            grads.register::<Flex>(node_w.id, dw);
            return;
        }
        if let Some(node) = node_x {
            let dx = if s.transposed {
                conv2d_on_flex(dy.clone(), w, s.stride, s.padding)
            } else {
                conv2d_input_grad(dy.clone(), w, s.stride, s.padding, s.size)
            };
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_w {
            let (input, output_grad) = if s.transposed { (dy, x) } else { (x, dy) };
            let dw = conv2d_weight_grad(input, output_grad, s.kernel, s.stride, s.padding);
            grads.register::<Flex>(node.id, dw);
        }
    }
}

/// A convolution (or transposed one) `forward(x, w, b)` recorded for autodiff with
/// [`ConvBackward`].
fn tracked_conv<C: CheckpointStrategy>(
    [x, weight, bias]: [FloatTensor<Autodiff<Flex, C>>; 3],
    state: impl FnOnce(NodeId, NodeId) -> ConvState,
    forward: impl FnOnce(FlexTensor, FlexTensor, FlexTensor) -> FlexTensor,
) -> FloatTensor<Autodiff<Flex, C>> {
    match ConvBackward
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let mut state = state(prep.checkpoint(&x), prep.checkpoint(&weight));
            let y = forward(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            );
            state.rectified.keep(&y);
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        )),
    }
}
