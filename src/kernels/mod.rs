//! Faster formulations of operations where burn's `flex` backend is slow, used by the labs and the
//! benchmark alike. Each one is tested against the plain burn operation, values and gradients.
//!
//! The kernels, one module each:
//! - `conv/`: 2-D convolutions and transposed convolutions (groups 1, dilation 1) as im2col and
//!   matrix products, the bias and a rectifier inside ([`conv2d`], [`conv2d_relu`],
//!   [`conv2d_leaky_relu`], [`conv_transpose2d`], [`conv_transpose2d_relu`],
//!   [`conv_transpose2d_leaky_relu`]);
//! - `pool.rs`: 2-D max pooling without padding or dilation ([`max_pool2d`]);
//! - `norm/`: batch normalization in training mode, by the batch's own statistics, a rectifier
//!   inside ([`batch_norm`], [`batch_norm_relu`], [`batch_norm_leaky_relu`]);
//! - `gru/`: a GRU's recurrence over every step as one operation ([`gru()`]);
//! - `adam.rs`: one Adam step of a parameter in one parallel pass ([`adam_step`], [`AdamStep`]);
//! - `dropout.rs`: dropout whose mask is drawn from one seed per call ([`dropout()`]);
//! - `sparse.rs`: a sparse matrix (CSR) times a dense one, a graph network's message passing
//!   ([`sparse_matmul`]);
//! - `shuffle.rs`: the pixel shuffle of sub-pixel convolutions ([`pixel_shuffle`]);
//! - `rectifier.rs`: the rectifier that ends the convolution and batch-norm kernels, and the
//!   leaky ReLU on its own ([`leaky_relu`]).
//!
//! Beside them: `product.rs`, one matrix product through gemm on slices; `flex.rs`, what every
//! kernel's glue to burn shares (a flex tensor's values, the gradients a backward pass
//! registers); and, for the tests, `testing.rs`, the comparison with burn's own operations.
//!
//! How a kernel is plugged into burn. Its public function (`conv2d`, `gru`, …) checks that the
//! kernel applies (f32 values on the `flex` backend, a layer configuration it covers) and falls
//! back to burn's own operation otherwise. Where it applies, it calls a method of the backend
//! extension trait that the kernel's module declares with `#[backend_extension(Flex, Autodiff)]`
//! (`ConvKernels`, `PoolKernels`, `NormKernels`, `GruKernels`, `AdamKernels`, `SparseKernels`,
//! `ShuffleKernels`) on `Dispatch`
//! tensors, and burn routes the call to one of the trait's two implementations:
//! - for `Flex`, the forward pass: the flex tensors' values as slices, the kernel on them, a new
//!   flex tensor;
//! - for `Autodiff<Flex, C>`, the same forward pass, recorded with the kernel's own `Backward`
//!   (`ConvBackward`, `MaxPool2dBackward`, `BatchNormBackward`, `GruBackward`) when an input is
//!   tracked: the state its backward pass needs is kept (inputs checkpointed, positions of the
//!   maxima, the gates of every step), and the backward pass registers the inputs' gradients.
//!   When nothing is tracked, the forward pass runs alone.
//!
//! A kernel's module holds all of that: the public function, the trait and both implementations,
//! the backward pass, the kernel itself on slices of f32 (in files of their own beside `mod.rs`
//! for the larger ones), and the kernel's tests.

mod activation;
mod adam;
mod conv;
mod dropout;
mod flex;
mod gru;
mod linear;
mod loss;
mod norm;
mod pool;
mod product;
mod rectifier;
mod shuffle;
mod sparse;
#[cfg(test)]
mod testing;

pub use activation::tanh;
pub use adam::{AdamStep, adam_applies, adam_step};
pub use conv::{
    conv_transpose2d, conv_transpose2d_leaky_relu, conv_transpose2d_relu, conv2d,
    conv2d_leaky_relu, conv2d_relu, conv2d_relu_max_pool2d,
};
pub use dropout::{dropout, dropout_matmul};
pub use gru::gru;
pub use linear::linear;
pub use loss::bce_with_logits_per_image;
pub use norm::{batch_norm, batch_norm_leaky_relu, batch_norm_relu};
pub use pool::max_pool2d;
pub use rectifier::leaky_relu;
pub use shuffle::pixel_shuffle;
pub use sparse::{Csr, SparseMatrix, sparse_matmul, sparse_matmul_by_burn};
