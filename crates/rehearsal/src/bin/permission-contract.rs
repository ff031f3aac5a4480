//! `permission-contract --principals <file> --resource-policies <file> --calls <dir>...`:
//! checks every AWS operation recorded while the tests ran against the
//! deployed task-role policies, the resources' policies and, for a resource
//! under a customer-managed key, that key's via-service KMS actions. Exit 1
//! naming binary, operation, resource (and key and KMS action) of each call
//! the deployment refuses; allowed-but-unused grants are printed as excess.

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rehearsal::contract::{check, read_calls, read_principals};
use rehearsal::deployed::Deployed;

const USAGE: &str = "usage: permission-contract --principals <principals.json> --resource-policies <resource-policies.json> --calls <dir of *.jsonl> [--calls <dir>...]";

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
    let mut principals = None;
    let mut deployed = None;
    let mut dirs = Vec::new();
    for pair in args.chunks(2) {
        match pair {
            [flag, path] if flag == "--principals" => principals = Some(PathBuf::from(path)),
            [flag, path] if flag == "--calls" => dirs.push(PathBuf::from(path)),
            [flag, path] if flag == "--resource-policies" => deployed = Some(PathBuf::from(path)),
            _ => anyhow::bail!("{USAGE}"),
        }
    }
    let (Some(principals), Some(deployed), false) = (principals, deployed, dirs.is_empty()) else {
        anyhow::bail!("{USAGE}");
    };
    let principals = read_principals(&principals).context("reading the principals")?;
    let deployed = Deployed::read(&deployed).context("reading the resource policies")?;
    let mut calls = Vec::new();
    for dir in &dirs {
        calls.extend(
            read_calls(dir)
                .with_context(|| format!("reading the call records in {}", dir.display()))?,
        );
    }
    let report = check(&principals, &deployed, &calls)?;
    println!(
        "permission contract: {} principal(s), {} recorded call record(s)",
        principals.len(),
        calls.len()
    );
    for line in &report.allowed {
        println!("  allowed  {line}");
    }
    for line in &report.indirect {
        println!(
            "  indirect {line} (via-service grant no recorded call needed; the service may use it on the binary's behalf)"
        );
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
