//! Benchmarks of the network's max-min fair flow allocation (`drsim_world::network`, issue 6).
//!
//! **Topology**, as `World` builds it (sim/world/src/world/mod.rs): an Azure VM site, `P` process servers
//! and `T` master targets, one Azure gateway and one on-prem gateway joined by the shared VPN /
//! ExpressRoute link. Every stream follows RJ-08, `azure → ps_i → azure-gw → onprem-gw → mt_j`; the
//! constrained resources are the shared link and the PS / MT throughput caps (node caps, as in the world:
//! the PS and MT links themselves are unlimited). With `F` flows, `P = T = max(2, F / 600)`.
//!
//! **Flows**, as `plane.rs` adds them: route + demand + cap. Every third flow has a backlog (demand
//! unlimited, i.e. elastic); the others keep up with their churn (demand 1 kB/s … 51 kB/s). Every flow has
//! the PS download-thread cap (4 threads × 1 MB/s). The shared link (20 MB/s per PS) is smaller than the PS
//! and MT caps, and the elastic flows want far more than it has: **the shared link is saturated** and
//! every elastic flow is held by it (checked at setup).
//!
//! What is measured, at 1k / 10k / 30k flows:
//! * `full` — `Network::reallocate` on a network whose flows were all just added (the first allocation:
//!   every flow re-solved, every rate reported). The clone it runs on is made outside the timing.
//! * `demand_resolve` — one churn-limited flow's demand changes (toggled between two values below the
//!   fair share, so its rate changes), then `reallocate`. Because every flow crosses the shared link, the
//!   flow's component is the whole network: this is the cost the data plane pays for an ordinary churn
//!   change under congestion.
//! * `add_elastic` / `remove_elastic` (10k and 30k only: at 1k they cost what `demand_resolve` does) — one
//!   elastic flow (a disk starting a resync) joins / leaves while the link is saturated, then
//!   `reallocate`; the opposite operation runs untimed between iterations.
//!
//! `simple/…` — the same operations on the same flows without PS and MT caps (as the world builds a
//! scenario without throughput caps, e.g. the bench scenarios): the link is then the only constrained
//! resource of every flow, a *simple* resource whose split is kept incrementally
//! (`drsim_world::network::level`), and `reallocate_shared` reports the held flows as one level.
//!
//! * `simple/demand_slack` — every flow keeps up with its churn and the link has room to spare (a
//!   fleet's steady hours): a demand change only moves the split's sum (`Level::retarget`).
//!
//! And at 30k flows only:
//! * `demand_fast_path` — an elastic flow held by the link gets a new demand still above its rate (a
//!   backlogged disk whose demand moves): settled without solving anything.
//! * `solver_only` — `Problem::solve` alone on the same problem (the flows' limits over the same
//!   constrained resources), i.e. `full` without the network's bookkeeping.
//!
//! Why: ARCHITECTURE.md asks that the data plane's cost follow the streams whose rates change; these
//! figures show what one change costs when it cannot be isolated (one saturated shared link couples every
//! stream), and how far that is from the fast paths.
//!
//! `cargo bench -p drsim-benches --bench network -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use drsim_world::network::{
    DEFAULT_DOWNLOAD_THREADS, FlowId, FlowSpec, LinkId, LinkSpec, Network, NodeId, NodeKind,
    NodeSpec, Problem, Resource, Topology, UNLIMITED_BYTES_PER_S, download_threads_cap_bytes_per_s,
};

/// Flow counts measured.
const SIZES: [u64; 3] = [1_000, 10_000, 30_000];
/// Process server throughput cap, bytes/s (≈ 3.5 TB/day, DOMAIN.md §5 order of magnitude).
const PS_CAP: u64 = 40_000_000;
/// Master target throughput cap, bytes/s.
const MT_CAP: u64 = 60_000_000;
/// Shared link capacity per process server, bytes/s: half a PS cap, so the link is the bottleneck.
const LINK_PER_PS: u64 = 20_000_000;
/// PS download throughput per thread, bytes/s (the flow cap is 4 threads of it).
const PER_THREAD: u64 = 1_000_000;

/// A network as the world builds it, with `flows` flows added and not yet allocated.
struct Fixture {
    /// The network with every flow added, never reallocated.
    added: Network,
    /// The shared link.
    link: LinkId,
    /// The route of flow 0 (all routes have the same shape).
    sample_spec: FlowSpec,
    /// The same allocation as a bare [`Problem`].
    problem: Problem,
}

/// Demand of flow `id`: every third one is backlogged (elastic), the rest keep up with their churn.
fn demand(id: u64) -> u64 {
    if id.is_multiple_of(3) {
        UNLIMITED_BYTES_PER_S
    } else {
        1_000 + (id * 7919) % 50_000
    }
}

fn fixture(flows: u64) -> Fixture {
    fixture_with(flows, true)
}

