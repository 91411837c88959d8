//! Proof the harness has teeth (issue 5): a 200-seed campaign catches every sabotage of the engine, each
//! with the invariant it should trip, and the same 200 seeds pass with the real engine.

use drsim::campaign::seed::SeedOptions;
use drsim::campaign::summary::Summary;
use drsim::campaign::{SeedRange, run_campaign};
use drsim_engine::Sabotage;

const SEEDS: SeedRange = SeedRange {
    first: 0,
    count: 200,
};

fn campaign(sabotage: Option<Sabotage>) -> Summary {
    let opts = SeedOptions {
        check_determinism: false,
        sabotage,
    };
    let run = run_campaign(&SEEDS.seeds(None), &opts, None, None, &|_| {}).expect("runs");
    Summary::of(
        &run.results,
        run.skipped,
        sabotage.map(|s| s.name().to_owned()),
    )
}

#[test]
fn the_real_engine_passes_the_200_seeds() {
    let s = campaign(None);
    assert_eq!(s.seeds_run, 200);
    assert_eq!(s.seeds_failed, 0, "{}", s.text());
    // and the campaign exercised what it should: every fault kind, many rules
    assert_eq!(
        s.fault_kinds.len(),
        drsim::campaign::generate::FAULT_KINDS.len(),
        "{:?}",
        s.fault_kinds
    );
    assert!(s.rules.len() >= 12, "{:?}", s.rules);
}

#[test]
fn every_sabotage_is_caught_by_its_invariant() {
    for &sabotage in Sabotage::ALL {
        let s = campaign(Some(sabotage));
        let want = sabotage.expected_invariant();
        assert!(
            s.failures_by_invariant.get(want).copied().unwrap_or(0) > 0,
            "sabotage `{}` was not caught by {want}:\n{}",
            sabotage.name(),
            s.text()
        );
    }
}
