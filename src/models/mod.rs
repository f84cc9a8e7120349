//! The networks of the labs, each defined once: the labs train them, `neurons bench` times the
//! very same constructors. A file here is an architecture (and, for the VAE, its loss); training
//! and pictures live elsewhere.

pub mod autoencoder;
pub mod bag_of_words;
pub mod cnn;
pub mod dcgan;
pub mod forecaster;
pub mod gcn;
pub mod mlp;
pub mod pix2pix;
pub mod sentiment;
pub mod sequence;
pub mod spectral_norm;
pub mod super_resolution;
pub mod transformer;
pub mod vae;
