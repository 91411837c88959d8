//! The run as a DR engineer reads a job history: user steps, jobs and their steps, readiness results that
//! did not pass, alerts, state changes and faults, each with its simulated time; then a verdict per
//! invariant and expectation.

use crate::rehearsal::Rehearsal;
use crate::runner::TraceEvent;
use crate::scenario::Built;
use crate::verdict::{clock, kebab};
use drsim_engine::Millis;
use drsim_engine::protocol::{
    AlertKind, Command, Input, JobEvent, JobOutcome, Output, Target, Verdict as CheckResult,
};
use drsim_engine::recovery_point::PointChoice;
use std::fmt::Write;

/// How much to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Steps, jobs, failures, alerts, states, faults.
    Normal,
    /// Also every action the engine asked for and every passing readiness check.
    Verbose,
}

fn target(t: &Target) -> String {
    match t {
        Target::Item(i) => i.0.to_string(),
        Target::Plan(p) => format!("plan {p}"),
    }
}

fn point(p: &PointChoice) -> String {
    match p {
        PointChoice::At { tag_ms } => format!("point at {}", clock(*tag_ms)),
        other => kebab(other),
    }
}

/// A command in a few words.
pub fn command(c: &Command) -> String {
    match c {
        Command::Failover {
            target: t,
            point: p,
        } => format!("failover {} ({})", target(t), point(p)),
        Command::CommitFailover { target: t } => format!("commit failover {}", target(t)),
        Command::Reprotect {
            target: t,
            machines,
        } => {
            let via: Vec<String> = machines
                .iter()
                .map(|m| {
                    format!(
                        "{} → {}/{}/{}",
                        m.item, m.process_server, m.master_target, m.datastore
                    )
                })
                .collect();
            format!("reprotect {} [{}]", target(t), via.join(", "))
        }
        Command::Failback {
            target: t,
            point: p,
        } => format!("failback {} ({})", target(t), point(p)),
        Command::ChangeRecoveryPoint {
            target: t,
            point: p,
        } => {
            format!("change recovery point {} ({})", target(t), point(p))
        }
        Command::CommitFailback { target: t } => format!("commit failback {}", target(t)),
        Command::ReprotectToAzure { target: t } => format!("re-protect to Azure {}", target(t)),
        Command::DisableProtection { item } => format!("disable protection {item}"),
        Command::Cancel { job } => format!("cancel job {job}"),
        Command::SetPlan { plan } => format!("set plan {}", plan.id),
        Command::DeletePlan { plan } => format!("delete plan {plan}"),
        Command::SetReplicationGroup { item, group } => match group {
            Some(g) => format!("put {item} in replication group {g}"),
            None => format!("take {item} out of its replication group"),
        },
        Command::RefreshDiscovery => "refresh discovery".into(),
    }
}

fn alert(k: &AlertKind) -> String {
    match k {
        AlertKind::RpoThresholdExceeded { threshold_ms, .. } => format!(
            "RPO exceeded the {} threshold",
            crate::units::human_duration(*threshold_ms)
        ),
        AlertKind::RpoRecovered { rpo_ms } => {
            format!("RPO back to {}", crate::units::human_duration(*rpo_ms))
        }
        AlertKind::SplitBrainRisk { running } => {
            format!("split-brain risk: the {} copy runs too", kebab(running))
        }
        AlertKind::SplitBrainResolved { running } => {
            format!("split-brain resolved: the {} copy is off", kebab(running))
        }
        AlertKind::ReplicationHealth { health } => format!("replication health {}", kebab(health)),
        AlertKind::RollbackIncomplete => "rollback incomplete: an undo step failed".into(),
    }
}

