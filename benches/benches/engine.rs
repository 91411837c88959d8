//! Benchmark of the orchestrator's input handling: `Engine::handle` per input (issue 6).
//!
//! **Estate** (built like the engine's test lab and `drsim::fuzzing`'s estate, scaled up): `N` items,
//! half of them protected back to on-premises (`ProtectedToOnPrem`, replicating), half failed over and
//! committed (`InAzure`, waiting for reprotect); one vCenter and ESXi host, one VMFS datastore, one process
//! server, one Windows master target per 16 items (so RP-14's 60-disk limit always has room), the CS with
//! every machine registered, a VPN; each machine has two data disks and Azure's temporary disk. The engine
//! learns all of it from one full discovery.
//!
//! **Observations** (`engine/observations`): the steady stream the world sends while replication runs:
//! every 5 minutes, for every replicating item, a replication report (healthy, initial sync done) and a
//! recovery-point observation with the point just tagged (app-consistent on the hour). Before measuring,
//! 25 h of that stream are fed, so every item's point store is at its steady size under the 24 h
//! retention of the failback policy. Inputs are generated outside the timing, in chunks; the timed part
//! is `engine.handle(now, input)` plus draining `poll_output` (which a driver must do anyway).
//! Measured for the mixed stream at 100 and 1000 items, and for each kind of observation alone at 1000.
//!
//! **Commands** (`engine/command`): one command per iteration, against an estate fed 5 minutes of the
//! stream (every replicating item has a point):
//! * `failback` — `Failback` of one replicating item to its latest processed point: the prerequisites run
//!   and a job starts (each iteration takes the next item; jobs started earlier keep running).
//! * `reprotect` — `Reprotect` of one `InAzure` item with valid machine inputs: RP-* prerequisites run
//!   and a job starts.
//! * `refused` — `Failback` of an `InAzure` item: refused by its state (the cheapest command path).
//!
//! When an estate runs out of items for a command it is rebuilt outside the timing. Throughput is one
//! element per input, so criterion reports inputs/s next to the time per input.
//!
//! Why: the harness feeds every world happening through `handle`; campaigns and fleet runs do so millions
//! of times, so the per-input cost, and whether it grows with the estate, bounds their speed.
//!
//! `cargo bench -p drsim-benches --bench engine -- --warm-up-time 1 --measurement-time 3`

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use drsim_engine::ids::*;
use drsim_engine::inventory::*;
use drsim_engine::item::ItemSpec;
use drsim_engine::lifecycle::ItemState;
use drsim_engine::protocol::*;
use drsim_engine::recovery_point::{PointChoice, PointKind, RecoveryPoint};
use drsim_engine::time::{HOUR_MS, MINUTE_MS, SECOND_MS};
use drsim_engine::{Engine, EngineConfig, Millis};

const GIB: u64 = 1 << 30;
/// Recovery points and replication reports arrive every 5 minutes per item.
const TICK_MS: Millis = 5 * MINUTE_MS;
/// Items per master target.
const ITEMS_PER_MT: usize = 16;

fn item_id(i: usize) -> ItemId {
    ItemId::from(format!("item-{i}"))
}

fn onprem_vm(i: usize) -> VmName {
    VmName::from(format!("vm-{i}"))
}

fn azure_vm(i: usize) -> VmName {
    VmName::from(format!("vm-{i}-azure"))
}

fn machine(i: usize) -> ReprotectMachine {
    ReprotectMachine {
        item: item_id(i),
        master_target: format!("mt-{}", i / ITEMS_PER_MT).into(),
        process_server: "ps1".into(),
        datastore: "ds1".into(),
        retention_drive: "R:".into(),
        location: LocationChoice::Auto,
    }
}

/// Even items replicate back to on-prem; odd ones are in Azure, unprotected.
fn state_of(i: usize) -> ItemState {
    if i.is_multiple_of(2) {
        ItemState::ProtectedToOnPrem
    } else {
        ItemState::InAzure
    }
}