/// With `capped`, the process servers and master targets have throughput caps; without, the shared
/// link is every flow's only constrained resource.
fn fixture_with(flows: u64, capped: bool) -> Fixture {
    let servers = (flows / 600).max(2) as usize;
    let mut topo = Topology::new();
    let mut node = |name: String, kind, cap| {
        topo.add_node(NodeSpec {
            name,
            kind,
            cap_bytes_per_s: cap,
        })
        .expect("node")
    };
    let site = node("azure".into(), NodeKind::AzureVmSite, None);
    let azure_gw = node("azure-gateway".into(), NodeKind::AzureGateway, None);
    let onprem_gw = node("onprem-gateway".into(), NodeKind::OnPremGateway, None);
    let ps: Vec<NodeId> = (0..servers)
        .map(|i| {
            node(
                format!("ps/{i}"),
                NodeKind::ProcessServer,
                capped.then_some(PS_CAP),
            )
        })
        .collect();
    let mt: Vec<NodeId> = (0..servers)
        .map(|i| {
            node(
                format!("mt/{i}"),
                NodeKind::MasterTarget,
                capped.then_some(MT_CAP),
            )
        })
        .collect();
    let free = LinkSpec {
        capacity_bytes_per_s: UNLIMITED_BYTES_PER_S,
        latency_ms: 0,
    };
    let link_capacity = LINK_PER_PS * servers as u64;
    let link = topo
        .add_link(
            azure_gw,
            onprem_gw,
            LinkSpec {
                capacity_bytes_per_s: link_capacity,
                latency_ms: 20,
            },
        )
        .expect("link");
    for &p in &ps {
        topo.add_link(site, p, free).expect("link");
        topo.add_link(p, azure_gw, free).expect("link");
    }
    for &m in &mt {
        topo.add_link(onprem_gw, m, free).expect("link");
    }
    let cap = download_threads_cap_bytes_per_s(DEFAULT_DOWNLOAD_THREADS, PER_THREAD).expect("cap");
    let mut net = Network::new(topo);
    // The solver-only problem: resources 0..P = PS caps, P = the link, P+1.. = MT caps.
    let mut problem = Problem::new();
    for _ in 0..servers {
        problem.add_resource(PS_CAP).expect("resource");
    }
    problem.add_resource(link_capacity).expect("resource");
    for _ in 0..servers {
        problem.add_resource(MT_CAP).expect("resource");
    }
    let mut sample_spec = None;
    for id in 0..flows {
        let (p, m) = ((id as usize) % servers, (id as usize / 7) % servers);
        let route = net
            .topology()
            .route_from_nodes(&[site, ps[p], azure_gw, onprem_gw, mt[m]])
            .expect("route");
        let spec = FlowSpec {
            route,
            demand_bytes_per_s: demand(id),
            cap_bytes_per_s: Some(cap),
        };
        sample_spec.get_or_insert_with(|| spec.clone());
        net.add_flow(FlowId(id), spec).expect("flow");
        let (p, m) = (p as u32, m as u32);
        problem
            .add_flow(
                demand(id).min(cap),
                [p, servers as u32, servers as u32 + 1 + m],
            )
            .expect("flow");
    }
    Fixture {
        added: net,
        link,
        sample_spec: sample_spec.expect("at least one flow"),
        problem,
    }
}

/// The fixture allocated once, with the shared link checked saturated.
fn allocated(fx: &Fixture) -> Network {
    let mut net = fx.added.clone();
    net.reallocate();
    let load = net.load(Resource::Link(fx.link)).expect("link");
    let slack = load.capacity_bytes_per_s - load.allocated_bytes_per_s;
    assert!(
        slack < load.flows as u64,
        "the shared link must be saturated: {load:?}"
    );
    // Flow 0 is elastic and held by the link, well below its cap.
    assert!(net.rate(FlowId(0)).expect("flow") < 1_000_000);
    net
}

/// Adding and removing one elastic flow (a disk starting and ending a resync), each followed by
/// `settle` (a reallocation).
fn elastic_toggle<'a>(
    fx: &'a Fixture,
    settle: impl Fn(&mut Network) + Copy + 'a,
) -> (
    impl Fn(&mut Network) + Copy + 'a,
    impl Fn(&mut Network) + Copy + 'a,
) {
    let id = FlowId(u64::MAX - 1);
    let add = move |net: &mut Network| {
        let spec = FlowSpec {
            demand_bytes_per_s: UNLIMITED_BYTES_PER_S,
            ..fx.sample_spec.clone()
        };
        net.add_flow(id, spec).expect("flow");
        settle(net);
    };
    let remove = move |net: &mut Network| {
        net.remove_flow(id).expect("flow");
        settle(net);
    };
    (add, remove)
}

/// Times `timed` only; `untimed` runs between iterations to restore the state.
fn alternate(
    net: &mut Network,
    iters: u64,
    mut timed: impl FnMut(&mut Network),
    mut untimed: impl FnMut(&mut Network),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        timed(net);
        total += t.elapsed();
        untimed(net);
    }
    total
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
}

