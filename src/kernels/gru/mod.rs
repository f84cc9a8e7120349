//! A GRU's recurrence over every step as one operation with its backward pass through time,
//! behind [`gru`]: the formulas, and why by hand, in [`kernel`].
//!
//! Plugged into burn as [`GruKernels`]: the recurrence on flex tensors, and under autodiff
//! [`GruBackward`], from the gates the forward pass keeps. Where nothing is tracked (inference:
//! `predict`, validation), the gates are not kept.

mod kernel;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::activation::Activation;
use burn::nn::gru::Gru;
use burn::nn::{GateController, Linear};
use burn::tensor::Tensor;

use super::flex::{flex_tensor, on_flex_f32, register, values};
use kernel::Recurrence;

/// `gru.forward(x, None)`: every hidden state `[batch, steps, hidden]` of a GRU run from a zero
/// state over `x` (`[batch, steps, input]`), through the recurrence of [`GruKernels`] where it
/// applies (burn's defaults: biases, `reset_after`, sigmoid gates, tanh candidate, no clipping;
/// f32 on the CPU backend), through burn's otherwise.
///
/// The input parts of the three gates, `x·W_x + b_x`, are one product over every step, left to
/// burn; the recurrence is one operation with its own backward pass.
pub fn gru(layer: &Gru, x: Tensor<3>) -> Tensor<3> {
    let gates = [&layer.update_gate, &layer.reset_gate, &layer.new_gate];
    let biased = gates
        .iter()
        .all(|g| g.input_transform.bias.is_some() && g.hidden_transform.bias.is_some());
    let standard = matches!(layer.gate_activation, Activation::Sigmoid(_))
        && matches!(layer.hidden_activation, Activation::Tanh(_));
    if !biased || !standard || !layer.reset_after || layer.clip.is_some() || !on_flex_f32(&x) {
        return layer.forward(x, None);
    }
    let [batch, steps, input] = x.dims();
    let joined = |part: fn(&GateController) -> &Linear| {
        let weights = gates.iter().map(|g| part(g).weight.val()).collect();
        let biases = gates
            .iter()
            .map(|g| part(g).bias.as_ref().expect("checked above").val())
            .collect();
        (Tensor::cat(weights, 1), Tensor::cat(biases, 0))
    };
    let (wx, bx) = joined(|g| &g.input_transform); // [input, 3h], [3h]
    let (wh, bh) = joined(|g| &g.hidden_transform); // [h, 3h], [3h]
    let gx = (x.reshape([batch * steps, input]).matmul(wx) + bx.unsqueeze::<2>()).reshape([
        batch,
        steps,
        3 * layer.d_hidden,
    ]);
    Tensor::from_dispatch(<Dispatch as GruKernels>::gru_recurrence_fast(
        gx.into_dispatch(),
        wh.into_dispatch(),
        bh.into_dispatch(),
    ))
}

/// A GRU's recurrence, on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait GruKernels: Backend {
    /// The recurrence of a GRU over every step: gx `[b, t, 3h]` (the input parts of the update,
    /// reset and new gates), wh `[h, 3h]`, bh `[3h]` → the hidden states `[b, t, h]`.
    fn gru_recurrence_fast(
        gx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        bh: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl GruKernels for Flex {
    fn gru_recurrence_fast(gx: FlexTensor, wh: FlexTensor, bh: FlexTensor) -> FlexTensor {
        hidden_states(gx, wh, bh)
    }
}

impl<C: CheckpointStrategy> GruKernels for Autodiff<Flex, C> {
    fn gru_recurrence_fast(
        gx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        bh: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prepared = GruBackward
            .prepare::<C>([gx.node(), wh.node(), bh.node()])
            .compute_bound()
            .stateful();
        let inputs = (
            gx.into_primitive(),
            wh.into_primitive(),
            bh.into_primitive(),
        );
        match prepared {
            OpsKind::Tracked(prep) => {
                let (hs, state) = gru_recurrence(inputs.0, inputs.1, inputs.2);
                prep.finish(state, hs)
            }
            OpsKind::UnTracked(prep) => prep.finish(hidden_states(inputs.0, inputs.1, inputs.2)),
        }
    }
}

/// The sizes of the recurrence over `gx` (`[batch, steps, 3·hidden]`).
fn recurrence(gx: &[usize]) -> Recurrence {
    Recurrence {
        batch: gx[0],
        steps: gx[1],
        hidden: gx[2] / 3,
    }
}

/// A GRU's recurrence where nothing is tracked (inference): the hidden states alone, with no
/// state kept for a backward pass.
fn hidden_states(gx: FlexTensor, wh: FlexTensor, bh: FlexTensor) -> FlexTensor {
    let ((gs, gx), (_, wh), (_, bh)) = (values(gx), values(wh), values(bh));
    let shape = recurrence(&gs);
    let hs = kernel::hidden_states(&shape, gx.as_slice(), wh.as_slice(), bh.as_slice());
    flex_tensor(hs, vec![shape.batch, shape.steps, shape.hidden])
}

/// A GRU's recurrence under autodiff: the hidden states, and what the backward pass needs.
fn gru_recurrence(gx: FlexTensor, wh: FlexTensor, bh: FlexTensor) -> (FlexTensor, GruState) {
    let ((gs, gx), (_, wh), (_, bh)) = (values(gx), values(wh), values(bh));
    let shape = recurrence(&gs);
    let (hs, saved) = kernel::forward(&shape, gx.as_slice(), wh.as_slice(), bh.as_slice());
    let state = GruState {
        shape,
        hs: Arc::new(hs.clone()),
        saved: Arc::new(saved),
        wh: Arc::new(wh.as_slice().to_vec()),
    };
    let dims = vec![shape.batch, shape.steps, shape.hidden];
    (flex_tensor(hs, dims), state)
}

/// What the backward pass of a GRU's recurrence needs: the hidden states, the gates of every
/// step, and the hidden weights.
#[derive(Debug, Clone)]
struct GruState {
    shape: Recurrence,
    hs: Arc<Vec<f32>>,
    saved: Arc<Vec<f32>>,
    wh: Arc<Vec<f32>>,
}

#[derive(Debug)]
struct GruBackward;

impl Backward<Flex, 3> for GruBackward {
    type State = GruState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_gx, node_wh, node_bh] = ops.parents;
        let (_, dhs) = values(grads.consume::<Flex>(&ops.node));
        let s = ops.state;
        let (dgx, dwh, dbh) = kernel::backward(&s.shape, dhs.as_slice(), &s.hs, &s.saved, &s.wh);
        let Recurrence {
            batch,
            steps,
            hidden,
        } = s.shape;
        register(
            grads,
            [
                (node_gx.map(|n| n.id), dgx, vec![batch, steps, 3 * hidden]),
                (node_wh.map(|n| n.id), dwh, vec![hidden, 3 * hidden]),
                (node_bh.map(|n| n.id), dbh, vec![3 * hidden]),
            ],
        );
    }
}