fn spec(i: usize) -> ItemSpec {
    let state = state_of(i);
    ItemSpec {
        id: item_id(i),
        onprem_vm: onprem_vm(i),
        azure_vm: azure_vm(i),
        os: OsType::Windows,
        firmware: Firmware::Bios,
        source: Default::default(),
        origin: Default::default(),
        migrated: false,
        original_vcenter: "vc1".into(),
        original_resource_group: "rg1".into(),
        replication_group: None,
        state,
        protection: (state == ItemState::ProtectedToOnPrem).then(|| machine(i)),
    }
}

/// The full discovery of an estate of `n` items.
fn discovery(n: usize) -> InventoryDelta {
    let mut upserts = vec![
        Entity::VCenter(VCenterView {
            name: "vc1".into(),
            connected: true,
            account: DiscoveryAccount::Full,
        }),
        Entity::Host(HostView {
            name: "esx1".into(),
            vcenter: "vc1".into(),
            kind: HostKind::Esxi,
            version: "7.0".into(),
            edition: HostEdition::Licensed,
            up: true,
            memory_free_mib: 64 * 1024 * 1024,
            mounts: [("ds1".into(), MountAccess::ReadWrite)]
                .into_iter()
                .collect(),
        }),
        Entity::Datastore(DatastoreView {
            name: "ds1".into(),
            vcenter: "vc1".into(),
            kind: DatastoreKind::Vmfs,
            capacity_bytes: 1_000_000 * GIB,
            free_bytes: 500_000 * GIB,
            folders: Vec::new(),
        }),
        Entity::ProcessServer(ProcessServerView {
            name: "ps1".into(),
            running: true,
            health: Health::Ok,
            vnet: "vnet1".into(),
            nat_configured: false,
            version: 9,
        }),
        Entity::Network(NetworkView {
            link: SiteLink::Vpn,
            up: true,
        }),
    ];
    for m in 0..n.div_ceil(ITEMS_PER_MT) {
        let name = format!("mt-{m}");
        upserts.push(Entity::MasterTarget(MasterTargetView {
            name: name.as_str().into(),
            os: OsType::Windows,
            is_vmware_vm: true,
            host: "esx1".into(),
            running: true,
            snapshots: 0,
            controller: Controller::LsiLogic,
            enable_uuid: true,
            lvm_root_or_retention: false,
            own_disks: 3,
            disk_uuids: vec![format!("{name}-disk-0")],
            retention_drives: vec![RetentionDriveView {
                name: "R:".into(),
                fs: FileSystem::Ntfs,
                capacity_bytes: 1_000 * GIB,
                is_cache_volume: false,
                is_replication_target: false,
            }],
            version: 9,
        }));
    }
    let mut registrations = Vec::with_capacity(n);
    for i in 0..n {
        // Every item's active copy is in Azure: the on-prem VM is off.
        upserts.push(Entity::OnPremVm(OnPremVmView {
            name: onprem_vm(i),
            host: "esx1".into(),
            power: PowerState::Off,
            disks: (0..2)
                .map(|d| OnPremDiskView {
                    uuid: format!("vm-{i}-d{d}"),
                    size_bytes: 100 * GIB,
                    rdm: false,
                })
                .collect(),
            enable_uuid: true,
            snapshots: 0,
            agent_registered: false,
        }));
        upserts.push(Entity::AzureVm(AzureVmView {
            name: azure_vm(i),
            power: PowerState::On,
            resource_group: "rg1".into(),
            vnet: "vnet1".into(),
            agent_host_id: Some(format!("hid-vm-{i}")),
            agent_registered: true,
            memory_mib: 8192,
            cpus: 2,
            nic_ips: vec!["10.0.0.4".into()],
            disks: (0..2)
                .map(|d| AzureDiskView {
                    name: format!("vm-{i}-d{d}"),
                    size_bytes: 100 * GIB,
                    temporary: false,
                    added_after_failover: false,
                })
                .chain(std::iter::once(AzureDiskView {
                    name: format!("vm-{i}-azure-temp"),
                    size_bytes: 16 * GIB,
                    temporary: true,
                    added_after_failover: false,
                }))
                .collect(),
        }));
        registrations.push(CsRegistration {
            machine: onprem_vm(i),
            host_id: format!("hid-vm-{i}"),
        });
    }
    upserts.push(Entity::ConfigServer(ConfigServerView {
        running: true,
        connected_to_azure: true,
        vcenters: vec!["vc1".into()],
        version: 9,
        registrations,
    }));
    InventoryDelta {
        upserts,
        removals: Vec::new(),
    }
}

