//! The `drsim` binary: a thin shell over [`drsim::cli`].

/// mimalloc instead of the system allocator: the runs allocate and free millions of small buffers
/// (points, reports, ids), and glibc's malloc was ≈ 10 % of a saturated-link plan point (issue 6).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(drsim::cli::main());
}
