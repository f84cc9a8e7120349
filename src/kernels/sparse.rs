//! The product of a sparse matrix (compressed sparse rows) by a dense one, Y = A·X, and its
//! backward pass ∂L/∂X = Aᵀ·∂L/∂Y: a graph network's message passing, in memory and time
//! proportional to the stored entries, never to rows × columns.
//!
//! Why by hand: burn 0.22 has no sparse tensor. Its operations can do the product (gather the
//! rows of X named by the column indices, scale them, add them into their rows with
//! `select_assign`: [`sparse_matmul_by_burn`], the fallback off the CPU backend), but they write
//! an `[entries, columns]` tensor on the way; the kernel reads each stored entry once and adds
//! its scaled row of X in place, rows of Y shared out between threads.
//!
//! Plugged into burn as [`SparseKernels`]: the product on flex tensors, and under autodiff
//! [`SparseMatmulBackward`], which keeps the matrix (shared, not copied).

use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use rayon::prelude::*;

use super::flex::{flex_tensor, on_flex_f32, values};

/// A sparse `rows × columns` matrix in compressed sparse rows: the entries of row `r` are
/// `values[indptr[r]..indptr[r + 1]]`, in the columns `indices[…]` (increasing).
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    pub rows: usize,
    pub columns: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl Csr {
    /// The matrix with the entries `(row, column, value)` (repeated positions added up).
    pub fn from_entries(rows: usize, columns: usize, mut entries: Vec<(u32, u32, f32)>) -> Self {
        entries.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0usize; rows + 1];
        let mut indices: Vec<u32> = Vec::with_capacity(entries.len());
        let mut values: Vec<f32> = Vec::with_capacity(entries.len());
        let mut last = None;
        for (r, c, v) in entries {
            assert!(
                (r as usize) < rows && (c as usize) < columns,
                "entry ({r}, {c}) outside {rows} × {columns}"
            );
            if last == Some((r, c)) {
                *values.last_mut().expect("an entry before") += v;
                continue;
            }
            last = Some((r, c));
            indptr[r as usize + 1] += 1;
            indices.push(c);
            values.push(v);
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        Self {
            rows,
            columns,
            indptr,
            indices,
            values,
        }
    }

    pub fn entries(&self) -> usize {
        self.values.len()
    }

    pub fn transpose(&self) -> Self {
        let entries = (0..self.rows)
            .flat_map(|r| {
                (self.indptr[r]..self.indptr[r + 1])
                    .map(move |k| (self.indices[k], r as u32, self.values[k]))
            })
            .collect();
        Self::from_entries(self.columns, self.rows, entries)
    }

    /// The matrix as a dense row-major `rows × columns` array (for tests on small matrices).
    pub fn to_dense(&self) -> Vec<f32> {
        let mut dense = vec![0.0; self.rows * self.columns];
        for r in 0..self.rows {
            for k in self.indptr[r]..self.indptr[r + 1] {
                dense[r * self.columns + self.indices[k] as usize] += self.values[k];
            }
        }
        dense
    }

    /// `self · x` for `x` row-major `[columns, width]`: row r of the result is the sum of the
    /// rows of `x` named in row r, each scaled by its entry. Rows are shared out in blocks.
    pub fn product(&self, x: &[f32], width: usize) -> Vec<f32> {
        assert_eq!(x.len(), self.columns * width, "x must be columns × width");
        let mut y = vec![0f32; self.rows * width];
        if width == 0 {
            return y;
        }
        // about 64 rows of work per task, fewer for wide rows
        let rows_per_task = (16_384 / width).clamp(1, 256);
        y.par_chunks_mut(rows_per_task * width)
            .enumerate()
            .for_each(|(task, block)| {
                for (i, out) in block.chunks_mut(width).enumerate() {
                    let r = task * rows_per_task + i;
                    for k in self.indptr[r]..self.indptr[r + 1] {
                        let c = self.indices[k] as usize;
                        let a = self.values[k];
                        for (o, &v) in out.iter_mut().zip(&x[c * width..(c + 1) * width]) {
                            *o += a * v;
                        }
                    }
                }
            });
        y
    }
}

