//! `drsim import rvtools EXPORT -o scenario.json` (or `--vinfo FILE --vdisk FILE …`): reads the export,
//! prints each warning to stderr, checks the scenario as `drsim check` would and writes it atomically —
//! or, on bad input, says what and where and exits 2 with nothing written.

use super::rvtools::Source;
use super::table::Tab;
use super::{ChurnAssumption, ImportError, Options, StepsChoice};
use crate::cli::{EXIT_BAD_INPUT, EXIT_OK};
use crate::units::{Bandwidth, Duration};
use clap::{Args, Subcommand};
use drsim_engine::lifecycle::ItemState;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `drsim import …`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What to import.
    #[command(subcommand)]
    pub what: ImportCommand,
}

/// The kinds of import.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An RVTools export (the .xlsx workbook, a directory of its CSV files, or the CSV files one by one)
    /// as a scenario: estate, sized failback infrastructure and the operator's cycle.
    Rvtools(RvtoolsArgs),
}

/// `drsim import rvtools`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: drsim import rvtools RVTools_export_all.xlsx -o estate.json --churn 3%\n\
                        Exit codes: 0 written, 2 bad input (nothing written)."
)]
pub struct RvtoolsArgs {
    /// The export: an .xlsx workbook (also .xlsm, .xlsb, .xls, .ods) or a directory of RVTools' CSV
    /// files (`…vInfo.csv`, `…vDisk.csv`, …).
    #[arg(
        value_name = "EXPORT",
        required_unless_present = "vinfo",
        conflicts_with_all = ["vinfo", "vdisk", "vhost", "vdatastore", "vpartition", "vsnapshot"]
    )]
    pub export: Option<PathBuf>,
    /// The vInfo tab's CSV file.
    #[arg(long, value_name = "FILE", requires = "vdisk")]
    pub vinfo: Option<PathBuf>,
    /// The vDisk tab's CSV file.
    #[arg(long, value_name = "FILE", requires = "vinfo")]
    pub vdisk: Option<PathBuf>,
    /// The vHost tab's CSV file (optional: hosts are derived from vInfo without it).
    #[arg(long, value_name = "FILE", requires = "vinfo")]
    pub vhost: Option<PathBuf>,
    /// The vDatastore tab's CSV file (optional: datastores are derived from the disks' paths without it).
    #[arg(long, value_name = "FILE", requires = "vinfo")]
    pub vdatastore: Option<PathBuf>,
    /// The vPartition tab's CSV file (optional: the used size seen by the guests).
    #[arg(long, value_name = "FILE", requires = "vinfo")]
    pub vpartition: Option<PathBuf>,
    /// The vSnapshot tab's CSV file (optional).
    #[arg(long, value_name = "FILE", requires = "vinfo")]
    pub vsnapshot: Option<PathBuf>,
    /// The scenario file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Where every machine starts: protected-to-azure, failed-over, in-azure, protected-to-on-prem,
    /// failed-back, on-prem or disabled.
    #[arg(long, value_name = "STATE", default_value = "protected-to-azure")]
    pub state: String,
    /// Churn of each disk as a share of its used size a day, e.g. "2%" (the default) or "0.5%".
    #[arg(long, value_name = "PERCENT", conflicts_with = "churn_rate")]
    pub churn: Option<String>,
    /// Churn of each disk as a constant rate instead, e.g. "50KB/s".
    #[arg(long, value_name = "RATE")]
    pub churn_rate: Option<String>,
    /// The scenario's seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long to simulate, e.g. "3d". Default: the cycle and 12 hours more.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// The scenario's name. Default: the output file's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Script each machine's cycle from its start state (`cycle`), or no steps (`none`).
    #[arg(long, value_enum, default_value = "cycle")]
    pub steps: StepsChoice,
    /// The Azure ↔ on-prem bandwidth, e.g. "500Mbps". Default 1Gbps.
    #[arg(long, value_name = "RATE")]
    pub bandwidth: Option<String>,
    /// How long after its reprotect each machine fails back, e.g. "6h". Default: the estimated resync
    /// time with room to spare.
    #[arg(long, value_name = "DURATION")]
    pub failback_after: Option<String>,
    /// The vCenter of an export without a `VI SDK Server` column.
    #[arg(long, value_name = "NAME", default_value = "vcenter")]
    pub vcenter: String,
    /// Leave out VMs that are powered off in the export.
    #[arg(long)]
    pub skip_powered_off: bool,
}

