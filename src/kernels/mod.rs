//! Faster formulations of operations where burn's `flex` backend is slow, used by the labs and the
//! benchmark alike. Each one is tested against the plain burn operation, values and gradients.

mod adam;
mod conv;
mod dropout;
mod flex;
mod gru;
mod norm;
mod pool;
mod product;
mod rectifier;
#[cfg(test)]
mod testing;

pub use adam::{AdamStep, adam_applies, adam_step};
pub use conv::{conv_transpose2d, conv_transpose2d_relu, conv2d, conv2d_leaky_relu, conv2d_relu};
pub use dropout::dropout;
pub use gru::gru;
pub use norm::{batch_norm, batch_norm_leaky_relu, batch_norm_relu};
pub use pool::max_pool2d;
pub use rectifier::leaky_relu;
