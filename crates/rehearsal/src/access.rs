//! AWS's evaluation of one request across its documents: the caller's
//! identity policies, the resource's policy and, for a KMS key, its key
//! policy. Rules (IAM User Guide, "Policy evaluation logic" and "Cross-account
//! policy evaluation logic"; KMS Developer Guide, "Key policies"):
//! - an explicit `Deny` in any of them refuses the request;
//! - same account: an `Allow` in the identity policies or in the resource
//!   policy suffices (a resource policy naming the account root grants
//!   nothing by itself: it leaves the decision to IAM);
//! - another account: both sides must allow;
//! - a KMS key: the key policy must allow, either naming the caller or
//!   through its account-root statement, which delegates to IAM: then the
//!   identity policies must allow too. Without either, IAM cannot grant use
//!   of the key.

use crate::policy::{Caller, Decision, Policy, PolicyError, Request, evaluate};

/// The outcome of a request, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed: by what.
    Allowed(String),
    /// Refused: why.
    Refused(String),
}

impl Outcome {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }
}

/// The account of an ARN (`arn:aws:iam::<account>:role/x`), if any.
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`); `aws` when the
/// text is not an ARN.
pub fn partition_of(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

fn sid(sid: &Option<String>) -> String {
    sid.as_deref()
        .map_or_else(|| "a statement".to_owned(), |s| format!("statement {s}"))
}

/// Decides `request` for a caller holding `identity` (empty for a service
/// principal) on a resource guarded by `resource_policy` (`None`: the
/// resource has none; a KMS key always has one).
pub fn decide(
    identity: &[Policy],
    resource_policy: Option<&Policy>,
    request: &Request,
) -> Result<Outcome, PolicyError> {
    let id = evaluate(identity, request)?;
    let res = match resource_policy {
        Some(p) => evaluate(std::slice::from_ref(p), request)?,
        None => Decision::NotAllowed,
    };
    if let Decision::Denied(s) = &id {
        return Ok(Outcome::Refused(format!(
            "explicitly denied by {} of the caller's identity policies",
            sid(s)
        )));
    }
    if let Decision::Denied(s) = &res {
        return Ok(Outcome::Refused(format!(
            "explicitly denied by {} of the resource policy",
            sid(s)
        )));
    }
    let caller_account = match &request.caller {
        Caller::Aws(arn) => account_of(arn),
        Caller::Service(_) => None,
    };
    let is_key = request.resource.split(':').nth(2) == Some("kms");
    if is_key {
        let Some(key_policy) = resource_policy else {
            return Err(PolicyError::new(format!(
                "no key policy for {} (every KMS key has one: read it back)",
                request.resource
            )));
        };
        if let Decision::Allowed(s) = &res {
            return Ok(Outcome::Allowed(format!("the key policy's {}", sid(s))));
        }
        // The account-root statement: the same request made by the account.
        let delegates = match caller_account {
            Some(account) => {
                let as_account = Request {
                    caller: Caller::Aws(format!(
                        "arn:{}:iam::{account}:root",
                        partition_of(&request.resource)
                    )),
                    ..request.clone()
                };
                match evaluate(std::slice::from_ref(key_policy), &as_account)? {
                    Decision::Allowed(s) => Some(s),
                    _ => None,
                }
            }
            None => None,
        };
        return Ok(match (delegates, &id) {
            (Some(root), Decision::Allowed(s)) => Outcome::Allowed(format!(
                "{} of the identity policies (the key policy's {} delegates to IAM)",
                sid(s),
                sid(&root)
            )),
            (Some(_), _) => Outcome::Refused(
                "the key policy delegates to IAM, and no identity policy allows it".into(),
            ),
            (None, _) => Outcome::Refused(
                "the key policy neither allows this caller nor delegates to IAM for it".into(),
            ),
        });
    }
    let same_account = caller_account.is_some() && caller_account == account_of(&request.resource);
    Ok(match (&id, &res) {
        (Decision::Allowed(s), _) if same_account => {
            Outcome::Allowed(format!("{} of the identity policies", sid(s)))
        }
        (_, Decision::Allowed(s)) if same_account || caller_account.is_none() => {
            Outcome::Allowed(format!("{} of the resource policy", sid(s)))
        }
        (Decision::Allowed(a), Decision::Allowed(b)) => Outcome::Allowed(format!(
            "{} of the identity policies and {} of the resource policy (cross-account)",
            sid(a),
            sid(b)
        )),
        _ if same_account || caller_account.is_none() => Outcome::Refused(
            "allowed neither by the caller's identity policies nor by the resource policy".into(),
        ),
        _ => Outcome::Refused(
            "cross-account: the identity policies and the resource policy must both allow it"
                .into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Key;
    use serde_json::json;

    const KEY: &str = "arn:aws:kms:r:111122223333:key/k";
    const ROLE: &str = "arn:aws:iam::111122223333:role/api";

    fn policy(mut v: serde_json::Value) -> Policy {
        v["Version"] = json!("2012-10-17");
        Policy::from_value(&v).expect("valid")
    }

    fn key_policy(with_root: bool) -> Policy {
        let mut statements = vec![json!({"Sid": "Sns", "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"}, "Action": "kms:Decrypt", "Resource": "*"})];
        if with_root {
            statements.push(json!({"Sid": "Root", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}));
        }
        policy(json!({ "Statement": statements }))
    }

    fn identity() -> Vec<Policy> {
        vec![policy(
            json!({"Statement": [{"Sid": "Use", "Effect": "Allow",
            "Action": "kms:Decrypt", "Resource": KEY,
            "Condition": {"StringEquals": {"kms:ViaService": "sqs.r.amazonaws.com"}}}]}),
        )]
    }

    fn decrypt(via: &str) -> Request {
        Request::new(Caller::Aws(ROLE.into()), "kms:Decrypt", KEY).with_text("kms:ViaService", via)
    }

    #[test]
    fn a_key_needs_its_key_policy_and_iam_through_the_root_delegation() {
        let allowed = decide(
            &identity(),
            Some(&key_policy(true)),
            &decrypt("sqs.r.amazonaws.com"),
        )
        .expect("decides");
        assert!(allowed.allowed(), "{allowed:?}");
        let other_service = decide(
            &identity(),
            Some(&key_policy(true)),
            &decrypt("sns.r.amazonaws.com"),
        )
        .expect("decides");
        assert!(!other_service.allowed(), "{other_service:?}");
        let no_root = decide(
            &identity(),
            Some(&key_policy(false)),
            &decrypt("sqs.r.amazonaws.com"),
        )
        .expect("decides");
        assert_eq!(
            no_root,
            Outcome::Refused(
                "the key policy neither allows this caller nor delegates to IAM for it".into()
            )
        );
        let service = Request::new(
            Caller::Service("sns.amazonaws.com".into()),
            "kms:Decrypt",
            KEY,
        );
        assert!(
            decide(&[], Some(&key_policy(false)), &service)
                .expect("decides")
                .allowed()
        );
        assert!(decide(&identity(), None, &decrypt("sqs.r.amazonaws.com")).is_err());
    }

    #[test]
    fn the_root_delegation_is_the_keys_own_partition() {
        let key = "arn:aws-cn:kms:cn-north-1:111122223333:key/k";
        let role = "arn:aws-cn:iam::111122223333:role/api";
        let key_policy = policy(json!({"Statement": [{"Sid": "Root", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws-cn:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}));
        let identity = vec![policy(
            json!({"Statement": [{"Sid": "Use", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}]}),
        )];
        let req = Request::new(Caller::Aws(role.into()), "kms:Decrypt", key);
        assert_eq!(
            decide(&identity, Some(&key_policy), &req).expect("decides"),
            Outcome::Allowed(
                "statement Use of the identity policies (the key policy's statement Root \
                 delegates to IAM)"
                    .into()
            )
        );
        assert_eq!(partition_of("arn:aws-us-gov:sns:r:1:t"), "aws-us-gov");
    }

    #[test]
    fn same_account_either_side_allows_and_any_deny_refuses() {
        let topic = "arn:aws:sns:r:111122223333:t";
        let publish = || {
            Request::new(Caller::Aws(ROLE.into()), "sns:Publish", topic)
                .with("aws:SecureTransport", Key::Flag(true))
        };
        let anything = vec![policy(
            json!({"Statement": [{"Sid": "All", "Effect": "Allow", "Action": "sns:*", "Resource": "*"}]}),
        )];
        let deny = policy(
            json!({"Statement": [{"Sid": "Nope", "Effect": "Deny", "Principal": "*",
            "Action": "sns:Publish", "Resource": topic}]}),
        );
        let grant = policy(json!({"Statement": [{"Sid": "Yes", "Effect": "Allow",
            "Principal": {"AWS": ROLE}, "Action": "sns:Publish", "Resource": topic}]}));
        let account_only = policy(json!({"Statement": [{"Sid": "Acct", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sns:Publish", "Resource": topic}]}));
        assert!(decide(&anything, None, &publish()).expect("d").allowed());
        assert!(decide(&[], Some(&grant), &publish()).expect("d").allowed());
        assert!(
            !decide(&[], Some(&account_only), &publish())
                .expect("d")
                .allowed()
        );
        assert_eq!(
            decide(&anything, Some(&deny), &publish()).expect("d"),
            Outcome::Refused("explicitly denied by statement Nope of the resource policy".into())
        );
        // Another account: both sides needed.
        let foreign = Request::new(
            Caller::Aws("arn:aws:iam::444455556666:role/x".into()),
            "sns:Publish",
            topic,
        );
        assert!(!decide(&anything, None, &foreign).expect("d").allowed());
        let both = policy(json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::444455556666:role/x"}, "Action": "sns:Publish", "Resource": topic}]}));
        assert!(!decide(&[], Some(&both), &foreign).expect("d").allowed());
        assert!(
            decide(&anything, Some(&both), &foreign)
                .expect("d")
                .allowed()
        );
    }
}
