//! The fuzz targets' seed corpora as ordinary tests (issue 5): every file of `fuzz/corpus/scenario_parser/`
//! goes through [`drsim::fuzzing::scenario_bytes`] and every file of `fuzz/corpus/engine_inputs/` through
//! [`drsim::fuzzing::engine_inputs`], so both targets stay built on stable and no corpus input regresses;
//! the engine corpus must also reach every lifecycle state and every way a job ends, so it is a seed worth
//! mutating. Proptest adds random and mutated byte strings on top.
//!
//! A file named `crash-*` is an input that made a target panic and is kept until the bug is fixed: while
//! it still panics it is reported and skipped; once it passes it counts like any other file.
//!
//! `cargo test -p drsim --test fuzz_corpus -- --ignored write_engine_corpus` rewrites the `seed-*` files of
//! the engine corpus from the scripts below.

use drsim::fuzzing::script::Script;
use drsim::fuzzing::{
    self, EngineRun, OPS, cmd, engine_inputs, flag, op, run_engine_inputs, scenario_bytes,
};
use drsim_engine::lifecycle::ItemState;
use proptest::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// The files of one corpus, sorted by name.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn is_crash(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("crash-"))
}

/// Runs `f` on every file of a corpus; a panic on an ordinary file fails the test naming the file, a
/// `crash-` file that still panics is reported and skipped. Returns what `f` returned per file that
/// passed.
fn run_corpus<T>(target: &str, min_files: usize, f: impl Fn(&[u8]) -> T) -> Vec<(PathBuf, T)> {
    let files = corpus(target);
    assert!(
        files.len() >= min_files,
        "fuzz/corpus/{target}/ holds {} files, expected at least {min_files}",
        files.len()
    );
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for file in files {
        let data = std::fs::read(&file).expect("readable corpus file");
        match catch_unwind(AssertUnwindSafe(|| f(&data))) {
            Ok(v) => {
                if is_crash(&file) {
                    eprintln!(
                        "{} passes now: rename it (drop the `crash-` prefix) to keep it as a regression input",
                        file.display()
                    );
                }
                out.push((file, v));
            }
            Err(_) if is_crash(&file) => {
                eprintln!("skipped, still failing: {}", file.display());
            }
            Err(_) => failed.push(file.display().to_string()),
        }
    }
    assert!(
        failed.is_empty(),
        "corpus inputs that panic (see the panic messages above): {failed:#?}"
    );
    out
}

#[test]
fn scenario_parser_corpus_never_panics() {
    run_corpus("scenario_parser", 8, scenario_bytes);
}

#[test]
fn engine_inputs_corpus_never_panics_and_reaches_far() {
    let runs: Vec<(PathBuf, EngineRun)> = run_corpus("engine_inputs", 12, run_engine_inputs);
    let seeds: Vec<&(PathBuf, EngineRun)> = runs.iter().filter(|(p, _)| !is_crash(p)).collect();
    for (file, run) in &seeds {
        assert!(
            run.started,
            "{}: the header does not decode",
            file.display()
        );
    }
    let mut states = std::collections::BTreeSet::new();
    for (_, r) in &seeds {
        states.extend(r.states.iter().copied());
    }
    let missing: Vec<_> = ItemState::ALL
        .iter()
        .filter(|s| !states.contains(s))
        .collect();
    assert!(missing.is_empty(), "no corpus input reaches {missing:?}");
    let sum = |f: fn(&EngineRun) -> usize| seeds.iter().map(|(_, r)| f(r)).sum::<usize>();
    assert!(sum(|r| r.jobs_succeeded) > 0, "no job succeeds");
    assert!(sum(|r| r.jobs_failed) > 0, "no job fails");
    assert!(sum(|r| r.jobs_cancelled) > 0, "no job is cancelled");
    assert!(sum(|r| r.refusals) > 0, "no command is refused");
    let longest = seeds.iter().map(|(_, r)| r.transitions).max().unwrap_or(0);
    assert!(
        longest >= 20,
        "the longest input makes only {longest} state changes"
    );
}

