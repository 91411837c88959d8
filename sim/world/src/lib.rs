//! drsim-world: a deterministic discrete-event model of the infrastructure that reprotect and failback
//! run on (ARCHITECTURE.md "The world").
pub mod churn;
pub mod estate;
pub mod faults;
pub mod fluid;
pub mod kernel;
pub mod network;
pub mod rng;
pub mod sample;
pub mod world;

pub use world::{Happening, World, WorldError, WorldSpec};
