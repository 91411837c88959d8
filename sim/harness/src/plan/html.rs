//! `plan.html`: one self-contained page (inline CSS, SVG and a few lines of script, nothing fetched from
//! the network) with the recommendations, four charts of the sweep and its tables. It is drawn like
//! `report.html` ([`crate::report::html`]): plotters' SVG backend, the same colours, fonts, legend,
//! `figure.chart` and on-load check (`<body data-charts-ok="N">`, read by `tests/report_browser.rs`).
//!
//! Every chart has the site-link bandwidth on its x axis, in Mbps — on a log scale when the swept range
//! spans more than 10× — and a line per process-server count, of the same colour in every chart (at most
//! [`MAX_LINES`] counts, spread over the swept ones):
//! - `compliance`: the share of the time the RPO was held, against the 100 % and 90 % levels, with the
//!   smallest swept bandwidths that held them (the recommendations) marked;
//! - `rpo`: the fleet's RPO at the planner's percentile (solid) and its peak (dashed), in minutes,
//!   against the desired RPO;
//! - `failback`: a panel each for the longest reprotect by mode (OLR, ALR: when some machine was
//!   reprotected so) and the longest failback downtime of a machine and of a recovery plan;
//! - `ps`: the busiest process server's peak utilisation (its peak MB/s when the servers are uncapped).
//!
//! A sweep of one bandwidth gets points instead of lines; a value a point lacks leaves a gap in its
//! line. Deterministic: the page is a function of the [`PlanResult`] alone; every name is escaped.

use super::PlanResult;
use super::output::{mbps, secs, text};
use super::point::PointResult;
use super::variant::Variant;
use crate::report::html::charts::{
    self, Chart, DrawResult, FONT, GRID_BOLD, GRID_LIGHT, HEIGHT, INK, Key, LINK_TO_AZURE, Line,
    MAX_LINES, MUTED, PALETTE, THRESHOLD, WIDTH, num, y_top,
};
use crate::report::html::{CSS, SCRIPT, duration, esc};
use crate::units::human_bytes;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::ops::Range;

/// The 90 % level and the bandwidth holding it (the 100 % ones are the threshold's red).
const NINETY: RGBColor = LINK_TO_AZURE;
/// A panel's height when a chart has two rows of them.
const PANEL_HEIGHT: u32 = 380;
/// Failback durations are shown in hours beyond this many seconds (3 h), else in minutes.
const HOURS_BEYOND_S: f64 = 3.0 * 3600.0;

/// The page: the recommendations, the charts, then the process-server sizing, the initial-replication
/// batch and every point.
pub fn render(r: &PlanResult) -> String {
    let s = &r.settings;
    let mut o = String::with_capacity(128 * 1024);
    let title = format!("drsim plan — {}", r.scenario);
    o.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        o,
        "<meta name=\"generator\" content=\"drsim {}\">",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(o, "<title>{}</title>", esc(&title));
    o.push_str("<style>\n");
    o.push_str(CSS);
    o.push_str(PLAN_CSS);
    o.push_str("</style>\n</head>\n<body data-charts-ok=\"0\">\n");
    let _ = writeln!(o, "<header>\n<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        o,
        "<p class=\"meta\">{} points ({} bandwidths × {} process-server counts) · desired RPO {} · growth {} % · \
         p{} · initial replication goal {}</p>",
        r.points.len(),
        s.bandwidths.len(),
        s.process_servers.len(),
        duration(s.rpo_ms),
        s.growth_pct,
        s.percentile,
        duration(s.ir_goal_ms),
    );
    o.push_str(
        "<nav><a href=\"#recommendations\">Recommendations</a> <a href=\"#compliance\">RPO compliance</a> \
         <a href=\"#rpo\">RPO</a> <a href=\"#failback\">Failback</a> <a href=\"#ps\">Process-server load</a> \
         <a href=\"#ps-sizing\">Process servers</a> <a href=\"#ir-batch\">Initial replication</a> \
         <a href=\"#points\">Points</a></nav>\n</header>\n<main>\n",
    );
    let _ = writeln!(
        o,
        "<h2 id=\"recommendations\">Recommendations</h2>\n<pre>{}</pre>",
        esc(&text(r))
    );
    let axis = BwAxis::of(r.points.iter().map(|p| p.variant.bandwidth_bytes_per_s));
    let lines = PsLines::of(&r.points);
    for chart in [
        compliance(r, &axis, &lines),
        rpo(r, &axis, &lines),
        failback(r, &axis, &lines),
        ps(r, &axis, &lines),
    ] {
        chart.write_figure(&mut o);
    }
    tables(r, &mut o);
    o.push_str("</main>\n<script>\n");
    o.push_str(SCRIPT);
    o.push_str("</script>\n</body>\n</html>\n");
    o
}

/// What the plan page adds to the report page's style.
const PLAN_CSS: &str = r#"pre { background: #f6f6f6; padding: .8rem 1rem; white-space: pre-wrap; font-size: .9rem; }
main table th, main table td { text-align: right; font-variant-numeric: tabular-nums; }
"#;

