//! The verdict of a scenario run: every invariant (held, or flagged as the scenario expects) and every
//! expectation (met or not, with what was seen instead). A run passes only if all of them do.

use crate::invariants::Violation;
use crate::runner::{Runner, StepRun, TraceEvent};
use crate::scenario::Built;
use crate::scenario::build::FLAGGABLE;
use crate::scenario::expect::{AlertName, CheckVerdict, StepOutcome};
use drsim_engine::Millis;
use drsim_engine::ids::ItemId;
use drsim_engine::protocol::{AlertKind, JobEvent, JobOutcome, Output, Verdict as CheckResult};
use serde::Serialize;

/// How one invariant fared.
#[derive(Clone, Debug, Serialize)]
pub struct InvariantVerdict {
    /// Its ID.
    pub id: &'static str,
    /// The scenario expects it to be flagged.
    pub expected_flagged: bool,
    /// What it found (at most [`crate::invariants::MAX_PER_INVARIANT`]).
    pub violations: Vec<Violation>,
    /// Held as expected (no violation), or flagged as expected.
    pub ok: bool,
}

/// How one expectation fared.
#[derive(Clone, Debug, Serialize)]
pub struct ExpectationVerdict {
    /// What was expected, in words.
    pub what: String,
    /// Met.
    pub ok: bool,
    /// What was seen.
    pub seen: String,
}

/// The verdict of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// Per invariant, in DOMAIN.md §6 order.
    pub invariants: Vec<InvariantVerdict>,
    /// Per expectation, in file order.
    pub expectations: Vec<ExpectationVerdict>,
}

impl Verdict {
    /// Every invariant and expectation held.
    pub fn pass(&self) -> bool {
        self.invariants.iter().all(|i| i.ok) && self.expectations.iter().all(|e| e.ok)
    }
}

/// A serde enum's kebab-case name.
pub fn kebab<T: Serialize>(t: &T) -> String {
    match serde_json::to_value(t) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v.to_string(),
        Err(_) => String::from("?"),
    }
}

/// Prints simulated time as "1d 02:03:04".
pub fn clock(ms: Millis) -> String {
    let s = ms / 1000;
    format!(
        "{}d {:02}:{:02}:{:02}",
        s / 86_400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60
    )
}

/// How a step ended, as expectations name it, with its failure if any.
pub fn step_outcome(
    step: &StepRun,
) -> (
    Option<StepOutcome>,
    Option<&drsim_engine::protocol::Failure>,
) {
    match (&step.result, &step.outcome) {
        (None, _) => (Some(StepOutcome::NotRun), None),
        (Some(Err(r)), _) => (Some(StepOutcome::Refused), Some(&r.failure)),
        (Some(Ok(None)), _) => (Some(StepOutcome::Succeeded), None),
        (Some(Ok(Some(_))), None) => (None, None),
        (Some(Ok(Some(_))), Some(JobOutcome::Succeeded)) => (Some(StepOutcome::Succeeded), None),
        (Some(Ok(Some(_))), Some(JobOutcome::Cancelled)) => (Some(StepOutcome::Cancelled), None),
        (Some(Ok(Some(_))), Some(JobOutcome::Failed(f))) => (Some(StepOutcome::Failed), Some(f)),
    }
}

