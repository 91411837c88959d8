use super::sample::{ResourceKind, Runs};
use super::*;
use crate::rehearsal::{rehearse, rehearse_recording};
use crate::scenario;
use drsim_world::world::MeterGroup;
use std::path::{Path, PathBuf};

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn reported(rel: &str) -> (Built, Rehearsal, Report) {
    let (s, built) = scenario::load(&repo_file(rel), None).expect("scenario loads");
    let mut rec = Recorder::new(built.report_interval_ms, built.duration_ms);
    let r = rehearse_recording(&built, Some(&mut rec), true, |_| {}).expect("runs");
    let report = build(&s.name, &built, &r, &rec, &[]).expect("report");
    (built, r, report)
}

#[test]
fn sampling_for_a_report_changes_nothing_the_run_does() {
    // INV-DET: stopping at every report interval must not change the trace
    let rel = "scenarios/faults/vpn-drop-during-resync.json";
    let (_, built) = scenario::load(&repo_file(rel), None).expect("loads");
    let plain = rehearse(&built, |_| {}).expect("runs");
    let (_, with, report) = reported(rel);
    assert_eq!(plain.runner.trace_digest(), with.runner.trace_digest());
    assert_eq!(plain.verdict.pass(), with.verdict.pass());
    // one sample per 5 minutes of the 4 h run, the last at its end
    assert_eq!(report.times.len(), 48);
    assert_eq!(report.times.last(), Some(&built.duration_ms));
}

#[test]
fn the_same_run_writes_byte_identical_reports() {
    let rel = "scenarios/tutorial/03-recovery-plan-groups.json";
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for d in &dirs {
        let (_, _, report) = reported(rel);
        write::write_dir(&report, d.path()).expect("written");
    }
    for f in write::FILES {
        let a = std::fs::read(dirs[0].path().join(f)).unwrap();
        let b = std::fs::read(dirs[1].path().join(f)).unwrap();
        assert!(!a.is_empty(), "{f} is empty");
        assert!(a == b, "{f} differs between two runs");
    }
}

#[test]
fn a_vpn_outage_shows_as_an_rpo_violation_a_backlog_and_an_idle_link() {
    // the link is down from 1 h to 1 h 45 m while a machine replicates: its RPO passes the 15 min
    // threshold, its churn piles up, and the link carries nothing
    let (built, _, report) = reported("scenarios/faults/vpn-drop-during-resync.json");
    let fleet = &report.summary.fleet.rpo;
    assert!(fleet.violations.count >= 1, "{fleet:?}");
    assert!(fleet.violations.longest_s > 900.0, "{fleet:?}");
    assert!(fleet.within_threshold_pct.is_some_and(|p| p < 100.0));
    let at = |t_ms: u64| report.times.iter().position(|&t| t == t_ms).unwrap();
    let link = report
        .throughput
        .iter()
        .find(|t| t.name == sample::LINK_TO_ONPREM)
        .expect("the link is metered");
    // the interval (1h30m, 1h35m] lies inside the outage
    let down = at(95 * 60_000);
    assert_eq!(link.bytes_per_s[down], 0);
    let fleet_backlog = &report.backlog[0];
    assert_eq!(fleet_backlog.scope, Scope::Fleet);
    // unsent bytes (sql01's resync, app02's churn) only grow while the link is down
    let outage = &fleet_backlog.values[at(65 * 60_000)..=at(105 * 60_000)];
    assert!(outage.windows(2).all(|w| w[0] <= w[1]), "{outage:?}");
    assert!(outage.last() > outage.first());
    let fleet_rpo = &report.rpo[0];
    let peak = fleet_rpo.values[down].expect("replicating").max_ms;
    assert!(peak > built.config.failback_policy.rpo_threshold_ms);
}