fn tables(r: &PlanResult, o: &mut String) {
    o.push_str(
        "<h2 id=\"ps-sizing\">Process servers (DOMAIN.md §5)</h2>\n<table>\n<thead><tr><th>count</th><th>vCPU</th>\
         <th>memory</th><th>cache</th><th>≤ churn/day each</th><th>≤ machines each</th></tr></thead>\n<tbody>\n",
    );
    for p in &r.recommendations.process_servers {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{} GB</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.count,
            p.cpus,
            p.memory_gb,
            human_bytes(p.cache_bytes),
            human_bytes(p.max_daily_bytes),
            p.max_machines
        );
    }
    o.push_str(
        "</tbody>\n</table>\n<h2 id=\"ir-batch\">Initial replication batch</h2>\n<table>\n<thead><tr><th>bandwidth</th>\
         <th>machines within the goal</th></tr></thead>\n<tbody>\n",
    );
    for (bw, n) in &r.recommendations.ir_batch {
        let _ = writeln!(o, "<tr><td>{}</td><td>{n}</td></tr>", mbps(*bw));
    }
    o.push_str(
        "</tbody>\n</table>\n<h2 id=\"points\">Points</h2>\n<div class=\"scroll\">\n<table>\n<thead><tr><th>bandwidth</th>\
         <th>PS</th><th>verdict</th><th>RPO compliance</th><th>RPO pctl</th><th>RPO peak</th>\
         <th>initial replication</th><th>reprotect OLR</th><th>reprotect ALR</th><th>failback downtime</th>\
         <th>plan downtime</th><th>PS peak</th></tr></thead>\n<tbody>\n",
    );
    for p in &r.points {
        point_row(p, o);
    }
    o.push_str("</tbody>\n</table>\n</div>\n");
}

fn point_row(p: &PointResult, o: &mut String) {
    let _ = writeln!(
        o,
        "<tr><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        mbps(p.variant.bandwidth_bytes_per_s),
        p.variant.process_servers,
        if p.pass {
            "<td>pass</td>"
        } else {
            "<td class=\"bad\">fail</td>"
        },
        p.rpo_compliance_pct
            .map_or_else(|| "–".into(), |v| format!("{v:.1} %")),
        secs(p.rpo_percentile_s),
        secs(p.rpo_peak_s),
        secs(p.initial_replication_s),
        secs(p.reprotect_olr.longest_s),
        secs(p.reprotect_alr.longest_s),
        secs(p.failback_downtime_max_s),
        secs(p.plan_downtime_max_s),
        p.ps_peak_utilisation.map_or_else(
            || human_bytes(p.ps_peak_bytes_per_s) + "/s",
            |u| format!("{:.0} %", u * 100.0)
        ),
    );
}

fn mbps_of(bytes_per_s: u64) -> f64 {
    bytes_per_s as f64 * 8.0 / 1e6
}

/// The x axis: the bandwidth in Mbps, or its log10 when the swept bandwidths span more than 10×; ticks
/// at round values (1, 2, 5 × 10ⁿ on a log scale, with a light line at every other whole multiple).
struct BwAxis {
    log: bool,
    range: Range<f64>,
    ticks: Vec<f64>,
    light: Vec<f64>,
}

impl BwAxis {
    fn of(bandwidths: impl Iterator<Item = u64> + Clone) -> BwAxis {
        let lo = bandwidths.clone().min().map(mbps_of);
        let hi = bandwidths.max().map(mbps_of);
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo > 0.0 && hi > 10.0 * lo => {
                let (a, b) = (lo.log10(), hi.log10());
                let pad = (b - a) * 0.06;
                let range = a - pad..b + pad;
                let (ticks, light) = log_ticks(&range);
                BwAxis {
                    log: true,
                    range,
                    ticks,
                    light,
                }
            }
            (Some(lo), Some(hi)) => {
                let range = if hi > lo {
                    let pad = (hi - lo) * 0.08;
                    (lo - pad).max(0.0)..hi + pad
                } else if lo > 0.0 {
                    lo * 0.5..lo * 1.5
                } else {
                    0.0..1.0
                };
                BwAxis::linear(range)
            }
            _ => BwAxis::linear(0.0..100.0),
        }
    }

    fn linear(range: Range<f64>) -> BwAxis {
        BwAxis {
            log: false,
            ticks: linear_ticks(&range),
            light: Vec::new(),
            range,
        }
    }

    /// Where a bandwidth is on the axis.
    fn x(&self, bytes_per_s: u64) -> f64 {
        let m = mbps_of(bytes_per_s);
        if self.log { m.log10() } else { m }
    }

    fn label(&self, x: f64) -> String {
        num(if self.log { 10f64.powf(x) } else { x })
    }

    fn desc(&self) -> &'static str {
        if self.log {
            "site-link bandwidth, Mbps (log scale)"
        } else {
            "site-link bandwidth, Mbps"
        }
    }
}

/// Bold ticks at 1, 2 and 5 × 10ⁿ (at 10ⁿ only beyond 4 decades), light lines at the other multiples;
/// `r` is in log10 units.
fn log_ticks(r: &Range<f64>) -> (Vec<f64>, Vec<f64>) {
    let (k0, k1) = (r.start.floor() as i32, r.end.ceil() as i32);
    let wide = k1 - k0 > 4;
    let (mut bold, mut light) = (Vec::new(), Vec::new());
    for k in k0..=k1 {
        for m in 1..=9u32 {
            let v = (f64::from(m) * 10f64.powi(k)).log10();
            if v < r.start || v > r.end {
                continue;
            }
            if m == 1 || (!wide && (m == 2 || m == 5)) {
                bold.push(v);
            } else if !wide {
                light.push(v);
            }
        }
    }
    (bold, light)
}

