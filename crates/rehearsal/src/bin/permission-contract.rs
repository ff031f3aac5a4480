//! `permission-contract --principals <file> --calls <dir>`: checks every AWS
//! operation recorded while the tests ran against the deployed task-role
//! policies. Exit 1 naming binary, operation and resource of each call the
//! deployment refuses; allowed-but-unused grants are printed as excess.

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rehearsal::contract::{check, read_calls, read_principals};

const USAGE: &str =
    "usage: permission-contract --principals <principals.json> --calls <dir of *.jsonl>";

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("permission-contract: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (principals, calls) = match args.as_slice() {
        [a, p, b, c] if a == "--principals" && b == "--calls" => {
            (PathBuf::from(p), PathBuf::from(c))
        }
        _ => anyhow::bail!("{USAGE}"),
    };
    let principals = read_principals(&principals).context("reading the principals")?;
    let calls = read_calls(&calls).context("reading the call records")?;
    let report = check(&principals, &calls)?;
    println!(
        "permission contract: {} principal(s), {} recorded call record(s)",
        principals.len(),
        calls.len()
    );
    for line in &report.allowed {
        println!("  allowed  {line}");
    }
    for line in &report.indirect {
        println!("  indirect {line} (used by AWS on the binary's behalf; not recordable)");
    }
    for line in &report.excess {
        println!("  EXCESS   {line} (allowed, never performed)");
    }
    for violation in &report.violations {
        println!("  DENIED   {violation}");
    }
    if report.passed() {
        println!(
            "permission contract: every recorded call is allowed ({} checked, {} excess grant(s))",
            report.allowed.len(),
            report.excess.len()
        );
    } else {
        println!(
            "permission contract FAILED: {} call(s) the deployed policies refuse",
            report.violations.len()
        );
    }
    Ok(report.passed())
}
