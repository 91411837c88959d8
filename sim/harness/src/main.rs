//! The `drsim` binary: a thin shell over [`drsim::cli`].

use std::ffi::{c_int, c_long};

/// mimalloc instead of the system allocator: the runs allocate and free millions of small buffers
/// (points, reports, ids), and glibc's malloc was ≈ 10 % of a saturated-link plan point (issue 6).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
}

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (what `libmimalloc-sys` builds by default).
const MI_OPTION_PURGE_DELAY: c_int = 15;

/// Keeps freed memory instead of returning it to the OS a second later: a fleet run frees and
/// re-allocates hundreds of MB, and zeroing the pages again was 3–5 s of system time in a 10k run
/// with reports (28.5 → 25.5 s; peak memory +3 %).
fn configure_allocator() {
    // SAFETY: sets a process-wide option of the allocator linked above; any value is valid for it
    // (-1: never purge), and nothing else runs yet.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

fn main() {
    configure_allocator();
    std::process::exit(drsim::cli::main());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_is_mimalloc_s_purge_delay() {
        // its default in mimalloc v3's options.c is 1,000 ms: the index names the right option
        // SAFETY: reads a process-wide option of the linked allocator.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, 1000);
        configure_allocator();
        // SAFETY: as above.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, -1);
    }
}
