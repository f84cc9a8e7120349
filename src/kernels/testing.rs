//! What the kernels' tests share: each kernel is checked against burn's own operation on the
//! autodiff device over `flex`, its values and the gradients of a loss with random weights (so
//! that every element's gradient matters) with respect to its input and its parameters.

use burn::tensor::{Device, Distribution, Tensor, TensorData, Tolerance};

use super::flex::on_flex_f32;

/// The value of `op(input)` and the gradients of `Σ weights · op(input)` with respect to
/// `input` and to each tensor of `params`.
pub(super) fn value_and_grads<const D: usize, const E: usize>(
    input: &Tensor<D>,
    weights: &Tensor<E>,
    params: &[Tensor<4>],
    op: impl Fn(Tensor<D>) -> Tensor<E>,
) -> Vec<TensorData> {
    value_and_all_grads(input, weights, (params, &[]), op)
}

/// [`value_and_grads`], also with respect to each tensor of `vectors` (biases).
pub(super) fn value_and_all_grads<const D: usize, const E: usize>(
    input: &Tensor<D>,
    weights: &Tensor<E>,
    (params, vectors): (&[Tensor<4>], &[Tensor<1>]),
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
    out.extend(
        vectors
            .iter()
            .map(|p| p.grad(&grads).expect("bias grad").into_data()),
    );
    out
}

pub(super) fn assert_all_close(fast: Vec<TensorData>, plain: Vec<TensorData>) {
    assert_eq!(fast.len(), plain.len());
    for (i, (f, p)) in fast.iter().zip(&plain).enumerate() {
        assert_eq!(f.shape(), p.shape(), "output {i}: shapes differ");
        f.assert_approx_eq::<f32>(p, Tolerance::rel_abs(1e-4, 1e-4));
    }
}

pub(super) fn autodiff_device() -> Device {
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
pub(super) fn compare<const D: usize>(
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

/// `len` values in −1..1, varied and reproducible from `seed` (a small LCG), for the tests that
/// compare two kernels on plain slices.
pub(super) fn varied(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Each value of `fast` within 10⁻⁵ of the largest of `direct` (plus 10⁻⁶) of its own.
pub(super) fn assert_slices_close(fast: &[f32], direct: &[f32], what: &str) {
    assert_eq!(fast.len(), direct.len(), "{what}: lengths");
    let scale = direct.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (f, d)) in fast.iter().zip(direct).enumerate() {
        assert!(
            (f - d).abs() <= 1e-5 * scale + 1e-6,
            "{what}[{i}]: {f} against {d} (largest {scale})"
        );
    }
}
