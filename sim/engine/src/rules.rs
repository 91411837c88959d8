//! The rule catalogue of DOMAIN.md §3, as data. Every rule ID is an enum variant; [`RULES`] lists each with
//! its title, where it is enforced (readiness checks at which phases, engine behaviour, or world behaviour),
//! its error code and the fix an operator applies. Tests and docs iterate this list, and
//! `grep RP-07` finds the rule, its check, its scenario and its test.

use crate::error_code::ErrorCode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! rule_ids {
    ($($variant:ident = $text:literal),* $(,)?) => {
        /// A rule ID of DOMAIN.md §3 (RP-01 … CL-06). Serialises as its text, e.g. `"RP-06"`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId { $(#[doc = $text] $variant),* }

        impl RuleId {
            /// Every rule ID, in catalogue order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant),*];

            /// The ID as DOMAIN.md writes it, e.g. `"RP-06"`.
            pub fn as_str(self) -> &'static str {
                match self { $(RuleId::$variant => $text),* }
            }
        }

        impl FromStr for RuleId {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(RuleId::$variant),)*
                    other => Err(format!("unknown rule ID `{other}` (expected one like RP-06, NS-09, FB-02)")),
                }
            }
        }
    };
}

rule_ids! {
    Rp01 = "RP-01", Rp02 = "RP-02", Rp03 = "RP-03", Rp04 = "RP-04", Rp05 = "RP-05",
    Rp06 = "RP-06", Rp07 = "RP-07", Rp08 = "RP-08", Rp09 = "RP-09", Rp10 = "RP-10",
    Rp11 = "RP-11", Rp12 = "RP-12", Rp13 = "RP-13", Rp14 = "RP-14", Rp15 = "RP-15",
    Rp16 = "RP-16", Rp17 = "RP-17", Rp18 = "RP-18", Rp19 = "RP-19", Rp20 = "RP-20",
    Ns01 = "NS-01", Ns02 = "NS-02", Ns03 = "NS-03", Ns04 = "NS-04", Ns05 = "NS-05",
    Ns06 = "NS-06", Ns07 = "NS-07", Ns08 = "NS-08", Ns09 = "NS-09",
    Rj01 = "RJ-01", Rj02 = "RJ-02", Rj03 = "RJ-03", Rj04 = "RJ-04", Rj05 = "RJ-05",
    Rj06 = "RJ-06", Rj07 = "RJ-07", Rj08 = "RJ-08", Rj09 = "RJ-09",
    Fb01 = "FB-01", Fb02 = "FB-02", Fb03 = "FB-03", Fb04 = "FB-04", Fb05 = "FB-05",
    Fb06 = "FB-06", Fb07 = "FB-07", Fb08 = "FB-08",
    Rg01 = "RG-01", Rg02 = "RG-02", Rg03 = "RG-03", Rg04 = "RG-04",
    Ra01 = "RA-01", Ra02 = "RA-02", Ra03 = "RA-03",
    Cl01 = "CL-01", Cl02 = "CL-02", Cl03 = "CL-03", Cl04 = "CL-04", Cl05 = "CL-05", Cl06 = "CL-06",
}

impl RuleId {
    /// The rule's error code: ASR's own where DOMAIN.md names one, otherwise the stable drsim code
    /// `family base + number` (see [`crate::error_code`]).
    pub fn code(self) -> ErrorCode {
        match self {
            RuleId::Rp03 => ErrorCode::NO_PATH_TO_CS,
            RuleId::Rp05 => ErrorCode::AZURE_VM_NOT_RUNNING,
            RuleId::Rp12 => ErrorCode::DATASTORE_UNREACHABLE,
            RuleId::Rp16 => ErrorCode::NAME_COLLISION,
            RuleId::Fb05 => ErrorCode::HOST_MEMORY,
            other => {
                let text = other.as_str();
                let base = match &text[..2] {
                    "RP" => 910_000,
                    "NS" => 920_000,
                    "RJ" => 930_000,
                    "FB" => 940_000,
                    "RG" => 950_000,
                    "RA" => 960_000,
                    _ => 970_000, // CL
                };
                let number: u32 = text[3..].parse().unwrap_or(0);
                ErrorCode(base + number)
            }
        }
    }

    /// The catalogue entry of this rule.
    pub fn def(self) -> &'static RuleDef {
        // RULES is in the same order as RuleId::ALL (checked by a test).
        &RULES[self as usize]
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// In JSON Schema a rule ID is one of its texts ("RP-01" … "CL-06").
#[cfg(feature = "schema")]
impl schemars::JsonSchema for RuleId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RuleId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ids: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
        schemars::json_schema!({
            "description": "A rule ID of DOMAIN.md §3.",
            "type": "string",
            "enum": ids,
        })
    }
}

