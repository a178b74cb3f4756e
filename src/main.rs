//! The `pgveil` command: parse arguments, run the library, map errors to exit codes.
//! Exit 0 on success (and when a reader of our stdout goes away: broken pipe), 1 with a one-line
//! reason on stderr otherwise. SIGINT and SIGTERM are handled by `pgveil::interrupt`: what the run
//! had started is undone, one line says so, and the exit status is 130 / 143.

mod cli;

use clap::Parser;

fn main() {
    bound_allocator_growth();
    // Before any thread exists: the signal mask is inherited by every thread started later.
    pgveil::interrupt::install();
    let args = cli::Cli::parse();
    let result = cli::run(args);
    if pgveil::interrupt::is_interrupted() {
        // The run ended (or failed) because of the signal; the cleanup thread prints why and exits.
        pgveil::interrupt::park_forever();
    }
    if let Err(err) = result {
        if is_broken_pipe(&err) {
            std::process::exit(0);
        }
        eprintln!("pgveil: error: {err:#}");
        std::process::exit(1);
    }
}

/// glibc raises its mmap threshold each time a large block is freed, after which buffers of that
/// size (S3 parts of 16 MiB) come from the thread arenas and are kept there when freed: a long
/// upload then grew the process by its number of parts (163 MB instead of 74 MB for a 900 MB
/// table). A fixed threshold keeps large buffers mmapped, returned to the system when freed; the
/// ~1 MiB row batches stay below it.
///
/// A fixed threshold also fixes the trim threshold, at 128 KiB unless set: every freed batch at the
/// top of an arena was then given back to the kernel and the next one faulted its pages in again,
/// zeroed (44,000 page faults and 0.2–0.7 s of system time for a 187 MB dump, more than the
/// masking). At 16 MiB an arena keeps what its thread's batches need: 9,000 faults, 0.13 s, for
/// about 8 MB more peak RSS.
fn bound_allocator_growth() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}

/// A reader of our stdout went away: the io::Error reaches here typed, somewhere in the chain.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
