//! The world driven by the real engine: a whole cycle with exact data accounting (INV-LOSS, INV-BYTES),
//! analytic checks of the data plane, failure modes, faults, and determinism.

use super::*;
use crate::churn::ChurnModel;
use crate::faults::{Fault, FaultSpec};
use crate::rng::StableHasher;
use drsim_engine::item::ItemSpec;
use drsim_engine::protocol::*;
use drsim_engine::recovery_point::PointChoice;
use drsim_engine::time::{HOUR_MS, MINUTE_MS, SECOND_MS};
use drsim_engine::{Engine, EngineConfig};

const ENGINE_TIMER: u64 = u64::MAX;

/// The engine and the world wired together, as the harness's runner will do.
struct Rig {
    world: World,
    engine: Engine,
    timer: Option<(Millis, EventKey)>,
    log: Vec<(Millis, Observation)>,
    outputs: Vec<(Millis, Output)>,
}

impl Rig {
    fn new(spec: WorldSpec, items: Vec<ItemSpec>) -> Rig {
        Rig::with_config(spec, items, EngineConfig::default())
    }

    fn with_config(spec: WorldSpec, items: Vec<ItemSpec>, config: EngineConfig) -> Rig {
        let world = World::new(spec).expect("valid world");
        let engine = Engine::new(config, items).expect("valid items");
        Rig {
            world,
            engine,
            timer: None,
            log: Vec::new(),
            outputs: Vec::new(),
        }
    }

    fn drain(&mut self) {
        let now = self.world.now();
        while let Some(o) = self.engine.poll_output() {
            match &o {
                Output::Action(a) => self.world.submit((**a).clone()),
                Output::Timer { at } if self.timer.is_none_or(|(t, _)| *at < t || t < now) => {
                    if let Some((_, k)) = self.timer.take() {
                        self.world.cancel_external(k);
                    }
                    let k = self.world.schedule_external(*at, ENGINE_TIMER);
                    self.timer = Some((*at, k));
                }
                _ => {}
            }
            self.outputs.push((now, o));
        }
    }

    fn run_until(&mut self, limit: Millis) {
        let mut same = (0, 0u32);
        while let Some((t, h)) = self.world.next_until(limit) {
            same = if same.0 == t { (t, same.1 + 1) } else { (t, 0) };
            assert!(
                same.1 < 100_000,
                "stuck at {t}: {h:?} {:?}",
                self.world.kernel.peek()
            );
            match h {
                Happening::Observations(obs) => {
                    for o in obs {
                        self.log.push((t, o.clone()));
                        self.engine.handle(t, Input::Observation(o));
                        self.drain();
                    }
                }
                Happening::External(ENGINE_TIMER) => {
                    self.timer = None;
                    self.engine.handle_timeout(t);
                    if let Some(at) = self.engine.poll_timeout() {
                        let k = self.world.schedule_external(at, ENGINE_TIMER);
                        self.timer = Some((at, k));
                    }
                    self.drain();
                }
                Happening::External(_) => {}
            }
        }
        // the tags of a point cadence up to now are points (a driver's look between inputs)
        self.engine.advance_to(self.world.now());
    }

    fn command(&mut self, c: Command) -> Result<Option<JobId>, Refusal> {
        let r = self.engine.command(self.world.now(), c);
        self.drain();
        r
    }

    /// Runs a command's job to its end (or `limit` later).
    fn job(&mut self, c: Command, limit: Millis) -> JobOutcome {
        let job = self.command(c).expect("accepted").expect("a job");
        let end = self.world.now() + limit;
        while self.engine.job(job).is_some_and(|j| !j.ended()) && self.world.now() < end {
            let step = (self.world.now() + MINUTE_MS).min(end);
            self.run_until(step);
        }
        self.engine
            .job(job)
            .and_then(|j| j.outcome.clone())
            .unwrap_or_else(|| panic!("{job} did not end"))
    }

    fn machine(&self, i: usize) -> &Machine {
        &self.world.machines()[&ItemId::from(format!("item-{i}"))]
    }

    /// Schedules a fault from now on (`at` ≥ now), healing at `heal`.
    fn inject(&mut self, fault: Fault, at: Millis, heal: Millis) {
        self.world.faults.push(FaultSpec {
            fault,
            at_ms: at,
            heal_at_ms: Some(heal),
        });
        let i = self.world.faults.len() - 1;
        self.world.schedule(at, Event::FaultStart(i));
        self.world.schedule(heal, Event::FaultHeal(i));
    }

    /// Runs in small steps until the engine has sent an action of this kind (at most `limit` from now);
    /// returns its id.
    fn until_action(&mut self, name: &str, limit: Millis) -> ActionId {
        let end = self.world.now() + limit;
        loop {
            let sent = self.outputs.iter().rev().find_map(|(_, o)| match o {
                Output::Action(a) if a.kind.name() == name => Some(a.id),
                _ => None,
            });
            if let Some(id) = sent {
                return id;
            }
            assert!(self.world.now() < end, "no {name} within {limit} ms");
            self.run_until(self.world.now() + 10 * SECOND_MS);
        }
    }

    /// Runs until the job has ended or `limit` has passed.
    fn until_ended(&mut self, job: JobId, limit: Millis) -> Option<JobOutcome> {
        let end = self.world.now() + limit;
        while self.engine.job(job).is_some_and(|j| !j.ended()) && self.world.now() < end {
            self.run_until((self.world.now() + 10 * MINUTE_MS).min(end));
        }
        self.engine.job(job).and_then(|j| j.outcome.clone())
    }

    /// Whether a result for this action ever came.
    fn answered(&self, id: ActionId) -> bool {
        self.log
            .iter()
            .any(|(_, o)| matches!(o, Observation::ActionResult { id: got, .. } if *got == id))
    }

    fn count(&self, name: &str) -> usize {
        self.outputs
            .iter()
            .filter(|(_, o)| matches!(o, Output::Action(a) if a.kind.name() == name))
            .count()
    }
}

use crate::sample::{GB, SampleEstate as Lab, item, reprotect};

impl Lab {
    fn rig(&self) -> Rig {
        self.rig_with(EngineConfig::default())
    }

    fn rig_with(&self, config: EngineConfig) -> Rig {
        let (spec, items) = self.build();
        let mut rig = Rig::with_config(spec, items, config);
        rig.run_until(0);
        rig
    }
}

#[test]
fn olr_cycle_sends_differences_and_fails_back_without_loss() {
    // RJ-03, FB-03 latest, INV-LOSS, INV-BYTES
    let lab = Lab::default();
    let mut rig = lab.rig();
    rig.run_until(2 * HOUR_MS); // two hours of writes in Azure since the failover
    assert_eq!(rig.job(reprotect(0), 2 * HOUR_MS), JobOutcome::Succeeded);
    let m = rig.machine(0);
    let sent = m.last_resync_bytes;
    let total: u64 = m.disks.iter().map(|d| d.size_bytes).sum();
    assert!(
        sent > 0 && sent < 2 * lab.used,
        "OLR sends differences only: {sent}"
    );
    assert!(sent <= total, "INV-BYTES");
    rig.run_until(rig.world.now() + HOUR_MS);
    assert_eq!(
        rig.job(
            Command::Failback {
                target: Target::Item(item(0)),
                point: PointChoice::Latest
            },
            HOUR_MS
        ),
        JobOutcome::Succeeded
    );
    let m = rig.machine(0);
    let shutdown = m.azure_generation_at_shutdown.clone().expect("shut down");
    let onprem: Vec<u64> = m.disks.iter().map(|d| d.onprem_generation).collect();
    assert_eq!(
        onprem, shutdown,
        "INV-LOSS: every acknowledged write is on-prem"
    );
    assert!(shutdown.iter().all(|g| *g > 0));
    assert_eq!(
        rig.world.estate().onprem_vms[&VmName::from("vm-0")].power,
        PowerState::On
    );
    assert_eq!(
        rig.world.estate().azure_vms[&VmName::from("vm-0-azure")].power,
        PowerState::Off
    );
    assert_eq!(
        rig.job(
            Command::CommitFailback {
                target: Target::Item(item(0))
            },
            HOUR_MS
        ),
        JobOutcome::Succeeded
    );
    assert!(
        !rig.world
            .estate()
            .azure_vms
            .contains_key(&VmName::from("vm-0-azure")),
        "FB-06"
    );
}

