//! `drsim import rvtools` (issue 7): an estate as engineers have it — an RVTools export, the `.xlsx`
//! workbook or its CSV files — turned into a scenario that `drsim check` accepts and `drsim run`
//! rehearses: the vCenter, hosts and datastores from the export, each VM a machine with its disks,
//! firmware (NS-09), `disk.EnableUUID` (RJ-06), snapshots (RP-06) and raw disks (RP-13), the
//! datastores' kinds (RP-13), process servers sized by DOMAIN.md §5 from an assumed churn, master
//! targets per OS with at most 60 disks (RP-07, RP-12, RP-14) and retention drives (RP-15), and the
//! operator's cycle from the chosen start state. What the export shows the rules will refuse is
//! reported as warnings — and the simulation then meets it.
//!
//! - [`table`]: tabs as rows of cells, from a workbook or CSV files;
//! - [`columns`]: header matching (both header styles, units) and cell parsing;
//! - [`rvtools`]: the tabs read into records;
//! - [`estate`]: the records turned into a scenario, with the warnings;
//! - [`sizing`]: DOMAIN.md §5 process servers, master targets, retention drives;
//! - [`cycle`]: the operator's steps;
//! - [`describe`]: the scenario's description, the record of the import;
//! - [`json`]: the scenario written as people write one;
//! - [`cli`]: the subcommand.

pub mod cli;
pub mod columns;
pub mod cycle;
pub mod describe;
pub mod estate;
pub mod json;
pub mod rvtools;
pub mod sizing;
pub mod table;

use crate::scenario::Scenario;
use crate::units::{Bandwidth, Duration};
use drsim_engine::lifecycle::ItemState;
use std::fmt;

/// A problem with an export or with the options: what and where (file, sheet or row, column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// The whole message, e.g. `vinfo.csv:17: column "Provisioned MiB": expected a number, found "abc"`.
    pub message: String,
}

impl ImportError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        ImportError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ImportError {}

/// Something in the export the rehearsal will meet, under the rule of DOMAIN.md §3 it concerns (none
/// for what is about the import itself: a VM left out, a value assumed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where in the export, when one row says it (`vinfo.csv:17`).
    pub at: Option<String>,
    /// The rule, e.g. "NS-09".
    pub rule: Option<&'static str>,
    /// What and what follows.
    pub message: String,
}

impl Warning {
    /// The rule and the message, without the place (for the scenario's description, which names the
    /// export by file name only).
    pub fn brief(&self) -> String {
        match self.rule {
            Some(r) => format!("{r}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = &self.at {
            write!(f, "{at}: ")?;
        }
        f.write_str(&self.brief())
    }
}

/// How much each disk writes, since an export says nothing of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChurnAssumption {
    /// This share of the disk's used size a day, in parts per million (`--churn 2%`).
    DailyShare {
        /// Parts per million of the used size per day.
        ppm: u64,
    },
    /// This rate on every disk (`--churn-rate 50KB/s`).
    Rate(Bandwidth),
}

/// The default churn: 2 % of each disk's used size a day.
pub const DEFAULT_CHURN: ChurnAssumption = ChurnAssumption::DailyShare { ppm: 20_000 };

/// Whether to script the operator's cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StepsChoice {
    /// Each machine's cycle from its start state to re-protection to Azure.
    Cycle,
    /// No steps: the estate only.
    None,
}

/// What the export does not say.
#[derive(Clone, Debug)]
pub struct Options {
    /// The scenario's name.
    pub name: String,
    /// Its seed.
    pub seed: u64,
    /// How long to simulate; `None`: long enough for the cycle and 12 hours after.
    pub duration: Option<Duration>,
    /// Where every machine starts (a resting state of DOMAIN.md §2).
    pub state: ItemState,
    /// The churn assumption.
    pub churn: ChurnAssumption,
    /// The operator's steps.
    pub steps: StepsChoice,
    /// The Azure ↔ on-prem bandwidth; `None`: the format's default (1 Gbps).
    pub bandwidth: Option<Bandwidth>,
    /// From reprotect to failback; `None`: estimated from the resync.
    pub failback_after: Option<Duration>,
    /// The vCenter of rows that do not name theirs (no `VI SDK Server` column).
    pub vcenter: String,
    /// Leave out VMs that are powered off in the export.
    pub skip_powered_off: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: "rvtools-import".into(),
            seed: 1,
            duration: None,
            state: ItemState::ProtectedToAzure,
            churn: DEFAULT_CHURN,
            steps: StepsChoice::Cycle,
            bandwidth: None,
            failback_after: None,
            vcenter: "vcenter".into(),
            skip_powered_off: false,
        }
    }
}

/// How many VMs were left out, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Templates.
    pub templates: usize,
    /// SRM placeholders.
    pub placeholders: usize,
    /// Powered off (with `--skip-powered-off`).
    pub powered_off: usize,
    /// For another reason (each has a warning): no OS ASR protects, no host, no disks, a duplicate.
    pub other: usize,
}

/// An imported scenario and what was found on the way.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The scenario.
    pub scenario: Scenario,
    /// The warnings, in the order found (also in the scenario's description).
    pub warnings: Vec<Warning>,
    /// VMs left out.
    pub skipped: Skipped,
}

/// Reads an export and builds its scenario.
pub fn import_rvtools(source: &rvtools::Source, opts: &Options) -> Result<Imported, ImportError> {
    let export = rvtools::read(source)?;
    estate::build(&export, opts, &source.describe())
}
