use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
use burn::tensor::{Distribution, Tensor, Tolerance};

use super::{
    conv_transpose2d, conv_transpose2d_leaky_relu, conv_transpose2d_relu, conv2d,
    conv2d_leaky_relu, conv2d_relu, conv2d_relu_max_pool2d,
};
use crate::kernels::testing::{
    assert_all_close, autodiff_device, value_and_all_grads, value_and_grads,
};

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
const CASES: [Case; 31] = [
    (3, 1, 4, [28, 28], [3, 3], [1, 1], [0, 0]),
    // 49 output pixels: products over groups of 4 images, then a group of 2
    (6, 3, 4, [7, 7], [3, 3], [1, 1], [1, 1]),
    (2, 4, 6, [13, 13], [3, 3], [1, 1], [1, 1]),
    (2, 2, 3, [14, 14], [4, 4], [2, 2], [1, 1]),
    (1, 3, 2, [9, 11], [2, 3], [2, 1], [0, 1]),
    (2, 2, 5, [7, 8], [3, 3], [3, 2], [2, 1]),
    (2, 3, 2, [9, 7], [3, 3], [2, 2], [1, 1]),
    (4, 5, 3, [5, 5], [1, 1], [1, 1], [0, 0]),
    (1, 2, 2, [6, 6], [5, 5], [1, 1], [2, 2]),
    // fewer output channels than input ones at stride 1: the products through the mirror
    // (one output channel; one for eight inputs with a non-square kernel and padding; fewer
    // outputs without padding; as many outputs as inputs, the direct way)
    (2, 8, 1, [9, 9], [3, 3], [1, 1], [1, 1]),
    (2, 16, 2, [6, 7], [3, 2], [1, 1], [1, 0]),
    (3, 6, 4, [5, 5], [3, 3], [1, 1], [0, 0]),
    (2, 5, 5, [7, 7], [3, 3], [1, 1], [1, 1]),
    // kernel 4, stride 2, padding 1 with channels by 16: the phase Winograd products, both
    // as convolutions and transposed (a 3×3 output: one tile reaching past its edges)
    (2, 16, 16, [6, 6], [4, 4], [2, 2], [1, 1]),
    (1, 32, 16, [4, 6], [4, 4], [2, 2], [1, 1]),
    // kernel 3, stride 1 with channels by 16: F(3×3, 3×3) (its mirror for the second's input
    // gradient, an 8×7 output, through F(4×4, 3×3)), padded and not; F(4×4, 3×3) on 7×7
    (2, 16, 16, [5, 6], [3, 3], [1, 1], [1, 1]),
    (1, 16, 32, [8, 7], [3, 3], [1, 1], [0, 0]),
    (2, 16, 16, [7, 7], [3, 3], [1, 1], [1, 1]),
    // strided with output channels by 16 and 64 taps or more: the implicit products (10 images:
    // a group of 8 and one of 2; 80 outputs: vectors of lanes by fours, then one; a stride
    // above the kernel: input pixels no tap reads; padding as wide as the stride)
    (10, 16, 16, [9, 9], [3, 3], [2, 2], [1, 1]),
    (2, 8, 32, [11, 10], [3, 3], [2, 3], [1, 0]),
    (1, 16, 80, [7, 7], [3, 3], [2, 2], [1, 1]),
    (1, 32, 16, [8, 8], [2, 2], [3, 3], [0, 0]),
    (2, 16, 16, [7, 7], [3, 3], [2, 2], [2, 2]),
    // 3×3 stride 1 from a single channel: the single-channel kernels, directly (the VAE's first
    // layer, and its last transposed one's mirror) and through the mirror (one output channel);
    // an image narrower than a run (masked at both edges), with a bias (even cases) and 5 outputs;
    // 11 outputs (eight at a time, then one), 37 output columns (runs of 16, 16 and 5) with
    // padding 2; padding on one axis only. From a single channel at stride 2 (the GAN
    // discriminator's first layer, 4×4; 3×3; odd sizes), which they leave to im2col and `gemm`
    (2, 1, 32, [28, 28], [3, 3], [1, 1], [1, 1]),
    (2, 1, 5, [6, 7], [3, 3], [1, 1], [1, 2]),
    (2, 32, 1, [28, 28], [3, 3], [1, 1], [1, 1]),
    (3, 1, 11, [13, 35], [3, 3], [1, 1], [2, 2]),
    (2, 11, 1, [9, 20], [3, 3], [1, 1], [0, 2]),
    (2, 1, 16, [28, 28], [4, 4], [2, 2], [1, 1]),
    (2, 1, 5, [10, 9], [3, 3], [2, 2], [1, 1]),
    (3, 9, 1, [9, 11], [4, 4], [2, 2], [0, 1]),
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
        // a frozen layer (no weight gradient, so no cols kept): the input gradient alone
        let frozen = conv.clone().no_grad();
        assert_all_close(
            value_and_grads(&input, &weights, &[], |x| conv2d(&frozen, x)),
            value_and_grads(&input, &weights, &[], |x| frozen.forward(x)),
        );
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
            let input =
                Tensor::<4>::random([batch, c_in, h, w], Distribution::Normal(0.0, 1.0), &device);
            let out = conv.forward(input.clone()).dims();
            let weights = Tensor::<4>::random(out, Distribution::Uniform(-1.0, 1.0), &device);
            let params = [conv.weight.val()];
            let fast = value_and_grads(&input, &weights, &params, |x| conv_transpose2d(&conv, x));
            let plain = value_and_grads(&input, &weights, &params, |x| conv.forward(x));
            assert_all_close(fast, plain);
            let frozen = conv.clone().no_grad();
            assert_all_close(
                value_and_grads(&input, &weights, &[], |x| conv_transpose2d(&frozen, x)),
                value_and_grads(&input, &weights, &[], |x| frozen.forward(x)),
            );
        }
    }
}