#[test]
fn alr_sends_the_used_size_of_every_disk() {
    // RJ-04, INV-BYTES: "ALR sends the used size of every disk"
    let lab = Lab {
        onprem_exists: false,
        ..Lab::default()
    };
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 12 * HOUR_MS), JobOutcome::Succeeded);
    assert_eq!(rig.machine(0).last_resync_bytes, 2 * lab.used);
    assert!(rig.machine(0).alr_vm.is_some());
    let failback_now = rig.command(Command::Failback {
        target: Target::Item(item(0)),
        point: PointChoice::Latest,
    });
    let job = failback_now.unwrap().unwrap();
    assert!(
        matches!(
            rig.engine.job(job).unwrap().outcome,
            Some(JobOutcome::Failed(Failure {
                rule: Some(drsim_engine::rules::RuleId::Fb01),
                ..
            }))
        ),
        "FB-01: no recovery point reported yet"
    );
    rig.run_until(rig.world.now() + 30 * MINUTE_MS);
    assert_eq!(
        rig.job(
            Command::Failback {
                target: Target::Item(item(0)),
                point: PointChoice::Latest
            },
            HOUR_MS
        ),
        JobOutcome::Succeeded
    );
    assert!(
        rig.world
            .estate()
            .onprem_vms
            .contains_key(&VmName::from("vm-0")),
        "the ALR VM is the on-prem VM now"
    );
}

#[test]
fn alr_chosen_while_the_old_vm_exists_fails_back_on_the_master_target_s_host() {
    // RJ-04: the recovered VM is the one created on the MT's host, not the old VM elsewhere
    let (mut spec, items) = Lab::default().build();
    let mut esx2 = spec.hosts[0].clone();
    esx2.name = "esx2".into();
    spec.hosts.push(esx2);
    spec.master_targets[0].view.host = "esx2".into();
    let mut rig = Rig::new(spec, items);
    rig.run_until(0);
    let Command::Reprotect {
        target,
        mut machines,
    } = reprotect(0)
    else {
        unreachable!()
    };
    machines[0].location = drsim_engine::protocol::LocationChoice::Alternate;
    assert_eq!(
        rig.job(Command::Reprotect { target, machines }, 12 * HOUR_MS),
        JobOutcome::Succeeded
    );
    rig.run_until(rig.world.now() + HOUR_MS);
    let failback = Command::Failback {
        target: Target::Item(item(0)),
        point: PointChoice::Latest,
    };
    assert_eq!(rig.job(failback, HOUR_MS), JobOutcome::Succeeded);
    let vm = &rig.world.estate().onprem_vms[&VmName::from("vm-0")];
    assert_eq!(vm.host, HostName::from("esx2"));
    assert_eq!(vm.power, PowerState::On);
}

#[test]
fn a_resync_over_a_lone_bottleneck_takes_bytes_over_rate() {
    // Analytic: B bytes over R bytes/s take B/R (within 1 %), no churn.
    let lab = Lab {
        onprem_exists: false,
        churn_bps: 0,
        disks: 1,
        used: 36 * GB,
        link_bps: 10_000_000,
        ..Lab::default()
    };
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 24 * HOUR_MS), JobOutcome::Succeeded);
    let start = rig
        .log
        .iter()
        .find_map(|(t, o)| match o {
            Observation::ActionResult { id, .. }
                if rig.outputs.iter().any(|(_, x)| matches!(x, Output::Action(a) if a.id == *id && a.kind.name() == "start-replication")) =>
            {
                Some(*t)
            }
            _ => None,
        })
        .expect("replication started");
    let done = rig
        .log
        .iter()
        .find_map(|(t, o)| match o {
            Observation::Replication { report, .. } if report.initial_sync_done => Some(*t),
            _ => None,
        })
        .expect("sync done");
    let expected = lab.used * 1000 / lab.link_bps;
    let took = done - start;
    assert!(
        took.abs_diff(expected) * 100 <= expected,
        "took {took} ms, expected {expected} ms"
    );
}

#[test]
fn churn_below_capacity_keeps_the_rpo_within_the_tag_cadence() {
    let lab = Lab {
        state: drsim_engine::lifecycle::ItemState::InAzure,
        ..Lab::default()
    };
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    let from = rig.world.now() + HOUR_MS;
    rig.run_until(from + 6 * HOUR_MS);
    let rec = rig.engine.item(&item(0)).unwrap();
    let rpo = rec.points.rpo_ms(rig.world.now()).expect("points");
    // 5-min tags, reported every 5 min, transfer lag of seconds: the RPO stays under 10 minutes + lag.
    assert!(rpo <= 10 * MINUTE_MS + 10 * SECOND_MS, "RPO {rpo} ms");
    assert!(!rig.outputs.iter().any(|(t, o)| *t > from
        && matches!(
            o,
            Output::Alert(Alert {
                kind: AlertKind::RpoThresholdExceeded { .. },
                ..
            })
        )));
}

/// Machine 0's unsent bytes, accounted to now.
fn backlog(rig: &mut Rig) -> u64 {
    rig.world.catch_up();
    (rig.machine(0).disks.iter())
        .map(|d| d.stream.as_ref().unwrap().fluid.backlog_bytes())
        .sum()
}

#[test]
fn churn_above_capacity_grows_the_backlog_at_the_difference() {
    // Two disks writing 6 MB/s each over a 10 MB/s link: the backlog grows at exactly 2 MB/s.
    let lab = Lab {
        churn_bps: 6_000_000,
        link_bps: 10_000_000,
        state: drsim_engine::lifecycle::ItemState::ProtectedToOnPrem,
        ..Lab::default()
    };
    let (mut spec, items) = lab.build();
    spec.machines[0].protection = Some(("ps1".into(), "mt1".into()));
    let mut rig = Rig::new(spec, items);
    rig.run_until(HOUR_MS);
    let b1 = backlog(&mut rig);
    rig.run_until(3 * HOUR_MS);
    let b2 = backlog(&mut rig);
    assert_eq!(
        b2 - b1,
        2_000_000 * 2 * 3600,
        "backlog growth over two hours"
    );
    let load = rig
        .world
        .network()
        .load(crate::network::Resource::Link(rig.world.paths.to_onprem))
        .unwrap();
    assert_eq!(
        load.allocated_bytes_per_s, lab.link_bps,
        "the link is saturated, never over"
    );
}

