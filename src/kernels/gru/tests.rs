use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor, TensorData, Tolerance};

use super::gru;
use crate::kernels::testing::{assert_all_close, autodiff_device};

#[test]
fn gru_matches_burns_values_and_gradients() {
    use burn::nn::gru::GruConfig;
    // (batch, steps, input, hidden): the benchmark's shape, rows that do not split evenly
    // between threads, one step, a wider input, large inputs that saturate the gates
    let cases = [
        (32, 20, 2, 200, 1.0),
        (3, 5, 4, 7, 1.0),
        (1, 1, 3, 5, 1.0),
        (5, 9, 11, 16, 6.0),
    ];
    for (batch, steps, input, hidden, scale) in cases {
        let device = autodiff_device();
        let layer = GruConfig::new(input, hidden, true).init(&device);
        let x = Tensor::<3>::random(
            [batch, steps, input],
            Distribution::Normal(0.0, scale),
            &device,
        );
        let weights = Tensor::<3>::random(
            [batch, steps, hidden],
            Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let run = |op: &dyn Fn(Tensor<3>) -> Tensor<3>| {
            let x = x.clone().detach().require_grad();
            let y = op(x.clone());
            let grads = (y.clone() * weights.clone()).sum().backward();
            let mut out = vec![y.into_data(), x.grad(&grads).expect("x grad").into_data()];
            struct Collect<'a>(&'a burn::tensor::Gradients, Vec<TensorData>);
            impl burn::module::ModuleVisitor for Collect<'_> {
                fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                    let grad = param.val().grad(self.0).expect("every parameter's grad");
                    self.1.push(grad.into_data());
                }
            }
            let mut collect = Collect(&grads, Vec::new());
            layer.visit(&mut collect);
            assert_eq!(collect.1.len(), 12, "6 weights and 6 biases");
            out.extend(collect.1);
            out
        };
        assert_all_close(run(&|x| gru(&layer, x)), run(&|x| layer.forward(x, None)));
    }
}

#[test]
fn gru_falls_back_to_burn_where_its_kernel_does_not_apply() {
    use burn::nn::gru::GruConfig;
    let device = Device::flex();
    let x = Tensor::<3>::random([2, 4, 3], Distribution::Normal(0.0, 1.0), &device);
    for config in [
        GruConfig::new(3, 6, false),
        GruConfig::new(3, 6, true).with_reset_after(false),
        GruConfig::new(3, 6, true).with_clip(Some(0.1)),
    ] {
        let layer = config.init(&device);
        gru(&layer, x.clone()).into_data().assert_approx_eq::<f32>(
            &layer.forward(x.clone(), None).into_data(),
            Tolerance::rel_abs(1e-6, 1e-6),
        );
    }
}

#[test]
fn gru_without_tracking_gives_the_tracked_values() {
    use burn::nn::gru::GruConfig;
    // the benchmark's shape, and rows that do not split evenly between threads
    for (batch, steps, input, hidden) in [(32, 20, 2, 200), (3, 5, 4, 7)] {
        let device = autodiff_device();
        let layer = GruConfig::new(input, hidden, true).init(&device);
        let x = Tensor::<3>::random(
            [batch, steps, input],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let values = |y: Tensor<3>| y.into_data().try_into_vec::<f32>().expect("f32 values");
        // tracked: the parameters require gradients, so the backward state is kept
        let tracked = values(gru(&layer, x.clone()));
        // on the autodiff device with nothing tracked
        let untracked = values(gru(&layer.clone().no_grad(), x.clone()));
        // inference as `predict` and validation run it: the inner backend, no autodiff
        let inference = values(gru(&layer.valid(), x.clone().inner()));
        assert_eq!(untracked, tracked);
        assert_eq!(inference, tracked);
        TensorData::new(tracked, [batch, steps, hidden]).assert_approx_eq::<f32>(
            &layer.forward(x, None).into_data(),
            Tolerance::rel_abs(1e-4, 1e-4),
        );
    }
}
