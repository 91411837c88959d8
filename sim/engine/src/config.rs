//! Engine configuration: timeouts, retry bounds and policy choices. Every wait has a limit
//! (TigerBeetle style): an action result that never arrives ends the job with a code, it never hangs it.
//! One field is not a setting but a test switch: [`EngineConfig::sabotage`] (issue 5).

use crate::Millis;
use crate::recovery_point::ReplicationPolicy;
use crate::sabotage::Sabotage;
use crate::time::{HOUR_MS, MINUTE_MS};
use serde::{Deserialize, Serialize};

/// Engine settings. `Default` gives ASR-like values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// How long to wait for an action's result before retrying it.
    pub action_timeout_ms: Millis,
    /// How long to wait for a final sync (FB-03 "latest") or a recover action, which move data.
    pub data_action_timeout_ms: Millis,
    /// Attempts per action (first try included) for timeouts and transient errors.
    pub max_action_attempts: u32,
    /// A resync / initial replication that makes no progress for this long fails its job.
    pub sync_stall_timeout_ms: Millis,
    /// How long re-protect to Azure waits for the agent to register after the on-prem VM boots
    /// (RA-03: up to 15 min; a margin on top).
    pub agent_registration_wait_ms: Millis,
    /// RP-18 *varies*: allow failback to an alternate vCenter when it and the MT are discovered.
    pub allow_alternate_vcenter: bool,
    /// The policy reprotect applies (RJ-01: the failback policy, chosen automatically).
    pub failback_policy: ReplicationPolicy,
    /// The policy of forward protection (on-prem → Azure).
    pub forward_policy: ReplicationPolicy,
    /// Maximum disks on one master target, its own plus protected (RP-14).
    pub max_disks_per_master_target: u32,
    /// Maximum VMs per replication group (RG-01).
    pub max_vms_per_group: u32,
    /// Makes the engine commit one known fault on purpose, so a fuzz campaign can prove the invariant
    /// checker guarding against it catches it (issue 5). `None` (the default) in every real run; left out
    /// of serialised configurations when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sabotage: Option<Sabotage>,
}

impl EngineConfig {
    /// Whether this sabotage is on (never, unless a test or a campaign turned it on).
    pub fn sabotaged(&self, s: Sabotage) -> bool {
        self.sabotage == Some(s)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            action_timeout_ms: 30 * MINUTE_MS,
            data_action_timeout_ms: 6 * HOUR_MS,
            max_action_attempts: 3,
            sync_stall_timeout_ms: 12 * HOUR_MS,
            agent_registration_wait_ms: 20 * MINUTE_MS,
            allow_alternate_vcenter: false,
            failback_policy: ReplicationPolicy::FAILBACK,
            forward_policy: ReplicationPolicy::FAILBACK,
            max_disks_per_master_target: 60,
            max_vms_per_group: 16,
            sabotage: None,
        }
    }
}
