//! `resource-policy-scenarios --principals <file> --resource-policies <file>`:
//! decides the scenarios of `rehearsal::scenarios` (who may publish to the
//! topic, the topic's deliveries into the queues, SNS's use of the data key,
//! plain HTTP, the workers' queues) against the documents read back from the
//! deployment. Exit 1 naming each scenario decided otherwise than AWS must.

// A command-line tool answers on stdout.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rehearsal::contract::read_principals;
use rehearsal::deployed::Deployed;
use rehearsal::scenarios::run;

const USAGE: &str = "usage: resource-policy-scenarios --principals <principals.json> --resource-policies <resource-policies.json>";

fn main() -> ExitCode {
    match check() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("resource-policy-scenarios: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn check() -> anyhow::Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut principals, mut deployed) = (None, None);
    for pair in args.chunks(2) {
        match pair {
            [flag, path] if flag == "--principals" => principals = Some(PathBuf::from(path)),
            [flag, path] if flag == "--resource-policies" => deployed = Some(PathBuf::from(path)),
            _ => anyhow::bail!("{USAGE}"),
        }
    }
    let (Some(principals), Some(deployed)) = (principals, deployed) else {
        anyhow::bail!("{USAGE}");
    };
    let principals = read_principals(&principals).context("reading the principals")?;
    let deployed = Deployed::read(&deployed).context("reading the resource policies")?;
    let findings = run(&principals, &deployed)?;
    let wrong: Vec<_> = findings.iter().filter(|f| !f.holds()).collect();
    for finding in &findings {
        println!(
            "  {} {finding}",
            if finding.holds() { "ok   " } else { "WRONG" }
        );
    }
    if wrong.is_empty() {
        println!(
            "resource-policy scenarios: all {} decided as AWS must",
            findings.len()
        );
    } else {
        println!(
            "resource-policy scenarios FAILED: {} of {} decided otherwise than AWS must",
            wrong.len(),
            findings.len()
        );
    }
    Ok(wrong.is_empty())
}
