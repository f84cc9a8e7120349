//! One matrix product through the `gemm` crate, on one thread (the kernels share the work out
//! themselves), with every matrix given by a slice and its row and column strides.

/// A destination matrix: its values and its `(row, column)` strides.
pub struct Strided<'a> {
    values: &'a mut [f32],
    strides: (usize, usize),
}

impl<'a> Strided<'a> {
    pub fn new(values: &'a mut [f32], strides: (usize, usize)) -> Self {
        Self { values, strides }
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
    assert!(dst.values.len() >= extent((m, n), dst.strides));
    assert!(lhs.len() >= extent((m, k), (lhs_rs, lhs_cs)));
    assert!(rhs.len() >= extent((k, n), (rhs_rs, rhs_cs)));
    // SAFETY: the asserts above keep every index gemm reads or writes inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.values.as_mut_ptr(),
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
