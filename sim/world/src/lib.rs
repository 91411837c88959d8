//! drsim-world
