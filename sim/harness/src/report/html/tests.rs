use super::charts::{MAX_GANTT_JOBS, MAX_POINTS};
use super::tables::MAX_ITEM_ROWS;
use super::*;
use crate::report::RunMeta;
use crate::report::jobs::{JobRow, StepRow};
use crate::report::sample::{LINK_TO_AZURE, LINK_TO_ONPREM, ResourceKind};
use crate::report::series::{RpoPoint, Scope, ScopeSeries, Throughput};
use crate::report::summary::{
    DowntimeFigures, FleetSummary, ItemSummary, PlanSummary, ReprotectFigures, RpoFigures,
    RpoSummary, Summary, ViolationFigures,
};

const CHARTS: [&str; 4] = ["rpo", "throughput", "backlog", "jobs"];
const MIN: Millis = 60_000;
/// A plan name that is HTML.
const NASTY: &str = "<b>&\"shop'";

fn rpo_summary(max_s: Option<f64>) -> RpoSummary {
    RpoSummary {
        rpo: max_s.map(|m| RpoFigures {
            p50_s: m / 4.0,
            p95_s: m / 2.0,
            p99_s: m * 0.9,
            max_s: m,
        }),
        replicating_s: if max_s.is_some() { 3600.0 } else { 0.0 },
        within_threshold_pct: max_s.map(|m| if m > 900.0 { 80.0 } else { 100.0 }),
        violations: match max_s {
            Some(m) if m > 900.0 => ViolationFigures {
                count: 2,
                total_s: 700.0,
                longest_s: 400.0,
            },
            _ => ViolationFigures::default(),
        },
    }
}

fn step(item: &str, name: &str, start: Millis, end: Option<Millis>, ok: Option<bool>) -> StepRow {
    StepRow {
        item: item.into(),
        name: name.to_owned().into(),
        start_ms: start,
        end_ms: end,
        ok,
    }
}

#[allow(clippy::too_many_arguments)]
fn job(
    id: u64,
    op: &str,
    plan: Option<&str>,
    items: &[&str],
    start: Millis,
    end: Option<Millis>,
    result: &str,
    steps: Vec<StepRow>,
) -> JobRow {
    JobRow {
        job: id,
        operation: op.into(),
        plan: plan.map(Into::into),
        items: items.iter().map(|&i| i.into()).collect(),
        start_ms: start,
        end_ms: end,
        result: result.into(),
        rule: (result == "failed").then(|| "FB-03".into()),
        code: (result == "failed").then_some(539),
        message: (result == "failed").then(|| "the <recovery point> & co".into()),
        steps,
    }
}

