//! Writes the fleet bench scenarios (issue 6) into `scenarios/bench/`:
//! `cargo run -p drsim-benches --bin fleet-scenario` (from the repository root).

use drsim::fleet::{FleetSize, text};

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new("scenarios/bench");
    std::fs::create_dir_all(dir)?;
    for size in [FleetSize::one_k(), FleetSize::ten_k()] {
        let path = dir.join(format!("{}.json", size.name));
        drsim::output::write_atomically(&path, |w| w.write_all(text(&size).as_bytes()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
