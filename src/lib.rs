//! `neurons`: every system of the FIDLE lecture "Deep Learning, histoire et principes… De la
//! régression aux GANs", each as a lab that trains on real data and leaves a run directory.
//!
//! - [`data`]: data sets (IDX, embedded MNIST, downloads) and batching;
//! - [`train`]: devices, seeding, the training loop, progress and metrics;
//! - [`report`]: the run directory (config, metrics, summary, weights) and pictures;
//! - [`labs`]: one module per lab of the lecture;
//! - [`kernels`]: faster formulations of operations where the CPU backend is slow;
//! - [`linalg`]: least squares and SVD for the classical labs;
//! - [`models`]: architectures shared by several labs (the DCGAN);
//! - [`bench`]: the benchmark workloads of `neurons bench`;
//! - [`cli`]: the command line;
//! - [`course`]: the whole course at once: `neurons tour` and the HTML report;
//! - [`inpaint`]: `neurons inpaint`, a GAN fills the holes of digits;
//! - [`runtime`]: process-wide settings (the allocator);
//! - [`serve`]: `neurons serve`, a local page to play with trained models.

pub mod bench;
pub mod cli;
pub mod course;
pub mod data;
pub mod error;
pub mod inpaint;
pub mod kernels;
pub mod labs;
pub mod linalg;
pub mod models;
pub mod report;
pub mod runtime;
pub mod serve;
pub mod train;