#[test]
fn series_add_up_and_stay_within_capacity() {
    let (_, _, report) = reported("scenarios/tutorial/03-recovery-plan-groups.json");
    let n = report.times.len();
    // fleet backlog is the sum of the machines' (4 machines: every one has its own series)
    let items: Vec<&ScopeSeries<u64>> = report
        .backlog
        .iter()
        .filter(|s| matches!(s.scope, Scope::Item(_)))
        .collect();
    assert_eq!(items.len(), 4);
    for k in 0..n {
        let sum: u64 = items.iter().map(|s| s.values[k]).sum();
        assert_eq!(report.backlog[0].values[k], sum);
    }
    // a fleet's max RPO in an interval is the largest of its machines'
    for k in 0..n {
        let of_items = report
            .rpo
            .iter()
            .filter(|s| matches!(s.scope, Scope::Item(_)))
            .filter_map(|s| s.values[k].map(|p| p.max_ms))
            .max();
        assert_eq!(report.rpo[0].values[k].map(|p| p.max_ms), of_items);
    }
    // mean throughput over an interval never exceeds the capacity
    let mut carried = 0;
    for t in &report.throughput {
        for u in t.utilisation.iter().flatten() {
            assert!(*u <= 1.0 + 1e-9, "{} at {u}", t.name);
        }
        carried += t.bytes_per_s.iter().sum::<u64>();
    }
    assert!(carried > 0, "something was replicated");
}

#[test]
fn reprotect_and_failback_figures_come_from_the_jobs() {
    let (_, r, report) = reported("scenarios/tutorial/03-recovery-plan-groups.json");
    let reprotect = report
        .jobs
        .iter()
        .find(|j| j.operation == "reprotect")
        .unwrap();
    let failback = report
        .jobs
        .iter()
        .find(|j| j.operation == "failback")
        .unwrap();
    assert_eq!(reprotect.result, "succeeded");
    for i in &report.summary.items {
        let rp = i.reprotect.as_ref().expect("reprotected");
        assert_eq!(rp.job, reprotect.job);
        assert_eq!(rp.mode.as_deref(), Some("original"), "RJ-03: OLR");
        let step_bytes = r.runner.steps.iter().find_map(|s| {
            s.reprotect_bytes
                .get(&ItemId::from(i.item.as_str()))
                .copied()
        });
        assert_eq!(rp.bytes, step_bytes);
        let job_s = (reprotect.end_ms.unwrap() - reprotect.start_ms) as f64 / 1000.0;
        assert!(rp.duration_s > 0.0 && rp.duration_s <= job_s);
        let fb = i.failback.expect("failed back");
        assert!(fb.from_s >= failback.start_ms as f64 / 1000.0);
        assert!(fb.to_s <= failback.end_ms.unwrap() as f64 / 1000.0);
        assert!(fb.downtime_s > 0.0);
    }
    // the plan's downtime spans its machines'
    let plan = &report.summary.plans[0];
    let span = plan.failback.expect("plan failed back");
    let items = &report.summary.items;
    let longest = items
        .iter()
        .map(|i| i.failback.unwrap().downtime_s)
        .fold(0.0, f64::max);
    assert!(span.downtime_s >= longest);
    assert_eq!(plan.failed_back, 4);
}

#[test]
fn beyond_a_hundred_machines_only_the_worst_get_a_series() {
    let rpo = |max_s: f64| summary::RpoSummary {
        rpo: Some(summary::RpoFigures {
            p50_s: 1.0,
            p95_s: 2.0,
            p99_s: 3.0,
            max_s,
        }),
        replicating_s: 1.0,
        within_threshold_pct: Some(100.0),
        violations: Default::default(),
    };
    let items: Vec<summary::ItemSummary> = (0..150)
        .map(|k| summary::ItemSummary {
            item: format!("vm{k:03}"),
            plan: None,
            rpo: rpo(f64::from(k % 50)),
            reprotect: None,
            failback: None,
        })
        .collect();
    let w = worst(&items, WORST_ITEMS);
    assert_eq!(w.len(), WORST_ITEMS);
    // max 49 (three machines), 48, …: the twenty largest are 49..=43 (ties by name)
    assert!(w.iter().all(|&k| k % 50 >= 43), "{w:?}");
    assert!(w.contains(&49) && w.contains(&99) && w.contains(&149));
}