/// When a readiness check runs. Checks run before a job and again at the step where the world can have
/// changed since (issue 2: "checks run before a job and again at the step where the world can have changed").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Before a reprotect (Azure → on-prem) job starts.
    ReprotectStart,
    /// Just before the replication target is prepared on the master target (disks attached / VM created).
    ReprotectTarget,
    /// Before a failback job starts.
    FailbackStart,
    /// Just before the recovery point is applied and disks move from the MT to the on-prem VM.
    FailbackRecover,
    /// Just before the on-prem VM is powered on.
    FailbackPowerOn,
    /// Before re-protect to Azure starts (after failback commit).
    ReprotectToAzureStart,
}

/// How a rule is enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Enforcement {
    /// A readiness check run at these phases.
    Check(&'static [Phase]),
    /// Orchestration behaviour of the engine (where it lives is named).
    Behaviour(&'static str),
    /// A readiness check and orchestration behaviour both.
    CheckAndBehaviour(&'static [Phase], &'static str),
    /// Infrastructure behaviour, modelled by the world (drsim-world), observed by the engine.
    World(&'static str),
}

/// One entry of the rule catalogue.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RuleDef {
    /// The rule ID.
    pub id: RuleId,
    /// What the rule says, in one line (DOMAIN.md §3).
    pub title: &'static str,
    /// Where it is enforced.
    pub enforcement: Enforcement,
    /// What the operator does when it fails.
    pub fix: &'static str,
}

impl RuleDef {
    /// The phases at which this rule's readiness check runs (empty for pure behaviour rules).
    pub fn phases(&self) -> &'static [Phase] {
        match self.enforcement {
            Enforcement::Check(p) | Enforcement::CheckAndBehaviour(p, _) => p,
            Enforcement::Behaviour(_) | Enforcement::World(_) => &[],
        }
    }
}

use Phase::*;

const RS: &[Phase] = &[ReprotectStart];
const RS_RT: &[Phase] = &[ReprotectStart, ReprotectTarget];
const RS_FS: &[Phase] = &[ReprotectStart, FailbackStart];
const FS: &[Phase] = &[FailbackStart];

macro_rules! rule {
    ($id:ident, $title:literal, $enf:expr, $fix:literal) => {
        RuleDef {
            id: RuleId::$id,
            title: $title,
            enforcement: $enf,
            fix: $fix,
        }
    };
}

