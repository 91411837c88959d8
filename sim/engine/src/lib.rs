//! drsim-engine: the sans-IO reprotect/failback orchestrator.
pub mod time;
pub use time::Millis;