#[test]
fn a_stream_sent_below_its_churn_asks_for_all_it_can_get() {
    // Machine 0 writes 6 MB/s on each of two disks over a 20 MB/s link: caught up. Machine 1's reprotect
    // (2 MB/s per disk since the failover) resyncs over the same link: max-min gives each of the four
    // streams 5 MB/s, so machine 0 falls behind. From that very allocation machine 0's streams must ask
    // for all they can get (not keep asking for their churn until their next wake), and once the
    // resync is over they drain the backlog.
    let lab = Lab {
        vms: 2,
        churn_bps: 6_000_000,
        link_bps: 20_000_000,
        disk_size: 20 * GB,
        used: 10 * GB,
        state: drsim_engine::lifecycle::ItemState::ProtectedToOnPrem,
        ..Lab::default()
    };
    let (mut spec, mut items) = lab.build();
    spec.machines[0].protection = Some(("ps1".into(), "mt1".into()));
    items[1].state = drsim_engine::lifecycle::ItemState::InAzure;
    for d in &mut spec.machines[1].disks {
        d.churn = ChurnModel::constant(2_000_000);
    }
    let mut rig = Rig::new(spec, items);
    rig.run_until(HOUR_MS);
    assert_eq!(backlog(&mut rig), 0, "caught up before the resync");
    let job = rig.command(reprotect(1)).unwrap().unwrap();
    let mut worst = 0;
    let mut throttled = 0;
    for k in 1..=180 {
        rig.run_until(HOUR_MS + k * MINUTE_MS);
        worst = worst.max(backlog(&mut rig));
        for d in &rig.machine(0).disks {
            let s = d.stream.as_ref().unwrap();
            let net = rig.world.network();
            assert_eq!(
                s.net_slot,
                Some(net.flow_slot(s.flow).unwrap()),
                "a demand goes straight to where the network keeps the flow"
            );
            let rate = net.rate(s.flow).unwrap();
            if rate < s.fluid.churn_rate_bps() {
                throttled += 1;
                assert_eq!(
                    net.demand(s.flow).unwrap(),
                    crate::network::UNLIMITED_BYTES_PER_S,
                    "at {k} min: sent at {rate} B/s, below its churn, the stream asks for all it can get"
                );
            }
        }
    }
    assert_eq!(
        rig.engine.job(job).unwrap().outcome,
        Some(JobOutcome::Succeeded)
    );
    assert!(
        throttled > 0 && worst > GB / 10,
        "fell behind during the resync: {worst} B"
    );
    assert_eq!(backlog(&mut rig), 0, "drained once the link freed up");
}

#[test]
fn determinism_same_seed_same_log() {
    let run = |seed| {
        let lab = Lab {
            seed,
            faults: vec![FaultSpec {
                fault: Fault::LinkDown,
                at_ms: 3 * HOUR_MS,
                heal_at_ms: Some(4 * HOUR_MS),
            }],
            ..Lab::default()
        };
        let mut rig = lab.rig();
        rig.run_until(HOUR_MS);
        rig.command(reprotect(0)).unwrap();
        rig.run_until(10 * HOUR_MS);
        let mut h = StableHasher::new();
        for (t, o) in &rig.log {
            h.write_u64_le(*t);
            h.write_str_framed(&format!("{o:?}"));
        }
        h.digest()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8), "the seed reaches the action timings");
}

fn failed(o: JobOutcome) -> Failure {
    match o {
        JobOutcome::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn sync_reports(rig: &Rig) -> Vec<(Millis, u64, bool)> {
    rig.log
        .iter()
        .filter_map(|(t, o)| match o {
            Observation::Replication { report, .. } => {
                Some((*t, report.sync_bytes_sent, report.initial_sync_done))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_vpn_drop_during_resync_stalls_it_and_it_resumes_after_heal() {
    let lab = Lab {
        onprem_exists: false,
        link_bps: 10_000_000,
        faults: vec![FaultSpec {
            fault: Fault::LinkDown,
            at_ms: HOUR_MS,
            heal_at_ms: Some(3 * HOUR_MS),
        }],
        ..Lab::default()
    };
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 24 * HOUR_MS), JobOutcome::Succeeded);
    // Reports go out when something changes: during the outage only the health change, and no progress.
    let reports = sync_reports(&rig);
    let before = reports
        .iter()
        .filter(|(t, _, _)| *t <= HOUR_MS)
        .map(|(_, b, _)| *b)
        .max()
        .unwrap_or(0);
    let during: Vec<u64> = reports
        .iter()
        .filter(|(t, _, _)| *t > HOUR_MS + 10 * MINUTE_MS && *t < 3 * HOUR_MS)
        .map(|(_, b, _)| *b)
        .collect();
    assert!(
        during.windows(2).all(|w| w[0] == w[1]),
        "no progress while the VPN is down: {during:?}"
    );
    let after: Vec<u64> = reports
        .iter()
        .filter(|(t, _, _)| *t > 3 * HOUR_MS)
        .map(|(_, b, _)| *b)
        .collect();
    assert!(
        after
            .iter()
            .any(|b| *b > during.iter().copied().max().unwrap_or(before)),
        "progress resumes"
    );
    let done = sync_reports(&rig).iter().find(|(_, _, d)| *d).unwrap().0;
    assert!(done > 3 * HOUR_MS, "finished only after the heal");
    // the copy resumes with what it had not sent: at most an hour's worth went before the drop
    let unsent = 2 * lab.used - HOUR_MS / 1000 * lab.link_bps;
    let resume_ms = unsent / lab.link_bps * 1000;
    assert!(
        done >= 3 * HOUR_MS + resume_ms * 95 / 100,
        "the unsent rest of the full copy is not forgotten: done at {done} ms"
    );
    let warned = rig.log.iter().any(|(t, o)| *t >= HOUR_MS && matches!(o, Observation::Inventory(d) if d.upserts.iter().any(|e| matches!(e, Entity::Network(n) if !n.up))));
    assert!(warned, "the vault sees the link down at once");
}

#[test]
fn a_process_server_crash_mid_reprotect_is_critical_until_it_restarts() {
    let lab = Lab {
        onprem_exists: false,
        link_bps: 10_000_000,
        faults: vec![FaultSpec {
            fault: Fault::ProcessServerCrash {
                process_server: "ps1".into(),
            },
            at_ms: HOUR_MS,
            heal_at_ms: Some(2 * HOUR_MS),
        }],
        ..Lab::default()
    };
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 24 * HOUR_MS), JobOutcome::Succeeded);
    assert!(rig.outputs.iter().any(|(t, o)| *t >= HOUR_MS
        && *t < 2 * HOUR_MS
        && matches!(
            o,
            Output::Alert(Alert {
                kind: AlertKind::ReplicationHealth {
                    health: Health::Critical
                },
                ..
            })
        )));
}

#[test]
fn a_vcenter_disconnect_during_failback_rolls_it_back() {
    // FB-04, FB-07
    let lab = Lab::default();
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    rig.run_until(rig.world.now() + 30 * MINUTE_MS);
    let at = rig.world.now() + 60 * SECOND_MS; // after the shutdown started, before the disks move
    rig.world.faults.push(FaultSpec {
        fault: Fault::VCenterDisconnect {
            vcenter: "vc1".into(),
        },
        at_ms: at,
        heal_at_ms: None,
    });
    let i = rig.world.faults.len() - 1;
    rig.world.schedule(at, Event::FaultStart(i));
    let f = failed(rig.job(
        Command::Failback {
            target: Target::Item(item(0)),
            point: PointChoice::Latest,
        },
        2 * HOUR_MS,
    ));
    assert_eq!(f.rule, Some(drsim_engine::rules::RuleId::Fb04));
    assert_eq!(
        rig.engine.item(&item(0)).unwrap().state,
        drsim_engine::lifecycle::ItemState::ProtectedToOnPrem
    );
    assert_eq!(
        rig.world.estate().azure_vms[&VmName::from("vm-0-azure")].power,
        PowerState::On,
        "FB-07: Azure VM on again"
    );
    assert_eq!(
        rig.world.estate().onprem_vms[&VmName::from("vm-0")].power,
        PowerState::Off
    );
}

#[test]
fn an_onprem_vm_powered_on_by_hand_is_seen_within_one_discovery_interval() {
    // INV-SPLIT: detection within one discovery interval
    let at = 3 * HOUR_MS + 7 * MINUTE_MS;
    let lab = Lab {
        faults: vec![FaultSpec {
            fault: Fault::OnPremPoweredOnByHand { vm: "vm-0".into() },
            at_ms: at,
            heal_at_ms: Some(at + HOUR_MS),
        }],
        ..Lab::default()
    };
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 3 * HOUR_MS), JobOutcome::Succeeded);
    rig.run_until(at + 2 * HOUR_MS);
    let seen = rig
        .outputs
        .iter()
        .find(|(_, o)| {
            matches!(
                o,
                Output::Alert(Alert {
                    kind: AlertKind::SplitBrainRisk {
                        running: Copy::OnPrem
                    },
                    ..
                })
            )
        })
        .map(|(t, _)| *t)
        .expect("detected");
    assert!(
        seen >= at && seen <= at + 15 * MINUTE_MS,
        "seen at {seen}, fault at {at}"
    );
    assert!(rig.outputs.iter().any(|(_, o)| matches!(
        o,
        Output::Alert(Alert {
            kind: AlertKind::SplitBrainResolved { .. },
            ..
        })
    )));
}