/// The rule catalogue, in [`RuleId::ALL`] order.
pub static RULES: &[RuleDef] = &[
    rule!(
        Rp01,
        "configuration server running and connected to Azure",
        Enforcement::Check(&[
            ReprotectStart,
            ReprotectTarget,
            FailbackStart,
            ReprotectToAzureStart
        ]),
        "Start the configuration server and restore its connection to Azure, then retry the job."
    ),
    rule!(
        Rp02,
        "the machine is registered in the configuration server database",
        Enforcement::Check(RS_FS),
        "Restore the configuration server with the same IP address so its database keeps the machine."
    ),
    rule!(
        Rp03,
        "network path from the Azure VM to the configuration server (VPN or ExpressRoute private peering)",
        Enforcement::Check(&[ReprotectStart, FailbackStart]),
        "Set up a site-to-site VPN or ExpressRoute private peering between Azure and on-premises, open port 443 to the CS."
    ),
    rule!(
        Rp04,
        "mobility agent on the Azure VM registered with the configuration server",
        Enforcement::Check(RS),
        "Wait up to 15 minutes after the Azure VM boots for the agent to register, then retry."
    ),
    rule!(
        Rp05,
        "Azure VM running and reachable",
        Enforcement::Check(RS),
        "Start the Azure VM and make sure it is reachable, then retry."
    ),
    rule!(
        Rp06,
        "no snapshots on the master target (the on-prem VM's own are consolidated by the job)",
        Enforcement::CheckAndBehaviour(
            RS_RT,
            "reprotect step `Consolidate snapshots of the on-premises VM`"
        ),
        "Delete all snapshots of the master target VM, then retry."
    ),
    rule!(
        Rp07,
        "master target OS type equals the VMs' OS type; the master target is a VMware VM",
        Enforcement::Check(RS),
        "Use a Windows master target for Windows VMs and a Linux one for Linux VMs, deployed as a VMware VM."
    ),
    rule!(
        Rp08,
        "every VM of a replication group uses the same master target",
        Enforcement::Check(RS),
        "Give every member of the replication group the same master target."
    ),
    rule!(
        Rp09,
        "a replication group is reprotected only through a recovery plan, with values for every machine",
        Enforcement::Check(RS),
        "Reprotect the replication group through a recovery plan that gives MT, PS, datastore and retention drive for every machine."
    ),
    rule!(
        Rp10,
        "vCenter connected; the discovery account may see datastores",
        Enforcement::Check(RS_RT),
        "Reconnect vCenter and update its credentials to an account with full discovery rights, then retry."
    ),
    rule!(
        Rp11,
        "the VM's disk UUIDs do not clash with the master target's",
        Enforcement::Check(RS),
        "Deploy the master target from a different template so its disk UUIDs are unique."
    ),
    rule!(
        Rp12,
        "the chosen datastore is reachable read/write from the master target's ESXi host",
        Enforcement::Check(RS_RT),
        "Choose a datastore the master target's ESXi host mounts read/write, or mount it there."
    ),
    rule!(
        Rp13,
        "datastore type VMFS or vSAN (NFS not supported; RDM only for existing attached OLR disks)",
        Enforcement::Check(RS),
        "Choose a VMFS or vSAN datastore."
    ),
    rule!(
        Rp14,
        "at most 60 disks attached to one master target (its own plus protected)",
        Enforcement::Check(RS_RT),
        "Spread the machines over more master targets."
    ),
    rule!(
        Rp15,
        "retention drive valid: exists, not FAT, not the cache volume, not a replication target, capacity > 0",
        Enforcement::Check(RS),
        "Choose a retention drive that exists, is NTFS/ext4/XFS, is not the cache volume and not used as a replication target."
    ),
    rule!(
        Rp16,
        "no VM with the same name on the master target's ESXi host (alternate location)",
        Enforcement::Check(RS_RT),
        "Rename or remove the VM with the same name on the master target's ESXi host, or recover to the original location."
    ),
    rule!(
        Rp17,
        "Linux master target: no LVM for root or retention; disk.EnableUUID=TRUE; LSI Logic controller",
        Enforcement::Check(RS),
        "Rebuild the Linux master target without LVM on root/retention, set disk.EnableUUID=TRUE and use an LSI Logic controller."
    ),
    rule!(
        Rp18,
        "failback only to the original vCenter and configuration server (an alternate vCenter when allowed and discovered)",
        Enforcement::Check(RS_FS),
        "Fail back to the original vCenter, or discover the alternate vCenter and master target first."
    ),
    rule!(
        Rp19,
        "the Azure temporary disk (page file) is excluded from protection",
        Enforcement::Behaviour("reprotect: the temporary disk is never in the replicated disk set"),
        "Nothing to do: the engine excludes it."
    ),
    rule!(
        Rp20,
        "master target version not newer than the process server and configuration server",
        Enforcement::CheckAndBehaviour(
            RS,
            "warning only at reprotect; the world then fails replication"
        ),
        "Upgrade the configuration and process servers before (or downgrade) the master target."
    ),
    rule!(
        Ns01,
        "failback impossible: target host is free ESXi 5.5 or free vSphere 6 Hypervisor",
        Enforcement::Check(&[ReprotectStart, ReprotectTarget, FailbackStart]),
        "Upgrade the host to a licensed ESXi edition."
    ),
    rule!(
        Ns02,
        "failback impossible: the source was a physical Windows Server 2008 R2 SP1",
        Enforcement::Check(RS_FS),
        "No fix: fail back is not supported for this source."
    ),
    rule!(
        Ns03,
        "failback impossible: target is Hyper-V, a physical machine or VMware Workstation",
        Enforcement::Check(RS_FS),
        "Fail back to a VMware ESXi host managed by vCenter."
    ),
    rule!(
        Ns04,
        "failback impossible: the machine was migrated",
        Enforcement::Check(RS_FS),
        "No fix: a migrated machine cannot fail back."
    ),
    rule!(
        Ns05,
        "failback impossible: the Azure VM was moved to another resource group",
        Enforcement::Check(RS_FS),
        "Move the Azure VM back to its original resource group."
    ),
    rule!(
        Ns06,
        "failback impossible: the Azure replica was deleted",
        Enforcement::Check(RS_FS),
        "No fix: the replica is gone."
    ),
    rule!(
        Ns07,
        "failback impossible: protection was disabled or the Azure replica is not protected",
        Enforcement::Check(RS_FS),
        "No fix: protection was disabled."
    ),
    rule!(
        Ns08,
        "failback impossible: the VM was created in Azure, not failed over",
        Enforcement::Check(RS_FS),
        "No fix: only failed-over VMs fail back."
    ),
    rule!(
        Ns09,
        "failback impossible: EFI/UEFI VM",
        Enforcement::Check(RS_FS),
        "No fix: EFI VMs cannot fail back to VMware."
    ),
    rule!(
        Rj01,
        "reprotect direction is Azure → on-prem; per machine MT, PS, datastore, retention drive; failback policy automatic",
        Enforcement::Behaviour("reprotect command validation and the failback policy"),
        "Give MT, PS, datastore and retention drive for every machine."
    ),
    rule!(
        Rj02,
        "the on-prem VM is powered off at reprotect start and stays off until failback starts it",
        Enforcement::CheckAndBehaviour(
            &[FailbackStart, FailbackPowerOn],
            "reprotect step `Power off the on-premises VM`; split detection on discovery"
        ),
        "Power the on-premises VM off; it must stay off until failback."
    ),
    rule!(
        Rj03,
        "original location recovery when the on-prem VM and its disks exist: only differences are sent",
        Enforcement::Behaviour("reprotect mode selection (OLR)"),
        "Nothing to do."
    ),
    rule!(
        Rj04,
        "alternate location recovery when they do not (or chosen): VM created on the MT's host and datastore, full copy",
        Enforcement::Behaviour("reprotect mode selection (ALR)"),
        "Nothing to do."
    ),
    rule!(
        Rj05,
        "bytes sent by a reprotect lie between 0 and the sum of the disk sizes",
        Enforcement::World("fluid data plane: resync sizes"),
        "Nothing to do."
    ),
    rule!(
        Rj06,
        "OLR needs disk.EnableUUID=TRUE to find the original disks; otherwise an extra disk is created (full copy)",
        Enforcement::CheckAndBehaviour(RS, "warning at reprotect; the world makes the full copy"),
        "Set disk.EnableUUID=TRUE on the on-premises VM before reprotect to send only differences."
    ),
    rule!(
        Rj07,
        "on success the item is Protected (Azure → on-prem); on failure it stays InAzure with the error and can be retried",
        Enforcement::Behaviour("reprotect job end"),
        "Fix the reported error and retry."
    ),
    rule!(
        Rj08,
        "replication path: Azure VM agent → PS (Azure) → MT → VMDK on the datastore",
        Enforcement::World("network and data plane"),
        "Nothing to do."
    ),
    rule!(
        Rj09,
        "a disk added to the Azure VM after failover is not replicated back",
        Enforcement::Behaviour(
            "reprotect: disks added after failover are not in the replicated disk set"
        ),
        "Nothing to do: copy its data by other means."
    ),
    rule!(
        Fb01,
        "failback only from Protected (Azure → on-prem), health OK, at least one recovery point per VM",
        Enforcement::Check(FS),
        "Wait until replication is healthy and every VM has a recovery point."
    ),
    rule!(
        Fb02,
        "the Azure VM is shut down before the on-prem VM is powered on (never both running)",
        Enforcement::CheckAndBehaviour(
            &[FailbackPowerOn],
            "failback step order; power-on only after the Azure VM is confirmed off"
        ),
        "Nothing to do: the engine orders it."
    ),
    rule!(
        Fb03,
        "recovery point choice: latest (no loss), latest processed, latest app-consistent (common per group)",
        Enforcement::CheckAndBehaviour(&[FailbackRecover], "recovery point selection"),
        "Choose a recovery point that exists for every VM."
    ),
    rule!(
        Fb04,
        "vCenter connected (disks move from the MT to the VM)",
        Enforcement::Check(&[FailbackStart, FailbackRecover]),
        "Reconnect vCenter, then retry the failback."
    ),
    rule!(
        Fb05,
        "the ESXi host has memory to power the VM on",
        Enforcement::Check(&[FailbackStart, FailbackPowerOn]),
        "Free memory on the ESXi host, or move the VM to a host with enough."
    ),
    rule!(
        Fb06,
        "commit deletes the Azure VM; the machine then runs on-prem unprotected",
        Enforcement::Behaviour("failback commit"),
        "Nothing to do."
    ),
    rule!(
        Fb07,
        "a failed failback is cancelled: disks revert, Azure VM on again, replication resumes",
        Enforcement::Behaviour("failback rollback"),
        "Fix the reported error and fail back again."
    ),
    rule!(
        Fb08,
        "a recovery plan fails back its groups in order, members in parallel; manual actions only (no scripts)",
        Enforcement::CheckAndBehaviour(
            FS,
            "recovery plan execution: groups in order, members in parallel"
        ),
        "Replace script actions in the plan by manual actions."
    ),
    rule!(
        Rg01,
        "at most 16 VMs per replication group",
        Enforcement::Check(RS),
        "Split the replication group."
    ),
    rule!(
        Rg02,
        "replication group members share one OS type and one master target",
        Enforcement::Check(RS),
        "Give the group's members the same OS type and master target."
    ),
    rule!(
        Rg03,
        "a group fails back to one common recovery point, all members or none",
        Enforcement::CheckAndBehaviour(
            FS,
            "failback of a replication group: group barriers, common point, joint rollback"
        ),
        "Fail back the whole replication group, through its recovery plan."
    ),
    rule!(
        Rg04,
        "replication group membership is fixed once replication has started",
        Enforcement::Behaviour("group edits refused once replicating"),
        "Disable replication of the group, change it, protect again."
    ),
    rule!(
        Ra01,
        "re-protect to Azure only after failback commit, with the machine running on-prem",
        Enforcement::Check(&[ReprotectToAzureStart]),
        "Commit the failback and power the on-premises VM on, then re-protect."
    ),
    rule!(
        Ra02,
        "re-protect to Azure disables the old protection, deletes the failed-over Azure VM, then protects again",
        Enforcement::Behaviour("re-protect to Azure steps"),
        "Nothing to do."
    ),
    rule!(
        Ra03,
        "agent registration lag after the on-prem VM boots (up to 15 min)",
        Enforcement::Behaviour("re-protect to Azure waits for agent registration"),
        "Wait for the agent to register."
    ),
    rule!(
        Cl01,
        "duplicate CS entries: keep the one whose host ID matches the Azure VM's agent; reject ambiguity",
        Enforcement::Check(RS_FS),
        "Remove the stale configuration server entry of the machine."
    ),
    rule!(
        Cl02,
        "protect options per VM: retention, consistency interval, datastore with enough free space",
        Enforcement::Check(RS_RT),
        "Choose a datastore with enough free space for the VM's disks."
    ),
    rule!(
        Cl03,
        "old VMDKs on the target datastore: recover into another folder",
        Enforcement::Behaviour("alternate location target folder choice"),
        "Nothing to do: the engine picks a free folder."
    ),
    rule!(
        Cl04,
        "NAT settings when the process server and the VM are not in one virtual network",
        Enforcement::Check(RS),
        "Configure NAT on the process server, or place it in the VM's virtual network."
    ),
    rule!(
        Cl05,
        "readiness check before protect and before recover; recover waits for initial sync",
        Enforcement::Check(FS),
        "Wait until initial synchronisation has finished."
    ),
    rule!(
        Cl06,
        "VM hardware on failback: CPU and memory from the Azure size; IPs per NIC",
        Enforcement::Behaviour("failback recover action carries the Azure size and NIC IPs"),
        "Nothing to do."
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn catalogue_is_in_id_order_and_complete() {
        assert_eq!(RULES.len(), RuleId::ALL.len());
        for (i, id) in RuleId::ALL.iter().enumerate() {
            assert_eq!(RULES[i].id, *id, "RULES[{i}] out of order");
            assert_eq!(id.def().id, *id);
        }
        assert_eq!(RuleId::ALL.len(), 20 + 9 + 9 + 8 + 4 + 3 + 6);
    }

    #[test]
    fn codes_are_unique_and_asr_codes_kept() {
        let codes: BTreeSet<_> = RuleId::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), RuleId::ALL.len());
        assert_eq!(RuleId::Rp03.code(), ErrorCode(95226));
        assert_eq!(RuleId::Rp05.code(), ErrorCode(78093));
        assert_eq!(RuleId::Rp12.code(), ErrorCode(8061));
        assert_eq!(RuleId::Rp16.code(), ErrorCode(78052));
        assert_eq!(RuleId::Fb05.code(), ErrorCode(8038));
        assert_eq!(RuleId::Rp06.code(), ErrorCode(910_006));
        assert_eq!(RuleId::Cl06.code(), ErrorCode(970_006));
    }

    #[test]
    fn ids_round_trip_through_text_and_json() {
        for id in RuleId::ALL {
            assert_eq!(id.as_str().parse::<RuleId>(), Ok(*id));
            let json = serde_json::to_string(id).unwrap();
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            assert_eq!(serde_json::from_str::<RuleId>(&json).unwrap(), *id);
        }
        assert!("RP-99".parse::<RuleId>().is_err());
    }
}
