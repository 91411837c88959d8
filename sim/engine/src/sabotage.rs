//! Sabotage: a switch that makes the engine commit one known fault on purpose (issue 5, "proof the harness
//! has teeth"). A fuzz campaign run with a sabotage on must see the invariant checker that guards against
//! that fault flag it ([`Sabotage::expected_invariant`]); one that does not has a checker without teeth, or
//! a campaign that never reaches the situation.
//!
//! Each sabotage is one guarded branch at the one decision it corrupts (`grep -n sabotaged` finds them
//! all), and none is ever on by default: [`crate::EngineConfig::sabotage`] is `None` unless a test or a
//! campaign sets it. Never turn one on in a real run.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One known fault the engine can be made to commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sabotage {
    /// Failback powers the on-prem VM on right after asking for the Azure VM's shutdown, before the
    /// shutdown is confirmed (breaks FB-02; INV-SPLIT).
    EarlyPowerOn,
    /// A replication group's members fail back without their group barrier, each to its own point
    /// (breaks RG-03; INV-GROUP).
    SplitGroup,
    /// Failback to "latest" skips the final sync and recovers the newest existing point (breaks FB-03;
    /// INV-LOSS).
    SkipFinalSync,
    /// The RP-14 disk-limit check of master targets never fails (INV-CAP).
    IgnoreDiskLimit,
    /// Reprotect does not power the on-prem VM off (breaks RJ-02; INV-OFF).
    LeaveOnpremOn,
    /// The engine never times out waiting for an action's result, so a lost result hangs its job
    /// (INV-LIVE).
    LostResultHang,
}

impl Sabotage {
    /// Every sabotage, in declaration order.
    pub const ALL: &'static [Sabotage] = &[
        Sabotage::EarlyPowerOn,
        Sabotage::SplitGroup,
        Sabotage::SkipFinalSync,
        Sabotage::IgnoreDiskLimit,
        Sabotage::LeaveOnpremOn,
        Sabotage::LostResultHang,
    ];

    /// Its name, as serde and the command line write it, e.g. `"early-power-on"`.
    pub fn name(self) -> &'static str {
        match self {
            Sabotage::EarlyPowerOn => "early-power-on",
            Sabotage::SplitGroup => "split-group",
            Sabotage::SkipFinalSync => "skip-final-sync",
            Sabotage::IgnoreDiskLimit => "ignore-disk-limit",
            Sabotage::LeaveOnpremOn => "leave-onprem-on",
            Sabotage::LostResultHang => "lost-result-hang",
        }
    }

    /// What the engine then does wrong, in one line.
    pub fn description(self) -> &'static str {
        match self {
            Sabotage::EarlyPowerOn => {
                "failback powers the on-prem VM on before the Azure VM is confirmed off (FB-02)"
            }
            Sabotage::SplitGroup => {
                "a replication group fails back to per-VM points instead of one common point (RG-03)"
            }
            Sabotage::SkipFinalSync => {
                "failback to latest skips the final sync and recovers the newest existing point, losing acknowledged writes (FB-03)"
            }
            Sabotage::IgnoreDiskLimit => {
                "the RP-14 check never fails, so a master target can get more than 60 disks"
            }
            Sabotage::LeaveOnpremOn => {
                "reprotect does not power the on-prem VM off; one that is on stays on (RJ-02)"
            }
            Sabotage::LostResultHang => {
                "an action's result is waited for forever (no timeout, no retry), so a lost result hangs the job"
            }
        }
    }

    /// The invariant checker (DOMAIN.md §6) that must catch it.
    pub fn expected_invariant(self) -> &'static str {
        match self {
            Sabotage::EarlyPowerOn => "INV-SPLIT",
            Sabotage::SplitGroup => "INV-GROUP",
            Sabotage::SkipFinalSync => "INV-LOSS",
            Sabotage::IgnoreDiskLimit => "INV-CAP",
            Sabotage::LeaveOnpremOn => "INV-OFF",
            Sabotage::LostResultHang => "INV-LIVE",
        }
    }
}

impl fmt::Display for Sabotage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Sabotage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sabotage::ALL
            .iter()
            .copied()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Sabotage::ALL.iter().map(|x| x.name()).collect();
                format!(
                    "unknown sabotage `{s}`; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_match_serde() {
        for &s in Sabotage::ALL {
            assert_eq!(s.name().parse::<Sabotage>(), Ok(s));
            assert_eq!(s.to_string(), s.name());
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.name().into())
            );
            assert!(!s.description().is_empty());
            assert!(s.expected_invariant().starts_with("INV-"));
        }
        let err = "early-power-off".parse::<Sabotage>().unwrap_err();
        for &s in Sabotage::ALL {
            assert!(err.contains(s.name()), "{err}");
        }
    }

    #[test]
    fn each_sabotage_names_its_own_invariant() {
        let mut invariants: Vec<&str> = Sabotage::ALL
            .iter()
            .map(|s| s.expected_invariant())
            .collect();
        invariants.sort();
        invariants.dedup();
        assert_eq!(invariants.len(), Sabotage::ALL.len());
    }
}
