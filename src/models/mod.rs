//! Network architectures shared by more than one lab (and by the benchmark): defined once here,
//! so that no lab reaches into another.

pub mod dcgan;