/// About six ticks at multiples of 1, 2 or 5 × 10ⁿ.
fn linear_ticks(r: &Range<f64>) -> Vec<f64> {
    let raw = (r.end - r.start) / 6.0;
    if !(raw.is_finite() && raw > 0.0) {
        return vec![r.start];
    }
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let (first, last) = (
        (r.start / step).ceil() as i64,
        (r.end / step).floor() as i64,
    );
    (first..=last).map(|i| i as f64 * step).collect()
}

/// The process-server counts that get lines, each with its points (by bandwidth), colour and width.
struct PsLines {
    lines: Vec<PsLine>,
    /// How many counts the sweep has.
    swept: usize,
}

struct PsLine {
    count: usize,
    colour: RGBColor,
    /// Fewer servers, wider lines: where lines coincide, each shows beneath the next.
    width: u32,
    points: Vec<PointResult>,
}

impl PsLines {
    fn of(points: &[PointResult]) -> PsLines {
        let counts: Vec<usize> = points
            .iter()
            .map(|p| p.variant.process_servers)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let shown: Vec<usize> = if counts.len() <= MAX_LINES {
            counts.clone()
        } else {
            // spread over the swept counts, the fewest and the most included
            (0..MAX_LINES)
                .map(|k| counts[(k * (counts.len() - 1) + (MAX_LINES - 1) / 2) / (MAX_LINES - 1)])
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        let n = shown.len();
        let lines = shown
            .iter()
            .enumerate()
            .map(|(k, &count)| {
                let mut pts: Vec<PointResult> = points
                    .iter()
                    .filter(|p| p.variant.process_servers == count)
                    .cloned()
                    .collect();
                pts.sort_by_key(|p| p.variant.bandwidth_bytes_per_s);
                PsLine {
                    count,
                    colour: PALETTE[k % PALETTE.len()],
                    width: if n == 1 {
                        3
                    } else {
                        2 + u32::try_from((n - 1 - k) * 4 / (n - 1)).unwrap_or(0)
                    },
                    points: pts,
                }
            })
            .collect();
        PsLines {
            lines,
            swept: counts.len(),
        }
    }

    /// A series per shown count, labelled "`count` PS`suffix`".
    fn series(
        &self,
        axis: &BwAxis,
        suffix: &str,
        dashed: bool,
        value: impl Fn(&PointResult) -> Option<f64>,
    ) -> Vec<Series> {
        self.lines
            .iter()
            .map(|l| Series {
                label: format!("{} PS{suffix}", l.count),
                colour: l.colour,
                width: l.width,
                dashed,
                stretches: stretches(axis, &l.points, &value),
            })
            .collect()
    }

    fn keys(&self) -> Vec<Key> {
        self.lines
            .iter()
            .map(|l| Key {
                label: format!(
                    "{} process server{}",
                    l.count,
                    if l.count == 1 { "" } else { "s" }
                ),
                colour: l.colour,
                line: Some(l.width),
                dashed: false,
            })
            .collect()
    }
}

/// A line's stretches between the points that lack a value.
fn stretches(
    axis: &BwAxis,
    points: &[PointResult],
    value: &impl Fn(&PointResult) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for p in points {
        match value(p) {
            Some(v) if v.is_finite() => cur.push((axis.x(p.variant.bandwidth_bytes_per_s), v)),
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

/// One line of a panel (a dot is drawn at each point too).
type Series = Line;

/// A horizontal line across a panel, labelled at its right end.
struct Rule {
    at: f64,
    label: String,
    colour: RGBColor,
}

/// A dashed vertical line at a recommended bandwidth, a ring around its point, and a label.
struct Mark {
    x: f64,
    y: Option<f64>,
    label: String,
    colour: RGBColor,
}

/// One set of axes.
struct Panel {
    title: Option<String>,
    y_desc: String,
    y: Range<f64>,
    rules: Vec<Rule>,
    marks: Vec<Mark>,
    series: Vec<Series>,
    /// Written in the middle when there is nothing to draw.
    empty: Option<&'static str>,
}

impl Panel {
    fn max(&self) -> f64 {
        self.series
            .iter()
            .flat_map(Series::values)
            .fold(0.0, f64::max)
    }

    fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.stretches.is_empty())
    }
}

/// Panels side by side (`cols` a row) in one SVG.
fn draw(axis: &BwAxis, panels: &[Panel], cols: usize) -> String {
    let cols = cols.max(1);
    let rows = panels.len().div_ceil(cols).max(1);
    let height = if rows == 1 {
        HEIGHT
    } else {
        PANEL_HEIGHT * u32::try_from(rows).unwrap_or(1)
    };
    let mut svg = String::new();
    let drawn = draw_into(&mut svg, (WIDTH, height), axis, panels, (rows, cols));
    charts::finish(svg, drawn)
}

fn draw_into(
    svg: &mut String,
    size: (u32, u32),
    axis: &BwAxis,
    panels: &[Panel],
    grid: (usize, usize),
) -> DrawResult {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, panel) in root.split_evenly(grid).iter().zip(panels) {
        draw_panel(area, axis, panel)?;
    }
    root.present()?;
    Ok(())
}

/// The x coordinate: linear in [`BwAxis`]'s units, with its ticks.
struct BwCoord {
    inner: RangedCoordf64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl BwCoord {
    fn of(axis: &BwAxis) -> BwCoord {
        BwCoord {
            inner: axis.range.clone().into(),
            bold: axis.ticks.clone(),
            light: axis.light.clone(),
        }
    }
}

impl Ranged for BwCoord {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

type Ctx<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<BwCoord, RangedCoordf64>>;

fn path(
    chart: &mut Ctx<'_, '_>,
    pts: Vec<(f64, f64)>,
    style: ShapeStyle,
    dashed: bool,
) -> DrawResult {
    if dashed {
        chart.draw_series(std::iter::once(DashedPathElement::new(pts, 9, 6, style)))?;
    } else {
        chart.draw_series(std::iter::once(PathElement::new(pts, style)))?;
    }
    Ok(())
}

fn draw_panel(area: &DrawingArea<SVGBackend<'_>, Shift>, axis: &BwAxis, p: &Panel) -> DrawResult {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(12)
        .margin_right(28)
        .x_label_area_size(52)
        .y_label_area_size(78);
    if let Some(t) = &p.title {
        builder.caption(t, (FONT, 17).into_font().color(&INK));
    }
    let x = axis.range.clone();
    let mut chart = builder.build_cartesian_2d(BwCoord::of(axis), p.y.clone())?;
    chart
        .configure_mesh()
        .x_desc(axis.desc())
        .y_desc(p.y_desc.as_str())
        .label_style((FONT, 15).into_font().color(&INK))
        .axis_desc_style((FONT, 16).into_font().color(&INK))
        .light_line_style(GRID_LIGHT)
        .max_light_lines(4)
        .bold_line_style(GRID_BOLD)
        .x_label_formatter(&|v| axis.label(*v))
        .y_label_formatter(&|v| num(*v))
        .draw()?;
    let (y0, y1) = (p.y.start, p.y.end);
    for r in &p.rules {
        path(
            &mut chart,
            vec![(x.start, r.at), (x.end, r.at)],
            r.colour.stroke_width(2),
            false,
        )?;
        chart.draw_series(std::iter::once(Text::new(
            r.label.clone(),
            (x.end, r.at),
            (FONT, 15)
                .into_font()
                .color(&r.colour)
                .pos(Pos::new(HPos::Right, VPos::Bottom)),
        )))?;
    }
    for (k, m) in p.marks.iter().enumerate() {
        path(
            &mut chart,
            vec![(m.x, y0), (m.x, y1)],
            m.colour.stroke_width(2),
            true,
        )?;
        if let Some(v) = m.y {
            chart.draw_series(std::iter::once(Circle::new(
                (m.x, v),
                9,
                m.colour.stroke_width(2),
            )))?;
        }
        // the label beside the line, toward the middle; the first lowest
        let right = m.x > (x.start + x.end) / 2.0;
        let ly = y0 + (y1 - y0) * (0.07 + 0.09 * k as f64);
        let style = (FONT, 15).into_font().color(&m.colour).pos(Pos::new(
            if right { HPos::Right } else { HPos::Left },
            VPos::Center,
        ));
        chart.draw_series(std::iter::once(
            EmptyElement::at((m.x, ly))
                + Text::new(m.label.clone(), (if right { -7 } else { 7 }, 0), style),
        ))?;
    }
    for s in &p.series {
        let style = s.colour.stroke_width(s.width);
        for st in s.stretches.iter().filter(|st| st.len() > 1) {
            path(&mut chart, st.clone(), style, s.dashed)?;
        }
        let radius = s.width / 2 + 2;
        let dot = if s.dashed {
            s.colour.stroke_width(2)
        } else {
            s.colour.filled()
        };
        chart.draw_series(
            s.stretches
                .iter()
                .flatten()
                .map(|&pt| Circle::new(pt, radius, dot)),
        )?;
    }
    if let Some(note) = p.empty.filter(|_| p.is_empty()) {
        chart.draw_series(std::iter::once(Text::new(
            note.to_owned(),
            ((x.start + x.end) / 2.0, (y0 + y1) / 2.0),
            (FONT, 18)
                .into_font()
                .color(&MUTED)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        )))?;
    }
    Ok(())
}

/// What every chart's caption ends with: the scale, how points are drawn, what is left out.
fn notes(r: &PlanResult, axis: &BwAxis, lines: &PsLines) -> String {
    let mut o = String::new();
    if r.points.is_empty() {
        o.push_str(" The sweep has no points.");
        return o;
    }
    if axis.log {
        o.push_str(" The bandwidth axis is logarithmic.");
    }
    let bandwidths: BTreeSet<u64> = r
        .points
        .iter()
        .map(|p| p.variant.bandwidth_bytes_per_s)
        .collect();
    if bandwidths.len() == 1 {
        o.push_str(" One bandwidth was swept: points, not lines.");
    }
    if lines.lines.len() > 1 {
        o.push_str(
            " Where lines coincide, the one with fewer process servers is the wider one beneath.",
        );
    }
    if lines.swept > lines.lines.len() {
        let _ = write!(
            o,
            " {} process-server counts were swept; {} of them, spread over the range, have lines: plan.csv \
             has them all.",
            lines.swept,
            lines.lines.len()
        );
    }
    o
}

fn variant_text(v: &Variant) -> String {
    format!(
        "{} with {} PS",
        mbps(v.bandwidth_bytes_per_s),
        v.process_servers
    )
}

fn point_at<'a>(r: &'a PlanResult, v: &Variant) -> Option<&'a PointResult> {
    r.points.iter().find(|p| p.variant == *v)
}

/// RPO compliance against the 100 % and 90 % levels, the recommended bandwidths marked.
fn compliance(r: &PlanResult, axis: &BwAxis, lines: &PsLines) -> Chart {
    let series = lines.series(axis, "", false, |p| p.rpo_compliance_pct);
    // the axis starts below 90 % and the lowest point, at a multiple of 10 %
    let lowest = series.iter().flat_map(Series::values).fold(90.0, f64::min);
    let y_min = ((lowest - 5.0) / 10.0).floor().max(0.0) * 10.0;
    let y_max = 100.0 + (100.0 - y_min) * 0.09;
    let rec = &r.recommendations;
    let mut marks = Vec::new();
    let mut keys = Vec::new();
    let mut mark = |v: &Variant, what: &str, colour: RGBColor| {
        let x = axis.x(v.bandwidth_bytes_per_s);
        marks.push(Mark {
            x,
            y: point_at(r, v).and_then(|p| p.rpo_compliance_pct),
            label: format!("{what}: {}", mbps(v.bandwidth_bytes_per_s)),
            colour,
        });
        keys.push(Key {
            label: format!(
                "smallest swept bandwidth holding the RPO {what} of the time: {}",
                variant_text(v)
            ),
            colour,
            line: Some(2),
            dashed: true,
        });
    };
    match (&rec.bandwidth_rpo_100, &rec.bandwidth_rpo_90) {
        (Some(a), Some(b)) if a == b => mark(a, "100 % and 90 %", THRESHOLD),
        (a, b) => {
            if let Some(a) = a {
                mark(a, "100 %", THRESHOLD);
            }
            if let Some(b) = b {
                mark(b, "90 %", NINETY);
            }
        }
    }
    let panel = Panel {
        title: None,
        y_desc: "RPO held, % of the time".into(),
        y: y_min..y_max,
        rules: vec![
            Rule {
                at: 100.0,
                label: "100 %".into(),
                colour: THRESHOLD,
            },
            Rule {
                at: 90.0,
                label: "90 %".into(),
                colour: NINETY,
            },
        ],
        marks,
        series,
        empty: Some(if r.points.is_empty() {
            "no points"
        } else {
            "no machine replicated with a recovery point"
        }),
    };
    let mut legend = lines.keys();
    legend.push(Key {
        label: "RPO held 100 % of the time".into(),
        colour: THRESHOLD,
        line: Some(2),
        dashed: false,
    });
    legend.push(Key {
        label: "90 %".into(),
        colour: NINETY,
        line: Some(2),
        dashed: false,
    });
    legend.extend(keys);
    let mut caption = format!(
        "The share of the machines' replicating time with the RPO within the desired RPO ({}), at each swept \
         bandwidth; a line per process-server count.",
        duration(r.settings.rpo_ms)
    );
    if !r.points.is_empty() {
        caption.push_str(match (&rec.bandwidth_rpo_100, &rec.bandwidth_rpo_90) {
            (Some(_), Some(_)) => {
                " The dashed verticals mark the smallest swept bandwidths that held it 100 % and 90 % of \
                 the time (the recommendations)."
            }
            (None, Some(_)) => {
                " The dashed vertical marks the smallest swept bandwidth that held it 90 % of the time (the \
                 recommendation); none held it 100 % of the time."
            }
            (Some(_), None) => {
                " The dashed vertical marks the smallest swept bandwidth that held it 100 % of the time (the \
                 recommendation)."
            }
            (None, None) => " No swept bandwidth held it 90 % of the time, nor 100 %.",
        });
    }
    if y_min > 0.0 {
        let _ = write!(caption, " The axis starts at {} %.", num(y_min));
    }
    caption.push_str(&notes(r, axis, lines));
    Chart {
        id: "compliance",
        title: "RPO compliance",
        svg: draw(axis, &[panel], 1),
        legend,
        caption,
    }
}

/// The RPO at the percentile and its peak against the desired RPO.
fn rpo(r: &PlanResult, axis: &BwAxis, lines: &PsLines) -> Chart {
    const MIN: f64 = 60.0;
    let pct = r.settings.percentile;
    let pctl = format!(", p{pct}");
    let mut series = lines.series(axis, &pctl, false, |p| p.rpo_percentile_s.map(|s| s / MIN));
    series.extend(lines.series(axis, ", peak", true, |p| p.rpo_peak_s.map(|s| s / MIN)));
    let desired = r.settings.rpo_ms as f64 / 60_000.0;
    let mut panel = Panel {
        title: None,
        y_desc: "RPO, minutes".into(),
        y: 0.0..1.0,
        rules: vec![Rule {
            at: desired,
            label: format!("desired RPO {}", duration(r.settings.rpo_ms)),
            colour: THRESHOLD,
        }],
        marks: Vec::new(),
        series,
        empty: Some(if r.points.is_empty() {
            "no points"
        } else {
            "no machine replicated with a recovery point"
        }),
    };
    panel.y = 0.0..y_top(panel.max().max(desired));
    // each count's percentile, then its peak
    let n = lines.lines.len();
    let mut legend: Vec<Key> = (0..n)
        .flat_map(|k| [panel.series[k].key(), panel.series[n + k].key()])
        .collect();
    legend.push(Key {
        label: "desired RPO".into(),
        colour: THRESHOLD,
        line: Some(2),
        dashed: false,
    });
    let mut caption = format!(
        "The fleet's RPO at the {pct}th percentile (solid, dots) and the largest RPO of any machine (dashed, \
         rings), in minutes, at each swept bandwidth; a line per process-server count. The red line is the \
         desired RPO ({}).",
        duration(r.settings.rpo_ms)
    );
    caption.push_str(&notes(r, axis, lines));
    Chart {
        id: "rpo",
        title: "RPO",
        svg: draw(axis, &[panel], 1),
        legend,
        caption,
    }
}

type Pick = fn(&PointResult) -> Option<f64>;

/// Reprotect by mode and failback downtime, a panel each.
fn failback(r: &PlanResult, axis: &BwAxis, lines: &PsLines) -> Chart {
    let olr = r.points.iter().any(|p| p.reprotect_olr.machines > 0);
    let alr = r.points.iter().any(|p| p.reprotect_alr.machines > 0);
    let mut metrics: Vec<(&str, Pick, &'static str)> = Vec::new();
    if olr {
        metrics.push((
            "Reprotect, original location (OLR): longest",
            |p| p.reprotect_olr.longest_s,
            "no reprotect finished",
        ));
    }
    if alr {
        metrics.push((
            "Reprotect, alternate location (ALR): longest",
            |p| p.reprotect_alr.longest_s,
            "no reprotect finished",
        ));
    }
    metrics.push((
        "Failback downtime of a machine: longest",
        |p| p.failback_downtime_max_s,
        "no failback",
    ));
    metrics.push((
        "Failback downtime of a recovery plan: longest",
        |p| p.plan_downtime_max_s,
        "no recovery plan failed back",
    ));
    let largest = r
        .points
        .iter()
        .flat_map(|p| metrics.iter().filter_map(move |m| (m.1)(p)))
        .fold(0.0, f64::max);
    let (unit, per) = if largest > HOURS_BEYOND_S {
        ("hours", 3600.0)
    } else {
        ("minutes", 60.0)
    };
    let panels: Vec<Panel> = metrics
        .iter()
        .map(|&(title, pick, empty)| {
            let mut p = Panel {
                title: Some(title.to_owned()),
                y_desc: unit.to_owned(),
                y: 0.0..1.0,
                rules: Vec::new(),
                marks: Vec::new(),
                series: lines.series(axis, "", false, |pt| pick(pt).map(|s| s / per)),
                empty: Some(if r.points.is_empty() {
                    "no points"
                } else {
                    empty
                }),
            };
            p.y = 0.0..y_top(p.max());
            p
        })
        .collect();
    let cols = if panels.len() == 4 { 2 } else { panels.len() };
    let mut caption = format!(
        "In {unit}, at each swept bandwidth, a line per process-server count: the longest reprotect of a \
         machine, from the job's start to the machine in sync, by mode — to its original location (OLR, a \
         differential resync, RJ-03) and to an alternate one (ALR, a full copy, RJ-04) — and the longest \
         failback downtime (Azure VM shut down to on-premises VM running) of a machine and of a recovery \
         plan (its first shutdown to its last power-on)."
    );
    match (olr, alr) {
        (true, true) => {}
        (true, false) => {
            caption.push_str(" No reprotect to an alternate location (ALR) finished at any point.");
        }
        (false, true) => {
            caption.push_str(" No reprotect to the original location (OLR) finished at any point.");
        }
        (false, false) => caption.push_str(
            " No reprotect finished at any point: none was started, or none finished within the run.",
        ),
    }
    caption.push_str(&notes(r, axis, lines));
    Chart {
        id: "failback",
        title: "Reprotect and failback",
        svg: draw(axis, &panels, cols),
        legend: lines.keys(),
        caption,
    }
}

/// The busiest process server's peak: utilisation against its cap, or MB/s when uncapped.
fn ps(r: &PlanResult, axis: &BwAxis, lines: &PsLines) -> Chart {
    let capped = !r.points.is_empty() && r.points.iter().all(|p| p.ps_peak_utilisation.is_some());
    let (series, y_desc, rules) = if capped {
        (
            lines.series(axis, "", false, |p| {
                p.ps_peak_utilisation.map(|u| u * 100.0)
            }),
            "peak utilisation, %",
            vec![Rule {
                at: 100.0,
                label: "capacity".into(),
                colour: THRESHOLD,
            }],
        )
    } else {
        (
            lines.series(axis, "", false, |p| {
                Some(p.ps_peak_bytes_per_s as f64 / 1e6)
            }),
            "peak, MB/s",
            Vec::new(),
        )
    };
    let mut panel = Panel {
        title: None,
        y_desc: y_desc.into(),
        y: 0.0..1.0,
        rules,
        marks: Vec::new(),
        series,
        empty: Some("no points"),
    };
    let top = if capped {
        panel.max().max(100.0)
    } else {
        panel.max()
    };
    panel.y = 0.0..y_top(top);
    let mut legend = lines.keys();
    if capped {
        legend.push(Key {
            label: "a process server's capacity".into(),
            colour: THRESHOLD,
            line: Some(2),
            dashed: false,
        });
    }
    let mut caption = String::from(
        "The busiest process server's busiest report interval at each swept bandwidth, a line per \
         process-server count (machines spread over the servers in turn): ",
    );
    caption.push_str(if capped {
        "its throughput as a share of its cap, in %; the red line is the cap."
    } else {
        "its throughput in MB/s (10⁶ bytes a second; the process servers have no throughput cap, so no \
         utilisation)."
    });
    caption.push_str(&notes(r, axis, lines));
    Chart {
        id: "ps",
        title: "Process-server load",
        svg: draw(axis, &[panel], 1),
        legend,
        caption,
    }
}

#[cfg(test)]
mod tests {
    use super::super::point::ModeFigures;
    use super::super::recommend::PsOption;
    use super::super::{Churn, Recommendations, Settings};
    use super::*;

    const CHARTS: [&str; 4] = ["compliance", "rpo", "failback", "ps"];

    fn point(bw: u64, ps: usize, compliance: Option<f64>) -> PointResult {
        let scale = 1e8 / bw as f64;
        PointResult {
            variant: Variant {
                bandwidth_bytes_per_s: bw,
                process_servers: ps,
                growth_pct: 30,
                rpo_ms: 900_000,
            },
            pass: ps > 1,
            rpo_compliance_pct: compliance,
            rpo_percentile_s: compliance.map(|_| 300.0 * scale),
            rpo_peak_s: compliance.map(|_| 600.0 * scale),
            initial_replication_s: None,
            initial_replication_unfinished: 0,
            reprotect_olr: ModeFigures {
                machines: 3,
                bytes: 3_000_000_000,
                longest_s: Some(900.0 * scale),
            },
            reprotect_alr: ModeFigures {
                machines: 1,
                bytes: 50_000_000_000,
                longest_s: Some(5_000.0 * scale),
            },
            reprotect_unfinished: 0,
            failback_downtime_max_s: Some(500.0),
            plan_downtime_max_s: Some(970.0 + ps as f64),
            ps_peak_utilisation: Some(0.5 / ps as f64),
            ps_peak_bytes_per_s: bw / ps as u64,
            ps_peak_daily_bytes: 10_000_000_000,
            link_peak_utilisation: Some(0.5),
        }
    }

    fn plan(name: &str, bandwidths: &[u64], counts: &[usize]) -> PlanResult {
        let points: Vec<PointResult> = bandwidths
            .iter()
            .flat_map(|&bw| {
                // 95 % below 40 Mbps, 100 % from there
                counts
                    .iter()
                    .map(move |&n| point(bw, n, Some(if bw < 5_000_000 { 95.0 } else { 100.0 })))
            })
            .collect();
        let meeting = |pct: f64| {
            points
                .iter()
                .find(|p| p.rpo_compliance_pct.is_some_and(|c| c >= pct))
                .map(|p| p.variant)
        };
        PlanResult {
            scenario: name.to_owned(),
            settings: Settings {
                bandwidths: bandwidths.to_vec(),
                process_servers: counts.to_vec(),
                rpo_ms: 900_000,
                growth_pct: 30,
                percentile: 95,
                ir_goal_ms: 72 * 3_600_000,
            },
            churn: Churn {
                machines: 4,
                daily_bytes: 118_000_000_000,
                percentile_bytes_per_s: 1_365_000,
                used_bytes: vec![118_000_000_000; 4],
            },
            recommendations: Recommendations {
                bandwidth_for_churn_bytes_per_s: 1_365_000,
                bandwidth_rpo_100: meeting(100.0),
                bandwidth_rpo_90: meeting(90.0),
                achievable_rpo: Vec::new(),
                process_servers: vec![PsOption {
                    count: 1,
                    cpus: 4,
                    memory_gb: 8,
                    cache_bytes: 300_000_000_000,
                    max_daily_bytes: 250_000_000_000,
                    max_machines: 85,
                }],
                ir_batch: bandwidths.iter().map(|&b| (b, 4)).collect(),
                failback: points.last().cloned(),
            },
            points,
            notes: Vec::new(),
        }
    }

    /// The `<figure>` of chart `id`.
    fn figure<'a>(page: &'a str, id: &str) -> &'a str {
        let at = page
            .find(&format!("<figure class=\"chart\" id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no chart `{id}`"));
        &page[at..at + page[at..].find("</figure>").expect("closed")]
    }