/// Runs `drsim import`; the exit code.
pub fn import(args: ImportArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match args.what {
        ImportCommand::Rvtools(a) => match rvtools(&a, out, err) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                EXIT_BAD_INPUT
            }
        },
    }
}

fn rvtools(a: &RvtoolsArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), ImportError> {
    let opts = options(a)?;
    let source = match &a.export {
        Some(p) => Source::at(p)?,
        None => {
            let mut files = BTreeMap::new();
            for (tab, f) in [
                (Tab::VInfo, &a.vinfo),
                (Tab::VDisk, &a.vdisk),
                (Tab::VHost, &a.vhost),
                (Tab::VDatastore, &a.vdatastore),
                (Tab::VPartition, &a.vpartition),
                (Tab::VSnapshot, &a.vsnapshot),
            ] {
                if let Some(f) = f {
                    files.insert(tab, f.clone());
                }
            }
            Source::Csv(files)
        }
    };
    let inputs: Vec<&PathBuf> = match &source {
        Source::Workbook(p) => vec![p],
        Source::Csv(files) => files.values().collect(),
    };
    if let Ok(o) = a.output.canonicalize()
        && inputs
            .iter()
            .any(|i| i.canonicalize().is_ok_and(|i| i == o))
    {
        return Err(ImportError::new(format!(
            "-o {}: that is the export itself",
            a.output.display()
        )));
    }
    let imported = super::import_rvtools(&source, &opts)?;
    let text = super::json::scenario_text(&imported.scenario)
        .map_err(|e| ImportError::new(format!("cannot write the scenario as JSON: {e}")))?;
    // what `drsim check` would say: never write a scenario it refuses
    let (_, built) = crate::scenario::load_str(&a.output, &text, None).map_err(|e| {
        ImportError::new(format!(
            "the imported scenario does not check (a bug in the import): {e}"
        ))
    })?;
    if let Err(e) = crate::Runner::new(built.world, built.items, built.config) {
        return Err(ImportError::new(format!(
            "the imported scenario does not check (a bug in the import): {e}"
        )));
    }
    for w in &imported.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    crate::output::write_atomically(&a.output, |w| w.write_all(text.as_bytes()))
        .map_err(|e| ImportError::new(format!("cannot write {}: {e}", a.output.display())))?;
    let s = &imported.scenario;
    let k = &imported.skipped;
    let n = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let _ = writeln!(
        out,
        "wrote {}: {}, {}, {}, {}, {}, {}; left out {}, {}, {} powered off, {} for other reasons; {}",
        a.output.display(),
        n(s.machines.len(), "machine", "machines"),
        n(s.inventory.hosts.len(), "host", "hosts"),
        n(s.inventory.datastores.len(), "datastore", "datastores"),
        n(
            s.inventory.process_servers.len(),
            "process server",
            "process servers"
        ),
        n(
            s.inventory.master_targets.len(),
            "master target",
            "master targets"
        ),
        n(s.steps.len(), "step", "steps"),
        n(k.templates, "template", "templates"),
        n(k.placeholders, "SRM placeholder", "SRM placeholders"),
        k.powered_off,
        k.other,
        n(imported.warnings.len(), "warning", "warnings"),
    );
    Ok(())
}

