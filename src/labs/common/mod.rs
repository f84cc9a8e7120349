//! What several labs share and no single lab owns: the run of an image classifier (the
//! `mlp-classifier` and `cnn` labs, and the judge), the judge of generated digits (every
//! generative lab), the run of a DCGAN (`gan`, `cgan`) and the run of a text classifier
//! (`sentiment`, `transformer`). A lab may use these; they know no lab.

pub mod classifier;
pub mod dcgan;
pub mod image_to_image;
pub mod judge;
pub mod serve;
pub mod text;
