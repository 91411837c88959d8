//! The description of an imported scenario: where it came from, what was left out, what was assumed
//! (churn) and sized (DOMAIN.md §5 process servers, RP-14 master targets), and every warning — the record
//! of the import that travels with the scenario.

use super::sizing::{self, GB};
use super::{ChurnAssumption, Options, Skipped, Warning};
use crate::scenario::inventory::{MasterTarget, ProcessServer};
use crate::units::{Duration, human_bytes};

/// `n thing` or `n things`.
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What the description says.
pub(super) struct Describe<'a> {
    pub(super) source: &'a str,
    pub(super) opts: &'a Options,
    pub(super) machines: usize,
    pub(super) vcenters: &'a [String],
    pub(super) hosts: usize,
    pub(super) datastores: usize,
    pub(super) skipped: &'a Skipped,
    pub(super) daily: u64,
    pub(super) ps: &'a [ProcessServer],
    pub(super) ps_plans: &'a [sizing::PsPlan],
    pub(super) mts: &'a [MasterTarget],
    pub(super) failback_after: Option<Duration>,
    pub(super) warnings: &'a [Warning],
}

/// The scenario's description: where it came from, what was assumed and sized, and the warnings.
pub(super) fn describe(d: &Describe<'_>) -> String {
    let mut s = format!(
        "Imported by `drsim import rvtools` from {}: {} of vCenter {} on {} and {}, starting `{}`",
        d.source,
        plural(d.machines, "VM", "VMs"),
        d.vcenters.join(", "),
        plural(d.hosts, "host", "hosts"),
        plural(d.datastores, "datastore", "datastores"),
        crate::verdict::kebab(&d.opts.state)
    );
    let sk = d.skipped;
    let mut left = Vec::new();
    for (n, one, many) in [
        (sk.templates, "template", "templates"),
        (sk.placeholders, "SRM placeholder", "SRM placeholders"),
        (sk.powered_off, "powered-off VM", "powered-off VMs"),
        (
            sk.other,
            "other VM (see the warnings)",
            "other VMs (see the warnings)",
        ),
    ] {
        if n > 0 {
            left.push(plural(n, one, many));
        }
    }
    if !left.is_empty() {
        s.push_str(&format!(" (left out: {})", left.join(", ")));
    }
    s.push_str(". Churn assumed: ");
    s.push_str(&match d.opts.churn {
        ChurnAssumption::DailyShare { ppm } => {
            format!("{} of each disk's used size a day", percent(ppm))
        }
        ChurnAssumption::Rate(b) => format!("{b} on every disk"),
    });
    s.push_str(&format!(
        " ({}/day in all). Process servers by DOMAIN.md §5: ",
        human_bytes(d.daily)
    ));
    let ps: Vec<String> =
        d.ps.iter()
            .zip(d.ps_plans)
            .map(|(p, plan)| {
                format!(
                    "{} ({} vCPU, {} GB, {} GB cache: {}, {}/day)",
                    p.name,
                    plan.tier.cpus,
                    plan.tier.memory_gb,
                    plan.tier.cache / GB,
                    plural(plan.machines.len(), "machine", "machines"),
                    human_bytes(plan.daily)
                )
            })
            .collect();
    s.push_str(&ps.join(", "));
    s.push_str(". Master targets (RP-07, RP-14: at most 60 disks with their own): ");
    let mts: Vec<String> = d
        .mts
        .iter()
        .map(|m| format!("{} on {}", m.name, m.host))
        .collect();
    s.push_str(&mts.join(", "));
    s.push('.');
    if let Some(f) = d.failback_after {
        s.push_str(&format!(
            " Each machine fails back {f} after its reprotect (time for the resync)."
        ));
    }
    if !d.warnings.is_empty() {
        s.push_str(" Warnings: ");
        s.push_str(
            &d.warnings
                .iter()
                .map(Warning::brief)
                .collect::<Vec<_>>()
                .join("; "),
        );
        s.push('.');
    }
    s
}

/// Parts per million as a percentage: 20000 → "2%", 5000 → "0.5%".
pub fn percent(ppm: u64) -> String {
    let whole = ppm / 10_000;
    let frac = ppm % 10_000;
    if frac == 0 {
        format!("{whole}%")
    } else {
        let f = format!("{frac:04}");
        format!("{whole}.{}%", f.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_plurals() {
        assert_eq!(percent(20_000), "2%");
        assert_eq!(percent(5_000), "0.5%");
        assert_eq!(percent(12_345), "1.2345%");
        assert_eq!(plural(1, "VM", "VMs"), "1 VM");
        assert_eq!(plural(2, "VM", "VMs"), "2 VMs");
    }
}
