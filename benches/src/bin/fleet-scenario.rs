//! Writes the fleet bench scenarios (issue 6) into `scenarios/bench/`:
//! `cargo run -p drsim-benches --bin fleet-scenario` (from the repository root).
//!
//! With `--vms N`, writes one fleet of that size instead, scaled as from 1k to 10k
//! ([`FleetSize::scaled`]), e.g. the first 7 h of 5,000 VMs:
//! `cargo run --release -p drsim-benches --bin fleet-scenario -- --vms 5000 --duration 7h -o /tmp`.

use clap::Parser;
use drsim::fleet::{FleetSize, text};
use std::path::PathBuf;

/// Writes fleet scenarios.
#[derive(Parser)]
struct Args {
    /// Write one fleet of this many VMs (3 disks each) instead of the two bench scenarios.
    #[arg(long)]
    vms: Option<usize>,
    /// Days of the cycle of a `--vms` fleet (its failbacks start two days before the end).
    #[arg(long, default_value_t = 30, requires = "vms")]
    days: u64,
    /// Run a `--vms` fleet for this long only, e.g. `7h` (no job outcome is expected then).
    #[arg(long, requires = "vms")]
    duration: Option<String>,
    /// Directory to write into.
    #[arg(short = 'o', long, default_value = "scenarios/bench")]
    out: PathBuf,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let sizes = match args.vms {
        Some(vms) => vec![FleetSize {
            duration: args.duration,
            ..FleetSize::scaled(vms, args.days)
        }],
        None => vec![FleetSize::one_k(), FleetSize::ten_k()],
    };
    std::fs::create_dir_all(&args.out)?;
    for size in sizes {
        let path = args.out.join(format!("{}.json", size.name));
        drsim::output::write_atomically(&path, |w| w.write_all(text(&size).as_bytes()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
