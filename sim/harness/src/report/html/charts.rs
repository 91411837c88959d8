//! The page's four charts, drawn with plotters' SVG backend into strings (see the parent module for what
//! each shows and how long series are decimated).

use super::{duration, esc, pick_jobs};
use crate::report::Report;
use crate::report::jobs::JobRow;
use crate::report::sample::ResourceKind;
use crate::report::series::Scope;
use drsim_engine::Millis;
use drsim_engine::time::{DAY_MS, HOUR_MS};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::ops::Range;

/// The most points a line gets: longer series are merged into buckets of consecutive intervals.
pub const MAX_POINTS: usize = 2000;
/// The most plans (RPO, backlog) or servers of one kind (throughput) that get lines of their own.
pub const MAX_LINES: usize = 10;
/// The most jobs the Gantt chart shows (failed, cancelled and running ones first).
pub const MAX_GANTT_JOBS: usize = 60;
/// The most rows (jobs and their steps) of the Gantt chart: steps of the later jobs are left out beyond.
pub const MAX_GANTT_ROWS: usize = 160;

/// A chart's width in SVG pixels (the page scales it to the figure's width).
pub(crate) const WIDTH: u32 = 1200;
/// A line chart's height.
pub(crate) const HEIGHT: u32 = 440;
/// Text is left to the browser's sans-serif font.
pub(crate) const FONT: &str = "sans-serif";

pub(crate) const GRID_LIGHT: RGBColor = RGBColor(243, 243, 243);
pub(crate) const GRID_BOLD: RGBColor = RGBColor(214, 214, 214);
pub(crate) const INK: RGBColor = RGBColor(40, 40, 40);
pub(crate) const MUTED: RGBColor = RGBColor(95, 95, 95);
pub(crate) const THRESHOLD: RGBColor = RGBColor(214, 39, 40);
const FLEET_MAX: RGBColor = RGBColor(80, 80, 80);
const FLEET_P95: RGBColor = RGBColor(31, 119, 180);
const FLEET_P50: RGBColor = RGBColor(122, 182, 226);
const LINK_TO_ONPREM: RGBColor = RGBColor(31, 119, 180);
pub(crate) const LINK_TO_AZURE: RGBColor = RGBColor(255, 127, 14);
/// Plans' and servers' lines: none blue, red or grey (the fleet's, the threshold's).
pub(crate) const PALETTE: [RGBColor; 20] = [
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(99, 121, 57),
    RGBColor(140, 109, 49),
    RGBColor(255, 127, 14),
    RGBColor(123, 65, 115),
    RGBColor(49, 163, 84),
    RGBColor(117, 107, 177),
    RGBColor(230, 85, 13),
    RGBColor(82, 84, 163),
    RGBColor(181, 207, 107),
    RGBColor(231, 186, 82),
    RGBColor(206, 109, 189),
    RGBColor(107, 174, 214),
    RGBColor(158, 154, 200),
];
/// Job bars by result, and their steps (lighter).
const JOB_COLOURS: [(&str, RGBColor, RGBColor); 4] = [
    ("succeeded", RGBColor(46, 125, 50), RGBColor(129, 199, 132)),
    ("failed", RGBColor(198, 40, 40), RGBColor(239, 154, 154)),
    (
        "cancelled",
        RGBColor(117, 117, 117),
        RGBColor(189, 189, 189),
    ),
    ("running", RGBColor(21, 101, 192), RGBColor(144, 202, 249)),
];

/// A drawn chart and what the page writes around it.
pub struct Chart {
    /// The figure's id.
    pub id: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// The `<svg>` (or, should plotters fail, a note saying so).
    pub svg: String,
    /// The legend, written as HTML under the chart.
    pub legend: Vec<Key>,
    /// The caption, HTML (names already escaped).
    pub caption: String,
}

/// One legend entry.
pub struct Key {
    /// What it is (plain text).
    pub label: String,
    /// Its colour.
    pub colour: RGBColor,
    /// A line of this width, or a box (bars).
    pub line: Option<u32>,
    /// The line is dashed.
    pub dashed: bool,
}

