//! drsim-engine