/// A byte string that is mostly valid scenario text: a corpus file with a few bytes flipped, inserted
/// or deleted.
fn mutated_scenario() -> impl Strategy<Value = Vec<u8>> {
    let files: Vec<Vec<u8>> = corpus("scenario_parser")
        .iter()
        .filter(|p| !is_crash(p))
        .map(|p| std::fs::read(p).expect("readable"))
        .collect();
    let n = files.len();
    (
        0..n,
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    )
        .prop_map(move |(f, edits)| {
            let mut bytes = files[f].clone();
            for (at, b, kind) in edits {
                if bytes.is_empty() {
                    bytes.push(b);
                    continue;
                }
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = b,
                    1 => bytes.insert(i, b),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            bytes
        })
}

/// Engine input bytes that decode well: a valid header, then opcodes in range with random arguments.
fn engine_script() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        proptest::collection::vec((0u8..7, any::<u8>()), 1..=4),
        proptest::collection::vec((0..OPS, any::<[u8; 3]>()), 0..200),
    )
        .prop_map(|(config, items, steps)| {
            let mut bytes = vec![config, items.len() as u8 - 1];
            for (s, f) in items {
                bytes.extend([s, f]);
            }
            for (o, args) in steps {
                bytes.push(o);
                let n = match o {
                    op::COMMAND | op::REPLICATION => 3,
                    op::ANSWER | op::POINTS | op::WORLD => 2,
                    op::ADVANCE | op::STALE_RESULT => 1,
                    _ => 0,
                };
                bytes.extend_from_slice(&args[..n]);
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn scenario_parser_takes_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        scenario_bytes(&bytes);
    }

    #[test]
    fn scenario_parser_takes_mutated_files(bytes in mutated_scenario()) {
        scenario_bytes(&bytes);
    }

    #[test]
    fn engine_takes_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        engine_inputs(&bytes);
    }

    #[test]
    fn engine_takes_random_scripts(bytes in engine_script()) {
        engine_inputs(&bytes);
    }
}

// ---------------------------------------------------------------------------------------------------
// The seed corpus of the engine target
// ---------------------------------------------------------------------------------------------------

/// `ADVANCE` amounts: 1 min, 5 min, 30 min, 1 h, 6 h, 1 day, 2 days.
const MIN1: u8 = 2;
const MIN5: u8 = 3;
const MIN30: u8 = 5;
const HOUR1: u8 = 6;
const HOURS6: u8 = 8;
const DAY1: u8 = 10;
const DAYS2: u8 = 11;

/// `ANSWER` outcomes (see `drsim::fuzzing`): success, bare success, permanent / transient failure,
/// never.
const OK: u8 = 0;
const BARE: u8 = 6;
const FAIL: u8 = 7;
const TRANSIENT: u8 = 8;
const NEVER: u8 = 9;

/// Point arguments: latest, latest processed, latest app-consistent, the newest reported tag.
const LATEST: u8 = 0;
const PROCESSED: u8 = 1;
const APP: u8 = 2;
const REPORTED: u8 = 3;

/// Runs one operation on item `i`: the command, then every action answered, then some time.
fn done(s: Script, kind: u8, i: u8, arg: u8) -> Script {
    s.on_item(kind, i, arg)
        .answer_all()
        .answer_all()
        .discover()
        .advance(MIN30)
}

/// The same on the plan.
fn done_plan(s: Script, kind: u8, arg: u8) -> Script {
    s.on_plan(kind, arg)
        .answer_all()
        .answer_all()
        .answer_all()
        .discover()
        .advance(MIN30)
}

/// The whole cycle of DOMAIN.md §2 for item `i`, from protected-to-Azure.
fn cycle(mut s: Script, i: u8, point: u8) -> Script {
    s = s.points(i, 0x1f).advance(MIN5);
    s = done(s, cmd::FAILOVER, i, point);
    s = done(s, cmd::COMMIT_FAILOVER, i, 0);
    s = done(s, cmd::REPROTECT, i, 0);
    s = s.points(i, 0x1f).advance(HOUR1);
    s = done(s, cmd::FAILBACK, i, point);
    s = done(s, cmd::COMMIT_FAILBACK, i, 0);
    done(s, cmd::REPROTECT_TO_AZURE, i, 0)
}

/// A deterministic pseudo-random stream (xorshift), for the long walks.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u8
    }
}

/// A long walk: random steps, weighted toward commands on real targets and answers, so jobs run.
fn walk(s: Script, seed: u64, steps: usize) -> Script {
    let mut r = Xorshift(seed);
    let mut s = s;
    for _ in 0..steps {
        s = match r.next() % 16 {
            0..=3 => {
                // commands on real targets; rarely a disable, which ends an item's walk
                let kind = r.next() % 7;
                s.command(kind, r.next() % 4, r.next())
            }
            4 => s.command(r.next(), r.next(), r.next()),
            5..=7 => s.answer_all(),
            8 | 9 => s.answer(r.next(), r.next()),
            10 => s.points(r.next() % 4, r.next()),
            11 => s.replication(r.next() % 4, r.next(), r.next()),
            12 => s.world(r.next(), r.next() & 0x3f),
            13 => s.advance(r.next() % 9),
            14 => s.stale(r.next()),
            _ => s.discover(),
        };
    }
    s
}