impl Chart {
    /// Writes `<figure class="chart" id=…>` with the heading, the SVG, the legend and the caption.
    pub fn write_figure(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "<figure class=\"chart\" id=\"{}\">\n<h2>{}</h2>",
            self.id, self.title
        );
        out.push_str(&self.svg);
        if !self.legend.is_empty() {
            out.push_str("<ul class=\"legend\">\n");
            for k in &self.legend {
                let RGBColor(r, g, b) = k.colour;
                let _ = match k.line {
                    Some(w) => writeln!(
                        out,
                        "<li><span class=\"sw\" style=\"border-top: {}px {} #{r:02x}{g:02x}{b:02x}\"></span>{}</li>",
                        w.clamp(2, 4),
                        if k.dashed { "dashed" } else { "solid" },
                        esc(&k.label)
                    ),
                    None => writeln!(
                        out,
                        "<li><span class=\"sw box\" style=\"background: #{r:02x}{g:02x}{b:02x}\"></span>{}</li>",
                        esc(&k.label)
                    ),
                };
            }
            out.push_str("</ul>\n");
        }
        let _ = writeln!(out, "<figcaption>{}</figcaption>\n</figure>", self.caption);
    }
}

/// The time axis: hours since the run's start, or days when the run is longer than 3 days.
pub struct TimeAxis {
    ms_per_unit: f64,
    unit: &'static str,
    /// The run's end (or the latest time the report holds, if later).
    pub end_ms: Millis,
}

impl TimeAxis {
    /// The axis for a report.
    pub fn of(r: &Report) -> TimeAxis {
        let jobs_end = r
            .jobs
            .iter()
            .map(|j| j.end_ms.unwrap_or(j.start_ms))
            .max()
            .unwrap_or(0);
        let end_ms = r
            .meta
            .duration_ms
            .max(r.times.last().copied().unwrap_or(0))
            .max(jobs_end);
        let (ms_per_unit, unit) = if end_ms > 3 * DAY_MS {
            (DAY_MS as f64, "days")
        } else {
            (HOUR_MS as f64, "hours")
        };
        TimeAxis {
            ms_per_unit,
            unit,
            end_ms,
        }
    }

    fn x(&self, ms: Millis) -> f64 {
        ms as f64 / self.ms_per_unit
    }

    /// The x range (a zero-length run still gets an axis).
    fn range(&self) -> Range<f64> {
        let end = self.x(self.end_ms);
        0.0..if end > 0.0 { end } else { 1.0 }
    }

    fn desc(&self) -> String {
        format!("{} since the run's start", self.unit)
    }
}

/// Consecutive report intervals merged into one point.
struct Bucket {
    start_ms: Millis,
    end_ms: Millis,
    ks: Range<usize>,
}

/// The report's intervals in buckets of `n` each, `n` the fewest that keeps a line within
/// [`MAX_POINTS`] points.
fn buckets(times: &[Millis]) -> (Vec<Bucket>, usize) {
    let per = times.len().div_ceil(MAX_POINTS).max(1);
    let out = (0..times.len())
        .step_by(per)
        .map(|a| {
            let b = (a + per).min(times.len());
            Bucket {
                start_ms: if a == 0 { 0 } else { times[a - 1] },
                end_ms: times[b - 1],
                ks: a..b,
            }
        })
        .collect();
    (out, per)
}

