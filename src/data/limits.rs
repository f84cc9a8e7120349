//! Upper bounds on the sizes read from the command line or a `config.toml`: far above what a lab
//! of the course needs on a CPU, and low enough that a slip (10¹² for 10) is refused in one line
//! rather than aborting the process on an allocation it cannot make.

pub const MAX_EPOCHS: usize = 1_000_000;
pub const MAX_BATCH_SIZE: usize = 65_536;
/// Neurons of a layer, channels, embedding and model widths, a latent space.
pub const MAX_WIDTH: usize = 4096;
/// Layers of a network.
pub const MAX_LAYERS: usize = 16;
/// Words of a sentence read.
pub const MAX_SEQUENCE: usize = 4096;
/// A side of the images a network takes.
pub const MAX_IMAGE_SIDE: usize = 256;
/// Points of a synthetic data set (`--n`).
pub const MAX_POINTS: usize = 10_000_000;