/// The timeline of a rehearsal, one line per event.
pub fn render(built: &Built, r: &Rehearsal, detail: Detail) -> String {
    let mut lines: Vec<(Millis, usize, String)> = Vec::new();
    let mut seq = 0usize;
    let mut push = |t: Millis, s: String| {
        lines.push((t, seq, s));
        seq += 1;
    };
    for f in built
        .world
        .faults
        .iter()
        .filter(|f| f.at_ms <= built.duration_ms)
    {
        let what = serde_json::to_string(&f.fault).unwrap_or_default();
        push(
            f.at_ms,
            format!("FAULT   {} starts {what}", f.fault.kind_name()),
        );
        if let Some(h) = f.heal_at_ms.filter(|h| *h <= built.duration_ms) {
            push(h, format!("FAULT   {} heals", f.fault.kind_name()));
        }
    }
    let steps = &r.runner.steps;
    for (k, ev) in r.runner.trace.iter().enumerate() {
        match ev {
            TraceEvent::In {
                t,
                input: Input::Command(c),
            } => {
                let who = r
                    .runner
                    .step_inputs
                    .get(&k)
                    .map_or("setup".to_owned(), |i| format!("step {}", steps[*i].id));
                push(*t, format!("USER    {who}: {}", command(c)));
            }
            TraceEvent::In { .. } => {}
            TraceEvent::Out { t, output } => {
                let line = match output {
                    Output::Job(JobEvent::Created {
                        job,
                        operation,
                        items,
                        ..
                    }) => Some(format!(
                        "{job:<7} {} [{}] started",
                        kebab(operation),
                        items
                            .iter()
                            .map(|i| i.0.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    Output::Job(JobEvent::StepStarted { job, item, step }) => {
                        Some(format!("{job:<7} {item}: {step}"))
                    }
                    Output::Job(JobEvent::StepEnded {
                        job,
                        item,
                        step,
                        ok: false,
                    }) => Some(format!("{job:<7} {item}: {step} FAILED")),
                    Output::Job(JobEvent::Check {
                        job,
                        item,
                        rule,
                        verdict,
                    }) => match verdict {
                        CheckResult::Pass => (detail == Detail::Verbose)
                            .then(|| format!("{job:<7} {item}: check {rule} pass")),
                        CheckResult::Warn { message } => {
                            Some(format!("{job:<7} {item}: check {rule} WARN {message}"))
                        }
                        CheckResult::Fail(f) => Some(format!(
                            "{job:<7} {item}: check {rule} FAIL {} {}",
                            f.code, f.message
                        )),
                    },
                    Output::Job(JobEvent::Ended { job, outcome }) => {
                        let took = r.runner.engine.job(*job).map_or(String::new(), |j| {
                            format!(
                                " after {}",
                                crate::units::human_duration(t.saturating_sub(j.started_ms))
                            )
                        });
                        Some(match outcome {
                            JobOutcome::Succeeded => format!("{job:<7} succeeded{took}"),
                            JobOutcome::Cancelled => format!("{job:<7} cancelled{took}"),
                            JobOutcome::Failed(f) => format!(
                                "{job:<7} failed{took}: {} code {}: {} (fix: {})",
                                f.rule.map_or("-".into(), |r| r.to_string()),
                                f.code,
                                f.message,
                                f.fix
                            ),
                        })
                    }
                    Output::Alert(a) => Some(format!(
                        "ALERT   {} {}: {}{}",
                        kebab(&a.severity),
                        a.item,
                        alert(&a.kind),
                        a.rule.map_or(String::new(), |r| format!(" [{r}]"))
                    )),
                    Output::Refused(rf) => Some(format!(
                        "REFUSED {}: {} code {}: {}",
                        rf.command,
                        rf.failure.rule.map_or("-".into(), |r| r.to_string()),
                        rf.failure.code,
                        rf.failure.message
                    )),
                    Output::ItemState { item, from, to } => {
                        Some(format!("STATE   {item}: {} → {}", kebab(from), kebab(to)))
                    }
                    Output::Action(a) => (detail == Detail::Verbose).then(|| {
                        format!(
                            "ACTION  {} {}{}",
                            a.kind.name(),
                            a.item.as_ref().map_or("", |i| i.as_str()),
                            if a.attempt > 1 {
                                format!(" (attempt {})", a.attempt)
                            } else {
                                String::new()
                            }
                        )
                    }),
                    Output::Timer { .. } | Output::Job(JobEvent::StepEnded { .. }) => None,
                };
                if let Some(l) = line {
                    push(*t, l);
                }
                if let Output::Job(JobEvent::Ended {
                    job,
                    outcome: JobOutcome::Succeeded,
                }) = output
                    && let Some(run) = steps
                        .iter()
                        .find(|s| matches!(&s.result, Some(Ok(Some(j))) if j == job))
                {
                    for (item, lost) in &run.data_loss {
                        push(
                            *t,
                            if *lost == 0 {
                                format!(
                                    "DATA    {item}: nothing lost (every acknowledged write recovered)"
                                )
                            } else {
                                format!(
                                    "DATA    {item}: {} of acknowledged writes lost (after the chosen point)",
                                    crate::units::human_bytes(*lost)
                                )
                            },
                        );
                    }
                }
            }
        }
    }
    lines.sort_by_key(|(t, s, _)| (*t, *s));
    let mut out = String::new();
    for (t, _, l) in lines {
        let _ = writeln!(out, "  {}  {l}", clock(t));
    }
    out
}

/// The verdict block: one line per invariant and expectation, then the overall verdict.
pub fn verdict_block(r: &Rehearsal) -> String {
    let v = &r.verdict;
    let mut out = String::from("Invariants\n");
    for i in &v.invariants {
        let mark = if i.ok { "ok  " } else { "FAIL" };
        let what = match (i.expected_flagged, i.violations.first()) {
            (false, None) => "held".to_owned(),
            (true, Some(f)) => format!(
                "flagged as expected ({}×; first at {}: {})",
                i.violations.len(),
                clock(f.at_ms),
                f.message
            ),
            (true, None) => "expected to be flagged, but held".to_owned(),
            (false, Some(f)) => format!(
                "VIOLATED {}×; first at {}{}: {}",
                i.violations.len(),
                clock(f.at_ms),
                f.item
                    .as_ref()
                    .map_or(String::new(), |x| format!(" on {x}")),
                f.message
            ),
        };
        let _ = writeln!(out, "  {mark}  {:<10} {what}", i.id);
    }
    if !v.expectations.is_empty() {
        out.push_str("Expectations\n");
        for e in &v.expectations {
            let mark = if e.ok { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  {mark}  {} — {}", e.what, e.seen);
        }
    }
    out
}