/// A line's stretches between gaps: each starts at its first bucket's start and has a point at the end
/// of every bucket (a value holds for its whole interval).
fn stretches(
    axis: &TimeAxis,
    buckets: &[Bucket],
    value: impl Fn(Range<usize>) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for b in buckets {
        match value(b.ks.clone()) {
            Some(v) if v.is_finite() => {
                if cur.is_empty() {
                    cur.push((axis.x(b.start_ms), v));
                }
                cur.push((axis.x(b.end_ms), v));
            }
            _ => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Ends a caption's first sentence: `each` when the plans have lines of their own, else says which file
/// has them (more than [`MAX_LINES`] plans).
fn plans_note(caption: &mut String, plans: usize, each: &str, file: &str) {
    caption.push_str(match plans {
        0 => ".",
        n if n <= MAX_LINES => each,
        _ => "; ",
    });
    if plans > MAX_LINES {
        let _ = write!(
            caption,
            "{plans} recovery plans are too many for lines of their own (at most {MAX_LINES}): {file} has them."
        );
    }
}

/// One line of a chart (also of the plan page's panels): a path through each stretch of values.
pub(crate) struct Line {
    pub(crate) label: String,
    pub(crate) colour: RGBColor,
    pub(crate) width: u32,
    pub(crate) dashed: bool,
    pub(crate) stretches: Vec<Vec<(f64, f64)>>,
}

impl Line {
    /// Its legend entry.
    pub(crate) fn key(&self) -> Key {
        Key {
            label: self.label.clone(),
            colour: self.colour,
            line: Some(self.width),
            dashed: self.dashed,
        }
    }

    /// Every value it draws.
    pub(crate) fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.stretches.iter().flatten().map(|p| p.1)
    }

    fn max(&self) -> f64 {
        self.stretches
            .iter()
            .flatten()
            .map(|p| p.1)
            .fold(0.0, f64::max)
    }
}

/// An axis label: at most 2 decimals, no trailing zeros.
pub(crate) fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The top of a y axis: the largest value and some room above it.
pub(crate) fn y_top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

pub(crate) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// What goes on a line chart besides its lines.
struct Frame<'a> {
    y_desc: &'a str,
    y_max: f64,
    /// A horizontal line and its label.
    threshold: Option<(f64, String)>,
    /// Written in the middle when there is nothing to draw.
    empty: Option<&'a str>,
}

fn line_chart(axis: &TimeAxis, frame: &Frame<'_>, lines: &[Line]) -> String {
    let mut svg = String::new();
    let drawn = draw_lines(&mut svg, axis, frame, lines);
    finish(svg, drawn)
}

fn draw_lines(svg: &mut String, axis: &TimeAxis, frame: &Frame<'_>, lines: &[Line]) -> DrawResult {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let x = axis.range();
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .margin_right(28)
        .x_label_area_size(52)
        .y_label_area_size(78)
        .build_cartesian_2d(x.clone(), 0f64..frame.y_max)?;
    chart
        .configure_mesh()
        .x_desc(axis.desc())
        .y_desc(frame.y_desc)
        .label_style((FONT, 15).into_font().color(&INK))
        .axis_desc_style((FONT, 16).into_font().color(&INK))
        .light_line_style(GRID_LIGHT)
        .max_light_lines(4)
        .bold_line_style(GRID_BOLD)
        .x_label_formatter(&|v| num(*v))
        .y_label_formatter(&|v| num(*v))
        .draw()?;
    if let Some((y, label)) = &frame.threshold {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x.start, *y), (x.end, *y)],
            THRESHOLD.stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            label.clone(),
            (x.end, *y),
            (FONT, 15)
                .into_font()
                .color(&THRESHOLD)
                .pos(Pos::new(HPos::Right, VPos::Bottom)),
        )))?;
    }
    for line in lines {
        let style = line.colour.stroke_width(line.width);
        chart.draw_series(
            line.stretches
                .iter()
                .map(|s| PathElement::new(s.clone(), style)),
        )?;
    }
    if let Some(note) = frame.empty {
        chart.draw_series(std::iter::once(Text::new(
            note.to_owned(),
            ((x.start + x.end) / 2.0, frame.y_max / 2.0),
            (FONT, 18)
                .into_font()
                .color(&MUTED)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        )))?;
    }
    root.present()?;
    Ok(())
}

/// The SVG for the page, marked as an image; a note instead should plotters have failed.
pub(crate) fn finish(svg: String, drawn: DrawResult) -> String {
    match drawn {
        Ok(()) => svg.replacen("<svg ", "<svg role=\"img\" ", 1),
        Err(e) => format!(
            "<p class=\"bad\">the chart could not be drawn: {}</p>\n",
            esc(&e.to_string())
        ),
    }
}

/// The note a caption gets when points were merged.
fn merged_note(per: usize, how: &str) -> String {
    if per > 1 {
        format!(
            " Each point is the {how} of {per} consecutive intervals (a line keeps at most {MAX_POINTS} points)."
        )
    } else {
        String::new()
    }
}