/// A sparse matrix ready for products both ways: `A` and `Aᵀ` (the backward pass's).
#[derive(Debug)]
pub struct SparseMatrix {
    pub matrix: Csr,
    /// `Aᵀ`, or `None` when A is symmetric (a GCN's normalized adjacency always is): then `A`
    /// serves both ways, and a second copy is not held (34 MB in `gcn_train_large`).
    transposed: Option<Csr>,
}

impl SparseMatrix {
    pub fn new(matrix: Csr) -> Self {
        let transposed = Some(matrix.transpose()).filter(|t| *t != matrix);
        Self { matrix, transposed }
    }

    /// `Aᵀ`.
    fn transposed(&self) -> &Csr {
        self.transposed.as_ref().unwrap_or(&self.matrix)
    }
}

/// `A · x` for `x` `[A's columns, width]`: through [`SparseKernels`] on the CPU backend, through
/// burn's gather and scatter elsewhere ([`sparse_matmul_by_burn`]).
pub fn sparse_matmul(a: &Arc<SparseMatrix>, x: Tensor<2>) -> Tensor<2> {
    if !on_flex_f32(&x) {
        return sparse_matmul_by_burn(&a.matrix, x);
    }
    Tensor::from_dispatch(<Dispatch as SparseKernels>::sparse_matmul_fast(
        x.into_dispatch(),
        a.clone(),
    ))
}

/// `A · x` with burn's own operations: each entry's row of `x` gathered (`select`), scaled, and
/// added into its row (`select_assign`). Differentiable wherever burn is; it holds an
/// `[entries, width]` tensor.
pub fn sparse_matmul_by_burn(a: &Csr, x: Tensor<2>) -> Tensor<2> {
    let device = x.device();
    let width = x.dims()[1];
    let entries = a.entries();
    let index =
        |values: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(values, [entries]), &device);
    let columns = index(a.indices.iter().map(|&c| c as i64).collect());
    let rows = index(
        (0..a.rows)
            .flat_map(|r| std::iter::repeat_n(r as i64, a.indptr[r + 1] - a.indptr[r]))
            .collect(),
    );
    let scale = Tensor::<2>::from_data(TensorData::new(a.values.clone(), [entries, 1]), &device);
    let messages = x.select(0, columns) * scale;
    Tensor::<2>::zeros([a.rows, width], &device).select_assign(
        0,
        rows,
        messages,
        IndexingUpdateOp::Add,
    )
}

/// The product of a sparse matrix by a dense one, on f32 tensors.
#[backend_extension(Flex, Autodiff)]
pub trait SparseKernels: Backend {
    /// `a · x`, x `[a's columns, width]` → `[a's rows, width]`.
    fn sparse_matmul_fast(x: FloatTensor<Self>, a: Arc<SparseMatrix>) -> FloatTensor<Self>;
}

impl SparseKernels for Flex {
    fn sparse_matmul_fast(x: FlexTensor, a: Arc<SparseMatrix>) -> FlexTensor {
        product_on_flex(&a.matrix, x)
    }
}

impl<C: CheckpointStrategy> SparseKernels for Autodiff<Flex, C> {
    fn sparse_matmul_fast(x: FloatTensor<Self>, a: Arc<SparseMatrix>) -> FloatTensor<Self> {
        match SparseMatmulBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = product_on_flex(&a.matrix, x.into_primitive());
                prep.finish(a, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(product_on_flex(&a.matrix, x.into_primitive())),
        }
    }
}

fn product_on_flex(a: &Csr, x: FlexTensor) -> FlexTensor {
    let (shape, x) = values(x);
    assert_eq!(
        shape[0], a.columns,
        "sparse_matmul: the matrix has {} columns, x {} rows",
        a.columns, shape[0]
    );
    flex_tensor(a.product(x.as_slice(), shape[1]), vec![a.rows, shape[1]])
}

/// Backward of Y = A·X: ∂L/∂X = Aᵀ·∂L/∂Y.
#[derive(Debug)]
struct SparseMatmulBackward;

