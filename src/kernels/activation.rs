//! Activations that vectorise (`e^x` written out, so that loops over it need no call into libm),
//! and tanh as a burn operation: one parallel pass forward, and a backward pass from its output.
//!
//! Why by hand: burn applies tanh in one single-threaded pass of glibc's scalar `tanhf`
//! (11–12 ns a value here), and its backward pass computes tanh of the input again, then
//! squares, negates, adds and multiplies in four more passes. At the end of the DCGAN's generator
//! those passes ran while the second thread waited: 3.8% of `gan_train`'s time.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::flex::{on_flex_f32, values, values_mut};

/// Values per task of the parallel passes: enough that a task outweighs handing it to a thread.
const CHUNK: usize = 1 << 13;

/// `tanh(x)`, through [`TanhKernels`] on f32 values on the CPU backend, through burn's otherwise.
/// Within 1e-6 of the exact value (`tanh_in_place`); its gradient is `1 − tanh(x)²`, from the
/// output.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_flex_f32(&x) {
        return burn::tensor::activation::tanh(x);
    }
    Tensor::from_dispatch(<Dispatch as TanhKernels>::tanh_fast(x.into_dispatch()))
}

/// tanh on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait TanhKernels: Backend {
    /// tanh of every value; under autodiff, its output kept for the backward pass.
    fn tanh_fast(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl TanhKernels for Flex {
    fn tanh_fast(x: FlexTensor) -> FlexTensor {
        let (_, mut y) = values_mut(x);
        y.storage_mut::<f32>()
            .par_chunks_mut(CHUNK)
            .for_each(tanh_in_place);
        y
    }
}

impl<C: CheckpointStrategy> TanhKernels for Autodiff<Flex, C> {
    fn tanh_fast(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match TanhBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = Flex::tanh_fast(x.into_primitive());
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::tanh_fast(x.into_primitive())),
        }
    }
}

/// `dx = dy ⊙ (1 − y²)`, in place of dy, from the output y.
#[derive(Debug)]
struct TanhBackward;

impl Backward<Flex, 1> for TanhBackward {
    /// The output y.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let (_, mut dy) = values_mut(grads.consume::<Flex>(&ops.node));
        let Some(node) = node_x else {
            return;
        };
        let (_, y) = values(ops.state);
        dy.storage_mut::<f32>()
            .par_chunks_mut(CHUNK)
            .zip(y.as_slice().par_chunks(CHUNK))
            .for_each(|(dy, y)| {
                dy.iter_mut().zip(y).for_each(|(d, y)| *d *= 1.0 - y * y);
            });
        grads.register::<Flex>(node.id, dy);
    }
}

/// `e^x`, to about 2 ulp, without a call into libm so that loops over it vectorise: `x = k·ln 2 + f`
/// with `|f| ≤ ln 2 / 2`, `e^f` by its Taylor polynomial, `2^k` written into the exponent bits.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so that k·ln 2 is exact enough; the polynomial is of degree 6
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // adding then subtracting 1.5·2²³ rounds to the nearest integer with plain SSE2
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let k = (x * LOG2_E + ROUND) - ROUND;
    let f = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    let scale = f32::from_bits(((k as i32 + 127) << 23) as u32);
    p * scale
}

/// `σ(x) = 1 / (1 + e^−x)`.
#[inline(always)]
pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// [`sigmoid`] on every value.
pub(super) fn sigmoid_in_place(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v = sigmoid(*v));
}

/// `tanh(x) = 2·σ(2x) − 1` on every value.
pub(super) fn tanh_in_place(values: &mut [f32]) {
    values
        .iter_mut()
        .for_each(|v| *v = 2.0 / (1.0 + exp(-2.0 * *v)) - 1.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::compare;

    #[test]
    fn exp_sigmoid_and_tanh_match_the_standard_library() {
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.01).collect();
        for &x in &xs {
            let (fast, exact) = (exp(x), x.exp());
            assert!(
                (fast - exact).abs() <= 4.0 * f32::EPSILON * exact,
                "exp({x})"
            );
        }
        let mut s = xs.clone();
        sigmoid_in_place(&mut s);
        let mut t = xs.clone();
        tanh_in_place(&mut t);
        for ((x, s), t) in xs.iter().zip(s).zip(t) {
            assert!((s - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6, "σ({x})");
            assert!((t - x.tanh()).abs() < 1e-6, "tanh({x})");
        }
        // saturation, not NaN or infinity, far out
        assert_eq!(exp(-1000.0), exp(-87.0));
        let mut far = [-1e6, 1e6];
        tanh_in_place(&mut far);
        assert_eq!(far, [-1.0, 1.0]);
    }

    #[test]
    fn tanh_matches_burns_values_and_gradients() {
        // the generator's output, a size that does not split into whole chunks, one value
        compare([64, 1, 28, 28], tanh, burn::tensor::activation::tanh);
        compare([3, 5, 11], tanh, burn::tensor::activation::tanh);
        compare([1], tanh, burn::tensor::activation::tanh);
    }
}