/// RPO over time: the fleet's p50, p95 and max; each plan's p95 (up to [`MAX_LINES`] plans); the threshold.
pub fn rpo(r: &Report, axis: &TimeAxis) -> Chart {
    const MIN: f64 = 60_000.0;
    let (bs, per) = buckets(&r.times);
    let plans: Vec<_> = r
        .rpo
        .iter()
        .filter(|s| matches!(s.scope, Scope::Plan(_)))
        .collect();
    let mut lines = Vec::new();
    if plans.len() <= MAX_LINES {
        for (k, s) in plans.iter().enumerate() {
            lines.push(Line {
                dashed: false,
                label: format!("plan {} p95", s.scope.name()),
                colour: PALETTE[k % PALETTE.len()],
                width: 2,
                stretches: stretches(axis, &bs, |ks| {
                    ks.filter_map(|k| s.values.get(k).copied().flatten())
                        .map(|p| p.p95_ms)
                        .max()
                        .map(|v| v as f64 / MIN)
                }),
            });
        }
    }
    let plan_lines = lines.len();
    if let Some(fleet) = r.rpo.iter().find(|s| s.scope == Scope::Fleet) {
        type Pick = fn(&crate::report::series::RpoPoint) -> Millis;
        let fleet_lines: [(&str, RGBColor, u32, Pick); 3] = [
            ("fleet max", FLEET_MAX, 1, |p| p.max_ms),
            ("fleet p95", FLEET_P95, 3, |p| p.p95_ms),
            ("fleet p50", FLEET_P50, 2, |p| p.p50_ms),
        ];
        for (label, colour, width, pick) in fleet_lines {
            lines.push(Line {
                dashed: false,
                label: label.into(),
                colour,
                width,
                stretches: stretches(axis, &bs, |ks| {
                    ks.filter_map(|k| fleet.values.get(k).copied().flatten())
                        .map(|p| pick(&p))
                        .max()
                        .map(|v| v as f64 / MIN)
                }),
            });
        }
    }
    let threshold = r.meta.rpo_threshold_ms as f64 / MIN;
    let top = lines.iter().map(Line::max).fold(threshold, f64::max);
    let none = lines.iter().all(|l| l.stretches.is_empty());
    let svg = line_chart(
        axis,
        &Frame {
            y_desc: "RPO, minutes",
            y_max: y_top(top),
            threshold: (threshold > 0.0).then(|| {
                (
                    threshold,
                    format!("RPO threshold {}", duration(r.meta.rpo_threshold_ms)),
                )
            }),
            empty: none.then_some("no machine replicated with a recovery point"),
        },
        &lines,
    );
    // drawn plans first, the fleet on top; listed fleet first
    let mut legend: Vec<Key> = lines[plan_lines..].iter().rev().map(Line::key).collect();
    legend.extend(lines[..plan_lines].iter().map(Line::key));
    legend.push(Key {
        label: "RPO threshold".into(),
        colour: THRESHOLD,
        line: Some(2),
        dashed: false,
    });
    let mut caption = format!(
        "The RPO of each report interval ({}), over the machine-time in it: the fleet's median, 95th \
         percentile and largest",
        duration(r.meta.interval_ms)
    );
    plans_note(
        &mut caption,
        plans.len(),
        ", and each recovery plan's 95th percentile.",
        "rpo.csv",
    );
    caption.push_str(
        " Gaps: no machine was replicating with a recovery point. The red line is the RPO threshold.",
    );
    caption.push_str(&merged_note(per, "largest value"));
    Chart {
        id: "rpo",
        title: "RPO over time",
        svg,
        legend,
        caption,
    }
}

