//! What `drsim plan` writes: `plan.csv` (a row per point), `plan.json` (everything), `plan.html` (the
//! recommendations, charts and the points, self-contained: [`super::html`]), each atomically; and a few
//! lines for the terminal.

use super::PlanResult;
use crate::output::write_atomically;
use crate::units::{human_bytes, human_duration};
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// Writes plan.csv, plan.json and plan.html into `dir` (created if missing).
pub fn write_dir(r: &PlanResult, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_atomically(&dir.join("plan.csv"), |w| {
        let mut c = csv::Writer::from_writer(w);
        csv_rows(r, &mut c).map_err(std::io::Error::other)?;
        c.flush()
    })?;
    write_atomically(&dir.join("plan.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, r)?;
        w.write_all(b"\n")
    })?;
    let page = super::html::render(r);
    write_atomically(&dir.join("plan.html"), |w| w.write_all(page.as_bytes()))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

fn csv_rows(r: &PlanResult, c: &mut csv::Writer<&mut dyn Write>) -> csv::Result<()> {
    c.write_record([
        "bandwidth_bytes_per_s",
        "process_servers",
        "pass",
        "rpo_compliance_pct",
        "rpo_percentile_s",
        "rpo_peak_s",
        "initial_replication_s",
        "initial_replication_unfinished",
        "reprotect_olr_machines",
        "reprotect_olr_bytes",
        "reprotect_olr_longest_s",
        "reprotect_alr_machines",
        "reprotect_alr_bytes",
        "reprotect_alr_longest_s",
        "reprotect_unfinished",
        "failback_downtime_max_s",
        "plan_downtime_max_s",
        "ps_peak_utilisation",
        "ps_peak_bytes_per_s",
        "ps_peak_daily_bytes",
        "link_peak_utilisation",
    ])?;
    for p in &r.points {
        c.write_record([
            p.variant.bandwidth_bytes_per_s.to_string(),
            p.variant.process_servers.to_string(),
            p.pass.to_string(),
            opt(p.rpo_compliance_pct.map(|v| format!("{v:.3}"))),
            opt(p.rpo_percentile_s),
            opt(p.rpo_peak_s),
            opt(p.initial_replication_s),
            p.initial_replication_unfinished.to_string(),
            p.reprotect_olr.machines.to_string(),
            p.reprotect_olr.bytes.to_string(),
            opt(p.reprotect_olr.longest_s),
            p.reprotect_alr.machines.to_string(),
            p.reprotect_alr.bytes.to_string(),
            opt(p.reprotect_alr.longest_s),
            p.reprotect_unfinished.to_string(),
            opt(p.failback_downtime_max_s),
            opt(p.plan_downtime_max_s),
            opt(p.ps_peak_utilisation.map(|v| format!("{v:.4}"))),
            p.ps_peak_bytes_per_s.to_string(),
            p.ps_peak_daily_bytes.to_string(),
            opt(p.link_peak_utilisation.map(|v| format!("{v:.4}"))),
        ])?;
    }
    Ok(())
}

/// Bits per second for people ("250 Mbps").
pub fn mbps(bytes_per_s: u64) -> String {
    let bits = bytes_per_s as f64 * 8.0;
    if bits >= 1e9 {
        format!("{:.2} Gbps", bits / 1e9)
    } else {
        format!("{:.0} Mbps", bits / 1e6)
    }
}

/// A duration of seconds for people, `–` when there is none.
pub(crate) fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "–".to_owned(), |s| human_duration((s * 1000.0) as u64))
}

/// The recommendations in a few lines.
pub fn text(r: &PlanResult) -> String {
    let rec = &r.recommendations;
    let s = &r.settings;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "drsim plan — scenario `{}`: {} points ({} bandwidths × {} process-server counts), RPO {}, growth {} %, p{}",
        r.scenario,
        r.points.len(),
        s.bandwidths.len(),
        s.process_servers.len(),
        human_duration(s.rpo_ms),
        s.growth_pct,
        s.percentile
    );
    let _ = writeln!(
        o,
        "  churn: {} machines, {}/day; p{} write rate {} ⇒ bandwidth for churn {}",
        r.churn.machines,
        human_bytes(r.churn.daily_bytes),
        s.percentile,
        mbps(r.churn.percentile_bytes_per_s),
        mbps(rec.bandwidth_for_churn_bytes_per_s)
    );
    let meet = |v: &Option<super::Variant>| match v {
        Some(v) => format!(
            "{} with {} PS",
            mbps(v.bandwidth_bytes_per_s),
            v.process_servers
        ),
        None => "not within the swept range".to_owned(),
    };
    let _ = writeln!(
        o,
        "  RPO held 100 % of the time: {}; 90 %: {}",
        meet(&rec.bandwidth_rpo_100),
        meet(&rec.bandwidth_rpo_90)
    );
    if let Some(ps) = rec.process_servers.first() {
        let _ = writeln!(
            o,
            "  process servers (DOMAIN.md §5): {} × {} vCPU/{} GB/{} cache{}",
            ps.count,
            ps.cpus,
            ps.memory_gb,
            human_bytes(ps.cache_bytes),
            rec.process_servers
                .get(1)
                .map(|a| format!(
                    " (or {} × {} vCPU/{} GB/{})",
                    a.count,
                    a.cpus,
                    a.memory_gb,
                    human_bytes(a.cache_bytes)
                ))
                .unwrap_or_default()
        );
    }
    if let Some(p) = r.points.iter().find(|p| p.reprotect_unfinished > 0) {
        let _ = writeln!(
            o,
            "  note: at {} / {} PS (and maybe others) {} machine(s) had not finished reprotect when the run ended: see plan.csv",
            mbps(p.variant.bandwidth_bytes_per_s),
            p.variant.process_servers,
            p.reprotect_unfinished
        );
    }
    if let Some(p) = &rec.failback {
        let _ = writeln!(
            o,
            "  failback at {} / {} PS: reprotect ≤ {} (OLR), ≤ {} (ALR); downtime ≤ {} per machine, ≤ {} per plan",
            mbps(p.variant.bandwidth_bytes_per_s),
            p.variant.process_servers,
            secs(p.reprotect_olr.longest_s),
            secs(p.reprotect_alr.longest_s),
            secs(p.failback_downtime_max_s),
            secs(p.plan_downtime_max_s)
        );
    }
    for n in &r.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    o
}
