//! One matrix product through the `gemm` crate, on one thread (the kernels share the work out
//! themselves), with every matrix given by a slice and its row and column strides; and how a
//! kernel shares out a sum of products (a weight gradient) between the threads.

use std::marker::PhantomData;
use std::mem::MaybeUninit;

/// A destination matrix: where its values go, how many there are room for, and its `(row,
/// column)` strides.
pub struct Strided<'a> {
    values: *mut f32,
    len: usize,
    /// Whether the values may be uninitialized: then the product must overwrite them.
    uninit: bool,
    strides: (usize, usize),
    _borrow: PhantomData<&'a mut [f32]>,
}

impl<'a> Strided<'a> {
    pub fn new(values: &'a mut [f32], strides: (usize, usize)) -> Self {
        Self {
            values: values.as_mut_ptr(),
            len: values.len(),
            uninit: false,
            strides,
            _borrow: PhantomData,
        }
    }

    /// Memory not yet written, which the product (without `accumulate`) fills: this spares
    /// clearing an output buffer that is overwritten anyway.
    pub fn uninit(values: &'a mut [MaybeUninit<f32>], strides: (usize, usize)) -> Self {
        Self {
            values: values.as_mut_ptr().cast(),
            len: values.len(),
            uninit: true,
            strides,
            _borrow: PhantomData,
        }
    }
}

/// The last index a `rows × cols` matrix with `(rs, cs)` strides touches, plus one.
fn extent((rows, cols): (usize, usize), (rs, cs): (usize, usize)) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`; `accumulate` adds to what `dst` holds, else overwrites it.
pub fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: Strided,
    accumulate: bool,
    (lhs, (lhs_rs, lhs_cs)): (&[f32], (usize, usize)),
    (rhs, (rhs_rs, rhs_cs)): (&[f32], (usize, usize)),
) {
    let (dst_rs, dst_cs) = dst.strides;
    assert!(dst.len >= extent((m, n), dst.strides));
    // gemm reads the destination only to accumulate onto it
    assert!(
        !(dst.uninit && accumulate),
        "accumulating onto uninitialized memory"
    );
    assert!(lhs.len() >= extent((m, k), (lhs_rs, lhs_cs)));
    assert!(rhs.len() >= extent((k, n), (rhs_rs, rhs_cs)));
    // SAFETY: the asserts above keep every index gemm reads or writes inside the slices, and
    // without `accumulate` gemm writes the destination without reading it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.values,
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Items (samples, blocks of rows) per thread when each thread sums its own share of a gradient.
pub fn share_of(items: usize) -> usize {
    let shares = rayon::current_num_threads().clamp(1, items.max(1));
    items.div_ceil(shares).max(1)
}

/// The sum of the threads' partial gradients, in their order.
pub fn sum(partial: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut total = vec![0.0; len];
    for part in partial {
        total.iter_mut().zip(part).for_each(|(t, d)| *t += d);
    }
    total
}