/// Throughput per link direction, process server and master target (those up to [`MAX_LINES`] of a kind).
pub fn throughput(r: &Report, axis: &TimeAxis) -> Chart {
    const MB: f64 = 1e6;
    let (bs, per) = buckets(&r.times);
    let of =
        |kind: ResourceKind| -> Vec<_> { r.throughput.iter().filter(|t| t.kind == kind).collect() };
    let (links, pss, mts) = (
        of(ResourceKind::Link),
        of(ResourceKind::ProcessServer),
        of(ResourceKind::MasterTarget),
    );
    // bytes/s weighted by each interval's length (the last may be shorter)
    let len = |k: usize| r.times[k] - if k == 0 { 0 } else { r.times[k - 1] };
    let mean = |v: &[u64], ks: Range<usize>| -> Option<f64> {
        let (mut bytes, mut ms) = (0f64, 0f64);
        for k in ks {
            let l = len(k) as f64;
            bytes += v.get(k).copied().unwrap_or(0) as f64 * l;
            ms += l;
        }
        Some(if ms > 0.0 { bytes / ms / MB } else { 0.0 })
    };
    let mut lines = Vec::new();
    let mut colours = PALETTE.iter().copied().cycle();
    for t in &links {
        let (label, colour) = match t.name.as_str() {
            crate::report::sample::LINK_TO_ONPREM => {
                ("site link, Azure → on-premises".to_owned(), LINK_TO_ONPREM)
            }
            crate::report::sample::LINK_TO_AZURE => {
                ("site link, on-premises → Azure".to_owned(), LINK_TO_AZURE)
            }
            other => (other.to_owned(), MUTED),
        };
        lines.push(Line {
            dashed: false,
            label,
            colour,
            width: 3,
            stretches: stretches(axis, &bs, |ks| mean(&t.bytes_per_s, ks)),
        });
    }
    for (group, prefix, label, width) in [
        (&pss, "ps/", "process server", 2),
        (&mts, "mt/", "master target", 1),
    ] {
        if group.len() > MAX_LINES {
            continue;
        }
        for t in group {
            lines.push(Line {
                dashed: false,
                label: format!("{label} {}", t.name.strip_prefix(prefix).unwrap_or(&t.name)),
                colour: colours.next().unwrap_or(MUTED),
                width,
                stretches: stretches(axis, &bs, |ks| mean(&t.bytes_per_s, ks)),
            });
        }
    }
    let top = lines.iter().map(Line::max).fold(0.0, f64::max);
    let svg = line_chart(
        axis,
        &Frame {
            y_desc: "MB/s",
            y_max: y_top(top),
            threshold: None,
            empty: (r.times.is_empty() || r.throughput.is_empty()).then_some("no data"),
        },
        &lines,
    );
    let mut caption = format!(
        "Mean throughput in each report interval ({}), in MB/s (10⁶ bytes a second): the site link in \
         both directions, each process server (Azure) and each master target (on-premises) — replication \
         and resynchronisation bytes that crossed it.",
        duration(r.meta.interval_ms)
    );
    for (group, what) in [(&pss, "process servers"), (&mts, "master targets")] {
        if group.len() > MAX_LINES {
            let _ = write!(
                caption,
                " The {} {what} are left out (more than {MAX_LINES}): throughput.csv has them.",
                group.len()
            );
        }
    }
    caption.push_str(&merged_note(per, "mean"));
    Chart {
        id: "throughput",
        title: "Throughput",
        legend: lines.iter().map(Line::key).collect(),
        svg,
        caption,
    }
}

/// Unsent bytes: the fleet and each plan (up to [`MAX_LINES`] plans).
pub fn backlog(r: &Report, axis: &TimeAxis) -> Chart {
    let (bs, per) = buckets(&r.times);
    let plans: Vec<_> = r
        .backlog
        .iter()
        .filter(|s| matches!(s.scope, Scope::Plan(_)))
        .collect();
    let fleet = r.backlog.iter().find(|s| s.scope == Scope::Fleet);
    let largest = r
        .backlog
        .iter()
        .filter(|s| !matches!(s.scope, Scope::Item(_)))
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let (unit, size) = if largest >= 1 << 30 {
        ("GiB", (1u64 << 30) as f64)
    } else {
        ("MiB", (1u64 << 20) as f64)
    };
    let peak = |v: &[u64], ks: Range<usize>| {
        ks.filter_map(|k| v.get(k).copied())
            .max()
            .map(|b| b as f64 / size)
    };
    let mut lines = Vec::new();
    if plans.len() <= MAX_LINES {
        for (k, s) in plans.iter().enumerate() {
            lines.push(Line {
                dashed: false,
                label: format!("plan {}", s.scope.name()),
                colour: PALETTE[k % PALETTE.len()],
                width: 2,
                stretches: stretches(axis, &bs, |ks| peak(&s.values, ks)),
            });
        }
    }
    if let Some(f) = fleet {
        lines.push(Line {
            dashed: false,
            label: "fleet".into(),
            colour: FLEET_P95,
            width: 3,
            stretches: stretches(axis, &bs, |ks| peak(&f.values, ks)),
        });
    }
    // drawn plans first, the fleet on top; listed fleet first
    let mut legend: Vec<Key> = lines.iter().map(Line::key).collect();
    legend.rotate_right(usize::from(fleet.is_some()));
    let top = lines.iter().map(Line::max).fold(0.0, f64::max);
    let y_desc = format!("unsent, {unit}");
    let svg = line_chart(
        axis,
        &Frame {
            y_desc: &y_desc,
            y_max: y_top(top),
            threshold: None,
            empty: r.times.is_empty().then_some("no data"),
        },
        &lines,
    );
    let mut caption = format!(
        "Bytes not yet sent at the end of each report interval ({}), in {unit}: churn waiting to \
         replicate plus what resynchronisations still have to copy, for the fleet",
        duration(r.meta.interval_ms)
    );
    plans_note(
        &mut caption,
        plans.len(),
        " and each recovery plan.",
        "backlog.csv",
    );
    caption.push_str(&merged_note(per, "largest value"));
    Chart {
        id: "backlog",
        title: "Unsent bytes",
        legend,
        svg,
        caption,
    }
}

