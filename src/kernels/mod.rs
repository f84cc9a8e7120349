//! Faster formulations of operations where burn's `flex` backend is slow, used by the labs and the
//! benchmark alike. Each one is tested against the plain burn operation, values and gradients.

mod conv;
mod extension;

use burn::backend::Dispatch;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::{DType, Device, Tensor};

use extension::ConvKernels;

/// Whether the fast kernels apply: f32 values on the `flex` CPU backend.
fn on_flex_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && x.device().inner() == Device::flex()
}

fn add_bias(y: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    match bias {
        Some(bias) => {
            let [channels] = bias.dims();
            y + bias.reshape([1, channels, 1, 1])
        }
        None => y,
    }
}

/// `conv.forward(x)`, through [`conv`]'s kernels where they apply (groups 1, dilation 1, the same
/// padding on both sides, f32 on the CPU backend), through burn's otherwise.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    // `Same` padding is left to burn: it may differ between the two sides.
    let padding = match conv.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            Some([top, left])
        }
        _ => None,
    };
    let Some(padding) =
        padding.filter(|_| conv.groups == 1 && conv.dilation == [1, 1] && on_flex_f32(&x))
    else {
        return conv.forward(x);
    };
    let y = <Dispatch as ConvKernels>::conv2d_fast(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        conv.stride,
        padding,
    );
    add_bias(
        Tensor::from_dispatch(y),
        conv.bias.as_ref().map(|b| b.val()),
    )
}

