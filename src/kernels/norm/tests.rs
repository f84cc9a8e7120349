use burn::nn::BatchNorm;
use burn::tensor::{Distribution, Tensor};

use super::{batch_norm, batch_norm_leaky_relu, batch_norm_relu};
use crate::kernels::testing::{assert_all_close, autodiff_device};

#[test]
fn batch_norm_matches_burns_values_gradients_and_running_statistics() {
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    fn check<const D: usize>(shape: [usize; D]) {
        let device = autodiff_device();
        let channels = shape[1];
        let random =
            |low, high| Tensor::<1>::random([channels], Distribution::Uniform(low, high), &device);
        let (gamma, beta) = (random(0.5, 1.5), random(-1.0, 1.0));
        let layer = || {
            let mut layer = BatchNormConfig::new(channels).init(&device);
            layer.gamma = Param::from_tensor(gamma.clone());
            layer.beta = Param::from_tensor(beta.clone());
            layer
        };
        let (fast, plain) = (layer(), layer());
        // an offset and a scale per channel, so that the statistics differ between channels
        let input = Tensor::<D>::random(shape, Distribution::Normal(3.0, 2.0), &device);
        let weights = Tensor::<D>::random(shape, Distribution::Uniform(-1.0, 1.0), &device);
        let run = |layer: &BatchNorm, op: &dyn Fn(Tensor<D>) -> Tensor<D>| {
            let x = input.clone().detach().require_grad();
            let y = op(x.clone());
            let grads = (y.clone() * weights.clone()).sum().backward();
            vec![
                y.into_data(),
                x.grad(&grads).expect("x grad").into_data(),
                layer.gamma.val().grad(&grads).expect("γ grad").into_data(),
                layer.beta.val().grad(&grads).expect("β grad").into_data(),
                layer.running_mean.value_sync().into_data(),
                layer.running_var.value_sync().into_data(),
            ]
        };
        let fast_out = run(&fast, &|x| batch_norm(&fast, x));
        let plain_out = run(&plain, &|x| plain.forward(x));
        assert_all_close(fast_out, plain_out);
        // with the rectifiers inside the kernel, against burn's layer then activation
        use burn::tensor::activation::{leaky_relu, relu};
        let (fast, plain) = (layer(), layer());
        let fast_out = run(&fast, &|x| batch_norm_relu(&fast, x));
        let plain_out = run(&plain, &|x| relu(plain.forward(x)));
        assert_all_close(fast_out, plain_out);
        let (fast, plain) = (layer(), layer());
        let fast_out = run(&fast, &|x| batch_norm_leaky_relu(&fast, x, 0.2));
        let plain_out = run(&plain, &|x| leaky_relu(plain.forward(x), 0.2));
        assert_all_close(fast_out, plain_out);
    }
    check([64, 16, 7, 7]);
    check([3, 5, 4, 6]);
    check([2, 3, 5]);
    check([8, 3]);
}

/// The one-pass statistics against a two-pass computation in f64, on values far from zero (mean
/// 1000, standard deviation 0.5, where the sum of squares less the squared mean would lose every
/// digit in f32), on planes of 49 pixels and of 1.
#[test]
fn the_statistics_in_one_pass_hold_far_from_zero() {
    use super::kernel::{Planes, statistics};
    for (batch, channels, pixels) in [(64, 8, 49), (37, 3, 1)] {
        let p = Planes {
            batch,
            channels,
            pixels,
        };
        let x: Vec<f32> = crate::kernels::testing::varied(batch * channels * pixels, 7)
            .iter()
            .enumerate()
            .map(|(i, v)| 1000.0 + 10.0 * ((i / pixels) % channels) as f32 + 0.5 * v)
            .collect();
        let (mean, variance) = statistics(&p, &x);
        for c in 0..channels {
            let values: Vec<f64> = (0..batch)
                .flat_map(|n| &x[(n * channels + c) * pixels..][..pixels])
                .map(|&v| f64::from(v))
                .collect();
            let m = values.iter().sum::<f64>() / values.len() as f64;
            let v = values.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / values.len() as f64;
            assert!(
                (f64::from(mean[c]) - m).abs() < 1e-4,
                "mean {} against {m}",
                mean[c]
            );
            assert!(
                (f64::from(variance[c]) - v).abs() < 1e-4 * v,
                "variance {} against {v}",
                variance[c]
            );
        }
    }
}