#[test]
fn a_master_target_newer_than_the_process_server_breaks_replication_after_reprotect() {
    // RP-20: the reprotect succeeds (with a warning), then replication fails.
    let lab = Lab::default();
    let (mut spec, items) = lab.build();
    spec.master_targets[0].view.version = 10;
    let mut rig = Rig::new(spec, items);
    rig.run_until(0);
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    assert!(rig.outputs.iter().any(|(_, o)| matches!(
        o,
        Output::Job(JobEvent::Check {
            rule: drsim_engine::rules::RuleId::Rp20,
            verdict: Verdict::Warn { .. },
            ..
        })
    )));
    rig.run_until(rig.world.now() + 2 * HOUR_MS);
    assert_eq!(rig.engine.item(&item(0)).unwrap().health, Health::Critical);
    assert!(
        rig.engine.item(&item(0)).unwrap().points.is_empty(),
        "no recovery point ever becomes usable"
    );
}

#[test]
fn a_resized_disk_resyncs() {
    let lab = Lab {
        state: drsim_engine::lifecycle::ItemState::ProtectedToOnPrem,
        faults: vec![FaultSpec {
            fault: Fault::DiskResized {
                item: item(0),
                disk: 1,
                new_size_bytes: 200 * GB,
            },
            at_ms: HOUR_MS,
            heal_at_ms: None,
        }],
        ..Lab::default()
    };
    let (mut spec, items) = lab.build();
    spec.machines[0].protection = Some(("ps1".into(), "mt1".into()));
    let mut rig = Rig::new(spec, items);
    rig.run_until(4 * HOUR_MS);
    let d = &rig.machine(0).disks[1];
    assert_eq!(d.size_bytes, 200 * GB);
    let last = d
        .stream
        .as_ref()
        .unwrap()
        .fluid
        .last_resync()
        .expect("a resync ran");
    assert_eq!(last.reason, crate::fluid::ResyncReason::DiskResized);
    assert!(last.bytes <= 200 * GB);
}

#[test]
fn reprotect_to_azure_waits_for_the_agent_and_replicates_fully() {
    // RA-02, RA-03: after failback commit, the on-prem VM's agent registers up to 15 min after boot.
    let lab = Lab::default();
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    rig.run_until(rig.world.now() + 30 * MINUTE_MS);
    let fb = Command::Failback {
        target: Target::Item(item(0)),
        point: PointChoice::Latest,
    };
    assert_eq!(rig.job(fb, HOUR_MS), JobOutcome::Succeeded);
    assert_eq!(
        rig.job(
            Command::CommitFailback {
                target: Target::Item(item(0))
            },
            HOUR_MS
        ),
        JobOutcome::Succeeded
    );
    assert_eq!(
        rig.job(
            Command::ReprotectToAzure {
                target: Target::Item(item(0))
            },
            24 * HOUR_MS
        ),
        JobOutcome::Succeeded
    );
    assert_eq!(
        rig.machine(0).last_resync_bytes,
        2 * lab.used,
        "initial replication sends the used bytes"
    );
    assert_eq!(
        rig.engine.item(&item(0)).unwrap().state,
        drsim_engine::lifecycle::ItemState::ProtectedToAzure
    );
}

#[test]
fn the_host_short_of_memory_fails_the_power_on_with_8038() {
    let lab = Lab::default();
    let (mut spec, items) = lab.build();
    spec.machines[0].memory_mib = 1024 * 1024; // more than the host has
    let mut rig = Rig::new(spec, items);
    rig.run_until(0);
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    rig.run_until(rig.world.now() + 30 * MINUTE_MS);
    let f = failed(rig.job(
        Command::Failback {
            target: Target::Item(item(0)),
            point: PointChoice::Latest,
        },
        HOUR_MS,
    ));
    assert_eq!(f.code, drsim_engine::ErrorCode::HOST_MEMORY);
    assert_eq!(
        rig.world.estate().azure_vms[&VmName::from("vm-0-azure")].power,
        PowerState::On,
        "rolled back"
    );
}

#[test]
fn a_long_upload_backlog_turns_the_process_server_unhealthy() {
    // DOMAIN.md §5: upload backlog > 30 min ⇒ warning, > 45 min ⇒ critical.
    let lab = Lab {
        churn_bps: 6_000_000,
        link_bps: 10_000_000,
        state: drsim_engine::lifecycle::ItemState::ProtectedToOnPrem,
        ..Lab::default()
    };
    let (mut spec, items) = lab.build();
    spec.machines[0].protection = Some(("ps1".into(), "mt1".into()));
    let mut rig = Rig::new(spec, items);
    rig.run_until(12 * HOUR_MS);
    assert_eq!(
        rig.world.estate().process_servers[&ProcessServerName::from("ps1")].health,
        Health::Critical
    );
    assert_eq!(
        rig.engine.inventory().process_servers[&ProcessServerName::from("ps1")].health,
        Health::Critical
    );
    assert_eq!(
        rig.engine.item(&item(0)).unwrap().health,
        Health::Critical,
        "FB-01 would refuse a failback now"
    );
}

#[test]
fn start_replication_without_a_path_to_the_cs_fails_with_95226() {
    let lab = Lab {
        onprem_exists: false,
        faults: vec![FaultSpec {
            fault: Fault::LinkDown,
            at_ms: 5 * MINUTE_MS,
            heal_at_ms: None,
        }],
        ..Lab::default()
    };
    let mut rig = lab.rig();
    // The reprotect starts before the link drops; the link is down by the time replication is enabled.
    let f = failed(rig.job(reprotect(0), 4 * HOUR_MS));
    assert_eq!(f.code.0, 95226, "{f:?}");
}