/// A run of an hour in 5-minute intervals: two plans (one named in HTML), three machines, a link each
/// way, a process server, a master target, and a succeeded, a failed and a running job.
fn fixture() -> Report {
    let times: Vec<Millis> = (1..=12).map(|k| k * 5 * MIN).collect();
    let rpo_values = |scale: Millis| -> Vec<Option<RpoPoint>> {
        (0..12)
            .map(|k| {
                (k >= 2 && k != 7).then(|| RpoPoint {
                    p50_ms: scale * MIN,
                    p95_ms: 2 * scale * MIN + k * 1000,
                    max_ms: 3 * scale * MIN,
                })
            })
            .collect()
    };
    let scopes = [
        Scope::Fleet,
        Scope::Plan(NASTY.into()),
        Scope::Plan("crm".into()),
        Scope::Item("web<01>".into()),
    ];
    let rpo = scopes
        .iter()
        .enumerate()
        .map(|(k, s)| ScopeSeries {
            scope: s.clone(),
            values: rpo_values(k as Millis + 2),
        })
        .collect();
    let backlog = scopes
        .iter()
        .map(|s| ScopeSeries {
            scope: s.clone(),
            values: (0..12).map(|k| (k * 300) << 20).collect(),
        })
        .collect();
    let res = |name: &str, kind, bps: u64| Throughput {
        name: name.into(),
        kind,
        bytes_per_s: (0..12).map(|k| k * bps).collect(),
        utilisation: vec![None; 12],
    };
    let throughput = vec![
        res(LINK_TO_ONPREM, ResourceKind::Link, 5_000_000),
        res(LINK_TO_AZURE, ResourceKind::Link, 1_000_000),
        res("mt/mt<1>", ResourceKind::MasterTarget, 4_000_000),
        res("ps/ps1", ResourceKind::ProcessServer, 5_000_000),
    ];
    let jobs = vec![
        job(
            1,
            "reprotect",
            Some(NASTY),
            &["web<01>", "db01"],
            5 * MIN,
            Some(20 * MIN),
            "succeeded",
            vec![
                step(
                    "web<01>",
                    "Prerequisites check",
                    5 * MIN,
                    Some(6 * MIN),
                    Some(true),
                ),
                step(
                    "db01",
                    "Prerequisites check",
                    5 * MIN,
                    Some(7 * MIN),
                    Some(true),
                ),
                step(
                    "web<01>",
                    "Synchronise data",
                    6 * MIN,
                    Some(19 * MIN),
                    Some(true),
                ),
                step(
                    "db01",
                    "Synchronise data",
                    7 * MIN,
                    Some(20 * MIN),
                    Some(true),
                ),
            ],
        ),
        job(
            2,
            "failback",
            None,
            &["app&1"],
            30 * MIN,
            Some(31 * MIN),
            "failed",
            vec![step(
                "app&1",
                "Shut down the Azure VM",
                30 * MIN,
                Some(31 * MIN),
                Some(false),
            )],
        ),
        job(
            3,
            "commit-failback",
            Some("crm"),
            &["db01"],
            50 * MIN,
            None,
            "running",
            vec![step("db01", "Commit", 50 * MIN, None, None)],
        ),
    ];
    let item = |name: &str, plan: Option<&str>, max: Option<f64>| ItemSummary {
        item: name.into(),
        plan: plan.map(Into::into),
        rpo: rpo_summary(max),
        reprotect: max.map(|_| ReprotectFigures {
            job: 1,
            mode: Some("original".into()),
            bytes: Some(1_500_000_000),
            duration_s: 840.0,
        }),
        failback: None,
    };
    let summary = Summary {
        scenario: "fixture".into(),
        seed: 7,
        duration_s: 3600.0,
        rpo_threshold_s: 900.0,
        fleet: FleetSummary {
            items: 3,
            rpo: rpo_summary(Some(1500.0)),
            reprotect_bytes: 3_000_000_000,
            failback_downtime_max_s: Some(3720.0),
            failed_back: 1,
        },
        plans: vec![
            PlanSummary {
                plan: NASTY.into(),
                items: 2,
                rpo: rpo_summary(Some(1500.0)),
                reprotect_bytes: 3_000_000_000,
                failback: Some(DowntimeFigures {
                    from_s: 1800.0,
                    to_s: 5520.0,
                    downtime_s: 3720.0,
                }),
                failed_back: 2,
            },
            PlanSummary {
                plan: "crm".into(),
                items: 1,
                rpo: rpo_summary(None),
                reprotect_bytes: 0,
                failback: None,
                failed_back: 0,
            },
        ],
        items: vec![
            item("app&1", None, None),
            item("db01", Some("crm"), Some(300.0)),
            item("web<01>", Some(NASTY), Some(1500.0)),
        ],
    };
    Report {
        meta: RunMeta {
            scenario: "fixture".into(),
            seed: 7,
            duration_ms: 60 * MIN,
            interval_ms: 5 * MIN,
            rpo_threshold_ms: 15 * MIN,
        },
        times,
        rpo,
        backlog,
        throughput,
        jobs,
        summary,
    }
}

/// A report with nothing in it: no intervals, machines, plans or jobs, and a run of no length.
fn empty() -> Report {
    let mut r = fixture();
    r.meta.duration_ms = 0;
    r.times.clear();
    r.rpo.clear();
    r.backlog.clear();
    r.throughput.clear();
    r.jobs.clear();
    r.summary.plans.clear();
    r.summary.items.clear();
    r.summary.fleet = FleetSummary {
        items: 0,
        rpo: rpo_summary(None),
        reprotect_bytes: 0,
        failback_downtime_max_s: None,
        failed_back: 0,
    };
    r
}

/// The part of the page from `from` to the next `to`.
fn part<'a>(page: &'a str, from: &str, to: &str) -> &'a str {
    let a = page
        .find(from)
        .unwrap_or_else(|| panic!("no `{from}` in the page"));
    let b = page[a..].find(to).map_or(page.len(), |b| a + b);
    &page[a..b]
}

