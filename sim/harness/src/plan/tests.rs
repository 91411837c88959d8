use super::*;

fn tutorial(rel: &str) -> (PathBuf, scenario::Scenario, Built) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    let (s, b) = scenario::load(&file, None).expect("loads");
    (file, s, b)
}

fn settings(bandwidths: Vec<u64>, process_servers: Vec<usize>) -> Settings {
    Settings {
        bandwidths,
        process_servers,
        rpo_ms: 15 * MINUTE_MS,
        growth_pct: 30,
        percentile: 95,
        ir_goal_ms: 72 * 60 * MINUTE_MS,
    }
}

#[test]
fn a_sweep_gives_the_same_result_on_any_number_of_threads() {
    let (file, s, b) = tutorial("scenarios/tutorial/03-recovery-plan-groups.json");
    let set = settings(vec![2_500_000, 20_000_000, 125_000_000], vec![1, 2]);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let r = pool.install(|| sweep(&file, &s, &b, &set)).expect("sweeps");
        serde_json::to_string(&r).unwrap()
    };
    let one = run(1);
    assert_eq!(one, run(2));
    let r: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(r["points"].as_array().unwrap().len(), 6);
}

#[test]
fn more_bandwidth_holds_the_rpo_longer_and_the_smallest_that_holds_it_is_recommended() {
    let (file, s, b) = tutorial("scenarios/tutorial/03-recovery-plan-groups.json");
    let set = settings(vec![2_500_000, 6_650_000, 125_000_000], vec![1]);
    let r = sweep(&file, &s, &b, &set).expect("sweeps");
    let c: Vec<f64> = r
        .points
        .iter()
        .map(|p| p.rpo_compliance_pct.expect("replicated"))
        .collect();
    // 20 Mbps cannot keep up with the grown churn of the reprotect's resync; 53 Mbps can
    assert!(c[0] < 100.0 && c[1] >= 100.0 - 1e-9, "{c:?}");
    assert!(c.windows(2).all(|w| w[0] <= w[1] + 1e-9), "{c:?}");
    let rec = &r.recommendations;
    assert_eq!(
        rec.bandwidth_rpo_100.map(|v| v.bandwidth_bytes_per_s),
        Some(6_650_000)
    );
    assert_eq!(
        rec.bandwidth_rpo_90.map(|v| v.bandwidth_bytes_per_s),
        Some(2_500_000)
    );
    // a narrower link means a larger peak RPO
    assert!(r.points[0].rpo_peak_s > r.points[2].rpo_peak_s);
    // the failback sizing is the point that held the RPO
    let fb = rec.failback.as_ref().expect("sized");
    assert_eq!(fb.variant.bandwidth_bytes_per_s, 6_650_000);
    assert!(fb.failback_downtime_max_s.is_some() && fb.plan_downtime_max_s.is_some());
    // growth is in the churn: 4 machines' daily churn × 1.3
    let plain = churn(&b, &settings(vec![1], vec![1]));
    let mut no_growth = settings(vec![1], vec![1]);
    no_growth.growth_pct = 0;
    let base = churn(&b, &no_growth);
    assert_eq!(plain.daily_bytes, base.daily_bytes * 13 / 10);
}

#[test]
fn machines_are_spread_over_the_process_servers_in_turn() {
    let (file, s, _) = tutorial("scenarios/tutorial/03-recovery-plan-groups.json");
    let v = Variant {
        bandwidth_bytes_per_s: 1_000_000,
        process_servers: 3,
        growth_pct: 30,
        rpo_ms: 60_000,
    };
    let (sc, ungrown) = variant::apply(&s, &v);
    assert!(!ungrown);
    assert_eq!(sc.inventory.process_servers.len(), 3);
    let b = scenario::build::build(&sc, &file).expect("still a valid scenario");
    assert_eq!(b.world.link.bandwidth_bytes_per_s, 1_000_000);
    assert_eq!(b.config.failback_policy.rpo_threshold_ms, 60_000);
    let used: std::collections::BTreeSet<String> =
        b.script
            .iter()
            .filter_map(|st| match &st.action {
                scenario::build::StepAction::Command(
                    drsim_engine::protocol::Command::Reprotect { machines, .. },
                ) => Some(machines.iter().map(|m| m.process_server.to_string())),
                _ => None,
            })
            .flatten()
            .collect();
    assert_eq!(used.len(), 3, "{used:?}");
}

#[test]
fn ranges_parse_with_units_and_are_refused_when_wrong() {
    assert_eq!(
        bandwidths("100Mbps..1Gbps", 3).unwrap(),
        vec![12_500_000, 39_528_471, 125_000_000]
    );
    assert_eq!(
        bandwidths("1Gbps,100Mbps", 5).unwrap(),
        vec![12_500_000, 125_000_000]
    );
    assert!(
        bandwidths("1Gbps..100Mbps", 5)
            .unwrap_err()
            .contains("backwards")
    );
    assert!(bandwidths("fast", 5).is_err());
    assert_eq!(counts("1..4").unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(counts("4,2").unwrap(), vec![2, 4]);
    assert!(counts("0..2").is_err());
}