/// The options from the arguments, each checked.
fn options(a: &RvtoolsArgs) -> Result<Options, ImportError> {
    let bad = |flag: &str, e: String| ImportError::new(format!("--{flag}: {e}"));
    let state: ItemState = serde_json::from_value(serde_json::Value::String(a.state.clone()))
        .map_err(|_| {
            bad(
                "state",
                format!(
                    "`{}` is not a state; expected protected-to-azure, failed-over, in-azure, \
                     protected-to-on-prem, failed-back, on-prem or disabled",
                    a.state
                ),
            )
        })?;
    let churn = match (&a.churn, &a.churn_rate) {
        (Some(p), _) => ChurnAssumption::DailyShare {
            ppm: percent_ppm(p).map_err(|e| bad("churn", e))?,
        },
        (None, Some(r)) => {
            ChurnAssumption::Rate(r.parse::<Bandwidth>().map_err(|e| bad("churn-rate", e))?)
        }
        (None, None) => super::DEFAULT_CHURN,
    };
    let duration = |flag: &str, v: &Option<String>| -> Result<Option<Duration>, ImportError> {
        match v {
            None => Ok(None),
            Some(t) => {
                let d: Duration = t.parse().map_err(|e| bad(flag, e))?;
                if d.0 == 0 {
                    return Err(bad(flag, "must be more than 0".into()));
                }
                Ok(Some(d))
            }
        }
    };
    let name = match &a.name {
        Some(n) => {
            if !usable_name(n) {
                return Err(bad(
                    "name",
                    format!("`{n}`: letters, digits, '-', '_' and '.' only, not starting with '.'"),
                ));
            }
            n.clone()
        }
        None => name_from(&a.output),
    };
    if a.vcenter.trim().is_empty() {
        return Err(bad("vcenter", "give a name".into()));
    }
    Ok(Options {
        name,
        seed: a.seed,
        duration: duration("duration", &a.duration)?,
        state,
        churn,
        steps: a.steps,
        bandwidth: a
            .bandwidth
            .as_ref()
            .map(|b| b.parse::<Bandwidth>().map_err(|e| bad("bandwidth", e)))
            .transpose()?,
        failback_after: duration("failback-after", &a.failback_after)?,
        vcenter: a.vcenter.clone(),
        skip_powered_off: a.skip_powered_off,
    })
}

fn usable_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('.')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A scenario name from the output file's: other characters become '-'.
fn name_from(output: &Path) -> String {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let n = n.trim_start_matches('.').to_owned();
    if n.is_empty() {
        "rvtools-import".into()
    } else {
        n
    }
}

/// A percentage ("2%", "0.5 %", "2") in parts per million, exactly (to 0.0001 %), at most 1000 %.
pub fn percent_ppm(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix('%').unwrap_or(t).trim();
    let expected = format!("`{text}` is not a percentage; expected e.g. \"2%\" or \"0.5%\"");
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty())
        || !digits(int)
        || !digits(frac)
        || frac.len() > 4
        || int.len() > 4
    {
        return Err(expected);
    }
    let whole: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| expected.clone())?
    };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| expected.clone())?
    };
    for _ in frac.len()..4 {
        f *= 10;
    }
    let ppm = whole * 10_000 + f;
    if ppm > 10_000_000 {
        return Err(format!("`{text}`: at most 1000% of the used size a day"));
    }
    Ok(ppm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(percent_ppm("2%"), Ok(20_000));
        assert_eq!(percent_ppm("0.5 %"), Ok(5_000));
        assert_eq!(percent_ppm("2"), Ok(20_000));
        assert_eq!(percent_ppm("0.0001%"), Ok(1));
        for bad in ["", "%", "-1%", "abc", "1.23456%", "2000%"] {
            assert!(percent_ppm(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_from_files() {
        assert_eq!(name_from(Path::new("out/my estate.json")), "my-estate");
        assert_eq!(name_from(Path::new(".json")), "json");
        assert_eq!(name_from(Path::new("")), "rvtools-import");
        assert!(usable_name("estate-1.v2"));
        assert!(!usable_name("a b"));
    }
}
