//! The `shop` binary: parses the command line and runs it ([`shop::main`]).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: see docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    shop::main(shop::Cli::parse())
}
