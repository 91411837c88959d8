//! drsim-engine: the reprotect/failback orchestrator of drsim, sans-IO.
//!
//! It takes VMware machines that Azure Site Recovery failed over to Azure back home: reprotect (Azure →
//! on-premises replication through a process server in Azure and a master target on-premises), failback
//! (Azure VM off, on-premises VM on from a recovery point, commit) and re-protect to Azure. It knows every
//! rule of `DOMAIN.md` §3 ([`rules::RULES`]), runs them as readiness checks ([`readiness`]) and as job
//! behaviour ([`Engine`]), and fails the way ASR fails: with the rule ID and code, at the step where it
//! happens.
//!
//! The engine never reads a clock, a random number generator, a file or the network: time comes in with
//! every call, facts come in as [`protocol::Observation`]s, and everything it wants done goes out as
//! [`protocol::Output`]s, so a different driver could run it against real vCenter and Azure.
//!
//! ```
//! use drsim_engine::{Engine, EngineConfig};
//! let mut engine = Engine::new(EngineConfig::default(), Vec::new()).unwrap();
//! engine.handle_timeout(0);
//! assert!(engine.poll_output().is_none());
//! ```

pub mod config;
mod engine;
pub mod error_code;
pub mod ids;
pub mod indexed;
pub mod inventory;
pub mod item;
pub mod job;
pub mod lifecycle;
pub mod name_map;
pub mod protocol;
pub mod readiness;
pub mod recovery_point;
pub mod rules;
pub mod sabotage;
pub mod time;

#[cfg(test)]
pub(crate) mod testkit;

pub use config::EngineConfig;
pub use engine::{Engine, EngineError};
pub use error_code::ErrorCode;
pub use sabotage::Sabotage;
pub use time::Millis;