#[test]
fn start_replication_from_a_hung_azure_vm_fails_with_78093() {
    let lab = Lab {
        onprem_exists: false,
        faults: vec![FaultSpec {
            fault: Fault::AzureVmHung {
                vm: "vm-0-azure".into(),
            },
            at_ms: 5 * MINUTE_MS,
            heal_at_ms: None,
        }],
        ..Lab::default()
    };
    let mut rig = lab.rig();
    let f = failed(rig.job(reprotect(0), 4 * HOUR_MS));
    assert_eq!(f.code.0, 78093, "{f:?}");
}

// ---- regressions from review ------------------------------------------------------------------------

fn onprem_power(rig: &Rig) -> PowerState {
    rig.world.estate().onprem_vms[&VmName::from("vm-0")].power
}

fn azure_power(rig: &Rig) -> Option<PowerState> {
    rig.world
        .estate()
        .azure_vms
        .get(&VmName::from("vm-0-azure"))
        .map(|v| v.power)
}

#[test]
fn healing_a_hang_after_failback_does_not_start_the_azure_vm() {
    // INV-SPLIT: a heal restores what the fault changed, never what the engine changed since.
    let lab = Lab::default();
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    rig.run_until(rig.world.now() + 30 * MINUTE_MS);
    let fb = Command::Failback {
        target: Target::Item(item(0)),
        point: PointChoice::Latest,
    };
    assert_eq!(rig.job(fb, HOUR_MS), JobOutcome::Succeeded);
    let at = rig.world.now() + MINUTE_MS;
    rig.world.faults.push(FaultSpec {
        fault: Fault::AzureVmHung {
            vm: "vm-0-azure".into(),
        },
        at_ms: at,
        heal_at_ms: None,
    });
    let i = rig.world.faults.len() - 1;
    rig.world.schedule(at, Event::FaultStart(i));
    rig.world.schedule(at + MINUTE_MS, Event::FaultHeal(i));
    rig.run_until(at + 10 * MINUTE_MS);
    assert_eq!(
        (onprem_power(&rig), azure_power(&rig)),
        (PowerState::On, Some(PowerState::Off))
    );
}

#[test]
fn a_vm_powered_on_by_hand_and_then_failed_back_stays_on_after_the_heal() {
    let at = 5 * HOUR_MS;
    let lab = Lab {
        faults: vec![FaultSpec {
            fault: Fault::OnPremPoweredOnByHand { vm: "vm-0".into() },
            at_ms: at,
            heal_at_ms: Some(at + 3 * HOUR_MS),
        }],
        ..Lab::default()
    };
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    rig.run_until(at + 30 * MINUTE_MS); // seen, alerted; an operator powers it off through vCenter:
    let off = ActionKind::PowerOffOnPremVm { vm: "vm-0".into() };
    rig.world.submit(ActionRequest {
        id: ActionId(10_000),
        job: None,
        item: None,
        attempt: 1,
        deadline_ms: u64::MAX,
        kind: off,
    });
    rig.run_until(at + HOUR_MS);
    let fb = Command::Failback {
        target: Target::Item(item(0)),
        point: PointChoice::Latest,
    };
    assert_eq!(rig.job(fb, HOUR_MS), JobOutcome::Succeeded);
    rig.run_until(at + 4 * HOUR_MS); // the fault's heal comes after the failback
    assert_eq!(
        onprem_power(&rig),
        PowerState::On,
        "the heal must not power the failed-back VM off"
    );
}

#[test]
fn changing_the_recovery_point_after_failback_uses_the_points_kept_on_the_master_target() {
    let lab = Lab::default();
    let mut rig = lab.rig();
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    rig.run_until(rig.world.now() + 2 * HOUR_MS);
    let older = rig
        .engine
        .item(&item(0))
        .unwrap()
        .points
        .iter()
        .nth(3)
        .unwrap()
        .tag_ms;
    let fb = Command::Failback {
        target: Target::Item(item(0)),
        point: PointChoice::Latest,
    };
    assert_eq!(rig.job(fb, HOUR_MS), JobOutcome::Succeeded);
    let change = Command::ChangeRecoveryPoint {
        target: Target::Item(item(0)),
        point: PointChoice::At { tag_ms: older },
    };
    assert_eq!(rig.job(change, HOUR_MS), JobOutcome::Succeeded);
    let m = rig.machine(0);
    let point = m.recovered_point.clone().unwrap();
    assert_eq!(point.tag_ms, older);
    assert_eq!(
        m.disks
            .iter()
            .map(|d| d.onprem_generation)
            .collect::<Vec<_>>(),
        point.generations
    );
    let lost: u64 = m
        .azure_generation_at_shutdown
        .as_ref()
        .unwrap()
        .iter()
        .zip(&point.generations)
        .map(|(a, b)| a - b)
        .sum();
    assert!(
        lost > 0,
        "INV-LOSS: recovering to an older point loses the writes after it"
    );
    assert_eq!(
        (onprem_power(&rig), azure_power(&rig)),
        (PowerState::On, Some(PowerState::Off))
    );
}

#[test]
fn failover_creates_the_azure_vm_from_the_protected_data() {
    let lab = Lab {
        state: drsim_engine::lifecycle::ItemState::ProtectedToAzure,
        ..Lab::default()
    };
    let mut rig = lab.rig();
    assert_eq!(azure_power(&rig), None, "no Azure VM before failover");
    rig.run_until(2 * HOUR_MS);
    let fo = Command::Failover {
        target: Target::Item(item(0)),
        point: PointChoice::LatestProcessed,
    };
    assert_eq!(rig.job(fo, HOUR_MS), JobOutcome::Succeeded);
    assert_eq!(azure_power(&rig), Some(PowerState::On));
    let m = rig.machine(0);
    assert!(
        m.disks.iter().all(|d| d.azure_generation > 0),
        "the Azure disks hold the replicated data"
    );
}

#[test]
fn host_memory_follows_every_power_change_including_faults() {
    // FB-05: a VM powered on by hand takes memory; the reprotect's power-off gives it back, once.
    let at = 10 * MINUTE_MS;
    let lab = Lab {
        faults: vec![FaultSpec {
            fault: Fault::OnPremPoweredOnByHand { vm: "vm-0".into() },
            at_ms: at,
            heal_at_ms: None,
        }],
        ..Lab::default()
    };
    let mut rig = lab.rig();
    let free0 = rig.world.estate().hosts[&HostName::from("esx1")].memory_free_mib;
    rig.run_until(at + MINUTE_MS);
    assert_eq!(
        rig.world.estate().hosts[&HostName::from("esx1")].memory_free_mib,
        free0 - 8192
    );
    rig.run_until(at + 20 * MINUTE_MS);
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    assert_eq!(
        rig.world.estate().hosts[&HostName::from("esx1")].memory_free_mib,
        free0
    );
}

#[test]
fn an_empty_resync_completes_the_reprotect_without_waiting_for_a_report() {
    // The action result goes before the sync report it causes, so the engine takes the report.
    let lab = Lab {
        churn_bps: 0,
        ..Lab::default()
    };
    let mut rig = lab.rig();
    let started = rig.world.now();
    assert_eq!(rig.job(reprotect(0), HOUR_MS), JobOutcome::Succeeded);
    assert_eq!(
        rig.machine(0).last_resync_bytes,
        0,
        "nothing changed since failover"
    );
    let job = rig.engine.job(JobId(1)).unwrap();
    let took = job.ended_ms.unwrap() - started;
    let t = Timing::default();
    assert!(
        took <= (t.power_ms + t.prepare_target_ms + t.control_ms) * 12 / 10,
        "took {took} ms"
    );
}