fn network(c: &mut Criterion) {
    let fixtures: Vec<(u64, Fixture)> = SIZES.iter().map(|&n| (n, fixture(n))).collect();

    let mut g = c.benchmark_group("network/full");
    configure(&mut g);
    for (n, fx) in &fixtures {
        g.throughput(Throughput::Elements(*n));
        g.bench_function(n.to_string(), |b| {
            b.iter_batched(
                || fx.added.clone(),
                |mut net| {
                    let changed = net.reallocate();
                    (net, changed)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("network/demand_resolve");
    configure(&mut g);
    for (n, fx) in &fixtures {
        let mut net = allocated(fx);
        // Flow 1 keeps up with its churn (at its limit, below the fair share): a new demand changes its
        // rate, and its component (everything, through the shared link) is re-solved.
        let (d1, d2) = (demand(1), demand(1) + 1_234);
        net.set_demand(FlowId(1), d2).expect("flow");
        net.reallocate();
        let s = net.last_reallocation();
        println!("network/demand_resolve/{n}: {s:?}");
        let mut flip = false;
        g.bench_function(n.to_string(), |b| {
            b.iter(|| {
                flip = !flip;
                net.set_demand(FlowId(1), if flip { d1 } else { d2 })
                    .expect("flow");
                black_box(net.reallocate())
            })
        });
    }
    g.finish();

    for (name, add_timed) in [("add_elastic", true), ("remove_elastic", false)] {
        let mut g = c.benchmark_group(format!("network/{name}"));
        configure(&mut g);
        for (n, fx) in fixtures.iter().filter(|(n, _)| *n >= 10_000) {
            let mut net = allocated(fx);
            let (add, remove) = elastic_toggle(fx, |net| {
                black_box(net.reallocate());
            });
            add(&mut net);
            let s_add = net.last_reallocation();
            remove(&mut net);
            let s_remove = net.last_reallocation();
            println!("network/{name}/{n}: after add {s_add:?}; after remove {s_remove:?}");
            g.bench_function(n.to_string(), |b| {
                b.iter_custom(|iters| {
                    if add_timed {
                        alternate(&mut net, iters, add, remove)
                    } else {
                        add(&mut net);
                        let t = alternate(&mut net, iters, remove, add);
                        remove(&mut net);
                        t
                    }
                })
            });
        }
        g.finish();
    }

    // The same changes on a link that is every flow's only constrained resource.
    let simple: Vec<(u64, Fixture)> = SIZES.iter().map(|&n| (n, fixture_with(n, false))).collect();
    let mut g = c.benchmark_group("network/simple");
    configure(&mut g);
    for (n, fx) in &simple {
        let mut net = allocated(fx);
        let (d1, d2) = (demand(1), demand(1) + 1_234);
        let mut flip = false;
        g.bench_function(format!("demand_resolve/{n}"), |b| {
            b.iter(|| {
                flip = !flip;
                net.set_demand(FlowId(1), if flip { d1 } else { d2 })
                    .expect("flow");
                black_box(net.reallocate_shared())
            })
        });
        println!(
            "network/simple/demand_resolve/{n}: {:?}",
            net.last_reallocation()
        );
        let (add, remove) = elastic_toggle(fx, |net| {
            black_box(net.reallocate_shared());
        });
        g.bench_function(format!("add_remove_elastic/{n}"), |b| {
            b.iter(|| {
                add(&mut net);
                remove(&mut net);
            })
        });
        // Every flow keeps up with its churn and the link has room to spare (a fleet's steady hours):
        // a new limit only moves the split's sum.
        for id in 0..*n {
            net.set_demand(FlowId(id), 1_000).expect("flow");
        }
        net.reallocate_shared();
        let load = net.load(Resource::Link(fx.link)).expect("link");
        assert!(
            load.allocated_bytes_per_s < load.capacity_bytes_per_s,
            "slack: {load:?}"
        );
        let mut flip = false;
        g.bench_function(format!("demand_slack/{n}"), |b| {
            b.iter(|| {
                flip = !flip;
                net.set_demand(FlowId(1), if flip { 1_000 } else { 2_234 })
                    .expect("flow");
                black_box(net.reallocate_shared())
            })
        });
    }
    g.finish();

    // 30k flows only.
    let (n, fx) = fixtures.last().expect("sizes");
    let mut g = c.benchmark_group("network/30k");
    configure(&mut g);
    {
        let mut net = allocated(fx);
        let rate = net.rate(FlowId(0)).expect("flow");
        let (d1, d2) = (UNLIMITED_BYTES_PER_S, rate + 500_000);
        net.set_demand(FlowId(0), d2).expect("flow");
        net.reallocate();
        println!(
            "network/30k/demand_fast_path: {:?}",
            net.last_reallocation()
        );
        let mut flip = false;
        g.bench_function("demand_fast_path", |b| {
            b.iter(|| {
                flip = !flip;
                net.set_demand(FlowId(0), if flip { d1 } else { d2 })
                    .expect("flow");
                black_box(net.reallocate())
            })
        });
    }
    g.throughput(Throughput::Elements(*n));
    g.bench_function("solver_only", |b| b.iter(|| fx.problem.solve()));
    g.finish();
}

criterion_group!(benches, network);
criterion_main!(benches);
