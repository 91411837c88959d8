//! drsim: the harness. Scenario files ([`scenario`]) describe an estate, the operator's steps, faults and
//! expectations; the runner ([`runner`]) drives the engine against the world, the invariant checkers of
//! DOMAIN.md §6 ([`invariants`]) watch every step, [`rehearsal`] runs a scenario end to end, [`verdict`]
//! judges it and [`timeline`] prints it; [`cli`] is the `drsim` command line.

pub mod campaign;
pub mod cli;
pub mod fleet;
pub mod fuzz_cli;
pub mod fuzzing;
pub mod import;
pub mod invariants;
pub mod output;
pub mod plan;
pub mod rehearsal;
pub mod report;
pub mod rpo;
pub mod runner;
pub mod scenario;
pub mod timeline;
pub mod trace_log;
pub mod units;
pub mod verdict;

pub use runner::{Runner, TraceEvent};