    /// Whether the SVG has a text element saying `t`.
    fn has_text(f: &str, t: &str) -> bool {
        f.contains(&format!(">\n{t}\n</text>"))
    }

    /// Paths (lines, not axes: those are black) and filled dots of `colour`.
    fn marks_of(f: &str, colour: RGBColor) -> (usize, usize) {
        let RGBColor(r, g, b) = colour;
        let hex = format!("#{r:02X}{g:02X}{b:02X}");
        let paths = f
            .split("<polyline ")
            .skip(1)
            .filter(|e| e[..e.find("/>").unwrap_or(0)].contains(&format!("stroke=\"{hex}\"")))
            .count();
        let dots = f
            .split("<circle ")
            .skip(1)
            .filter(|e| e[..e.find("/>").unwrap_or(0)].contains(&format!("fill=\"{hex}\"")))
            .count();
        (paths, dots)
    }

    fn assert_drawn(page: &str) {
        assert!(page.contains("<body data-charts-ok=\"0\">"));
        assert!(page.contains("document.querySelectorAll(\"figure.chart\")"));
        for id in CHARTS {
            let f = figure(page, id);
            assert!(f.contains("<svg role=\"img\" "), "{id}: {f}");
            assert!(f.contains("</svg>") && f.contains("<figcaption>"), "{id}");
            assert!(!f.contains("could not be drawn"), "{id}: {f}");
        }
    }