#[test]
fn a_datastore_unmounted_behind_the_cs_s_back_fails_prepare_target_with_8061() {
    // The engine's picture is stale (discovery has not run since), so its RP-12 check passes; the
    // world's prepare-target fails the way vCenter does.
    let lab = Lab {
        faults: vec![FaultSpec {
            fault: Fault::DatastoreUnmounted {
                datastore: "ds1".into(),
                host: "esx1".into(),
            },
            at_ms: 0,
            heal_at_ms: None,
        }],
        ..Lab::default()
    };
    let mut rig = lab.rig();
    let f = failed(rig.job(reprotect(0), HOUR_MS));
    assert_eq!(
        (f.rule, f.code.0),
        (Some(drsim_engine::rules::RuleId::Rp12), 8061)
    );
    assert!(
        rig.outputs
            .iter()
            .any(|(_, o)| matches!(o, Output::Action(a) if a.kind.name() == "prepare-target"))
    );
}

mod properties {
    use super::*;
    use crate::network::Resource;
    use proptest::prelude::*;

    fn fault(kind: u8, at_min: u64, len_min: u64) -> FaultSpec {
        let fault = match kind % 11 {
            0 => Fault::LinkDown,
            1 => Fault::LinkDegraded {
                capacity_permille: 200,
            },
            2 => Fault::ProcessServerCrash {
                process_server: "ps1".into(),
            },
            3 => Fault::ConfigServerDown,
            4 => Fault::VCenterDisconnect {
                vcenter: "vc1".into(),
            },
            5 => Fault::MasterTargetReboot {
                master_target: "mt1".into(),
            },
            6 => Fault::SnapshotOnMasterTarget {
                master_target: "mt1".into(),
            },
            7 => Fault::AzureVmHung {
                vm: "vm-1-azure".into(),
            },
            8 => Fault::AgentDeregistered {
                vm: "vm-0-azure".into(),
            },
            9 => Fault::OnPremPoweredOnByHand { vm: "vm-2".into() },
            _ => Fault::DiskResized {
                item: item(0),
                disk: 0,
                new_size_bytes: 150 * GB,
            },
        };
        FaultSpec {
            fault,
            at_ms: at_min * MINUTE_MS,
            heal_at_ms: Some((at_min + len_min) * MINUTE_MS),
        }
    }

    /// Failbacks whose INV-LOSS was checked (the property is exercised, not vacuous).
    static CHECKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[test]
    fn the_fault_walks_reach_successful_failbacks() {
        random_faults_keep_the_data_plane_sound_and_jobs_end();
        let n = CHECKED.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("failbacks checked for INV-LOSS: {n}");
        assert!(n >= 10, "only {n} failbacks succeeded over the walks");
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 24,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0xFA_017),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn random_faults_keep_the_data_plane_sound_and_jobs_end(
            faults in proptest::collection::vec((0u8..11, 0u64..600, 1u64..240), 0..6),
            failback_min in 60u64..900,
            seed in 0u64..1000,
        ) {
            let lab = Lab {
                vms: 3,
                link_bps: 20_000_000,
                used: 10 * GB,
                churn_bps: 500_000,
                seed,
                faults: faults.iter().map(|(k, a, l)| fault(*k, *a, *l)).collect(),
                ..Lab::default()
            };
            let mut rig = lab.rig();
            let mut last_azure: Vec<Vec<u64>> = vec![vec![0; 2]; 3];
            let reprotect_all = Command::Reprotect {
                target: Target::Item(item(0)),
                machines: vec![ReprotectMachine {
                    item: item(0), master_target: "mt1".into(), process_server: "ps1".into(),
                    datastore: "ds1".into(), retention_drive: "R:".into(), location: LocationChoice::Auto,
                }],
            };
            let _ = rig.command(reprotect_all);
            for i in 1..3 { let _ = rig.command(reprotect(i)); }
            let end = 3 * 24 * HOUR_MS;
            let mut failback_sent = false;
            while rig.world.now() < end {
                let step = rig.world.now() + 10 * MINUTE_MS;
                rig.run_until(step);
                if !failback_sent && rig.world.now() >= failback_min * MINUTE_MS {
                    failback_sent = true;
                    for i in 0..3 {
                        let _ = rig.command(Command::Failback { target: Target::Item(item(i)), point: PointChoice::Latest });
                    }
                }
                rig.world.catch_up();
                for res in [Resource::Link(rig.world.paths.to_onprem), Resource::Link(rig.world.paths.to_azure)] {
                    let l = rig.world.network().load(res).unwrap();
                    prop_assert!(l.allocated_bytes_per_s <= l.capacity_bytes_per_s, "link over capacity: {:?}", l);
                }
                for (i, last) in last_azure.iter_mut().enumerate() {
                    let m = rig.machine(i);
                    for (d, disk) in m.disks.iter().enumerate() {
                        if let Some(s) = &disk.stream {
                            prop_assert_eq!(s.fluid.written_bytes(), s.fluid.sent_bytes() + s.fluid.backlog_bytes(), "bytes conserved");
                            if let Some(p) = s.fluid.resync_progress() {
                                prop_assert!(p.total_bytes <= disk.size_bytes, "resync within the disk");
                            }
                        }
                        prop_assert!(disk.azure_generation >= last[d], "the Azure copy's generation only grows");
                        last[d] = disk.azure_generation;
                    }
                }
            }
            // Every fault has healed by now (≤ 14 h); every job must have ended.
            for (id, j) in rig.engine.jobs() {
                prop_assert!(j.ended(), "{} still running at the end: {:?}", id, j.tasks.values().map(|t| (&t.item, t.pc, &t.wait)).collect::<Vec<_>>());
            }
            // A failback to "latest" that succeeded lost nothing (INV-LOSS).
            for i in 0..3 {
                let ok = rig.engine.jobs().values().any(|j| j.operation == drsim_engine::lifecycle::Operation::Failback
                    && j.items().any(|x| *x == item(i)) && j.outcome == Some(JobOutcome::Succeeded));
                if ok {
                    CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let m = rig.machine(i);
                    let shutdown = m.azure_generation_at_shutdown.clone().unwrap();
                    let point = m.recovered_point.clone().unwrap();
                    prop_assert_eq!(point.generations, shutdown, "INV-LOSS for {}", i);
                }
            }
        }
    }
}

/// A timing, not a test: 1,000 VMs × 3 disks replicating Azure → on-prem for 7 days, engine included.
/// `cargo test --release -p drsim-world fleet_timing -- --ignored --nocapture`
#[test]
#[ignore]
fn fleet_timing() {
    let lab = Lab {
        vms: 1000,
        disks: 3,
        link_bps: 125_000_000,
        churn_bps: 20_000,
        state: drsim_engine::lifecycle::ItemState::ProtectedToOnPrem,
        ..Lab::default()
    };
    let (mut spec, items) = lab.build();
    for m in &mut spec.machines {
        m.protection = Some(("ps1".into(), "mt1".into()));
    }
    let started = std::time::Instant::now(); // ok: measures the test, not simulated time
    let mut rig = Rig::new(spec, items);
    rig.run_until(7 * 24 * HOUR_MS);
    let wall = started.elapsed();
    eprintln!(
        "1000 VMs x 3 disks, 7 days: {:.2} s wall, {} world events, {} observations",
        wall.as_secs_f64(),
        rig.world.events_handled,
        rig.log.len()
    );
}

