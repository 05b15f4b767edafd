//! `latchkey`: the server (`latchkey serve`) and the administration verbs, which call the
//! server's admin API through a typed client.
//!
//! Invariants: configuration is read and validated once, before anything starts; this binary
//! is the only place the wall clock and the process environment are read; secrets shown once
//! (a new token's seed, an API key) go to standard output and nowhere else.

mod cli;
mod client;
mod config;
mod keyfile;
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: the request path allocates many small, short-lived
/// values on two worker threads, which glibc serves with arena locks and consolidation
/// (measured in docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("latchkey: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(cli::run(args))
}