#[test]
fn beyond_a_hundred_servers_only_the_busiest_get_a_series() {
    use super::sample::ResourceKind;
    use super::series::{BUSIEST_SERVERS, MAX_SERVER_SERIES, Throughput, busiest_servers};
    let series = |name: String, kind, bytes: u64| Throughput {
        name,
        kind,
        bytes_per_s: vec![bytes, 2 * bytes],
        utilisation: vec![Some(0.5), Some(1.0)],
    };
    let mut all = vec![series("link azure→on-prem".into(), ResourceKind::Link, 1)];
    all.extend((0..30).map(|k| series(format!("ps/ps{k:02}"), ResourceKind::ProcessServer, k)));
    all.extend((0..80).map(|k| series(format!("mt/mt{k:02}"), ResourceKind::MasterTarget, k % 40)));
    // up to the limit, every server keeps its series
    let few: Vec<Throughput> = all[..=MAX_SERVER_SERIES].to_vec();
    assert_eq!(busiest_servers(few.clone()), few);
    let kept = busiest_servers(all);
    let names: Vec<&str> = kept.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(kept.len(), 1 + 2 * (BUSIEST_SERVERS + 1), "{names:?}");
    assert!(names.contains(&"link azure→on-prem"));
    // the busiest process servers (29 down to 10) and master targets (39 twice, 38 twice, …, 30 twice)
    assert!(names.contains(&"ps/ps10") && !names.contains(&"ps/ps09"));
    assert!(names.contains(&"mt/mt30") && names.contains(&"mt/mt70"));
    assert!(!names.contains(&"mt/mt29") && !names.contains(&"mt/mt69"));
    let others = |n: &str| kept.iter().find(|t| t.name == n).expect(n);
    // the rest summed, without a utilisation
    assert_eq!(others("ps/others (10)").bytes_per_s, vec![45, 90]);
    let mt = others("mt/others (60)");
    assert_eq!(mt.bytes_per_s[0], 2 * (0..30).sum::<u64>());
    assert_eq!(mt.utilisation, vec![None, None]);
}

#[test]
fn backlog_rows_keep_their_values_as_runs() {
    use super::sample::Runs;
    let mut r = Runs::default();
    r.push_n(0, 3);
    for v in [5, 5, 0, 7] {
        r.push(v);
    }
    r.push_n(7, 2);
    assert_eq!(
        r.runs().collect::<Vec<_>>(),
        [(0, 3), (5, 2), (0, 1), (7, 3)]
    );
    assert_eq!(r.values().collect::<Vec<_>>(), [0, 0, 0, 5, 5, 0, 7, 7, 7]);
    assert_eq!(r.len(), 9);
    // values of every width survive the encoding
    let mut wide = Runs::default();
    let values = [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        1 << 35,
        u64::MAX - 1,
        u64::MAX,
    ];
    for (k, &v) in values.iter().enumerate() {
        wide.push_n(v, k + 1);
    }
    let expected: Vec<(u64, usize)> = values
        .iter()
        .enumerate()
        .map(|(k, &v)| (v, k + 1))
        .collect();
    assert_eq!(wide.runs().collect::<Vec<_>>(), expected);
}

/// Runs a scenario with a metered recorder and one reading every stream; both series must be equal.
fn sample_both_ways(name: &str, built: &Built) -> Rehearsal {
    let mut metered = Recorder::new(built.report_interval_ms, built.duration_ms);
    let mut every =
        Recorder::new(built.report_interval_ms, built.duration_ms).reading_every_stream();
    assert!(
        metered.reads_meters() && !every.reads_meters(),
        "{name}: samples on whole seconds"
    );
    let run = rehearse_recording(built, Some(&mut metered), false, |_| {}).expect("runs");
    let again = rehearse_recording(built, Some(&mut every), false, |_| {}).expect("runs");
    assert_eq!(run.runner.trace_digest(), again.runner.trace_digest());
    assert_eq!(metered.times, every.times, "{name}");
    assert!(
        metered.resources == every.resources,
        "{name}: bytes per resource"
    );
    for item in run.runner.world.machines().keys() {
        let (a, b) = (metered.backlog(item), every.backlog(item));
        assert!(a == b, "{name}: backlog of {item}");
        assert_eq!(
            a.map(Runs::len),
            Some(metered.times.len()),
            "{name}: {item}"
        );
    }
    run
}