impl Backward<Flex, 1> for SparseMatmulBackward {
    type State = Arc<SparseMatrix>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let a = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |dy| {
            product_on_flex(a.transposed(), dy)
        });
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor, TensorData, Tolerance};

    use super::*;
    use crate::kernels::testing::autodiff_device;

    /// A 4 × 3 matrix with an empty row and a repeated position.
    fn small() -> Csr {
        Csr::from_entries(
            4,
            3,
            vec![
                (0, 2, 1.5),
                (0, 0, -2.0),
                (2, 1, 0.5),
                (3, 0, 1.0),
                (3, 0, 2.0),
                (3, 2, -1.0),
            ],
        )
    }

    #[test]
    fn entries_are_sorted_repeats_added_and_the_transpose_is_the_dense_transpose() {
        let a = small();
        assert_eq!(a.indptr, [0, 2, 2, 3, 5]);
        assert_eq!(a.indices, [0, 2, 1, 0, 2]);
        assert_eq!(a.values, [-2.0, 1.5, 0.5, 3.0, -1.0]);
        let (dense, t) = (a.to_dense(), a.transpose().to_dense());
        for r in 0..4 {
            for c in 0..3 {
                assert_eq!(dense[r * 3 + c], t[c * 4 + r]);
            }
        }
    }

    #[test]
    fn the_sparse_product_and_its_gradient_match_the_dense_product() {
        let device = autodiff_device();
        // a rectangular matrix, and a symmetric one (held once, serving as its own transpose)
        let symmetric = Csr::from_entries(
            4,
            4,
            vec![
                (0, 1, 0.5),
                (1, 0, 0.5),
                (1, 3, -2.0),
                (3, 1, -2.0),
                (2, 2, 1.5),
            ],
        );
        for (matrix, held_once) in [(small(), false), (symmetric, true)] {
            let [rows, columns] = [matrix.rows, matrix.columns];
            let a = Arc::new(SparseMatrix::new(matrix));
            assert_eq!(a.transposed.is_none(), held_once);
            let dense = Tensor::<2>::from_data(
                TensorData::new(a.matrix.to_dense(), [rows, columns]),
                &device,
            );
            let x = Tensor::<2>::random([columns, 5], Distribution::Normal(0.0, 1.0), &device);
            let weights = Tensor::<2>::random([rows, 5], Distribution::Normal(0.0, 1.0), &device);
            let run = |product: &dyn Fn(Tensor<2>) -> Tensor<2>| {
                let x = x.clone().detach().require_grad();
                let y = product(x.clone());
                let grads = (y.clone() * weights.clone()).sum().backward();
                (y.into_data(), x.grad(&grads).unwrap().into_data())
            };
            let (y_dense, dx_dense) = run(&|x| dense.clone().matmul(x));
            for (y, dx) in [
                run(&|x| sparse_matmul(&a, x)),
                run(&|x| sparse_matmul_by_burn(&a.matrix, x)),
            ] {
                y.assert_approx_eq::<f32>(&y_dense, Tolerance::rel_abs(1e-5, 1e-6));
                dx.assert_approx_eq::<f32>(&dx_dense, Tolerance::rel_abs(1e-5, 1e-6));
            }
        }
    }

    #[test]
    fn a_large_product_shares_rows_between_tasks_correctly() {
        // more rows than one task takes, each row the sum of its neighbours' rows
        let n = 3000;
        let entries = (0..n as u32)
            .flat_map(|r| [(r, r, 1.0), (r, (r + 1) % n as u32, 2.0)])
            .collect();
        let a = Csr::from_entries(n, n, entries);
        let x: Vec<f32> = (0..n * 2).map(|i| i as f32).collect();
        let y = a.product(&x, 2);
        for r in [0, 63, 64, 1999, n - 1] {
            let next = (r + 1) % n;
            assert_eq!(y[r * 2], x[r * 2] + 2.0 * x[next * 2], "row {r}");
            assert_eq!(
                y[r * 2 + 1],
                x[r * 2 + 1] + 2.0 * x[next * 2 + 1],
                "row {r}"
            );
        }
    }
}