    #[test]
    fn the_page_has_the_four_charts_with_lines_rules_and_the_recommendations() {
        let r = plan(
            "groups",
            &[2_500_000, 9_210_079, 33_930_220, 125_000_000],
            &[1, 2],
        );
        let page = render(&r);
        assert_drawn(&page);
        // a line per process-server count, and the tables kept
        for id in CHARTS {
            let f = figure(&page, id);
            assert!(f.contains("<polyline"), "{id}");
            assert!(f.contains("1 process server<") || id == "rpo", "{id}");
        }
        assert!(page.contains("<table>") && page.contains("<h2 id=\"points\">Points</h2>"));
        assert_eq!(page.matches("<tr><td>").count(), 1 + 4 + 8);
        // 20 Mbps..1 Gbps is more than 10×: a log axis with ticks at 1-2-5
        let c = figure(&page, "compliance");
        assert!(c.contains("Mbps (log scale)") && c.contains("logarithmic"));
        for tick in ["20", "50", "100", "200", "500", "1000"] {
            assert!(has_text(c, tick), "{tick}");
        }
        assert!(!has_text(c, "10") && !has_text(c, "30"));
        // a line and four dots per process-server count
        assert_eq!(marks_of(c, PALETTE[0]), (1, 4));
        assert_eq!(marks_of(c, PALETTE[1]), (1, 4));
        // the 100 % and 90 % levels and the recommended bandwidths
        assert!(has_text(c, "100 %") && has_text(c, "90 %"));
        assert!(has_text(c, "100 %: 74 Mbps") && has_text(c, "90 %: 20 Mbps"));
        assert!(c.contains("holding the RPO 100 % of the time: 74 Mbps with 1 PS"));
        assert!(c.contains("<circle"));
        // percentile solid, peak dashed, the desired RPO
        let rpo = figure(&page, "rpo");
        assert!(rpo.contains("2 PS, p95<") && rpo.contains("2 PS, peak<"));
        assert!(rpo.contains("px dashed #") && rpo.contains("desired RPO 15m"));
        // ALR in hours (5000 s × 40 > 3 h), four panels
        let fb = figure(&page, "failback");
        assert!(has_text(fb, "hours") && fb.contains("In hours"));
        for t in [
            "(OLR): longest",
            "(ALR): longest",
            "of a machine",
            "of a recovery plan",
        ] {
            assert!(fb.contains(t), "{t}");
        }
        assert!(figure(&page, "ps").contains("peak utilisation, %"));
        // the same result, the same bytes
        assert_eq!(page, render(&r.clone()));
    }