/// A master target reboot while it prepares a reprotect's target: the action is lost (no effect, no
/// result). With `lost-result-hang` the job hangs; without, the engine's timeout and retry end it.
fn prepare_target_lost(sabotage: Option<drsim_engine::Sabotage>) -> (Rig, JobId, ActionId) {
    let config = EngineConfig {
        sabotage,
        ..EngineConfig::default()
    };
    let mut rig = Lab::default().rig_with(config);
    let job = rig.command(reprotect(0)).unwrap().unwrap();
    let prepare = rig.until_action("prepare-target", HOUR_MS);
    let at = rig.world.now() + SECOND_MS; // it takes minutes: still running
    let mt = Fault::MasterTargetReboot {
        master_target: "mt1".into(),
    };
    rig.inject(mt, at, at + 10 * MINUTE_MS);
    (rig, job, prepare)
}

#[test]
fn a_master_target_reboot_loses_the_target_it_was_preparing() {
    let (mut rig, job, prepare) = prepare_target_lost(None);
    let cfg = rig.engine.config().clone();
    let outcome = rig.until_ended(job, cfg.data_action_timeout_ms + 4 * HOUR_MS);
    assert_eq!(
        outcome,
        Some(JobOutcome::Succeeded),
        "retried after its timeout"
    );
    assert!(
        !rig.answered(prepare),
        "the first attempt's result was lost"
    );
    assert_eq!(rig.count("prepare-target"), 2);
    assert!(
        rig.machine(0).attached.is_some(),
        "the retry attached the disks"
    );
}

#[test]
fn with_lost_result_hang_a_master_target_reboot_hangs_the_reprotect() {
    // INV-LIVE's sabotage: nothing ends the job once the result is lost.
    let (mut rig, job, prepare) = prepare_target_lost(Some(drsim_engine::Sabotage::LostResultHang));
    assert_eq!(rig.until_ended(job, 4 * 24 * HOUR_MS), None, "it hangs");
    assert!(!rig.answered(prepare));
    assert_eq!(rig.count("prepare-target"), 1, "no retry");
    assert_eq!(rig.engine.pending_actions(), 1);
    assert!(
        rig.machine(0).attached.is_none(),
        "the lost action took no effect"
    );
}

/// A failback to latest whose final sync waits behind a VPN outage when the master target reboots: the
/// waiting final sync is abandoned (without the reboot it would complete once the VPN is back).
fn final_sync_lost(sabotage: Option<drsim_engine::Sabotage>) -> (Rig, JobId, ActionId) {
    let config = EngineConfig {
        sabotage,
        ..EngineConfig::default()
    };
    let mut rig = Lab::default().rig_with(config);
    let reprotected = rig.command(reprotect(0)).unwrap().unwrap();
    assert_eq!(
        rig.until_ended(reprotected, 4 * HOUR_MS),
        Some(JobOutcome::Succeeded)
    );
    rig.run_until(rig.world.now() + HOUR_MS);
    let job = rig
        .command(Command::Failback {
            target: Target::Item(item(0)),
            point: PointChoice::Latest,
        })
        .unwrap()
        .unwrap();
    rig.until_action("shutdown-azure-vm", HOUR_MS);
    // The VPN drops while the Azure VM shuts down: the last writes cannot reach the MT.
    let t = rig.world.now() + SECOND_MS;
    rig.inject(Fault::LinkDown, t, t + HOUR_MS);
    let sync = rig.until_action("final-sync", HOUR_MS);
    rig.run_until(rig.world.now() + 5 * MINUTE_MS);
    assert!(rig.machine(0).final_sync.is_some(), "the final sync waits");
    let at = rig.world.now() + SECOND_MS;
    let mt = Fault::MasterTargetReboot {
        master_target: "mt1".into(),
    };
    rig.inject(mt, at, at + 10 * MINUTE_MS);
    rig.run_until(at);
    assert!(rig.machine(0).final_sync.is_none(), "abandoned");
    (rig, job, sync)
}

#[test]
fn a_master_target_reboot_abandons_a_waiting_final_sync() {
    let (mut rig, job, sync) = final_sync_lost(None);
    let cfg = rig.engine.config().clone();
    let outcome = rig.until_ended(job, cfg.data_action_timeout_ms + 2 * HOUR_MS);
    assert_eq!(
        outcome,
        Some(JobOutcome::Succeeded),
        "retried after its timeout"
    );
    assert!(!rig.answered(sync));
    assert_eq!(rig.count("final-sync"), 2);
    let m = rig.machine(0);
    assert_eq!(
        m.recovered_point.as_ref().unwrap().generations,
        m.azure_generation_at_shutdown.clone().unwrap(),
        "the retry still loses nothing (INV-LOSS)"
    );
}

#[test]
fn with_lost_result_hang_an_abandoned_final_sync_hangs_the_failback() {
    let (mut rig, job, sync) = final_sync_lost(Some(drsim_engine::Sabotage::LostResultHang));
    assert_eq!(rig.until_ended(job, 4 * 24 * HOUR_MS), None, "it hangs");
    assert!(!rig.answered(sync));
    assert_eq!(rig.count("final-sync"), 1, "no retry");
}

#[test]
fn overlapping_by_hand_power_ons_leave_the_vm_off_when_the_last_heals() {
    // found by `drsim fuzz`: the first heal powered the VM off under the second fault, and the second heal
    // then restored "on" for good
    let by_hand = |at: Millis, heal: Millis| FaultSpec {
        fault: Fault::OnPremPoweredOnByHand { vm: "vm-0".into() },
        at_ms: at,
        heal_at_ms: Some(heal),
    };
    let lab = Lab {
        faults: vec![
            by_hand(HOUR_MS, 3 * HOUR_MS),
            by_hand(2 * HOUR_MS, 4 * HOUR_MS),
        ],
        ..Lab::default()
    };
    let mut rig = lab.rig();
    let power = |rig: &Rig| rig.world.estate().onprem_vms[&VmName::from("vm-0")].power;
    rig.run_until(HOUR_MS + 1);
    assert_eq!(power(&rig), PowerState::On);
    rig.run_until(3 * HOUR_MS + 1);
    assert_eq!(
        power(&rig),
        PowerState::On,
        "the second fault still holds it"
    );
    rig.run_until(5 * HOUR_MS);
    assert_eq!(power(&rig), PowerState::Off, "off again once both healed");
}

/// What a run of [`share_run`] leaves behind, to compare runs.
type ShareRunOutcome = (
    Vec<(Millis, Observation)>,
    Vec<(Millis, Output)>,
    Vec<String>,
    usize,
);

// (the last: streams seen in virtual time, and draining there, whichever is fewer)