/// Which observations the stream sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kinds {
    /// A replication report and a recovery-point observation per item per tick.
    Mixed,
    /// Recovery-point observations only.
    Points,
    /// Replication reports only.
    Reports,
}

/// The steady observation stream: tick after tick, every replicating item in turn, 1 ms apart.
struct Stream {
    items: Vec<ItemId>,
    kinds: Kinds,
    tick: u64,
    /// Position within the tick: item `pos / per_item`, input `pos % per_item`.
    pos: usize,
}

impl Stream {
    fn new(items: Vec<ItemId>, kinds: Kinds) -> Self {
        Stream {
            items,
            kinds,
            tick: 1,
            pos: 0,
        }
    }

    fn per_item(&self) -> usize {
        if self.kinds == Kinds::Mixed { 2 } else { 1 }
    }

    fn next(&mut self) -> (Millis, Input) {
        let per_item = self.per_item();
        let j = self.pos / per_item;
        let tag_ms = self.tick * TICK_MS;
        let now = tag_ms + 1 + j as Millis;
        let item = self.items[j].clone();
        let report = match self.kinds {
            Kinds::Mixed => self.pos.is_multiple_of(2),
            Kinds::Reports => true,
            Kinds::Points => false,
        };
        let obs = if report {
            Observation::Replication {
                item,
                report: ReplicationReport {
                    direction: Direction::ToOnPrem,
                    initial_sync_done: true,
                    sync_bytes_sent: 0,
                    sync_bytes_total: 0,
                    health: Health::Ok,
                },
            }
        } else {
            Observation::RecoveryPoints {
                item,
                points: vec![RecoveryPoint {
                    tag_ms,
                    kind: if tag_ms.is_multiple_of(HOUR_MS) {
                        PointKind::App
                    } else {
                        PointKind::Crash
                    },
                    multi_vm: false,
                }],
            }
        };
        self.pos += 1;
        if self.pos == self.items.len() * per_item {
            self.pos = 0;
            self.tick += 1;
        }
        (now, Input::Observation(obs))
    }

    /// The time of the last input handed out (the next tick's start when a tick just ended).
    fn now(&self) -> Millis {
        self.tick * TICK_MS + (self.pos / self.per_item()) as Millis
    }
}

/// An engine over an estate of `n` items, fed `warm_ms` of the observation stream.
struct Estate {
    engine: Engine,
    stream: Stream,
    /// Replicating items (even indices).
    protected: Vec<usize>,
    /// Items in Azure (odd indices).
    in_azure: Vec<usize>,
    now: Millis,
}

impl Estate {
    fn new(n: usize, warm_ms: Millis) -> Self {
        let specs: Vec<ItemSpec> = (0..n).map(spec).collect();
        let mut engine = Engine::new(EngineConfig::default(), specs).expect("valid items");
        engine.handle(0, Input::Observation(Observation::Inventory(discovery(n))));
        drain(&mut engine);
        let (protected, in_azure): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| state_of(i) == ItemState::ProtectedToOnPrem);
        let mut stream = Stream::new(
            protected.iter().map(|&i| item_id(i)).collect(),
            Kinds::Mixed,
        );
        while stream.tick * TICK_MS <= warm_ms {
            let (now, input) = stream.next();
            engine.handle(now, input);
            drain(&mut engine);
        }
        let now = stream.now();
        Estate {
            engine,
            stream,
            protected,
            in_azure,
            now,
        }
    }
}