    #[test]
    fn one_bandwidth_gets_points_and_no_lines() {
        let r = plan("one", &[12_500_000], &[1]);
        let page = render(&r);
        assert_drawn(&page);
        for id in CHARTS {
            let f = figure(&page, id);
            assert!(f.contains("<circle"), "{id}");
            assert!(f.contains("points, not lines"), "{id}");
        }
        // a dot, no line (one a panel: OLR, ALR, per machine, per plan)
        for (id, dots) in [("compliance", 1), ("rpo", 1), ("failback", 4), ("ps", 1)] {
            assert_eq!(marks_of(figure(&page, id), PALETTE[0]), (0, dots), "{id}");
        }
        // a linear axis around the one value
        assert!(has_text(figure(&page, "rpo"), "site-link bandwidth, Mbps"));
    }

    #[test]
    fn no_points_still_give_four_charts_saying_so() {
        let mut r = plan("none", &[], &[1]);
        r.recommendations.failback = None;
        let page = render(&r);
        assert_drawn(&page);
        for id in CHARTS {
            let f = figure(&page, id);
            assert!(has_text(f, "no points"), "{id}: {f}");
            assert!(f.contains("The sweep has no points."), "{id}");
        }
    }

    #[test]
    fn missing_values_leave_gaps_and_uncapped_servers_show_mb_per_s() {
        let mut r = plan("gaps", &[1_000_000, 2_000_000, 3_000_000, 4_000_000], &[3]);
        r.points[1].rpo_compliance_pct = None;
        r.points[1].rpo_percentile_s = None;
        for p in &mut r.points {
            p.ps_peak_utilisation = None;
            p.reprotect_alr = ModeFigures::default();
        }
        let page = render(&r);
        assert_drawn(&page);
        // compliance: one point alone, then a line through the last two
        let c = figure(&page, "compliance");
        assert_eq!(marks_of(c, PALETTE[0]), (1, 3), "{c}");
        let f = figure(&page, "failback");
        assert!(
            !f.contains("(ALR): longest")
                && f.contains("No reprotect to an alternate location (ALR) finished")
        );
        let ps = figure(&page, "ps");
        assert!(ps.contains("peak, MB/s") && ps.contains("no throughput cap"));
    }

    #[test]
    fn the_scenario_name_is_escaped() {
        let r = plan(
            "<script>alert('x')</script> & \"co\"",
            &[2_500_000, 125_000_000],
            &[1],
        );
        let page = render(&r);
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("& \"co\""));
        assert!(
            page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;")
        );
        assert_eq!(
            page.matches("<script>").count(),
            1,
            "only the page's own script"
        );
    }

    #[test]
    fn many_process_server_counts_get_at_most_max_lines_spread_over_them() {
        let counts: Vec<usize> = (1..=30).collect();
        let l = PsLines::of(&plan("many", &[1_000_000], &counts).points);
        let shown: Vec<usize> = l.lines.iter().map(|l| l.count).collect();
        assert_eq!(shown.len(), MAX_LINES);
        assert_eq!((shown[0], shown[MAX_LINES - 1]), (1, 30));
        assert!(shown.windows(2).all(|w| w[0] < w[1]));
        assert!(l.lines.windows(2).all(|w| w[0].width >= w[1].width));
    }
}