fn figure<'a>(page: &'a str, id: &str) -> &'a str {
    part(
        page,
        &format!("<figure class=\"chart\" id=\"{id}\">"),
        "</figure>",
    )
}

/// How many stretches of line of this colour a chart has.
fn lines_of(chart: &str, colour: &str) -> usize {
    chart
        .matches(&format!(
            "<polyline fill=\"none\" opacity=\"1\" stroke=\"{colour}\""
        ))
        .count()
}

fn assert_charts_drawn(page: &str) {
    assert_eq!(page.matches("<figure class=\"chart\"").count(), 4);
    for id in CHARTS {
        let f = figure(page, id);
        assert!(f.contains("<svg role=\"img\" width=\""), "{id}: {f}");
        assert!(f.contains("</svg>") && f.contains("<figcaption>"), "{id}");
        assert!(!f.contains("could not be drawn"), "{id}: {f}");
    }
}

#[test]
fn the_page_has_the_four_charts_and_the_tables() {
    let page = render(&fixture());
    assert!(page.starts_with("<!doctype html>") && page.ends_with("</html>\n"));
    assert_charts_drawn(&page);
    let rpo = figure(&page, "rpo");
    // the fleet's three lines and both plans' p95, each in two stretches around the gap at interval 7
    for colour in ["#505050", "#1F77B4", "#7AB6E2", "#2CA02C", "#9467BD"] {
        assert_eq!(lines_of(rpo, colour), 2, "{colour}: {rpo}");
    }
    assert_eq!(lines_of(rpo, "#D62728"), 1, "the threshold");
    assert!(rpo.contains("RPO threshold 15m"), "{rpo}");
    assert!(rpo.contains("RPO, minutes") && rpo.contains("hours since the run"));
    assert!(rpo.contains("plan crm p95") && rpo.contains("fleet p50"));
    let tp = figure(&page, "throughput");
    assert!(
        tp.contains("MB/s") && tp.contains("process server ps1"),
        "{tp}"
    );
    assert!(tp.contains("master target mt&lt;1&gt;"), "{tp}");
    assert!(tp.contains("site link, Azure → on-premises"), "{tp}");
    for colour in ["#1F77B4", "#FF7F0E", "#2CA02C", "#9467BD"] {
        assert_eq!(lines_of(tp, colour), 1, "{colour}: {tp}");
    }
    let backlog = figure(&page, "backlog");
    assert!(backlog.contains("unsent, GiB"), "{backlog}");
    for colour in ["#1F77B4", "#2CA02C", "#9467BD"] {
        assert_eq!(lines_of(backlog, colour), 1, "{colour}: {backlog}");
    }
    let jobs = figure(&page, "jobs");
    for label in [
        "job 1 reprotect &lt;b&gt;&amp;&quot;shop&apos;",
        "job 2 failback app&amp;1",
        "job 3 commit-failback crm",
        "Synchronise data (2)",
        "Shut down the Azure VM",
    ] {
        assert!(jobs.contains(label), "{label}: {jobs}");
    }
    // a bar per job and per step name, and the bands behind every other job
    assert!(jobs.matches("<rect").count() >= 3 + 4 + 2, "{jobs}");
    for id in ["fleet", "plan-table", "item-table", "job-table"] {
        assert!(page.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    let fleet = part(&page, "<section id=\"fleet\">", "</section>");
    for cell in [">25m<", ">12m 30s<", "3.00 GB", ">1h 02m<", "80.0 %"] {
        assert!(fleet.contains(cell), "{cell}: {fleet}");
    }
    let items = part(&page, "<section id=\"item-table\">", "</section>");
    // the worst first; the machine without RPO last
    let (w, d, a) = (
        items.find("web&lt;01&gt;").unwrap(),
        items.find("db01").unwrap(),
        items.find("app&amp;1").unwrap(),
    );
    assert!(w < d && d < a, "{items}");
    let job_table = part(&page, "<section id=\"job-table\">", "</section>");
    assert!(job_table.contains("<td class=\"r-failed\">failed</td>"));
    assert!(job_table.contains("the &lt;recovery point&gt; &amp; co"));
    assert!(job_table.contains("app&amp;1: Shut down the Azure VM"));
    assert!(page.contains("<body data-charts-ok=\"0\">"));
    assert_eq!(page.matches("<script").count(), 1);
}

#[test]
fn names_from_the_scenario_are_escaped() {
    let mut r = fixture();
    r.meta.scenario = "</title><script>alert(1)</script>".into();
    let page = render(&r);
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(page.contains("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    for raw in [NASTY, "web<01>", "mt<1>", "app&1", "<recovery point>"] {
        assert!(!page.contains(raw), "{raw} unescaped");
    }
    assert!(page.contains("&lt;b&gt;&amp;&quot;shop&#39;"));
    assert_eq!(page.matches("<script").count(), 1);
}

#[test]
fn an_empty_report_still_draws_every_chart() {
    let page = render(&empty());
    assert_charts_drawn(&page);
    assert!(page.contains("no jobs in this run"));
    assert!(page.contains("no machine replicated with a recovery point"));
    assert!(page.contains("No jobs ran.") && page.contains("no recovery plans"));
    assert!(!page.contains("NaN"));
    // a run of some length with no RPO anywhere
    let mut r = fixture();
    for s in &mut r.rpo {
        s.values.iter_mut().for_each(|v| *v = None);
    }
    let page = render(&r);
    assert_charts_drawn(&page);
    assert!(page.contains("no machine replicated with a recovery point"));
    assert_eq!(lines_of(figure(&page, "rpo"), "#1F77B4"), 0);
    // series shorter than the intervals (a report put together by hand) do not panic either
    let mut r = fixture();
    r.rpo[0].values.truncate(3);
    r.backlog[0].values.clear();
    r.throughput[0].bytes_per_s.truncate(1);
    assert_charts_drawn(&render(&r));
}

#[test]
fn the_same_report_gives_the_same_page() {
    let r = fixture();
    let page = render(&r);
    assert_eq!(page, render(&r.clone()));
    assert_eq!(render(&empty()), render(&empty()));
}

#[test]
fn the_page_fetches_nothing() {
    for page in [render(&fixture()), render(&empty())] {
        for banned in [" src=", "<link", "@import", "url(", "<iframe", "<img"] {
            assert!(!page.contains(banned), "{banned}");
        }
        let links = page.matches("http").count();
        assert_eq!(
            links,
            page.matches("http://www.w3.org/2000/svg").count(),
            "only the SVG namespace"
        );
    }
}

#[test]
fn durations_for_people() {
    for (ms, s) in [
        (0, "0s"),
        (450, "0.5s"),
        (9_940, "9.9s"),
        (42_000, "42s"),
        (59_600, "1m"),
        (8 * MIN + 3_000, "8m 03s"),
        (15 * MIN, "15m"),
        (62 * MIN, "1h 02m"),
        (12 * 60 * MIN, "12h"),
        (3 * 1440 * MIN + 4 * 60 * MIN, "3d 04h"),
        (7 * 1440 * MIN, "7d"),
    ] {
        assert_eq!(duration(ms), s, "{ms}");
    }
    assert_eq!(duration_s(3720.0), "1h 02m");
    assert_eq!(duration_s(f64::NAN), "—");
}

/// 1,000 machines, 12 plans, a week of 5-minute intervals (2,016), 17 master targets and 90 jobs of up to
/// 1,000 machines.
fn fleet_scale() -> Report {
    let mut r = fixture();
    let n = 2016;
    r.meta.duration_ms = 7 * 1440 * MIN;
    r.times = (1..=n as Millis).map(|k| k * 5 * MIN).collect();
    let point = |k: usize| {
        Some(RpoPoint {
            p50_ms: MIN,
            p95_ms: 5 * MIN + (k as Millis % 7) * 1000,
            max_ms: if k == 1001 { 90 * MIN } else { 8 * MIN },
        })
    };
    let mut scopes = vec![Scope::Fleet];
    scopes.extend((0..12).map(|p| Scope::Plan(format!("plan-{p:02}"))));
    scopes.extend((0..20).map(|i| Scope::Item(format!("vm{i:04}"))));
    r.rpo = scopes
        .iter()
        .map(|s| ScopeSeries {
            scope: s.clone(),
            values: (0..n).map(point).collect(),
        })
        .collect();
    r.backlog = scopes
        .iter()
        .map(|s| ScopeSeries {
            scope: s.clone(),
            values: (0..n as u64).map(|k| (k % 100) << 30).collect(),
        })
        .collect();
    let res = |name: String, kind| Throughput {
        name,
        kind,
        bytes_per_s: (0..n as u64).map(|k| k * 1000).collect(),
        utilisation: vec![Some(0.5); n],
    };
    r.throughput = vec![
        res(LINK_TO_ONPREM.into(), ResourceKind::Link),
        res(LINK_TO_AZURE.into(), ResourceKind::Link),
    ];
    r.throughput
        .extend((0..5).map(|p| res(format!("ps/ps{p}"), ResourceKind::ProcessServer)));
    r.throughput
        .extend((0..17).map(|m| res(format!("mt/mt{m}"), ResourceKind::MasterTarget)));
    let machines: Vec<String> = (0..1000).map(|i| format!("vm{i:04}")).collect();
    let names: Vec<&str> = machines.iter().map(String::as_str).collect();
    r.jobs = (0..90u64)
        .map(|j| {
            let items = if j < 30 { &names[..] } else { &names[..1] };
            let start = j * 100 * MIN;
            let steps = items
                .iter()
                .flat_map(|m| {
                    (0..8u64).map(move |s| {
                        step(
                            m,
                            &format!("step {s}"),
                            start + s * MIN,
                            Some(start + (s + 1) * MIN),
                            Some(true),
                        )
                    })
                })
                .collect();
            let result = if j % 20 == 7 { "failed" } else { "succeeded" };
            job(
                j + 1,
                "reprotect",
                None,
                items,
                start,
                Some(start + 9 * MIN),
                result,
                steps,
            )
        })
        .collect();
    r.summary.items = (0..1000)
        .map(|i| ItemSummary {
            item: format!("vm{i:04}"),
            plan: Some(format!("plan-{:02}", i % 12)),
            rpo: rpo_summary(Some(100.0 + i as f64)),
            reprotect: None,
            failback: None,
        })
        .collect();
    r
}

#[test]
fn at_fleet_scale_the_page_stays_small() {
    let r = fleet_scale();
    let page = render(&r);
    assert_charts_drawn(&page);
    assert!(page.len() < 1_500_000, "{} bytes", page.len());
    // no line longer than MAX_POINTS (+1: a stretch starts at its first interval's start)
    for f in CHARTS {
        for p in figure(&page, f).split("points=\"").skip(1) {
            let n = p[..p.find('"').unwrap()].split_whitespace().count();
            assert!(n <= MAX_POINTS + 1, "{f}: {n} points");
        }
    }
    let rpo = figure(&page, "rpo");
    assert!(rpo.contains("days since the run"));
    assert!(rpo.contains("12 recovery plans are too many"));
    assert!(rpo.contains("largest value of 2 consecutive intervals"));
    assert!(!rpo.contains("plan plan-00"));
    // the spike of one interval survives the merging: 90 minutes on a y axis up to ~97
    assert!(rpo.contains("\n90\n</text>"), "{rpo}");
    let tp = figure(&page, "throughput");
    assert!(tp.contains("The 17 master targets are left out"));
    assert!(tp.contains("mean of 2 consecutive intervals"));
    assert!(tp.contains("process server ps4") && !tp.contains("master target mt0"));
    let jobs = figure(&page, "jobs");
    assert!(jobs.contains(&format!("{MAX_GANTT_JOBS} of 90 jobs are shown")));
    assert!(jobs.contains("step 7 (1000)"));
    assert!(jobs.contains("Steps are drawn for the first"));
    // failed jobs first: job 88 (j = 87) is one of them
    assert!(jobs.contains("job 88 reprotect vm0000"));
    let items = part(&page, "<section id=\"item-table\">", "</section>");
    assert_eq!(items.matches("<tr>").count(), MAX_ITEM_ROWS + 1);
    assert!(items.contains("800 more are left out"));
    assert!(items.find("vm0999").unwrap() < items.find("vm0998").unwrap());
    assert!(!items.contains("vm0799<"));
    assert_eq!(page, render(&r));
}