/// `conv.forward(x)` for a transposed convolution, through [`conv`]'s kernels where they apply.
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    if conv.groups != 1 || conv.dilation != [1, 1] || !on_flex_f32(&x) {
        return conv.forward(x);
    }
    let [_, _, height, width] = x.dims();
    let out = |size: usize, axis: usize| {
        (size - 1) * conv.stride[axis] + conv.kernel_size[axis] + conv.padding_out[axis]
            - 2 * conv.padding[axis]
    };
    let y = <Dispatch as ConvKernels>::conv_transpose2d_fast(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        conv.stride,
        conv.padding,
        [out(height, 0), out(width, 1)],
    );
    add_bias(
        Tensor::from_dispatch(y),
        conv.bias.as_ref().map(|b| b.val()),
    )
}

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
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use burn::tensor::{Device, Distribution, Tensor, TensorData, Tolerance};

    use super::*;

    /// The value of `op(input)` and the gradients of `Σ weights · op(input)` with respect to
    /// `input` and to each tensor of `params`.
    fn value_and_grads<const D: usize, const E: usize>(
        input: &Tensor<D>,
        weights: &Tensor<E>,
        params: &[Tensor<4>],
        op: impl Fn(Tensor<D>) -> Tensor<E>,
    ) -> Vec<TensorData> {
        let x = input.clone().detach().require_grad();
        let y = op(x.clone());
        let grads = (y.clone() * weights.clone()).sum().backward();
        let mut out = vec![
            y.into_data(),
            x.grad(&grads).expect("input grad").into_data(),
        ];
        out.extend(
            params
                .iter()
                .map(|p| p.grad(&grads).expect("param grad").into_data()),
        );
        out
    }

    fn assert_all_close(fast: Vec<TensorData>, plain: Vec<TensorData>) {
        assert_eq!(fast.len(), plain.len());
        for (i, (f, p)) in fast.iter().zip(&plain).enumerate() {
            assert_eq!(f.shape(), p.shape(), "output {i}: shapes differ");
            f.assert_approx_eq::<f32>(p, Tolerance::rel_abs(1e-4, 1e-4));
        }
    }

    fn autodiff_device() -> Device {
        let device = Device::flex().autodiff();
        device.seed(7);
        let probe = Tensor::<1>::zeros([1], &device);
        assert!(
            on_flex_f32(&probe),
            "the fast kernels must be the ones under test"
        );
        device
    }

    /// Values and input gradients of `fast` and `plain` on the same random tensor, for a loss
    /// with random weights (so that every element's gradient matters).
    fn compare<const D: usize>(
        shape: [usize; D],
        fast: impl Fn(Tensor<D>) -> Tensor<D>,
        plain: impl Fn(Tensor<D>) -> Tensor<D>,
    ) {
        let device = autodiff_device();
        let input = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let weights = Tensor::<D>::random(shape, Distribution::Uniform(-1.0, 1.0), &device);
        assert_all_close(
            value_and_grads(&input, &weights, &[], fast),
            value_and_grads(&input, &weights, &[], plain),
        );
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

    /// (batch, in, out, size, kernel, stride, padding): the labs' layers and odd shapes
    /// (non-square kernels and images, strides that do not divide, padding wider than a step).
    type Case = (
        usize,
        usize,
        usize,
        [usize; 2],
        [usize; 2],
        [usize; 2],
        [usize; 2],
    );
    const CASES: [Case; 7] = [
        (3, 1, 4, [28, 28], [3, 3], [1, 1], [0, 0]),
        (2, 4, 6, [13, 13], [3, 3], [1, 1], [1, 1]),
        (2, 2, 3, [14, 14], [4, 4], [2, 2], [1, 1]),
        (1, 3, 2, [9, 11], [2, 3], [2, 1], [0, 1]),
        (2, 2, 5, [7, 8], [3, 3], [3, 2], [2, 1]),
        (4, 5, 3, [5, 5], [1, 1], [1, 1], [0, 0]),
        (1, 2, 2, [6, 6], [5, 5], [1, 1], [2, 2]),
    ];

    #[test]
    fn conv2d_matches_burns_values_and_gradients() {
        for (batch, c_in, c_out, [h, w], kernel, stride, [ph, pw]) in CASES {
            let device = autodiff_device();
            let conv = Conv2dConfig::new([c_in, c_out], kernel)
                .with_stride(stride)
                .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
                .init(&device);
            let input =
                Tensor::<4>::random([batch, c_in, h, w], Distribution::Normal(0.0, 1.0), &device);
            let out = conv.forward(input.clone()).dims();
            let weights = Tensor::<4>::random(out, Distribution::Uniform(-1.0, 1.0), &device);
            let params = [conv.weight.val()];
            let fast = value_and_grads(&input, &weights, &params, |x| conv2d(&conv, x));
            let plain = value_and_grads(&input, &weights, &params, |x| conv.forward(x));
            assert_all_close(fast, plain);
            // The bias gradient: Σ of the loss weights over batch and pixels, for both.
            let x = input.clone().detach();
            let grads = (conv2d(&conv, x) * weights.clone()).sum().backward();
            let bias_grad = conv
                .bias
                .as_ref()
                .expect("bias")
                .val()
                .grad(&grads)
                .expect("bias grad");
            bias_grad.into_data().assert_approx_eq::<f32>(
                &weights
                    .clone()
                    .sum_dim(0)
                    .sum_dim(2)
                    .sum_dim(3)
                    .flatten::<1>(0, 3)
                    .into_data(),
                Tolerance::rel_abs(1e-4, 1e-4),
            );
        }
    }

    #[test]
    fn conv_transpose2d_matches_burns_values_and_gradients() {
        for (batch, c_in, c_out, [h, w], kernel, stride, padding) in CASES {
            for padding_out in [[0, 0], [stride[0] - 1, stride[1] - 1]] {
                let device = autodiff_device();
                let conv = ConvTranspose2dConfig::new([c_in, c_out], kernel)
                    .with_stride(stride)
                    .with_padding(padding)
                    .with_padding_out(padding_out)
                    .init(&device);
                let input = Tensor::<4>::random(
                    [batch, c_in, h, w],
                    Distribution::Normal(0.0, 1.0),
                    &device,
                );
                let out = conv.forward(input.clone()).dims();
                let weights = Tensor::<4>::random(out, Distribution::Uniform(-1.0, 1.0), &device);
                let params = [conv.weight.val()];
                let fast =
                    value_and_grads(&input, &weights, &params, |x| conv_transpose2d(&conv, x));
                let plain = value_and_grads(&input, &weights, &params, |x| conv.forward(x));
                assert_all_close(fast, plain);
            }
        }
    }
}
