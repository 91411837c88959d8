//! The page's tables: the fleet summary, one row per recovery plan, per machine (the worst first, at most
//! [`MAX_ITEM_ROWS`]) and per job (at most [`MAX_JOB_ROWS`]).

use super::{duration, duration_s, esc, pick_jobs};
use crate::report::Report;
use crate::report::summary::{RpoSummary, ViolationFigures};
use crate::units::human_bytes;
use crate::verdict::clock;
use std::fmt::Write;

/// The most machines the machine table lists (the worst by largest RPO).
pub const MAX_ITEM_ROWS: usize = 200;
/// The most jobs the job table lists (failed, cancelled and running ones first).
pub const MAX_JOB_ROWS: usize = 300;

const DASH: &str = "—";

/// A byte count for people, the exact count on hover.
fn bytes(b: u64) -> String {
    format!("<span title=\"{b} bytes\">{}</span>", human_bytes(b))
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| DASH.into(), |p| format!("{p:.1} %"))
}

/// A numeric cell.
fn n(out: &mut String, v: impl AsRef<str>) {
    let _ = write!(out, "<td class=\"n\">{}</td>", v.as_ref());
}

/// A text cell (escaped).
fn t(out: &mut String, v: &str) {
    let _ = write!(out, "<td>{}</td>", esc(v));
}

/// A text cell that may wrap (escaped).
fn w(out: &mut String, v: &str) {
    let _ = write!(out, "<td class=\"w\">{}</td>", esc(v));
}

