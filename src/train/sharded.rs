//! Data parallelism inside one optimizer step: the batch cut into one shard per thread, each
//! shard's forward and backward pass on an autodiff graph of its own, the shards' gradients
//! summed in shard order.
//!
//! With the loss of shard s weighted by its share of the batch, `L = Σ_s (n_s / n)·L_s` is the
//! batch's mean loss and `∇L = Σ_s ∇((n_s / n)·L_s)`: the same step as on the whole batch, up to
//! rounding. It fits losses that do not couple the samples (no batch norm, whose statistics
//! are the whole batch's), and randomness drawn before the shards (each shard's draws would
//! otherwise depend on which thread drew first).
//!
//! Why: on one graph each layer's kernels cut the batch between the threads and join at the end
//! of the layer, some sixty joins a step for the VAE, each costing a wake-up and the slower
//! thread's lead; the shards join once (PyTorch's `DistributedDataParallel` does the same across
//! devices). On the CPU only (see [`shard_count`]).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use rayon::prelude::*;

/// How many shards a batch of `batch` samples on `device` is cut into: on the CPU one per thread,
/// each of at least [`MIN_SHARD`] samples; one (no cut) on a GPU, whose kernels take a whole batch
/// at once. The rounding of a run's figures follows this count, as it already followed the
/// threads' shares inside each kernel: the same seed gives the same figures on the same machine.
pub fn shard_count(batch: usize, device: &Device) -> usize {
    if device.clone().inner() != Device::flex() {
        return 1;
    }
    rayon::current_num_threads().min(batch / MIN_SHARD).max(1)
}

/// Below this many samples per shard each kernel has too little work to fill the vector lanes and
/// tiles it is built for.
pub const MIN_SHARD: usize = 16;

/// `(first, len)` of each of `parts` consecutive shards of `n` samples, as even as can be.
pub fn ranges(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts)
        .map(|p| {
            let first = n * p / parts;
            (first, n * (p + 1) / parts - first)
        })
        .collect()
}

/// The gradients of `Σ_s loss(model, shard_s)`, and the value of each shard's `loss` (weighted
/// as the caller weighted it) with its by-product `T`, in shard order. Each shard runs on its own
/// copy of `model` whose parameters are fresh autodiff leaves with the same parameter ids
/// (`valid().train()`; it drops burn's per-tensor checkpointing strategies, which no model here
/// uses), so the shards' graphs share no node: burn keeps them apart, each behind its own lock
/// (only its registry of graphs is shared, briefly, as each operation is recorded). The shards
/// run on the thread pool; their gradients are summed in shard order, whatever the threads did.
pub fn sharded_gradients<M, S, T>(
    model: &M,
    shards: Vec<S>,
    loss: impl Fn(&M, S) -> (Tensor<1>, T) + Sync,
) -> (GradientsParams, Vec<(f32, T)>)
where
    M: Module,
    S: Send,
    T: Send,
{
    // the copies are made here, on the caller's thread, so that `M` need not be `Sync`
    let copies: Vec<(M, S)> = shards
        .into_iter()
        .map(|shard| (model.valid().train(), shard))
        .collect();
    let parts: Vec<(GradientsParams, f32, T)> = copies
        .into_par_iter()
        .map(|(copy, shard)| {
            let (loss, by_product) = loss(&copy, shard);
            let value = loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &copy);
            (grads, value, by_product)
        })
        .collect();
    let mut total = GradientsParams::new();
    let mut outcomes = Vec::with_capacity(parts.len());
    for (grads, value, by_product) in parts {
        model.visit(&mut AddGradients {
            total: &mut total,
            grads,
        });
        outcomes.push((value, by_product));
    }
    (total, outcomes)
}

/// `total += grads`, parameter by parameter.
struct AddGradients<'a> {
    total: &'a mut GradientsParams,
    grads: GradientsParams,
}

impl ModuleVisitor for AddGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id = param.id;
        let sum = match (self.total.remove::<D>(id), self.grads.remove::<D>(id)) {
            (Some(a), Some(b)) => a + b,
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return,
        };
        self.total.register(id, sum);
    }
}