#[test]
fn rectified_convolutions_match_burns_values_and_gradients() {
    use burn::tensor::activation::relu;
    for (n, (batch, c_in, c_out, [h, w], kernel, stride, [ph, pw])) in CASES.into_iter().enumerate()
    {
        let device = autodiff_device();
        // every other case without a bias: the kernels then add zeros
        let biased = n % 2 == 0;
        let input =
            Tensor::<4>::random([batch, c_in, h, w], Distribution::Normal(0.0, 1.0), &device);
        let conv = Conv2dConfig::new([c_in, c_out], kernel)
            .with_stride(stride)
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
            .with_bias(biased)
            .init(&device);
        let (weight, bias) = (conv.weight.val(), conv.bias.as_ref().map(|b| b.val()));
        let params = || (std::slice::from_ref(&weight), bias.as_slice());
        let out = conv.forward(input.clone()).dims();
        let weights = Tensor::<4>::random(out, Distribution::Uniform(-1.0, 1.0), &device);
        assert_all_close(
            value_and_all_grads(&input, &weights, params(), |x| conv2d_relu(&conv, x)),
            value_and_all_grads(&input, &weights, params(), |x| relu(conv.forward(x))),
        );
        assert_all_close(
            value_and_all_grads(&input, &weights, params(), |x| {
                conv2d_leaky_relu(&conv, x, 0.2)
            }),
            value_and_all_grads(&input, &weights, params(), |x| {
                burn::tensor::activation::leaky_relu(conv.forward(x), 0.2)
            }),
        );
        let transposed = ConvTranspose2dConfig::new([c_in, c_out], kernel)
            .with_stride(stride)
            .with_padding([ph, pw])
            .with_bias(biased)
            .init(&device);
        let weight = transposed.weight.val();
        let bias = transposed.bias.as_ref().map(|b| b.val());
        let params = || (std::slice::from_ref(&weight), bias.as_slice());
        let out = transposed.forward(input.clone()).dims();
        let weights = Tensor::<4>::random(out, Distribution::Uniform(-1.0, 1.0), &device);
        assert_all_close(
            value_and_all_grads(&input, &weights, params(), |x| {
                conv_transpose2d_relu(&transposed, x)
            }),
            value_and_all_grads(&input, &weights, params(), |x| relu(transposed.forward(x))),
        );
        assert_all_close(
            value_and_all_grads(&input, &weights, params(), |x| {
                conv_transpose2d_leaky_relu(&transposed, x, 0.2)
            }),
            value_and_all_grads(&input, &weights, params(), |x| {
                burn::tensor::activation::leaky_relu(transposed.forward(x), 0.2)
            }),
        );
    }
}

#[test]
fn conv_relu_max_pool_matches_burns_in_inference_and_under_autodiff() {
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::Device;
    use burn::tensor::activation::relu;
    // (window, stride) of the pooling: the labs' 2×2, overlapping windows, a stride that leaves
    // a remainder, and a window larger than some cases' output (then burn's path, for both)
    let pools = [
        ([2, 2], [2, 2]),
        ([3, 3], [2, 2]),
        ([2, 3], [3, 1]),
        ([9, 9], [1, 1]),
    ];
    for (n, (batch, c_in, c_out, [h, w], kernel, stride, [ph, pw])) in CASES.into_iter().enumerate()
    {
        let (window, step) = pools[n % pools.len()];
        let pool = MaxPool2dConfig::new(window).with_strides(step).init();
        let config = Conv2dConfig::new([c_in, c_out], kernel)
            .with_stride(stride)
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
            .with_bias(n % 2 == 0);
        // inference: the fused pass on plain flex tensors
        let device = Device::flex();
        device.seed(7);
        let conv = config.init(&device);
        let x = Tensor::<4>::random([batch, c_in, h, w], Distribution::Normal(0.0, 1.0), &device);
        conv2d_relu_max_pool2d(&conv, &pool, x.clone())
            .into_data()
            .assert_approx_eq::<f32>(
                &pool.forward(relu(conv.forward(x))).into_data(),
                Tolerance::rel_abs(1e-4, 1e-4),
            );
        // training: the two kernels in turn, with their gradients
        let device = autodiff_device();
        let conv = config.init(&device);
        let input =
            Tensor::<4>::random([batch, c_in, h, w], Distribution::Normal(0.0, 1.0), &device);
        let (weight, bias) = (conv.weight.val(), conv.bias.as_ref().map(|b| b.val()));
        let params = || (std::slice::from_ref(&weight), bias.as_slice());
        let out = pool.forward(conv.forward(input.clone())).dims();
        let weights = Tensor::<4>::random(out, Distribution::Uniform(-1.0, 1.0), &device);
        assert_all_close(
            value_and_all_grads(&input, &weights, params(), |x| {
                conv2d_relu_max_pool2d(&conv, &pool, x)
            }),
            value_and_all_grads(&input, &weights, params(), |x| {
                pool.forward(relu(conv.forward(x)))
            }),
        );
    }
}
