//! `report.html`: one self-contained page — inline CSS, inline SVG and a few lines of inline script, nothing
//! fetched from the network — with the run's charts and tables, for a capacity planner to read or attach.
//!
//! - [`charts`] draws four charts with plotters' SVG backend (text is left to the browser: no font is read
//!   from the system): `rpo` (fleet p50/p95/max and each plan's p95 against the RPO threshold), `throughput`
//!   (the site link both ways, process servers, master targets), `backlog` (unsent bytes, fleet and plans)
//!   and `jobs` (a Gantt timeline: a bar per job, its steps aggregated by name beneath it). Time runs in
//!   hours since the run's start, in days when the run is longer than 3 days.
//! - [`tables`] writes the fleet summary, the per-plan, per-machine and job tables.
//!
//! Kept small at fleet scale (1,000 machines, 2,016 intervals): a line has at most
//! [`charts::MAX_POINTS`] points — beyond that, consecutive intervals are merged into buckets, keeping
//! each bucket's largest RPO and unsent bytes and its mean throughput (the caption says so); at most
//! [`charts::MAX_LINES`] plans or servers of a kind get lines; the Gantt chart and the tables are capped
//! too, each saying what it left out.
//!
//! Deterministic: the page is a function of the [`Report`] alone (no clock, no random ids, no hash-map
//! order), so the same report gives byte-identical pages. Every name from the scenario is escaped.
//!
//! On load, the inline script checks that each `figure.chart` has an `<svg>` that the browser laid out
//! with a non-empty box and drew content into, and writes how many did into `<body data-charts-ok="N">`
//! (and their ids into `data-charts-drawn`): the browser test (`tests/report_browser.rs`) reads them.

pub mod charts;
pub mod tables;

use super::Report;
use super::jobs::JobRow;
use drsim_engine::Millis;
use std::fmt::Write;

/// The page.
pub fn render(report: &Report) -> String {
    let m = &report.meta;
    let mut out = String::with_capacity(256 * 1024);
    let title = format!("drsim report: {}", m.scenario);
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<meta name=\"generator\" content=\"drsim {}\">",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out, "<title>{}</title>", esc(&title));
    out.push_str("<style>\n");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body data-charts-ok=\"0\">\n");
    let _ = writeln!(out, "<header>\n<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        out,
        "<p class=\"meta\">seed {} · {} simulated · report interval {} · RPO threshold {} · {} machines · {} jobs</p>",
        m.seed,
        duration(m.duration_ms),
        duration(m.interval_ms),
        duration(m.rpo_threshold_ms),
        report.summary.fleet.items,
        report.jobs.len(),
    );
    out.push_str(
        "<nav><a href=\"#fleet\">Fleet</a> <a href=\"#rpo\">RPO</a> \
         <a href=\"#throughput\">Throughput</a> <a href=\"#backlog\">Backlog</a> \
         <a href=\"#jobs\">Jobs</a> <a href=\"#plan-table\">Plans</a> \
         <a href=\"#item-table\">Machines</a> <a href=\"#job-table\">Job table</a></nav>\n</header>\n<main>\n",
    );
    out.push_str(&tables::fleet(report));
    let axis = charts::TimeAxis::of(report);
    for chart in [
        charts::rpo(report, &axis),
        charts::throughput(report, &axis),
        charts::backlog(report, &axis),
        charts::jobs(report, &axis),
    ] {
        chart.write_figure(&mut out);
    }
    out.push_str(&tables::plans(report));
    out.push_str(&tables::items(report));
    out.push_str(&tables::jobs(report));
    out.push_str("</main>\n<script>\n");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// The page's style: the system's sans-serif font, nothing loaded (`plan.html` uses it too).