/// A job's steps of one name, over its machines.
struct StepSpan {
    name: String,
    start_ms: Millis,
    end_ms: Millis,
    machines: usize,
    result: &'static str,
}

/// The steps of a job by name, in the order the names first started.
fn step_spans(j: &JobRow, run_end: Millis) -> Vec<StepSpan> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_name: BTreeMap<
        &str,
        (Millis, Millis, std::collections::BTreeSet<&str>, bool, bool),
    > = BTreeMap::new();
    for s in &j.steps {
        let end = s.end_ms.unwrap_or(run_end.max(s.start_ms));
        let e = by_name.entry(&*s.name).or_insert_with(|| {
            order.push(&*s.name);
            (s.start_ms, end, Default::default(), false, false)
        });
        e.0 = e.0.min(s.start_ms);
        e.1 = e.1.max(end);
        e.2.insert(s.item.as_str());
        e.3 |= s.ok == Some(false);
        e.4 |= s.ok.is_none();
    }
    order
        .into_iter()
        .map(|n| {
            let (start_ms, end_ms, items, failed, running) = &by_name[n];
            StepSpan {
                name: n.to_owned(),
                start_ms: *start_ms,
                end_ms: *end_ms,
                machines: items.len(),
                result: if *failed {
                    "failed"
                } else if *running {
                    "running"
                } else {
                    "succeeded"
                },
            }
        })
        .collect()
}

fn colours_of(result: &str) -> (RGBColor, RGBColor) {
    JOB_COLOURS
        .iter()
        .find(|c| c.0 == result)
        .map_or((MUTED, GRID_BOLD), |c| (c.1, c.2))
}

/// At most `n` characters, an ellipsis for the rest.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The label of a job's bar: "job N operation plan" (or its machine, or how many).
pub fn job_label(j: &JobRow) -> String {
    let what = match (&j.plan, j.items.as_slice()) {
        (Some(p), _) => p.clone(),
        (None, [one]) => one.clone(),
        (None, many) => format!("{} machines", many.len()),
    };
    format!("job {} {} {what}", j.job, j.operation)
}

const JOB_ROW: i32 = 24;
const STEP_ROW: i32 = 15;
const LABEL_AREA: u32 = 340;

/// The Gantt timeline of the jobs: a bar per job coloured by its result, beneath it a thinner bar per
/// step name (from its first machine's start to its last machine's end).
pub fn jobs(r: &Report, axis: &TimeAxis) -> Chart {
    let shown = pick_jobs(&r.jobs, MAX_GANTT_JOBS);
    // every job gets its row; steps get what is left of the rows, job after job while they fit
    let mut room = MAX_GANTT_ROWS.saturating_sub(shown.len());
    let mut steps_for = 0usize;
    let mut fits = true;
    let blocks: Vec<(&JobRow, Vec<StepSpan>)> = shown
        .iter()
        .map(|&j| {
            let spans = step_spans(j, axis.end_ms);
            fits = fits && spans.len() <= room;
            if !fits {
                return (j, Vec::new());
            }
            room -= spans.len();
            steps_for += 1;
            (j, spans)
        })
        .collect();
    let mut svg = String::new();
    let drawn = draw_gantt(&mut svg, axis, &blocks);
    let svg = finish(svg, drawn);
    let mut legend: Vec<Key> = JOB_COLOURS
        .iter()
        .map(|(what, c, _)| Key {
            label: format!("job {what}"),
            colour: *c,
            line: None,
            dashed: false,
        })
        .collect();
    legend.extend(JOB_COLOURS.iter().take(2).map(|(what, _, c)| Key {
        label: format!("step {what}"),
        colour: *c,
        line: None,
        dashed: false,
    }));
    let mut caption = String::from(
        "One bar per job, coloured by its result; beneath it its steps by name, from the first machine's \
         start of the step to the last machine's end (in brackets: on how many machines). Jobs and steps \
         still running end at the run's end.",
    );
    if shown.len() < r.jobs.len() {
        let _ = write!(
            caption,
            " {} of {} jobs are shown (failed, cancelled and running ones first, then by id): the job table \
             and jobs.csv have them all.",
            shown.len(),
            r.jobs.len()
        );
    }
    if steps_for < blocks.len() {
        let _ = write!(
            caption,
            " Steps are drawn for the first {steps_for} jobs only, to keep the chart readable."
        );
    }
    Chart {
        id: "jobs",
        title: "Jobs",
        svg,
        legend,
        caption,
    }
}