/// For tests: the largest difference between two sets of gradients of `model`'s parameters,
/// relative to each parameter's largest gradient; a parameter missing from either counts as 1.
#[cfg(test)]
pub fn largest_relative_difference<M: Module>(
    model: &M,
    a: &GradientsParams,
    b: &GradientsParams,
) -> f32 {
    struct Compare<'a> {
        a: &'a GradientsParams,
        b: &'a GradientsParams,
        worst: f32,
        seen: usize,
    }
    impl ModuleVisitor for Compare<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            use crate::train::FloatValues;
            self.seen += 1;
            let (Some(a), Some(b)) = (self.a.get::<D>(param.id), self.b.get::<D>(param.id)) else {
                self.worst = self.worst.max(1.0);
                return;
            };
            let (a, b) = (a.floats(), b.floats());
            let scale = a.iter().fold(f32::MIN_POSITIVE, |m, v| m.max(v.abs()));
            for (x, y) in a.iter().zip(&b) {
                self.worst = self.worst.max((x - y).abs() / scale);
            }
        }
    }
    let mut compare = Compare {
        a,
        b,
        worst: 0.0,
        seen: 0,
    };
    model.visit(&mut compare);
    assert!(compare.seen > 0, "a model without parameters");
    compare.worst
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig, Relu};
    use burn::tensor::Distribution;

    use super::*;
    use crate::train::FloatValues;

    #[derive(Module, Debug)]
    struct TwoLayers {
        hidden: Linear,
        out: Linear,
        relu: Relu,
    }

    impl TwoLayers {
        /// The squared error of each sample against `y`, summed over its outputs: `[batch]`.
        fn errors(&self, x: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
            let prediction = self.out.forward(self.relu.forward(self.hidden.forward(x)));
            (prediction - y).powi_scalar(2).sum_dim(1).squeeze_dim(1)
        }
    }

    #[test]
    fn ranges_cut_the_batch_in_order_and_evenly() {
        assert_eq!(ranges(10, 3), vec![(0, 3), (3, 3), (6, 4)]);
        assert_eq!(ranges(64, 2), vec![(0, 32), (32, 32)]);
        assert_eq!(ranges(5, 8), vec![(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]);
        assert_eq!(ranges(7, 1), vec![(0, 7)]);
    }

    #[test]
    fn a_shard_is_never_smaller_than_the_kernels_want() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let cpu = Device::flex();
        pool.install(|| {
            assert_eq!(shard_count(64, &cpu), 4);
            assert_eq!(shard_count(40, &cpu), 2);
            assert_eq!(shard_count(31, &cpu), 1);
            assert_eq!(shard_count(64, &cpu.clone().autodiff()), 4);
        });
    }

    /// Three uneven shards (3, 3 and 4 samples), each loss weighted by its share: the same loss
    /// and the same gradients as the whole batch's mean loss.
    #[test]
    fn shards_give_the_whole_batch_gradients() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let model = TwoLayers {
            hidden: LinearConfig::new(5, 8).init(&device),
            out: LinearConfig::new(8, 2).init(&device),
            relu: Relu::new(),
        };
        let x = Tensor::<2>::random([10, 5], Distribution::Normal(0.0, 1.0), &device);
        let y = Tensor::<2>::random([10, 2], Distribution::Normal(0.0, 1.0), &device);

        let whole = model.errors(x.clone(), y.clone()).mean();
        let whole_value = whole.clone().into_scalar::<f32>();
        let whole_grads = GradientsParams::from_grads(whole.backward(), &model);

        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (sharded_grads, values) = pool.install(|| {
            sharded_gradients(&model, ranges(10, 3), |m, (first, len)| {
                let errors = m.errors(
                    x.clone().narrow(0, first, len),
                    y.clone().narrow(0, first, len),
                );
                (errors.sum() / 10.0, len)
            })
        });
        assert_eq!(
            values.iter().map(|(_, len)| *len).collect::<Vec<usize>>(),
            vec![3, 3, 4]
        );
        let sharded_value: f32 = values.iter().map(|(value, _)| value).sum();
        assert!(
            (sharded_value - whole_value).abs() <= 1e-5 * whole_value.abs(),
            "loss {sharded_value} against {whole_value}"
        );
        let difference = largest_relative_difference(&model, &whole_grads, &sharded_grads);
        assert!(difference < 1e-5, "gradients apart by {difference}");
        // and not trivially: the gradients are not zero
        let hidden = whole_grads
            .get::<2>(model.hidden.weight.id)
            .unwrap()
            .floats();
        assert!(hidden.iter().any(|g| g.abs() > 1e-3));
    }
}