/// The seed inputs of `fuzz/corpus/engine_inputs/`, by file name.
fn engine_seeds() -> Vec<(&'static str, Script)> {
    use ItemState as S;
    let mut seeds = Vec::new();

    // 1. The whole cycle for one Windows VM, failing back to the latest point.
    seeds.push((
        "seed-01-cycle",
        cycle(Script::new(0, &[(S::ProtectedToAzure, 0)]), 0, LATEST),
    ));

    // 2. Two cycles of a Linux VM with short timeouts; the second fails over/back to reported points.
    let s = Script::new(8, &[(S::ProtectedToAzure, flag::LINUX)]);
    let s = cycle(s, 0, APP);
    seeds.push(("seed-02-two-cycles-linux", cycle(s, 0, REPORTED)));

    // 3. A replication group in a plan: reprotect, failback, change point, commit, re-protect to Azure.
    let g = flag::GROUP;
    let mut s = Script::new(0, &[(S::InAzure, g), (S::InAzure, g), (S::InAzure, 0)]);
    s = done_plan(s, cmd::SET_PLAN, 0);
    s = done_plan(s, cmd::REPROTECT, 0);
    s = s
        .points(0, 0x1f)
        .points(1, 0x1f)
        .points(2, 0x1f)
        .advance(HOUR1);
    s = done_plan(s, cmd::FAILBACK, PROCESSED);
    s = done_plan(s, cmd::CHANGE_POINT, APP);
    s = done_plan(s, cmd::COMMIT_FAILBACK, 0);
    s = done_plan(s, cmd::REPROTECT_TO_AZURE, 0);
    seeds.push(("seed-03-plan-group", s));

    // 4. Failing actions: permanent and transient failures, then retries that succeed (RJ-07, FB-07).
    let mut s = Script::new(2, &[(S::InAzure, 0), (S::ProtectedToOnPrem, 0)]);
    s = s.on_item(cmd::REPROTECT, 0, 0);
    for _ in 0..3 {
        s = s.answer(0, TRANSIENT).advance(MIN1);
    }
    s = s.answer(0, FAIL).answer_all().advance(MIN5);
    s = done(s, cmd::REPROTECT, 0, 0);
    s = s.points(1, 0x1f).on_item(cmd::FAILBACK, 1, PROCESSED);
    for k in 0..6 {
        s = s.answer(0, if k == 3 { FAIL + 10 * k } else { OK });
    }
    s = s.answer_all().advance(HOUR1);
    s = done(s, cmd::FAILBACK, 1, LATEST);
    seeds.push(("seed-04-failures-and-retries", s));

    // 5. Results that never come, with short timeouts: retries, then jobs failing on timeouts.
    let mut s = Script::new(8 | 3, &[(S::InAzure, 0), (S::ProtectedToOnPrem, 0)]);
    s = s
        .on_item(cmd::REPROTECT, 0, 0)
        .on_item(cmd::FAILBACK, 1, LATEST);
    for _ in 0..8 {
        s = s
            .answer(0, NEVER)
            .answer(1, NEVER)
            .advance(MIN5)
            .advance(MIN5);
    }
    s = s.advance(DAY1);
    s = done(s, cmd::REPROTECT, 0, 0);
    s = done(s, cmd::FAILBACK, 1, LATEST);
    seeds.push(("seed-05-timeouts", s));

    // 6. Cancellations: a failback cancelled after its first steps rolls back (FB-07); a reprotect too.
    let mut s = Script::new(0, &[(S::ProtectedToOnPrem, 0), (S::InAzure, 0)]);
    s = s.points(0, 0x1f).on_item(cmd::FAILBACK, 0, PROCESSED);
    s = s.answer(0, OK).answer(0, OK);
    s = s
        .on_item(cmd::CANCEL, 0, 0)
        .answer_all()
        .answer_all()
        .advance(HOUR1);
    s = s.on_item(cmd::REPROTECT, 1, 0).answer(0, OK);
    s = s.on_item(cmd::CANCEL, 0, 0).answer_all().advance(HOUR1);
    s = s.on_item(cmd::CANCEL, 0, 1).on_item(cmd::CANCEL, 0, 2);
    s = done(s, cmd::FAILBACK, 0, PROCESSED);
    seeds.push(("seed-06-cancel-and-rollback", s));

    // 7. The on-prem VM powered on by hand while Azure is active (split-brain risk), then off again.
    let mut s = Script::new(0, &[(S::ProtectedToOnPrem, 0), (S::InAzure, 0)]);
    s = s.world(0, 0x80).points(0, 0x1f);
    s = done(s, cmd::FAILBACK, 0, LATEST);
    s = s.world(0, 0x81).on_item(cmd::REPROTECT, 1, 0).answer_all();
    s = s.world(0, 0x00).world(0, 0x01).discover();
    s = done(s, cmd::REPROTECT, 1, 0);
    s = done(s, cmd::FAILBACK, 0, LATEST);
    s = done(s, cmd::COMMIT_FAILBACK, 0, 0);
    seeds.push(("seed-07-split-brain", s));

    // 8. Stale and unknown results; answers arriving after the engine gave up; duplicate answers.
    let mut s = Script::new(8 | 1, &[(S::InAzure, 0), (S::FailedOver, 0)]);
    s = s
        .on_item(cmd::REPROTECT, 0, 0)
        .answer(0, NEVER)
        .advance(HOUR1);
    for w in [0u8, 2, 4, 6, 1, 3, 5, 7, 8, 10] {
        s = s.stale(w);
    }
    s = done(s, cmd::REPROTECT, 0, 0);
    s = done(s, cmd::COMMIT_FAILOVER, 1, 0);
    for w in 0..12u8 {
        s = s.stale(w * 2);
    }
    seeds.push(("seed-08-stale-results", s));

    // 9. Recovery points in odd shapes, days of time (RPO alerts, pruning), failback to a reported tag.
    let mut s = Script::new(0x10, &[(S::ProtectedToOnPrem, 0), (S::ProtectedToAzure, 0)]);
    for shape in [0x1f, 0x3f, 0x5f, 0x7f, 0x08, 0x17, 0x00] {
        s = s.points(0, shape).points(1, shape).advance(HOUR1);
    }
    s = s
        .advance(DAY1)
        .advance(DAYS2)
        .points(0, 0x1f)
        .advance(HOURS6);
    s = done(s, cmd::FAILBACK, 0, REPORTED + 7 * 3);
    s = done(s, cmd::CHANGE_POINT, 0, REPORTED + 7 * 5);
    s = done(s, cmd::CHANGE_POINT, 0, 4 + 7 * 2);
    s = done(s, cmd::COMMIT_FAILBACK, 0, 0);
    s = done(s, cmd::FAILOVER, 1, REPORTED);
    s = done(s, cmd::CHANGE_POINT, 1, PROCESSED);
    seeds.push(("seed-09-points-and-rpo", s));

    // 10. Machines that cannot fail back (NS-02, NS-04, NS-08, NS-09), disable protection (NS-07).
    let mut s = Script::new(
        0,
        &[
            (S::InAzure, flag::EFI),
            (S::InAzure, flag::PHYSICAL_2008 | flag::MIGRATED),
            (S::InAzure, flag::CREATED_IN_AZURE),
            (S::ProtectedToOnPrem, flag::NO_PROTECTION | flag::ALTERNATE),
        ],
    );
    for i in 0..4 {
        s = done(s, cmd::REPROTECT, i, 0);
        s = done(s, cmd::FAILBACK, i, LATEST);
    }
    for i in 0..4 {
        s = done(s, cmd::DISABLE, i, 0);
        s = done(s, cmd::REPROTECT, i, 0);
    }
    seeds.push(("seed-10-not-supported-and-disable", s));

    // 11. The estate breaking and healing around jobs: vCenter, MT snapshot, PS, network, CS, host
    //     memory, datastore space, agents, VMs deleted and back.
    let mut s = Script::new(0, &[(S::InAzure, 0), (S::ProtectedToOnPrem, 0)]);
    for what in 2..12u8 {
        s = s
            .world(what, 0x80)
            .on_item(cmd::REPROTECT, 0, 0)
            .answer_all();
        s = s
            .points(1, 0x1f)
            .on_item(cmd::FAILBACK, 1, LATEST)
            .answer_all();
        s = s.world(what, 0x00).discover().advance(HOUR1);
        s = s.answer_all().advance(MIN30);
    }
    s = s.world(2, 0).world(2, 1).world(3, 0).world(3, 1).discover();
    s = done(s, cmd::REPROTECT, 0, 0);
    seeds.push(("seed-11-estate-faults", s));

    // 12. Every command with targets that do not exist or states that refuse it, through both entries.
    let mut s = Script::new(4, &[(S::Disabled, 0), (S::OnPrem, 0), (S::FailedBack, 0)]);
    for kind in 0..13u8 {
        for target in [5u8, 6, 4, 0, 1, 2] {
            s = s.command(kind, target, 7).handled(kind, target, 6);
        }
    }
    for arg in 0..6 {
        s = s.on_plan(cmd::SET_PLAN, arg).on_plan(cmd::FAILBACK, LATEST);
    }
    s = s
        .on_plan(cmd::DELETE_PLAN, 0)
        .on_plan(cmd::DELETE_PLAN, 1)
        .answer_all();
    s = done(s, cmd::COMMIT_FAILBACK, 2, 0);
    s = done(s, cmd::REPROTECT_TO_AZURE, 1, 0);
    s = done(s, cmd::SET_GROUP, 1, 0).on_item(cmd::SET_GROUP, 1, 2);
    seeds.push(("seed-12-refusals", s));

    // 13. Replication reports by hand: progress, health changes, a stall (short timeouts), resync.
    let mut s = Script::new(8, &[(S::InAzure, 0), (S::InAzure, flag::LINUX)]);
    s = s
        .on_item(cmd::REPROTECT, 0, 0)
        .on_item(cmd::REPROTECT, 1, 8);
    for _ in 0..6 {
        s = s.answer(0, BARE).discover();
    }
    for (k, progress) in [10u8, 40, 80, 120, 160, 200].into_iter().enumerate() {
        s = s
            .replication(0, 1 | ((k as u8 % 3) << 2), progress)
            .advance(MIN30);
        s = s.replication(1, 1, 5);
    }
    s = s.replication(0, 3, 200).advance(HOURS6).advance(HOURS6);
    s = s
        .replication(1, 0, 0)
        .replication(7, 3, 1)
        .answer_all()
        .advance(HOUR1);
    seeds.push(("seed-13-replication-progress", s));

    // 14–16. Long walks from three mixed estates.
    let mixed = [
        (S::ProtectedToAzure, 0),
        (S::InAzure, flag::GROUP),
        (S::ProtectedToOnPrem, flag::GROUP),
        (S::FailedOver, flag::LINUX),
    ];
    seeds.push(("seed-14-walk", walk(Script::new(0, &mixed), 14, 600)));
    seeds.push((
        "seed-15-walk-short-timeouts",
        walk(Script::new(9, &mixed), 15, 600),
    ));
    let other = [
        (S::OnPrem, 0),
        (S::FailedBack, 0),
        (S::InAzure, flag::LINUX),
    ];
    seeds.push(("seed-16-walk", walk(Script::new(0x24, &other), 16, 600)));
    seeds
}