/// Six machines of unequal churn reprotected a few minutes apart over one saturated link, a link
/// failure in the middle, eight hours; with every held stream plain (`all_plain`) or the resyncs in
/// virtual time.
fn share_run(all_plain: bool) -> ShareRunOutcome {
    let lab = Lab {
        vms: 6,
        disks: 3,
        disk_size: 20 * GB,
        used: 6 * GB,
        link_bps: 30_000_000,
        ..Lab::default()
    };
    let (mut spec, items) = lab.build();
    for (i, m) in spec.machines.iter_mut().enumerate() {
        for (d, disk) in m.disks.iter_mut().enumerate() {
            disk.churn = ChurnModel::constant(200_000 + 150_000 * (i as u64) + 70_000 * d as u64);
            disk.used_bytes = (3 + i as u64 + d as u64) * GB;
        }
    }
    let mut rig = Rig::new(spec, items);
    rig.world.shares.all_plain = all_plain;
    rig.run_until(HOUR_MS);
    for i in 0..lab.vms {
        rig.run_until(HOUR_MS + (i as u64) * (i as u64 + 2) * MINUTE_MS);
        rig.command(reprotect(i)).unwrap().unwrap();
    }
    rig.inject(Fault::LinkDown, 2 * HOUR_MS, 2 * HOUR_MS + 7 * MINUTE_MS);
    let mut states = Vec::new();
    // streams read in closed form: [resyncs in virtual time, streams that follow their churn]
    let mut left_behind = [0, 0];
    let mut most_waiting = 0;
    let mut draining = 0;
    for k in 1..=8 * 60 {
        rig.run_until(HOUR_MS + k * MINUTE_MS);
        let waiting = (rig.world.shares.by_resource.values()).map(|s| s.waiting.len());
        most_waiting = most_waiting.max(waiting.sum());
        // streams draining a backlog in virtual time (not resyncing)
        for i in 0..lab.vms {
            for d in &rig.machine(i).disks {
                if let Some(s) = d.stream.as_ref()
                    && s.virtual_mark.is_some()
                    && s.fluid.resync_progress().is_none()
                {
                    draining += 1;
                }
            }
        }
        // what reports read of streams left in virtual time is what they read once brought to now
        rig.world.catch_up_for_reading();
        let read = |w: &World| {
            (0..lab.vms)
                .flat_map(|i| {
                    w.machines()[&ItemId::from(format!("item-{i}"))]
                        .disks
                        .iter()
                })
                .filter_map(|d| d.stream.as_ref())
                .map(|s| (s.fluid.now_ms(), w.stream_totals(s), w.stream_load(s)))
                .collect::<Vec<_>>()
        };
        let projected = read(&rig.world);
        for i in 0..lab.vms {
            for s in rig
                .machine(i)
                .disks
                .iter()
                .filter_map(|d| d.stream.as_ref())
            {
                if s.fluid.now_ms() < rig.world.now() {
                    left_behind[usize::from(s.follows_churn)] += 1;
                }
            }
        }
        rig.world.catch_up();
        let direct = read(&rig.world);
        for (p, d) in projected.iter().zip(&direct) {
            assert_eq!((p.1, p.2), (d.1, d.2), "at {} min", 60 + k);
        }
        if k % 10 != 0 {
            continue;
        }
        for i in 0..lab.vms {
            for d in &rig.machine(i).disks {
                let s = d.stream.as_ref().map(|s| {
                    let f = &s.fluid;
                    (
                        f.written_bytes(),
                        f.sent_bytes(),
                        f.resync_progress(),
                        f.last_resync(),
                        f.resync_bytes_sent_total(),
                        f.newest_usable(),
                        f.pending_tags(),
                    )
                });
                states.push(format!("{k} {i} {s:?} {}", d.onprem_generation));
            }
        }
    }
    assert!(
        all_plain || left_behind.iter().all(|&n| n > 0),
        "some resync in virtual time and some follower read as of now: {left_behind:?}"
    );
    (rig.log, rig.outputs, states, most_waiting.min(draining))
}

#[test]
fn streams_in_virtual_time_match_streams_advanced_one_by_one() {
    // Issue 6: the streams a saturated link holds at one fair share resync and drain their backlogs in
    // virtual time, touched only when their own resync completes or their backlog may have drained;
    // every observation, every engine output and every disk's state (sent bytes, resync records, usable
    // points) must be what advancing each stream at every rate change gives.
    let (log, outputs, states, waiting) = share_run(false);
    let (ref_log, ref_outputs, ref_states, ref_waiting) = share_run(true);
    assert!(
        waiting >= 6 && ref_waiting == 0,
        "{waiting} streams in virtual time"
    );
    assert!(
        states.iter().any(|s| s.contains("Some(ResyncRecord")),
        "some resync completed"
    );
    // the first difference, not ten thousand lines
    let first = |a: &[String], b: &[String]| a.iter().zip(b).position(|(x, y)| x != y);
    if let Some(i) = first(&states, &ref_states) {
        panic!("disk states differ:\n{}\n{}", states[i], ref_states[i]);
    }
    assert_eq!(states.len(), ref_states.len());
    let debug =
        |v: &[(Millis, Observation)]| v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>();
    if let Some(i) = first(&debug(&log), &debug(&ref_log)) {
        panic!(
            "observations differ at {i}: {:?} vs {:?}",
            log[i], ref_log[i]
        );
    }
    assert_eq!(log.len(), ref_log.len());
    assert_eq!(outputs, ref_outputs);
}

/// A machine whose streams follow a diurnal churn for a day and a half, in a world with cadences
/// (its points computed when asked) and one without (gathered from the disks' logs every report).
fn followed_points_run(cadences: bool) -> Vec<VmPoint> {
    use crate::churn::{DiurnalChurn, DiurnalParams};
    let lab = Lab {
        state: drsim_engine::lifecycle::ItemState::InAzure,
        disks: 2,
        ..Lab::default()
    };
    let (mut spec, items) = lab.build();
    spec.cadences = cadences;
    for (k, d) in spec.machines[0].disks.iter_mut().enumerate() {
        let diurnal = DiurnalChurn::new(DiurnalParams {
            mean_bps: 80_000 + 7_000 * k as u64,
            amplitude_permille: 600,
            peak_minute_of_day: 600 + 90 * k as u16,
            quantum_ms: 20 * MINUTE_MS,
        });
        d.churn = ChurnModel::Diurnal(diurnal.expect("valid"));
    }
    let mut rig = Rig::new(spec, items);
    rig.run_until(0);
    assert_eq!(rig.job(reprotect(0), 4 * HOUR_MS), JobOutcome::Succeeded);
    rig.run_until(36 * HOUR_MS + 7 * MINUTE_MS);
    let followed = (rig.machine(0).replication.as_ref()).is_some_and(|r| r.followed.is_some());
    assert_eq!(
        followed, cadences,
        "the machine's points are computed only under a cadence"
    );
    rig.world.collect_points(&item(0));
    let r = rig.machine(0).replication.as_ref().expect("replicating");
    r.points.iter().map(|p| p.to_point()).collect()
}

#[test]
fn points_computed_for_a_followed_machine_are_those_its_disks_log() {
    let computed = followed_points_run(true);
    let logged = followed_points_run(false);
    let now = 36 * HOUR_MS + 7 * MINUTE_MS;
    // Every computed point is the logged one of its tag (generations, kind, disks).
    for p in &computed {
        assert!(
            logged.contains(p),
            "computed point at {} ms not logged alike",
            p.tag_ms
        );
    }
    // And they are the ones the retention keeps: thinned alike, both give the same points, with
    // all of the last two hours and one per hour before, back to the first tag after the reprotect.
    assert_eq!(computed.last(), logged.last(), "the newest point");
    let thinned = |points: &[VmPoint]| {
        let mut store = VmPoints::new(points.first().map_or(&[][..], |p| &p.disks));
        for p in points {
            store.push(p.tag_ms, p.kind, p.generations.iter().copied());
        }
        plane::thin_points(&mut store, now);
        store.iter().map(|p| p.to_point()).collect::<Vec<_>>()
    };
    let kept = thinned(&computed);
    assert_eq!(kept, thinned(&logged));
    let older = (kept.iter())
        .filter(|p| now - p.tag_ms > drsim_engine::recovery_point::KEEP_ALL_MS)
        .count();
    assert_eq!(kept.len() - older, 24, "every point of the last two hours");
    assert!(older >= 30, "a day and a half of hourly points: {older}");
}