#[test]
fn metered_sampling_gives_exactly_what_reading_every_stream_gives() {
    // issue 6: the sampler skips quiet machines and reads what followers carried from their route's
    // meter; its series must be those of reading every stream at every sample
    for rel in [
        "scenarios/tutorial/01-one-vm-cycle.json",
        "scenarios/tutorial/03-recovery-plan-groups.json",
        "scenarios/tutorial/05-churn-trace.json",
        "scenarios/faults/vpn-drop-during-resync.json",
        "scenarios/faults/ps-and-mt-outage-catch-up.json",
        "scenarios/faults/onprem-powered-on-by-hand.json",
    ] {
        let (_, built) = scenario::load(&repo_file(rel), None).expect("loads");
        sample_both_ways(rel, &built);
    }
    // a small fleet: diurnal churn, machines quiet for hours, failback and re-protect to Azure
    let size = crate::fleet::FleetSize {
        name: "fleet-small".into(),
        vms: 60,
        plans: 3,
        process_servers: 2,
        days: 3,
        bandwidth: "200Mbps".into(),
        duration: None,
    };
    let text = crate::fleet::text(&size);
    let (_, built) = scenario::load_str(Path::new("fleet-small.json"), &text, None).expect("loads");
    let run = sample_both_ways("fleet-small", &built);
    let world = &run.runner.world;
    let metered: u64 = world.metered_routes().map(|(_, b)| b).sum();
    assert!(metered > 0, "the fleet's followers were metered");
    // each meter group reads the sum of its routes' meters
    let mut by_group: std::collections::BTreeMap<MeterGroup, u64> = Default::default();
    for ((direction, ps, mt), bytes) in world.metered_routes() {
        let groups = [
            Some(MeterGroup::Link(*direction)),
            ps.clone().map(MeterGroup::ProcessServer),
            mt.clone().map(MeterGroup::MasterTarget),
        ];
        for g in groups.into_iter().flatten() {
            *by_group.entry(g).or_default() += bytes;
        }
    }
    let groups: std::collections::BTreeMap<MeterGroup, u64> =
        world.meter_groups().map(|(g, b)| (g.clone(), b)).collect();
    assert_eq!(groups, by_group);
    assert!(groups.len() > 3, "a link, servers and targets: {groups:?}");
}

#[test]
fn what_a_stream_carried_after_the_last_sample_is_counted_when_it_ends() {
    // the bytes every link carried add up to what every stream sent, ended or not: at the usual
    // interval, and with one sample at the very end, after which every ended stream carried all it
    // ever carried after its last sample (there was none), so none of it may be lost
    let rel = "scenarios/tutorial/01-one-vm-cycle.json";
    let (_, built) = scenario::load(&repo_file(rel), None).expect("loads");
    for interval in [built.report_interval_ms, built.duration_ms] {
        let mut rec = Recorder::new(interval, built.duration_ms);
        let run = rehearse_recording(&built, Some(&mut rec), false, |_| {}).expect("runs");
        let world = &run.runner.world;
        let ended = world.ended_streams();
        assert!(
            ended.iter().any(|e| e.wire_bytes > 0),
            "a stream that sent ended"
        );
        let mut sent: u64 = ended.iter().map(|e| e.wire_bytes).sum();
        for m in world.machines().values() {
            for s in m.disks.iter().filter_map(|d| d.stream.as_ref()) {
                sent += world.stream_totals(s).wire_bytes;
            }
        }
        let links: u64 = (rec.resources.values())
            .filter(|r| r.kind == ResourceKind::Link)
            .map(|r| r.bytes().sum::<u64>())
            .sum();
        assert_eq!(links, sent, "interval {interval} ms");
    }
}