fn head(out: &mut String, cols: &[(&str, bool)]) {
    out.push_str("<thead><tr>");
    for (c, numeric) in cols {
        let class = if *numeric { " class=\"n\"" } else { "" };
        let _ = write!(out, "<th{class}>{c}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
}

/// RPO p50, p95, p99, max, within threshold, violations (count, total, longest): 8 cells.
fn rpo_cells(out: &mut String, s: &RpoSummary) {
    match s.rpo {
        Some(r) => {
            for v in [r.p50_s, r.p95_s, r.p99_s, r.max_s] {
                n(out, duration_s(v));
            }
        }
        None => (0..4).for_each(|_| n(out, DASH)),
    }
    n(out, pct(s.within_threshold_pct));
    violation_cells(out, &s.violations);
}

fn violation_cells(out: &mut String, v: &ViolationFigures) {
    if v.count == 0 {
        n(out, "0");
        n(out, DASH);
        n(out, DASH);
    } else {
        n(out, format!("<span class=\"bad\">{}</span>", v.count));
        n(out, duration_s(v.total_s));
        n(out, duration_s(v.longest_s));
    }
}

const RPO_COLS: [(&str, bool); 8] = [
    ("RPO p50", true),
    ("p95", true),
    ("p99", true),
    ("max", true),
    ("within threshold", true),
    ("stretches above", true),
    ("above, in total", true),
    ("longest above", true),
];

/// The fleet's figures, one per row.
pub fn fleet(r: &Report) -> String {
    let f = &r.summary.fleet;
    let mut out = String::from("<section id=\"fleet\">\n<h2>Fleet</h2>\n<table class=\"kv\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "<tr><th>{k}</th><td class=\"n\">{v}</td></tr>");
    };
    row("Machines", f.items.to_string());
    match f.rpo.rpo {
        Some(p) => {
            row("RPO p50", duration_s(p.p50_s));
            row("RPO p95", duration_s(p.p95_s));
            row("RPO p99", duration_s(p.p99_s));
            row("RPO max", duration_s(p.max_s));
        }
        None => row(
            "RPO",
            "— (no machine replicated with a recovery point)".into(),
        ),
    }
    row("Machine-time replicating", duration_s(f.rpo.replicating_s));
    row(
        &format!(
            "Within the RPO threshold ({})",
            duration(r.meta.rpo_threshold_ms)
        ),
        pct(f.rpo.within_threshold_pct),
    );
    let v = &f.rpo.violations;
    row(
        "Stretches above the threshold",
        if v.count == 0 {
            "0".into()
        } else {
            format!("<span class=\"bad\">{}</span>", v.count)
        },
    );
    row("Above the threshold, in total", duration_s(v.total_s));
    row("Longest stretch above", duration_s(v.longest_s));
    row("Reprotect sent", bytes(f.reprotect_bytes));
    row("Machines failed back", f.failed_back.to_string());
    row(
        "Longest application downtime at failback",
        f.failback_downtime_max_s
            .map_or_else(|| DASH.into(), duration_s),
    );
    out.push_str("</table>\n</section>\n");
    out
}

/// One row per recovery plan.
pub fn plans(r: &Report) -> String {
    let mut out = String::from("<section id=\"plan-table\">\n<h2>Recovery plans</h2>\n");
    if r.summary.plans.is_empty() {
        out.push_str("<p class=\"note\">The scenario has no recovery plans.</p>\n</section>\n");
        return out;
    }
    out.push_str("<div class=\"scroll\"><table>\n");
    let mut cols = vec![("plan", false), ("machines", true)];
    cols.extend(RPO_COLS);
    cols.extend([
        ("reprotect sent", true),
        ("failed back", true),
        ("failback from", true),
        ("to", true),
        ("downtime", true),
    ]);
    head(&mut out, &cols);
    for p in &r.summary.plans {
        out.push_str("<tr>");
        t(&mut out, &p.plan);
        n(&mut out, p.items.to_string());
        rpo_cells(&mut out, &p.rpo);
        n(&mut out, bytes(p.reprotect_bytes));
        n(&mut out, p.failed_back.to_string());
        match p.failback {
            Some(f) => {
                n(&mut out, clock((f.from_s * 1000.0).round() as u64));
                n(&mut out, clock((f.to_s * 1000.0).round() as u64));
                n(&mut out, duration_s(f.downtime_s));
            }
            None => (0..3).for_each(|_| n(&mut out, DASH)),
        }
        out.push_str("</tr>\n");
    }
    out.push_str(
        "</tbody></table></div>\n<p class=\"note\">Failback from/to: from the first Azure VM's \
        shutdown to the last on-premises VM running, over the plan's machines' last failbacks \
        (simulated time, days and hours since the run's start).</p>\n</section>\n",
    );
    out
}

/// One row per machine, the worst (by largest RPO, then p95, then name) first; at most
/// [`MAX_ITEM_ROWS`].
pub fn items(r: &Report) -> String {
    let all = &r.summary.items;
    let mut out = String::from("<section id=\"item-table\">\n<h2>Machines</h2>\n");
    if all.is_empty() {
        out.push_str("<p class=\"note\">No machines.</p>\n</section>\n");
        return out;
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    let key = |i: usize| all[i].rpo.rpo.map(|r| (r.max_s, r.p95_s));
    order.sort_by(|&a, &b| match (key(a), key(b)) {
        (Some(x), Some(y)) => {
            y.0.total_cmp(&x.0)
                .then(y.1.total_cmp(&x.1))
                .then(all[a].item.cmp(&all[b].item))
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => all[a].item.cmp(&all[b].item),
    });
    let _ = writeln!(
        out,
        "<p class=\"note\">{}</p>",
        if all.len() > MAX_ITEM_ROWS {
            format!(
                "The {MAX_ITEM_ROWS} machines with the largest RPO, worst first; {} more are left out \
                 (items.csv has every machine).",
                all.len() - MAX_ITEM_ROWS
            )
        } else {
            String::from("Worst RPO first.")
        }
    );
    out.push_str("<div class=\"scroll\"><table>\n");
    let mut cols = vec![("machine", false), ("plan", false)];
    cols.extend(RPO_COLS);
    cols.extend([
        ("reprotect", false),
        ("sent", true),
        ("in sync after", true),
        ("failback downtime", true),
    ]);
    head(&mut out, &cols);
    for &i in order.iter().take(MAX_ITEM_ROWS) {
        let it = &all[i];
        out.push_str("<tr>");
        t(&mut out, &it.item);
        t(&mut out, it.plan.as_deref().unwrap_or(DASH));
        rpo_cells(&mut out, &it.rpo);
        match &it.reprotect {
            Some(p) => {
                t(&mut out, p.mode.as_deref().unwrap_or(DASH));
                n(&mut out, p.bytes.map_or_else(|| DASH.into(), bytes));
                n(&mut out, duration_s(p.duration_s));
            }
            None => {
                t(&mut out, DASH);
                n(&mut out, DASH);
                n(&mut out, DASH);
            }
        }
        n(
            &mut out,
            it.failback
                .map_or_else(|| DASH.into(), |f| duration_s(f.downtime_s)),
        );
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n<p class=\"note\">Reprotect: <i>original</i> location (a \
        differential resync) or <i>alternate</i> (a full copy); in sync after: from the job's start to \
        the machine's data in sync.</p>\n</section>\n");
    out
}

/// The machines of a job, named when they are few.
fn machines(items: &[String]) -> String {
    if items.len() <= 6 {
        items.join(" ")
    } else {
        format!("{} machines", items.len())
    }
}

/// One row per job, by id; at most [`MAX_JOB_ROWS`].
pub fn jobs(r: &Report) -> String {
    let mut out = String::from("<section id=\"job-table\">\n<h2>Job table</h2>\n");
    if r.jobs.is_empty() {
        out.push_str("<p class=\"note\">No jobs ran.</p>\n</section>\n");
        return out;
    }
    let shown = pick_jobs(&r.jobs, MAX_JOB_ROWS);
    if shown.len() < r.jobs.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} of {} jobs: the failed, cancelled and running ones first, then by id \
             (jobs.csv has them all).</p>",
            shown.len(),
            r.jobs.len()
        );
    }
    out.push_str("<div class=\"scroll\"><table>\n");
    head(
        &mut out,
        &[
            ("job", true),
            ("operation", false),
            ("plan", false),
            ("machines", false),
            ("start", true),
            ("end", true),
            ("took", true),
            ("result", false),
            ("rule", false),
            ("code", true),
            ("failed step", false),
            ("message", false),
        ],
    );
    for j in shown {
        out.push_str("<tr>");
        n(&mut out, j.job.to_string());
        t(&mut out, &j.operation);
        t(&mut out, j.plan.as_deref().unwrap_or(DASH));
        w(&mut out, &machines(&j.items));
        n(&mut out, clock(j.start_ms));
        match j.end_ms {
            Some(e) => {
                n(&mut out, clock(e));
                n(&mut out, duration(e.saturating_sub(j.start_ms)));
            }
            None => {
                n(&mut out, DASH);
                n(&mut out, DASH);
            }
        }
        let _ = write!(
            out,
            "<td class=\"r-{}\">{}</td>",
            esc(&j.result),
            esc(&j.result)
        );
        t(&mut out, j.rule.as_deref().unwrap_or(""));
        n(&mut out, j.code.map(|c| c.to_string()).unwrap_or_default());
        w(
            &mut out,
            &j.failed_step()
                .map(|f| format!("{}: {}", f.item, f.name))
                .unwrap_or_default(),
        );
        w(&mut out, j.message.as_deref().unwrap_or(""));
        out.push_str("</tr>\n");
    }
    out.push_str(
        "</tbody></table></div>\n<p class=\"note\">Start and end: simulated time since the run's \
        start (days, then hours:minutes:seconds).</p>\n</section>\n",
    );
    out
}