#[test]
fn engine_seed_scripts_run() {
    for (name, s) in engine_seeds() {
        let run = run_engine_inputs(&s.into_bytes());
        assert!(run.started, "{name}");
    }
}

/// Writes the `seed-*` files of `fuzz/corpus/engine_inputs/` from [`engine_seeds`] and prints what each
/// reaches. Run by hand after changing the byte format or the scripts.
#[test]
#[ignore = "writes the engine seed corpus into the source tree"]
fn write_engine_corpus() {
    let dir = corpus_dir("engine_inputs");
    std::fs::create_dir_all(&dir).expect("corpus dir");
    for (name, s) in engine_seeds() {
        let bytes = s.into_bytes();
        let run = fuzzing::run_engine_inputs(&bytes);
        eprintln!(
            "{name}: {} bytes, {} steps, {} commands ({} refused), {} jobs ({} ok, {} failed, {} cancelled), {} transitions, states {:?}, {} ms, failures {:?}",
            bytes.len(),
            run.steps,
            run.commands,
            run.refusals,
            run.jobs,
            run.jobs_succeeded,
            run.jobs_failed,
            run.jobs_cancelled,
            run.transitions,
            run.states,
            run.end_ms,
            run.failures,
        );
        std::fs::write(dir.join(format!("{name}.bin")), bytes).expect("write");
    }
}
