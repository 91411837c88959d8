//! Error codes. Where DOMAIN.md gives ASR's own code (8038, 8061, 78052, 78093, 95226) that code is used;
//! every other failure has a stable drsim code, derived from its rule ID so it never moves:
//! family base + rule number, with the bases RP 910000, NS 920000, RJ 930000, FB 940000, RG 950000,
//! RA 960000, CL 970000, and 990000 for engine conditions that belong to no rule (timeouts, refusals).

use serde::{Deserialize, Serialize};
use std::fmt;

/// An error code as ASR (or drsim, for conditions ASR gives no number for) reports it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// ASR 8038: the ESXi host has too little memory to power the VM on (FB-05).
    pub const HOST_MEMORY: ErrorCode = ErrorCode(8038);
    /// ASR 8061: the datastore is not reachable read/write from the master target's ESXi host (RP-12).
    pub const DATASTORE_UNREACHABLE: ErrorCode = ErrorCode(8061);
    /// ASR 78052: a VM with the same name exists on the master target's ESXi host (RP-16).
    pub const NAME_COLLISION: ErrorCode = ErrorCode(78052);
    /// ASR 78093: the Azure VM is not running or not reachable (RP-05).
    pub const AZURE_VM_NOT_RUNNING: ErrorCode = ErrorCode(78093);
    /// ASR 95226: no network path from the Azure VM to the configuration server (RP-03).
    pub const NO_PATH_TO_CS: ErrorCode = ErrorCode(95226);

    /// An action's result did not arrive within its timeout, after every retry.
    pub const ACTION_TIMEOUT: ErrorCode = ErrorCode(990_001);
    /// An operation was refused: the item's state does not allow it (INV-STATE).
    pub const STATE_REFUSED: ErrorCode = ErrorCode(990_002);
    /// A command named something the engine does not know (item, plan, MT, PS, datastore, …).
    pub const UNKNOWN_REFERENCE: ErrorCode = ErrorCode(990_003);
    /// The job was cancelled by the user.
    pub const CANCELLED: ErrorCode = ErrorCode(990_004);
    /// Replication made no progress within the stall timeout.
    pub const REPLICATION_STALLED: ErrorCode = ErrorCode(990_005);
    /// A command was malformed (empty plan, duplicate machine, missing per-machine values).
    pub const INVALID_COMMAND: ErrorCode = ErrorCode(990_006);
    /// The item is busy with another job.
    pub const ITEM_BUSY: ErrorCode = ErrorCode(990_007);
    /// The infrastructure reported a failure that belongs to no rule.
    pub const INFRASTRUCTURE: ErrorCode = ErrorCode(990_008);
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
