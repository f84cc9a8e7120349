//! The kernels of [`super::conv`] plugged into burn as a backend extension: for the `flex`
//! backend, and for autodiff over `flex`, with their own backward passes.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Flex, backend_extension, tensor::FloatTensor};

use super::conv::{self, Geometry};
use super::flex::{FlexValues, flex_tensor, register, values, values_mut};
use super::rectifier::{Rectified, Rectifier};

/// Convolutions (groups 1, dilation 1) with their bias and an optional rectifier, on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait CpuKernels: Backend {
    /// x `[b, c, h, w]` ⊛ weight `[o, c, kh, kw]` + bias `[o]` → `[b, o, oh, ow]`, then the
    /// rectifier of negative slope `slope` if there is one (see [`conv::Epilogue`]).
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

fn conv2d(
    x: FlexTensor,
    weight: FlexTensor,
    stride: [usize; 2],
    padding: [usize; 2],
) -> FlexTensor {
    let ((xs, x), (ws, w)) = (values(x), values(weight));
    let g = geometry(&xs, &ws, stride, padding);
    let y = conv::forward(&g, xs[0], x.as_slice(), w.as_slice(), ws[0]);
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
    let dx = conv::input_grad(&g, ys[0], dy.as_slice(), w.as_slice(), ws[0]);
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
    let dw = conv::weight_grad(&g, xs[0], x.as_slice(), dy.as_slice(), ys[1]);
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
    let (y, dw) =
        conv::forward_and_weight_grad(&g, xs[0], x.as_slice(), w.as_slice(), dy.as_slice(), ws[0]);
    (
        flex_tensor(y, vec![xs[0], ws[0], g.out_height(), g.out_width()]),
        flex_tensor(dw, ws),
    )
}

/// The [`conv::Epilogue`] of a convolution's output `y` (`[b, c, h, w]`).
fn epilogue_of(y: &FlexTensor, slope: Option<f32>) -> conv::Epilogue {
    let shape = y.layout().shape();
    conv::Epilogue {
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

impl CpuKernels for Flex {
    fn conv2d_fast(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
        slope: Option<f32>,
    ) -> FlexTensor {
        epilogue(conv2d(x, weight, stride, padding), bias, slope)
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

/// Backward of a convolution `y = rectify(conv2d(x, w) + b)`: first the gradient before the
/// rectifier and the bias gradient ([`conv::Epilogue::backward`]), then from that gradient `dz`:
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
                conv2d(dy.clone(), w, s.stride, s.padding)
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

impl<C: CheckpointStrategy> CpuKernels for Autodiff<Flex, C> {
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