/// Judges a finished run.
pub fn judge(built: &Built, runner: &Runner, violations: &[Violation]) -> Verdict {
    let e = &built.expect;
    let invariants = FLAGGABLE
        .iter()
        .map(|id| {
            let found: Vec<Violation> = violations
                .iter()
                .filter(|v| v.invariant == *id)
                .cloned()
                .collect();
            let expected_flagged = e.violations.iter().any(|v| v == id);
            InvariantVerdict {
                id,
                expected_flagged,
                ok: found.is_empty() != expected_flagged,
                violations: found,
            }
        })
        .collect();
    let mut out = Vec::new();
    let step = |id: &str| runner.steps.iter().find(|s| s.id == id);
    for j in &e.jobs {
        let mut what = format!("step `{}` {}", j.step, kebab(&j.outcome));
        if let Some(r) = j.rule {
            what.push_str(&format!(" with {r}"));
        }
        if let Some(c) = j.code {
            what.push_str(&format!(" code {c}"));
        }
        if let Some(s) = &j.failed_step {
            what.push_str(&format!(" at \"{s}\""));
        }
        let Some(run) = step(&j.step) else {
            out.push(ExpectationVerdict {
                what,
                ok: false,
                seen: "no such step".into(),
            });
            continue;
        };
        let (outcome, failure) = step_outcome(run);
        let failed_step = run
            .result
            .clone()
            .and_then(|r| r.ok().flatten())
            .and_then(|job| runner.engine.job(job))
            .and_then(|job| job.history.iter().find(|h| h.failed()))
            .map(|h| h.name.clone());
        let mut seen = match outcome {
            Some(o) => kebab(&o),
            None => "still running at the end".into(),
        };
        if let Some(f) = failure {
            seen.push_str(&format!(
                " with {} code {}: {}",
                f.rule.map_or("no rule".into(), |r| r.to_string()),
                f.code.0,
                f.message
            ));
        }
        if let Some(s) = &failed_step {
            seen.push_str(&format!(" at \"{s}\""));
        }
        let ok = outcome == Some(j.outcome)
            && j.rule
                .is_none_or(|r| failure.and_then(|f| f.rule) == Some(r))
            && j.code.is_none_or(|c| failure.map(|f| f.code.0) == Some(c))
            && j.failed_step
                .as_ref()
                .is_none_or(|s| failed_step.as_deref() == Some(s.as_str()));
        out.push(ExpectationVerdict { what, ok, seen });
    }
    for (item, state) in &e.states {
        let seen = runner
            .engine
            .item(&ItemId::from(item.as_str()))
            .map(|r| r.state);
        out.push(ExpectationVerdict {
            what: format!("`{item}` ends {}", kebab(state)),
            ok: seen == Some(*state),
            seen: seen.map_or("unknown item".into(), |s| kebab(&s)),
        });
    }
    for r in &e.rpo {
        let from = r.from.map_or(0, |d| d.0);
        let until = r.until.map_or(Millis::MAX, |d| d.0);
        let items: Vec<ItemId> = match &r.item {
            Some(i) => vec![ItemId::from(i.as_str())],
            None => runner.engine.items().keys().cloned().collect(),
        };
        let worst = items
            .iter()
            .filter_map(|i| {
                runner
                    .rpo
                    .series(i)
                    .and_then(|s| s.max_in(from, until))
                    .map(|m| (m, i))
            })
            .max();
        let scope = r
            .item
            .clone()
            .map_or("every machine".into(), |i| format!("`{i}`"));
        out.push(ExpectationVerdict {
            what: format!("RPO of {scope} ≤ {}", r.max),
            ok: worst.is_some_and(|(m, _)| m <= r.max.0),
            seen: match worst {
                Some((m, i)) => format!("max {} (`{i}`)", crate::units::human_duration(m)),
                None => "no replication in the window".into(),
            },
        });
    }
    for b in &e.reprotect_bytes {
        let run = step(&b.step);
        let item = b
            .item
            .clone()
            .map(ItemId::from)
            .or_else(|| run.and_then(|r| r.reprotect_bytes.keys().next().cloned()));
        let sent = run
            .zip(item.as_ref())
            .and_then(|(r, i)| r.reprotect_bytes.get(i).copied());
        let min = b.min.map_or(0, |x| x.0);
        let max = b.max.map_or(u64::MAX, |x| x.0);
        out.push(ExpectationVerdict {
            what: format!(
                "reprotect `{}` sends {}..{}",
                b.step,
                crate::units::Bytes(min),
                b.max.map_or("∞".into(), |m| m.to_string())
            ),
            ok: sent.is_some_and(|s| (min..=max).contains(&s)),
            seen: sent.map_or("its job did not succeed".into(), |s| {
                format!("{s} bytes ({})", crate::units::human_bytes(s))
            }),
        });
    }
    for b in &e.data_loss {
        let run = step(&b.step);
        let item = b
            .item
            .clone()
            .map(ItemId::from)
            .or_else(|| run.and_then(|r| r.data_loss.keys().next().cloned()));
        let lost = run
            .zip(item.as_ref())
            .and_then(|(r, i)| r.data_loss.get(i).copied());
        let min = b.min.map_or(0, |x| x.0);
        let max = b.max.map_or(u64::MAX, |x| x.0);
        out.push(ExpectationVerdict {
            what: format!(
                "`{}` loses {}..{}{}",
                b.step,
                crate::units::Bytes(min),
                b.max.map_or("∞".into(), |m| m.to_string()),
                item.as_ref()
                    .map_or(String::new(), |i| format!(" of `{i}`"))
            ),
            ok: lost.is_some_and(|l| (min..=max).contains(&l)),
            seen: lost.map_or("its job did not succeed".into(), |l| {
                format!("{l} bytes ({})", crate::units::human_bytes(l))
            }),
        });
    }
    for o in &e.order {
        let job = step(&o.step)
            .and_then(|r| r.result.clone())
            .and_then(|r| r.ok().flatten())
            .and_then(|j| runner.engine.job(j));
        let span = |items: &[String], pick_end: bool| -> Option<Millis> {
            let j = job?;
            let mut times = Vec::new();
            for item in items {
                // the plan-wide prerequisites run for every machine at the start (the plan fails as a
                // whole), and a reprotect powers every on-prem VM off at once (RJ-02) before a later
                // group waits for its turn; the order is that of the steps after them
                use drsim_engine::job::Step;
                let at_start = [
                    Step::Check(drsim_engine::rules::Phase::FailbackStart).name(),
                    Step::AwaitTurn.name(),
                    Step::PowerOffOnPrem.name(),
                ];
                let recs: Vec<_> = (j.history.iter())
                    .filter(|h| h.item.0 == *item && !at_start.contains(&&*h.name))
                    .collect();
                if recs.is_empty() {
                    return None;
                }
                for h in recs {
                    times.push(if pick_end {
                        h.ended_ms.unwrap_or(Millis::MAX)
                    } else {
                        h.started_ms
                    });
                }
            }
            if pick_end {
                times.into_iter().max()
            } else {
                times.into_iter().min()
            }
        };
        let (end, start) = (span(&o.first, true), span(&o.then, false));
        out.push(ExpectationVerdict {
            what: format!(
                "in `{}`, [{}] end before [{}] start",
                o.step,
                o.first.join(", "),
                o.then.join(", ")
            ),
            ok: matches!((end, start), (Some(e), Some(s)) if e <= s),
            seen: match (end, start) {
                (Some(e), Some(s)) => format!("ended {}, started {}", clock(e), clock(s)),
                _ => "a machine has no step in the job".into(),
            },
        });
    }
    for a in &e.alerts {
        let by = a.by.map_or(Millis::MAX, |d| d.0);
        let first = runner.trace.iter().find_map(|ev| match ev {
            TraceEvent::Out {
                t,
                output: Output::Alert(al),
            } if al.item.0 == a.item
                && alert_name(&al.kind) == a.alert
                && a.severity.is_none_or(|s| s == al.severity)
                && *t <= by =>
            {
                Some(*t)
            }
            _ => None,
        });
        out.push(ExpectationVerdict {
            what: format!(
                "alert {}{} for `{}`{}",
                kebab(&a.alert),
                a.severity
                    .map_or(String::new(), |s| format!(" ({})", kebab(&s))),
                a.item,
                a.by.map_or(String::new(), |d| format!(" by {}", clock(d.0)))
            ),
            ok: first.is_some(),
            seen: first.map_or("not raised".into(), |t| format!("raised at {}", clock(t))),
        });
    }
    for c in &e.checks {
        let job = step(&c.step)
            .and_then(|r| r.result.clone())
            .and_then(|r| r.ok().flatten());
        let results: Vec<CheckVerdict> = runner
            .trace
            .iter()
            .filter_map(|ev| match ev {
                TraceEvent::Out {
                    output:
                        Output::Job(JobEvent::Check {
                            job: j,
                            item,
                            rule,
                            verdict,
                        }),
                    ..
                } if Some(*j) == job
                    && *rule == c.rule
                    && c.item.as_ref().is_none_or(|i| *i == item.0) =>
                {
                    Some(match verdict {
                        CheckResult::Pass => CheckVerdict::Pass,
                        CheckResult::Warn { .. } => CheckVerdict::Warn,
                        CheckResult::Fail(_) => CheckVerdict::Fail,
                    })
                }
                _ => None,
            })
            .collect();
        out.push(ExpectationVerdict {
            what: format!("step `{}` reports {} {}", c.step, c.rule, kebab(&c.verdict)),
            ok: results.contains(&c.verdict),
            seen: if results.is_empty() {
                "no such check".into()
            } else {
                results.iter().map(kebab).collect::<Vec<_>>().join(", ")
            },
        });
    }
    Verdict {
        invariants,
        expectations: out,
    }
}

fn alert_name(k: &AlertKind) -> AlertName {
    match k {
        AlertKind::RpoThresholdExceeded { .. } => AlertName::RpoThresholdExceeded,
        AlertKind::RpoRecovered { .. } => AlertName::RpoRecovered,
        AlertKind::SplitBrainRisk { .. } => AlertName::SplitBrainRisk,
        AlertKind::SplitBrainResolved { .. } => AlertName::SplitBrainResolved,
        AlertKind::ReplicationHealth { .. } => AlertName::ReplicationHealth,
        AlertKind::RollbackIncomplete => AlertName::RollbackIncomplete,
    }
}