pub(crate) const CSS: &str = r#"body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  margin: 0 auto; padding: 0 1.5rem 3rem; max-width: 1280px; color: #1d1d1f; background: #fff; line-height: 1.4; }
header { border-bottom: 1px solid #ddd; margin-bottom: 1rem; }
h1 { font-size: 1.5rem; margin: 1.2rem 0 .3rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; }
.meta { color: #555; margin: .2rem 0 .5rem; }
nav a { margin-right: .8rem; color: #1f5fa8; text-decoration: none; }
figure.chart { margin: 1.5rem 0; padding: .8rem; border: 1px solid #e3e3e3; border-radius: 6px; }
figure.chart h2 { margin: 0 0 .4rem; }
figure.chart svg { display: block; width: 100%; height: auto; }
figcaption { color: #444; font-size: .9rem; margin-top: .4rem; }
ul.legend { list-style: none; margin: .4rem 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; font-size: .88rem; }
ul.legend li { white-space: nowrap; }
.sw { display: inline-block; width: 22px; height: 0; border-top: 3px solid; vertical-align: middle; margin-right: .4rem; }
.sw.box { height: 10px; border-top: 0; }
table { border-collapse: collapse; font-size: .82rem; margin: .5rem 0; }
th, td { border-bottom: 1px solid #e6e6e6; padding: .25rem .45rem; text-align: left; vertical-align: top; }
td { white-space: nowrap; }
td.w { white-space: normal; min-width: 14rem; }
thead th { vertical-align: bottom; }
thead th { background: #f4f4f6; position: sticky; top: 0; }
th.n { text-align: right; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv th { font-weight: normal; color: #444; }
.r-succeeded { color: #2e7d32; } .r-failed { color: #c62828; font-weight: bold; }
.r-cancelled { color: #6d6d6d; } .r-running { color: #1565c0; }
.bad { color: #c62828; font-weight: bold; }
.note { color: #555; font-size: .9rem; }
.scroll { overflow-x: auto; }
"#;

/// On load: which charts the browser laid out and drew into (see the module doc; `plan.html` runs it too).
pub(crate) const SCRIPT: &str = r#"window.addEventListener("load", function () {
  var drawn = [];
  document.querySelectorAll("figure.chart").forEach(function (f) {
    var svg = f.querySelector("svg");
    if (!svg) { return; }
    var r = svg.getBoundingClientRect();
    var b = svg.getBBox();
    var marks = svg.querySelectorAll("polyline, rect, line, circle, text").length;
    if (r.width > 0 && r.height > 0 && b.width > 0 && b.height > 0 && marks > 1) { drawn.push(f.id); }
  });
  document.body.setAttribute("data-charts-ok", String(drawn.length));
  document.body.setAttribute("data-charts-drawn", drawn.join(" "));
});
"#;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A duration for a table cell or a caption, two units at most, the second left out when nought: "0.5s",
/// "42s", "8m 03s", "15m", "1h 02m", "12h", "3d 04h". ([`crate::units::human_duration`] prints every
/// unit down to the second: too long for tables of hundreds of rows.)
pub fn duration(ms: Millis) -> String {
    let two = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua} {b:02}{ub}")
        }
    };
    if ms < 10_000 {
        let tenths = (ms + 50) / 100;
        return if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        };
    }
    let s = (ms + 500) / 1000;
    if s < 60 {
        return format!("{s}s");
    }
    if s < 3600 {
        return two(s / 60, "m", s % 60, "s");
    }
    let min = (ms + 30_000) / 60_000;
    if min < 24 * 60 {
        return two(min / 60, "h", min % 60, "m");
    }
    let h = (ms + 1_800_000) / 3_600_000;
    two(h / 24, "d", h % 24, "h")
}

/// [`duration`] of seconds as the summary holds them (milliseconds exact).
pub fn duration_s(s: f64) -> String {
    if s.is_finite() && s >= 0.0 {
        duration((s * 1000.0).round() as Millis)
    } else {
        String::from("—")
    }
}

/// At most `cap` jobs, in id order: every job if they fit, else the failed, cancelled and running ones
/// first, then the succeeded ones by id.
fn pick_jobs(jobs: &[JobRow], cap: usize) -> Vec<&JobRow> {
    if jobs.len() <= cap {
        return jobs.iter().collect();
    }
    let ok = |j: &&JobRow| j.result == "succeeded";
    let mut keep: Vec<&JobRow> = jobs.iter().filter(|j| !ok(j)).take(cap).collect();
    let room = cap - keep.len();
    keep.extend(jobs.iter().filter(ok).take(room));
    keep.sort_by_key(|j| j.job);
    keep
}

#[cfg(test)]
mod tests;
