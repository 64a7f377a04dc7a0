//! The `shop` binary: parses the command line and runs it ([`shop::main`]).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    shop::main(shop::Cli::parse())
}
