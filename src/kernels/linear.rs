//! A dense layer `y = x·W + b` (x `[rows, in]`, W `[in, out]`, b `[out]`) as one operation with
//! its backward pass: `dx = dy·Wᵀ`, `dW = xᵀ·dy`, `db = Σ_rows dy`, each product split between
//! the threads by rows of its result.
//!
//! Why by hand: burn runs a dense layer as a matrix product and a broadcast addition, and the
//! `flex` backend allocates each product's result as bytes, zeroed, then copies it once more to
//! align it: for the DCGAN's two dense layers (`[64, 100]·[100, 6272]` and `[64, 6272]·[6272,
//! 1]`, and their gradients) that zeroing and copying was 2.2% of `gan_train`, on one thread.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::Linear;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::flex::{flex_tensor, on_flex_f32, register, values};
use super::product::{Strided, matmul, share_of};

/// `layer.forward(x)` for x `[rows, in]`: through [`LinearKernels`] on f32 values on the CPU
/// backend, through burn's otherwise.
pub fn linear(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    if !on_flex_f32(&x) {
        return layer.forward(x);
    }
    let weight = layer.weight.val();
    let bias = match &layer.bias {
        Some(bias) => bias.val(),
        None => Tensor::zeros([weight.dims()[1]], &x.device()),
    };
    Tensor::from_dispatch(<Dispatch as LinearKernels>::linear_fast(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// A dense layer on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait LinearKernels: Backend {
    /// `x·W + b`: x `[rows, in]`, W `[in, out]`, b `[out]` → `[rows, out]`.
    fn linear_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl LinearKernels for Flex {
    fn linear_fast(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let ((xs, x), (ws, w), (_, b)) = (values(x), values(weight), values(bias));
        let (rows, inputs, outputs) = (xs[0], xs[1], ws[1]);
        let (x, w, b) = (x.as_slice(), w.as_slice(), b.as_slice());
        let mut y = vec![0.0; rows * outputs];
        for_row_blocks(&mut y, outputs, |first, y| {
            let n = y.len() / outputs.max(1);
            for row in y.chunks_mut(outputs.max(1)) {
                row.copy_from_slice(b);
            }
            matmul(
                (n, outputs, inputs),
                Strided::new(y, (outputs, 1)),
                true,
                (&x[first * inputs..], (inputs, 1)),
                (w, (outputs, 1)),
            );
        });
        flex_tensor(y, vec![rows, outputs])
    }
}

/// `each(first row, rows)` for blocks of the rows of `values` (`[rows, width]`), split between
/// the threads.
fn for_row_blocks(values: &mut [f32], width: usize, each: impl Fn(usize, &mut [f32]) + Sync) {
    let per_task = share_of(values.len() / width.max(1));
    values
        .par_chunks_mut(per_task * width.max(1))
        .enumerate()
        .for_each(|(task, block)| each(task * per_task, block));
}

impl<C: CheckpointStrategy> LinearKernels for Autodiff<Flex, C> {
    fn linear_fast(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match LinearBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&weight));
                let y = Flex::linear_fast(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                );
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::linear_fast(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }
}

/// `dx = dy·Wᵀ`, `dW = xᵀ·dy`, `db = Σ_rows dy`, for the inputs that need them.
#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    /// x and W.
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let (_, dy) = values(grads.consume::<Flex>(&ops.node));
        let (xs, x) = values(checkpointer.retrieve_node_output::<FlexTensor>(ops.state.0));
        let (ws, w) = values(checkpointer.retrieve_node_output::<FlexTensor>(ops.state.1));
        let (rows, inputs, outputs) = (xs[0], xs[1], ws[1]);
        let (x, w, dy) = (x.as_slice(), w.as_slice(), dy.as_slice());
        let dx = node_x.as_ref().map(|_| {
            let mut dx = vec![0.0; rows * inputs];
            for_row_blocks(&mut dx, inputs, |first, dx| {
                let n = dx.len() / inputs.max(1);
                matmul(
                    (n, inputs, outputs),
                    Strided::new(dx, (inputs, 1)),
                    false,
                    (&dy[first * outputs..], (outputs, 1)),
                    (w, (1, outputs)),
                );
            });
            dx
        });
        let dw = node_w.as_ref().map(|_| {
            let mut dw = vec![0.0; inputs * outputs];
            for_row_blocks(&mut dw, outputs, |first, dw| {
                let n = dw.len() / outputs.max(1);
                matmul(
                    (n, outputs, rows),
                    Strided::new(dw, (outputs, 1)),
                    false,
                    (&x[first..], (1, inputs)),
                    (dy, (outputs, 1)),
                );
            });
            dw
        });
        let db = node_b.as_ref().map(|_| {
            let mut db = vec![0.0; outputs];
            for row in dy.chunks(outputs.max(1)) {
                db.iter_mut().zip(row).for_each(|(d, v)| *d += v);
            }
            db
        });
        register(
            grads,
            [
                (node_x.map(|n| n.id), dx.unwrap_or_default(), xs),
                (node_w.map(|n| n.id), dw.unwrap_or_default(), ws),
                (node_b.map(|n| n.id), db.unwrap_or_default(), vec![outputs]),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_all_close, autodiff_device};
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, TensorData};

    /// The value of `op(x)` and the gradients of `Σ weights · op(x)` with respect to x, the
    /// layer's weight and its bias.
    fn value_and_grads(
        layer: &Linear,
        x: &Tensor<2>,
        weights: &Tensor<2>,
        op: impl Fn(&Linear, Tensor<2>) -> Tensor<2>,
    ) -> Vec<TensorData> {
        let x = x.clone().detach().require_grad();
        let y = op(layer, x.clone());
        let grads = (y.clone() * weights.clone()).sum().backward();
        let bias = layer.bias.as_ref().expect("a bias");
        vec![
            y.into_data(),
            x.grad(&grads).expect("input grad").into_data(),
            layer.weight.grad(&grads).expect("weight grad").into_data(),
            bias.grad(&grads).expect("bias grad").into_data(),
        ]
    }

    #[test]
    fn linear_matches_burns_values_and_gradients() {
        let device = autodiff_device();
        // the DCGAN's two layers, then rows that do not split evenly and a single row
        for (rows, inputs, outputs) in [(64, 100, 6272), (64, 6272, 1), (7, 5, 3), (1, 4, 9)] {
            let layer = LinearConfig::new(inputs, outputs).init(&device);
            let x = Tensor::<2>::random([rows, inputs], Distribution::Normal(0.0, 1.0), &device);
            let weights =
                Tensor::<2>::random([rows, outputs], Distribution::Uniform(-1.0, 1.0), &device);
            assert_all_close(
                value_and_grads(&layer, &x, &weights, linear),
                value_and_grads(&layer, &x, &weights, |layer, x| layer.forward(x)),
            );
        }
    }
}
