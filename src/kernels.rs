//! Faster formulations of operations where burn's `flex` backend is slow, used by the labs and the
//! benchmark alike. Each one is tested against the plain burn operation, values and gradients.

use burn::tensor::Tensor;

/// Leaky ReLU, `max(x, 0) + slope · min(x, 0)`, written as `x · factor` with
/// `factor = 1 where x > 0, slope elsewhere` computed outside the autodiff graph.
///
/// Burn builds it from a comparison, a scaled copy and `mask_where`, whose backward pass makes
/// two zero tensors and two more `mask_where` (branchy loops over the bytes of the mask that mispredict
/// on every other element). Here the backward pass is one product, `grad · factor`: in the
/// benchmark's `gan_train`, whose discriminator has two leaky ReLUs, `mask_where` took 14% of the
/// time. The gradient is PyTorch's: `slope` at `x = 0`.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    let factor = x
        .clone()
        .detach()
        .greater_elem(0.0)
        .float()
        .mul_scalar(1.0 - slope)
        .add_scalar(slope);
    x * factor
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor, TensorData, Tolerance};

    use super::*;

    /// Values and input gradients of `fast` and `plain` on the same random tensor, for a loss
    /// with random weights (so that every element's gradient matters).
    fn compare<const D: usize>(
        shape: [usize; D],
        fast: impl Fn(Tensor<D>) -> Tensor<D>,
        plain: impl Fn(Tensor<D>) -> Tensor<D>,
    ) {
        let device = Device::flex().autodiff();
        device.seed(7);
        let input = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let weights = Tensor::<D>::random(shape, Distribution::Uniform(-1.0, 1.0), &device);
        let run = |op: &dyn Fn(Tensor<D>) -> Tensor<D>| {
            let x = input.clone().detach().require_grad();
            let y = op(x.clone());
            let grads = (y.clone() * weights.clone()).sum().backward();
            let grad = x.grad(&grads).expect("the input has a gradient");
            (y.into_data(), grad.into_data())
        };
        let (fast_value, fast_grad): (TensorData, TensorData) = run(&fast);
        let (plain_value, plain_grad) = run(&plain);
        fast_value.assert_approx_eq::<f32>(&plain_value, Tolerance::default());
        fast_grad.assert_approx_eq::<f32>(&plain_grad, Tolerance::default());
    }

    #[test]
    fn leaky_relu_matches_burns_values_and_gradients() {
        for slope in [0.2, 0.01] {
            use burn::tensor::activation::leaky_relu as plain;
            compare(
                [64, 16, 7, 7],
                |x| leaky_relu(x, slope),
                |x| plain(x, slope),
            );
            compare([3, 5, 11], |x| leaky_relu(x, slope), |x| plain(x, slope));
            compare([1000], |x| leaky_relu(x, slope), |x| plain(x, slope));
        }
    }
}
