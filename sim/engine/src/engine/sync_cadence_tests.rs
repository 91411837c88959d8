//! A sync cadence stands for a report of progress at each of its instants (issue 6): a waiting sync
//! stalls at the same moment whether its progress is reported every interval or announced once.

use crate::Millis;
use crate::ids::JobId;
use crate::inventory::Health;
use crate::lifecycle::ItemState;
use crate::protocol::*;
use crate::testkit::*;
use crate::time::{HOUR_MS, MINUTE_MS};

const EVERY: Millis = 5 * MINUTE_MS;

fn progress(bytes: u64) -> Input {
    Input::Observation(Observation::Replication {
        item: item_id(0),
        report: ReplicationReport {
            direction: Direction::ToOnPrem,
            initial_sync_done: false,
            sync_bytes_sent: bytes,
            sync_bytes_total: u64::MAX,
            health: Health::Ok,
        },
    })
}

fn cadence(c: Option<SyncCadence>) -> Input {
    Input::Observation(Observation::SyncCadence {
        item: item_id(0),
        cadence: c,
    })
}

/// When a reprotect's sync wait fails as stalled: reports fall every [`EVERY`] from `lead` before the
/// wait began, and the sync progresses until `stop` after it. With `announced`, the reports that show
/// progress before `stop` are one sync cadence instead (ended at `stop`, as the world ends it).
fn stalled_at(announced: bool, lead: Millis, stop: Millis) -> Millis {
    let mut lab = Lab::new(vec![spec(0, ItemState::InAzure)]);
    lab.auto_sync = false;
    lab.advance(HOUR_MS);
    let job: JobId = lab
        .cmd(Command::Reprotect {
            target: Target::Item(item_id(0)),
            machines: vec![machine(0)],
        })
        .unwrap()
        .unwrap();
    let waited = lab.now;
    let from = waited - lead;
    let stop = waited + stop;
    if announced {
        lab.input(cadence(Some(SyncCadence {
            from_ms: from,
            every_ms: EVERY,
        })));
    }
    let mut bytes = 0;
    let mut tick = from + EVERY;
    let mut ended = false;
    while lab.outcome(job).is_none() && tick < waited + 3 * 24 * HOUR_MS {
        if announced && !ended && tick > stop {
            lab.advance(stop);
            lab.input(cadence(None));
            ended = true;
        }
        lab.advance(tick);
        if lab.outcome(job).is_some() {
            break;
        }
        // a report shows progress when the sync moved since the one before
        if tick - EVERY < stop {
            bytes += 1;
            if !announced || tick > stop {
                lab.input(progress(bytes));
            }
        }
        tick += EVERY;
    }
    while lab.outcome(job).is_none() {
        let at = lab.engine.poll_timeout().expect("a stall timer is armed");
        lab.advance(at);
    }
    match lab.outcome(job) {
        Some(JobOutcome::Failed(f)) => {
            assert_eq!(f.code, crate::error_code::ErrorCode::REPLICATION_STALLED)
        }
        other => panic!("expected a stall, got {other:?}"),
    }
    lab.now
}

#[test]
fn a_sync_cadence_stalls_where_reports_would() {
    let stall = crate::config::EngineConfig::default().sync_stall_timeout_ms;
    for lead in [0, 1, 2 * MINUTE_MS, EVERY - 1] {
        // progress stops: at once, between reports, on a report, just before the timer set when the
        // wait began (it must be moved when the cadence ends), long after
        for stop in [
            1,
            3 * MINUTE_MS,
            2 * EVERY,
            stall - 1,
            stall - MINUTE_MS,
            2 * stall + 7,
        ] {
            let reported = stalled_at(false, lead, stop);
            let announced = stalled_at(true, lead, stop);
            assert_eq!(announced, reported, "lead {lead} ms, stop {stop} ms");
        }
    }
}

#[test]
fn last_report_by_counts_reports_after_the_announcement() {
    let c = SyncCadence {
        from_ms: 1_000,
        every_ms: 300,
    };
    assert_eq!(c.last_report_by(500), None);
    assert_eq!(c.last_report_by(1_000), None);
    assert_eq!(c.last_report_by(1_299), None);
    assert_eq!(c.last_report_by(1_300), Some(1_300));
    assert_eq!(c.last_report_by(1_899), Some(1_600));
}