fn drain(engine: &mut Engine) -> usize {
    let mut n = 0;
    while engine.poll_output().is_some() {
        n += 1;
    }
    n
}

/// Inputs generated per untimed chunk.
const CHUNK: u64 = 4096;

/// Feeds `iters` inputs of the stream, timing only `handle` and the output drain.
fn feed(estate: &mut Estate, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut chunk = Vec::with_capacity(CHUNK as usize);
    while left > 0 {
        let k = left.min(CHUNK);
        chunk.extend((0..k).map(|_| estate.stream.next()));
        let engine = &mut estate.engine;
        let t = Instant::now();
        for (now, input) in chunk.drain(..) {
            engine.handle(now, input);
            while engine.poll_output().is_some() {}
        }
        total += t.elapsed();
        left -= k;
    }
    estate.now = estate.stream.now();
    total
}

fn observations(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/observations");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(1));
    for (n, kinds) in [
        (100, Kinds::Mixed),
        (1000, Kinds::Mixed),
        (1000, Kinds::Points),
        (1000, Kinds::Reports),
    ] {
        let mut estate = Estate::new(n, 25 * HOUR_MS);
        let stored = estate.engine.item(&item_id(0)).expect("item").points.len();
        println!("engine/observations/{n}: {stored} points stored per item after the warm-up");
        estate.stream.kinds = kinds;
        let name = match kinds {
            Kinds::Mixed => "mixed",
            Kinds::Points => "points_only",
            Kinds::Reports => "reports_only",
        };
        g.bench_function(format!("{name}/{n}"), |b| {
            b.iter_custom(|iters| feed(&mut estate, iters))
        });
    }
    g.finish();
}

/// Which command the `command` benchmarks send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Failback,
    Reprotect,
    Refused,
}

fn command_input(cmd: Cmd, i: usize) -> Input {
    Input::Command(match cmd {
        Cmd::Failback | Cmd::Refused => Command::Failback {
            target: Target::Item(item_id(i)),
            point: PointChoice::LatestProcessed,
        },
        Cmd::Reprotect => Command::Reprotect {
            target: Target::Item(item_id(i)),
            machines: vec![machine(i)],
        },
    })
}

fn commands(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/command");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(1));
    for (cmd, n) in [
        (Cmd::Failback, 100),
        (Cmd::Failback, 1000),
        (Cmd::Reprotect, 100),
        (Cmd::Reprotect, 1000),
        (Cmd::Refused, 1000),
    ] {
        let warm = TICK_MS;
        let mut estate = Estate::new(n, warm);
        let mut cursor = 0usize;
        let name = match cmd {
            Cmd::Failback => "failback",
            Cmd::Reprotect => "reprotect",
            Cmd::Refused => "refused",
        };
        g.bench_function(format!("{name}/{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let pool = match cmd {
                        Cmd::Failback => &estate.protected,
                        Cmd::Reprotect | Cmd::Refused => &estate.in_azure,
                    };
                    if cursor == pool.len() {
                        if cmd == Cmd::Refused {
                            cursor = 0;
                        } else {
                            estate = Estate::new(n, warm);
                            cursor = 0;
                        }
                    }
                    let pool = match cmd {
                        Cmd::Failback => &estate.protected,
                        Cmd::Reprotect | Cmd::Refused => &estate.in_azure,
                    };
                    let input = command_input(cmd, pool[cursor]);
                    cursor += 1;
                    estate.now += SECOND_MS;
                    let jobs = estate.engine.jobs().len();
                    let engine = &mut estate.engine;
                    let t = Instant::now();
                    engine.handle(estate.now, input);
                    while engine.poll_output().is_some() {}
                    total += t.elapsed();
                    let started = usize::from(cmd != Cmd::Refused);
                    assert_eq!(
                        engine.jobs().len(),
                        jobs + started,
                        "{name}: the command must {} a job",
                        if started == 1 { "start" } else { "not start" }
                    );
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, observations, commands);
criterion_main!(benches);
