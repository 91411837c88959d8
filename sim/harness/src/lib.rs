//! drsim: the harness. It runs the engine against the world ([`runner`]) and checks the invariants of
//! DOMAIN.md §6 after every step ([`invariants`]). Scenario files, the CLI, campaigns and reports build on
//! this (issues 4–7).

pub mod invariants;
pub mod runner;
pub mod units;

pub use runner::{Runner, TraceEvent};