#[test]
fn the_rpo_series_are_the_same_on_any_number_of_threads() {
    // rpo_series cuts the intervals into one run per thread
    let (built, r, report) = reported("scenarios/tutorial/03-recovery-plan-groups.json");
    let items: Vec<ItemId> = built.items.iter().map(|i| i.id.clone()).collect();
    let scopes: Vec<series::Members> = (0..items.len())
        .map(|i| series::Members {
            scope: series::Scope::Item(items[i].0.to_string()),
            items: vec![i],
        })
        .chain(std::iter::once(series::Members {
            scope: series::Scope::Fleet,
            items: (0..items.len()).collect(),
        }))
        .collect();
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| series::rpo_series(&r.runner.rpo, &items, &scopes, &report.times))
    };
    let one = on(1);
    assert!(one.iter().any(|s| s.values.iter().any(Option::is_some)));
    for threads in [2, 3, 7] {
        let many = on(threads);
        assert_eq!(one.len(), many.len());
        for (a, b) in one.iter().zip(&many) {
            assert_eq!(a.scope, b.scope);
            assert_eq!(a.values, b.values, "{threads} threads");
        }
    }
}

/// Only a quiet trace that keeps no checks switches the engine's check events off
/// ([`drsim_engine::Engine::set_check_events`]).
#[test]
fn a_quiet_trace_without_checks_has_the_engine_keep_them_to_itself() {
    use crate::rehearsal::rehearse_traced;
    use crate::runner::{QuietTrace, TraceEvent};
    use drsim_engine::protocol::{JobEvent, Output};
    let (_, built) = scenario::load(&repo_file("scenarios/tutorial/01-one-vm-cycle.json"), None)
        .expect("scenario loads");
    let run = |q: Option<QuietTrace>| {
        let r = rehearse_traced(&built, None, false, q, |_| {}).expect("runs");
        let checks = (r.runner.trace.iter())
            .filter(|e| {
                matches!(
                    e,
                    TraceEvent::Out {
                        output: Output::Job(JobEvent::Check { .. }),
                        ..
                    }
                )
            })
            .count();
        (r.runner.engine.check_events(), checks)
    };
    let (on, full) = run(None);
    assert!(
        on && full > 0,
        "the full trace keeps the engine's checks: {full}"
    );
    assert_eq!(run(Some(QuietTrace { checks: true })), (true, full));
    assert_eq!(run(Some(QuietTrace { checks: false })), (false, 0));
}

/// A quiet run's trace keeps only what the verdict and the report read ([`crate::runner::QuietTrace`]):
/// on every scenario of the library, both come out exactly as with the full trace.
#[test]
fn quiet_trace_gives_every_verdict_and_report_the_full_trace_gives() {
    use crate::rehearsal::rehearse_traced;
    use crate::runner::QuietTrace;
    let mut files: Vec<PathBuf> = ["scenarios/rules", "scenarios/faults", "scenarios/tutorial"]
        .iter()
        .flat_map(|d| std::fs::read_dir(repo_file(d)).expect("scenario folder"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() > 50, "the library: {} files", files.len());
    let mut shorter = 0;
    for file in &files {
        let (s, built) = scenario::load(file, None).expect("scenario loads");
        let quiet = QuietTrace {
            checks: !built.expect.checks.is_empty(),
        };
        let run = |q: Option<QuietTrace>| {
            let mut rec = Recorder::new(built.report_interval_ms, built.duration_ms);
            let r = rehearse_traced(&built, Some(&mut rec), false, q, |_| {}).expect("runs");
            let report = build(&s.name, &built, &r, &rec, &[]).expect("report");
            let verdict = serde_json::to_string(&r.verdict).expect("verdict");
            (r.runner.trace.len(), verdict, format!("{report:?}"))
        };
        let (full_len, full_verdict, full_report) = run(None);
        let (quiet_len, quiet_verdict, quiet_report) = run(Some(quiet));
        assert_eq!(quiet_verdict, full_verdict, "{}: verdict", file.display());
        assert!(quiet_report == full_report, "{}: report", file.display());
        shorter += usize::from(quiet_len < full_len);
    }
    assert_eq!(shorter, files.len(), "every quiet trace is shorter");
}