fn draw_gantt(
    svg: &mut String,
    axis: &TimeAxis,
    blocks: &[(&JobRow, Vec<StepSpan>)],
) -> DrawResult {
    let rows_px: i32 = blocks
        .iter()
        .map(|(_, s)| JOB_ROW + STEP_ROW * s.len() as i32)
        .sum::<i32>()
        .max(JOB_ROW * 2);
    let (top_margin, x_area, bottom_margin) = (12, 52, 8);
    // a tall chart gets the time axis on top too
    let top_axis = if rows_px > 600 { x_area } else { 0 };
    let height =
        u32::try_from(rows_px + top_margin + top_axis + x_area + bottom_margin).unwrap_or(HEIGHT);
    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let x = axis.range();
    let mut chart = ChartBuilder::on(&root)
        .set_label_area_size(LabelAreaPosition::Top, top_axis)
        .margin_top(top_margin)
        .margin_bottom(bottom_margin)
        .margin_left(8)
        .margin_right(28)
        .x_label_area_size(x_area)
        .y_label_area_size(LABEL_AREA)
        .build_cartesian_2d(x.clone(), 0f64..1f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(axis.desc())
        .label_style((FONT, 15).into_font().color(&INK))
        .axis_desc_style((FONT, 16).into_font().color(&INK))
        .light_line_style(GRID_LIGHT)
        .max_light_lines(4)
        .bold_line_style(GRID_BOLD)
        .x_label_formatter(&|v| num(*v))
        .draw()?;
    let (px, py) = chart.plotting_area().get_pixel_range();
    let xpix = |ms: Millis| chart.backend_coord(&(axis.x(ms), 0.0)).0;
    let job_font = (FONT, 15)
        .into_font()
        .color(&INK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    let step_font = (FONT, 13)
        .into_font()
        .color(&MUTED)
        .pos(Pos::new(HPos::Right, VPos::Center));
    let band = RGBColor(110, 110, 140).mix(0.07);
    let mut top = py.start;
    for (n, (j, spans)) in blocks.iter().enumerate() {
        let h = JOB_ROW + STEP_ROW * spans.len() as i32;
        if n % 2 == 0 {
            root.draw(&Rectangle::new(
                [(8, top), (px.end, top + h)],
                band.filled(),
            ))?;
        }
        let end = j.end_ms.unwrap_or(axis.end_ms.max(j.start_ms));
        let (dark, _) = colours_of(&j.result);
        let x0 = xpix(j.start_ms);
        let x1 = xpix(end).max(x0 + 2);
        root.draw(&Rectangle::new(
            [(x0, top + 5), (x1, top + JOB_ROW - 5)],
            dark.filled(),
        ))?;
        root.draw(&Text::new(
            clip(&job_label(j), 40),
            (px.start - 10, top + JOB_ROW / 2),
            job_font.clone(),
        ))?;
        let several = j.items.len() > 1;
        for (k, s) in spans.iter().enumerate() {
            let y = top + JOB_ROW + STEP_ROW * k as i32;
            let (_, light) = colours_of(s.result);
            let x0 = xpix(s.start_ms);
            let x1 = xpix(s.end_ms).max(x0 + 2);
            root.draw(&Rectangle::new(
                [(x0, y + 3), (x1, y + STEP_ROW - 3)],
                light.filled(),
            ))?;
            let label = if several {
                format!("{} ({})", clip(&s.name, 40), s.machines)
            } else {
                clip(&s.name, 46)
            };
            root.draw(&Text::new(
                label,
                (px.start - 10, y + STEP_ROW / 2),
                step_font.clone(),
            ))?;
        }
        top += h;
    }
    if blocks.is_empty() {
        root.draw(&Text::new(
            "no jobs in this run",
            ((px.start + px.end) / 2, (py.start + py.end) / 2),
            (FONT, 18)
                .into_font()
                .color(&MUTED)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
    }
    root.present()?;
    Ok(())
}
