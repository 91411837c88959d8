//! The `drsim` binary: a thin shell over [`drsim::cli`].

fn main() {
    std::process::exit(drsim::cli::main());
}
