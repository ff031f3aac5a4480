//! Production rehearsal tooling. The permission contract: every AWS operation
//! a binary performed while the tests ran (recorded by
//! `shared::aws::call_record`) must be allowed by its task role's policy
//! documents as deployed, on the production resource the operation targets.
//! IAM emulators cannot be trusted to check this (moto scopes only SQS by
//! resource, and evaluates no resource policy, condition or key policy), so
//! the check evaluates the documents itself (`access`, `policy`); the same
//! evaluation decides the resource-policy scenarios (`scenarios`).

pub mod access;
pub mod actions;
pub mod contract;
pub mod deployed;
pub mod policy;
pub mod scenarios;
