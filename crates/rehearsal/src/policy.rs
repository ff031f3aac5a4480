//! IAM policy documents (identity and resource policies) and their
//! evaluation for one request: principal, action, resource and a request
//! context. Statement matching (actions case-insensitive, resources and
//! principals with `*`/`?` wildcards, `NotAction`/`NotResource`/
//! `NotPrincipal`) and every condition operator (`String*`, `Arn*`, `Bool`,
//! `Null`, `Numeric*`, `Date*`, `IpAddress`, the `...IfExists` suffix, the
//! `ForAllValues:`/`ForAnyValue:` prefixes) come from the `iam-rs` crate,
//! which applies AWS's rule for a key absent from the request context ("the
//! values do not match and the condition is false; if the condition requires
//! that the key is *not* matched, such as StringNotLike or ArnNotLike, the
//! condition is true"; IAM User Guide, condition operators). An operator it
//! does not know makes the document fail to parse: never silently true.
//! Evaluators checked before choosing it: `aws-iam` 0.2 (offline evaluation
//! self-described as incomplete, unmaintained), PyPI `policyuniverse` and
//! `parliament` (parse and lint, no condition evaluation), `principalmapper`
//! (simulates, but unmaintained since 2022 and a whole-account graph tool).
//! How identity, resource and key policies combine is `crate::access`.

use std::collections::BTreeMap;

use iam_rs::{
    Arn, Context, ContextValue, EvaluationOptions, IAMEffect, IAMPolicy, IAMRequest,
    PolicyEvaluator, Principal, PrincipalId,
};
use serde_json::Value;

/// A parse failure of a policy document, or a request it cannot evaluate.
#[derive(Debug, thiserror::Error)]
#[error("invalid policy document: {0}")]
pub struct PolicyError(String);

impl PolicyError {
    /// An error with this message.
    pub fn new(message: String) -> Self {
        Self(message)
    }
}

/// One statement, normalized (what `unused grants` lists).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// `Allow` (true) or `Deny`.
    pub allow: bool,
    /// `Action` patterns, or `NotAction` patterns when `not_action`.
    pub actions: Vec<String>,
    /// Whether the actions are a `NotAction`.
    pub not_action: bool,
    /// `Resource` patterns, or `NotResource` patterns when `not_resource`.
    pub resources: Vec<String>,
    /// Whether the resources are a `NotResource`.
    pub not_resource: bool,
    /// The `Condition` block, if any.
    pub condition: Option<Value>,
}

/// A policy document: its statements, and the same document as `iam-rs`
/// evaluates it.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Its statements.
    pub statements: Vec<Statement>,
    evaluable: IAMPolicy,
}

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An IAM role or user of an account (its ARN).
    Aws(String),
    /// An AWS service principal (`sns.amazonaws.com`).
    Service(String),
}

/// A value of the request context.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A string (ARNs, account ids, service names).
    Text(String),
    /// A boolean (`aws:SecureTransport`).
    Flag(bool),
    /// A multivalued key (`dynamodb:Attributes`).
    List(Vec<String>),
}

/// One request: what AWS authorizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Who.
    pub caller: Caller,
    /// The IAM action (`sns:Publish`).
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// The request context (condition keys); a key absent here is absent on AWS.
    pub context: BTreeMap<String, Key>,
}

impl Request {
    /// A request without context keys.
    pub fn new(caller: Caller, action: &str, resource: &str) -> Self {
        Self {
            caller,
            action: action.to_owned(),
            resource: resource.to_owned(),
            context: BTreeMap::new(),
        }
    }

    /// The same request with one more context key.
    #[must_use]
    pub fn with(mut self, key: &str, value: Key) -> Self {
        self.context.insert(key.to_owned(), value);
        self
    }

    /// The same request with one more string context key.
    #[must_use]
    pub fn with_text(self, key: &str, value: &str) -> Self {
        self.with(key, Key::Text(value.to_owned()))
    }
}

/// The result of evaluating one request against a set of documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` matched (its `Sid`, if any) and no `Deny` did.
    Allowed(Option<String>),
    /// An explicit `Deny` matched (its `Sid`, if any).
    Denied(Option<String>),
    /// No statement applies.
    NotAllowed,
}

fn strings(value: Option<&Value>) -> Result<Vec<String>, PolicyError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| PolicyError(format!("expected a string, got {v}")))
            })
            .collect(),
        Some(other) => Err(PolicyError(format!(
            "expected a string or a list, got {other}"
        ))),
    }
}

impl Statement {
    fn from_value(value: &Value) -> Result<Self, PolicyError> {
        let effect = value
            .get("Effect")
            .and_then(Value::as_str)
            .ok_or_else(|| PolicyError("a statement has no Effect".into()))?;
        let allow = match effect {
            "Allow" => true,
            "Deny" => false,
            other => return Err(PolicyError(format!("unknown Effect {other:?}"))),
        };
        let not_action = value.get("NotAction").is_some();
        let actions = strings(value.get(if not_action { "NotAction" } else { "Action" }))?;
        let not_resource = value.get("NotResource").is_some();
        let resources = strings(value.get(if not_resource {
            "NotResource"
        } else {
            "Resource"
        }))?;
        if actions.is_empty() || resources.is_empty() {
            return Err(PolicyError(
                "a statement needs Action (or NotAction) and Resource (or NotResource)".into(),
            ));
        }
        Ok(Self {
            sid: value.get("Sid").and_then(Value::as_str).map(str::to_owned),
            allow,
            actions,
            not_action,
            resources,
            not_resource,
            condition: value.get("Condition").cloned(),
        })
    }
}

impl Policy {
    /// Parses a policy document (a JSON object with `Statement`). A condition
    /// operator `iam-rs` does not know is an error here.
    pub fn from_value(document: &Value) -> Result<Self, PolicyError> {
        let statements = match document.get("Statement") {
            Some(Value::Array(items)) => items.iter().map(Statement::from_value).collect(),
            Some(single @ Value::Object(_)) => Statement::from_value(single).map(|s| vec![s]),
            _ => Err(PolicyError("no Statement".into())),
        }?;
        let evaluable = IAMPolicy::from_json(&everyone_normalized(document).to_string())
            .map_err(|e| PolicyError(format!("{e} (in {document})")))?;
        Ok(Self {
            statements,
            evaluable,
        })
    }
}

/// The document with `{"AWS": "*"}` (alone or in a list) written as `"*"`
/// in every `Principal`/`NotPrincipal`: IAM User Guide, "AWS JSON policy
/// elements: Principal", all principals: "`"Principal": "*"` and
/// `"Principal": {"AWS": "*"}` are equivalent"; `iam-rs` reads the second as
/// an account principal named `*`, which matches no service principal.
fn everyone_normalized(document: &Value) -> Value {
    let mut document = document.clone();
    let statements: Vec<&mut Value> = match document.get_mut("Statement") {
        Some(Value::Array(items)) => items.iter_mut().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    };
    for statement in statements {
        for element in ["Principal", "NotPrincipal"] {
            let Some(principal) = statement.get_mut(element) else {
                continue;
            };
            let everyone = match principal.get("AWS") {
                Some(Value::String(s)) => s == "*",
                Some(Value::Array(items)) => items.iter().any(|v| v == "*"),
                _ => false,
            };
            if everyone {
                *principal = Value::String("*".into());
            }
        }
    }
    document
}

fn iam_request(request: &Request) -> Result<IAMRequest, PolicyError> {
    let principal = match &request.caller {
        Caller::Aws(arn) => Principal::Aws(PrincipalId::String(arn.clone())),
        Caller::Service(name) => Principal::Service(PrincipalId::String(name.clone())),
    };
    let resource = Arn::parse(&request.resource)
        .map_err(|e| PolicyError(format!("resource {:?}: {e}", request.resource)))?;
    let mut context = Context::new();
    for (key, value) in &request.context {
        context.insert(
            key.clone(),
            match value {
                Key::Text(s) => ContextValue::String(s.clone()),
                Key::Flag(b) => ContextValue::Boolean(*b),
                Key::List(items) => ContextValue::StringList(items.clone()),
            },
        );
    }
    Ok(IAMRequest::new_with_context(
        principal,
        request.action.clone(),
        resource,
        context,
    ))
}

/// Evaluates `request` against `policies` (the documents of one side: a
/// principal's identity policies, or one resource policy): an explicit
/// `Deny` wins, else an `Allow` is needed. In a resource policy, a statement
/// applies only when its `Principal` matches the caller; an account
/// (`arn:aws:iam::<acct>:root`) matches only the account itself, never a role
/// of it (`crate::access` reads that as the delegation to IAM it is).
pub fn evaluate(policies: &[Policy], request: &Request) -> Result<Decision, PolicyError> {
    let iam = iam_request(request)?;
    let evaluator =
        PolicyEvaluator::with_policies(policies.iter().map(|p| p.evaluable.clone()).collect())
            .with_options(EvaluationOptions {
                stop_on_explicit_deny: false,
                collect_match_details: true,
                ..EvaluationOptions::default()
            });
    let result = evaluator.evaluate(&iam).map_err(|e| {
        PolicyError(format!(
            "{} on {} by {:?}: {e}",
            request.action, request.resource, request.caller
        ))
    })?;
    let applying: Vec<_> = result
        .statement_details
        .iter()
        .filter(|s| s.conditions_satisfied)
        .collect();
    if let Some(deny) = applying.iter().find(|s| s.effect == IAMEffect::Deny) {
        return Ok(Decision::Denied(deny.sid.clone()));
    }
    Ok(
        match applying.iter().find(|s| s.effect == IAMEffect::Allow) {
            Some(allow) => Decision::Allowed(allow.sid.clone()),
            None => Decision::NotAllowed,
        },
    )
}

/// IAM wildcard matching: `*` any run of characters, `?` any one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::111122223333:role/api";

    fn one(mut document: Value) -> Vec<Policy> {
        document["Version"] = json!("2012-10-17");
        vec![Policy::from_value(&document).expect("valid")]
    }

    fn req(action: &str, resource: &str) -> Request {
        Request::new(Caller::Aws(ROLE.into()), action, resource)
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("sqs:get*", "sqs:getqueueattributes"));
        assert!(wildcard_match(
            "arn:aws:sqs:*:*:q-?lq",
            "arn:aws:sqs:r:111122223333:q-dlq"
        ));
        assert!(!wildcard_match(
            "arn:aws:sqs:r:111122223333:q",
            "arn:aws:sqs:r:111122223333:q-dlq"
        ));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "x"));
    }

    #[test]
    fn deny_wins_and_actions_ignore_case() {
        let policies = one(json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "All", "Effect": "Allow", "Action": "SQS:*", "Resource": "arn:aws:sqs:r:111122223333:*"},
                {"Sid": "NoDlq", "Effect": "Deny", "Action": ["sqs:SendMessage"], "Resource": "arn:aws:sqs:r:111122223333:q-dlq"}
            ]
        }));
        let eval = |a, r| evaluate(&policies, &req(a, r)).expect("evaluates");
        assert_eq!(
            eval("sqs:ReceiveMessage", "arn:aws:sqs:r:111122223333:q"),
            Decision::Allowed(Some("All".into()))
        );
        assert_eq!(
            eval("sqs:SendMessage", "arn:aws:sqs:r:111122223333:q-dlq"),
            Decision::Denied(Some("NoDlq".into()))
        );
        assert_eq!(
            eval("sns:Publish", "arn:aws:sns:r:111122223333:t"),
            Decision::NotAllowed
        );
    }

    #[test]
    fn not_action_and_not_resource() {
        let policies = one(json!({
            "Statement": {"Effect": "Allow", "NotAction": "sqs:DeleteQueue", "NotResource": "arn:aws:sqs:r:111122223333:other"}
        }));
        let eval = |a, r| evaluate(&policies, &req(a, r)).expect("evaluates");
        assert_eq!(
            eval("sqs:ReceiveMessage", "arn:aws:sqs:r:111122223333:q"),
            Decision::Allowed(None)
        );
        assert_eq!(
            eval("sqs:DeleteQueue", "arn:aws:sqs:r:111122223333:q"),
            Decision::NotAllowed
        );
        assert_eq!(
            eval("sqs:ReceiveMessage", "arn:aws:sqs:r:111122223333:other"),
            Decision::NotAllowed
        );
    }

    #[test]
    fn conditions_are_evaluated_against_the_request_context() {
        let key = "arn:aws:kms:r:111122223333:key/k";
        let policies = one(json!({"Statement": [{
            "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key,
            "Condition": {"StringEquals": {"kms:ViaService": "sqs.r.amazonaws.com", "kms:CallerAccount": "111122223333"}}
        }]}));
        let via = |service: &str| {
            req("kms:Decrypt", key)
                .with_text("kms:ViaService", service)
                .with_text("kms:CallerAccount", "111122223333")
        };
        assert_eq!(
            evaluate(&policies, &via("sqs.r.amazonaws.com")).expect("evaluates"),
            Decision::Allowed(None)
        );
        assert_eq!(
            evaluate(&policies, &via("dynamodb.r.amazonaws.com")).expect("evaluates"),
            Decision::NotAllowed
        );
        // A key absent from the context fails a non-IfExists condition.
        assert_eq!(
            evaluate(&policies, &req("kms:Decrypt", key)).expect("evaluates"),
            Decision::NotAllowed
        );
    }

    #[test]
    fn absent_keys_follow_aws_rules_per_operator() {
        let topic = "arn:aws:sns:r:111122223333:t";
        let policies = one(json!({"Statement": [
            {"Sid": "Https", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": topic,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "Others", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": topic,
             "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [ROLE]}}},
            {"Sid": "Mine", "Effect": "Allow", "Principal": {"AWS": [ROLE]}, "Action": "sns:Publish", "Resource": topic,
             "Condition": {"StringEqualsIfExists": {"sns:Protocol": "https"},
                           "ForAllValues:StringEquals": {"aws:TagKeys": ["a"]},
                           "Null": {"aws:SourceArn": "true"}}}
        ]}));
        let publish = || req("sns:Publish", topic).with_text("aws:PrincipalArn", ROLE);
        let eval = |r: &Request| evaluate(&policies, r).expect("evaluates");
        // IfExists and ForAllValues hold when the key is absent; Null true too.
        assert_eq!(
            eval(&publish().with("aws:SecureTransport", Key::Flag(true))),
            Decision::Allowed(Some("Mine".into()))
        );
        assert_eq!(
            eval(&publish().with("aws:SecureTransport", Key::Flag(false))),
            Decision::Denied(Some("Https".into()))
        );
        // Bool with the key absent is false: not denied by Https.
        assert_eq!(eval(&publish()), Decision::Allowed(Some("Mine".into())));
        // A negated operator with the key absent is true (AWS): denied.
        assert_eq!(
            eval(&req("sns:Publish", topic).with("aws:SecureTransport", Key::Flag(true))),
            Decision::Denied(Some("Others".into()))
        );
        // Present keys are compared.
        assert_eq!(
            eval(
                &publish()
                    .with("aws:SecureTransport", Key::Flag(true))
                    .with("aws:TagKeys", Key::List(vec!["a".into(), "b".into()]))
            ),
            Decision::NotAllowed
        );
        assert_eq!(
            eval(
                &publish()
                    .with("aws:SecureTransport", Key::Flag(true))
                    .with_text("aws:SourceArn", "arn:aws:sns:r:111122223333:x")
            ),
            Decision::NotAllowed
        );
        // ForAnyValue with the key absent is false.
        let any = one(
            json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["a*"]}}}]}),
        );
        assert_eq!(
            evaluate(&any, &req("sns:Publish", topic)).expect("evaluates"),
            Decision::NotAllowed
        );
    }

    #[test]
    fn service_principals_and_arn_like() {
        let queue = "arn:aws:sqs:r:111122223333:q";
        let policies = one(json!({"Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": queue, "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:r:111122223333:orders-*"}}
        }]}));
        let send = |caller: Caller, source: &str| {
            evaluate(
                &policies,
                &Request::new(caller, "sqs:SendMessage", queue).with_text("aws:SourceArn", source),
            )
            .expect("evaluates")
        };
        let sns = || Caller::Service("sns.amazonaws.com".into());
        assert_eq!(
            send(sns(), "arn:aws:sns:r:111122223333:orders-x"),
            Decision::Allowed(None)
        );
        assert_eq!(
            send(sns(), "arn:aws:sns:r:111122223333:other"),
            Decision::NotAllowed
        );
        assert_eq!(
            send(
                Caller::Aws(ROLE.into()),
                "arn:aws:sns:r:111122223333:orders-x"
            ),
            Decision::NotAllowed
        );
    }

    #[test]
    fn aws_star_is_everyone_like_a_bare_star() {
        let topic = "arn:aws:sns:r:111122223333:t";
        let sns = Request::new(
            Caller::Service("sns.amazonaws.com".into()),
            "sns:Publish",
            topic,
        );
        for principal in [json!("*"), json!({"AWS": "*"}), json!({"AWS": ["*"]})] {
            let deny = one(json!({"Statement": [{"Sid": "Nobody", "Effect": "Deny",
                "Principal": principal, "Action": "sns:Publish", "Resource": topic}]}));
            assert_eq!(
                evaluate(&deny, &sns).expect("evaluates"),
                Decision::Denied(Some("Nobody".into())),
                "{principal}"
            );
            assert_eq!(
                evaluate(&deny, &req("sns:Publish", topic)).expect("evaluates"),
                Decision::Denied(Some("Nobody".into())),
                "{principal}"
            );
        }
    }

    #[test]
    fn malformed_documents_and_unknown_operators_are_refused() {
        assert!(Policy::from_value(&json!({"Statement": []})).is_err());
        assert!(Policy::from_value(&json!({})).is_err());
        assert!(Policy::from_value(&json!({"Statement": [{"Effect": "Allow"}]})).is_err());
        assert!(
            Policy::from_value(
                &json!({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]})
            )
            .is_err()
        );
        let unknown = Policy::from_value(&json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringSortOfEquals": {"aws:SourceArn": "x"}}
        }]}));
        let err = unknown.expect_err("an unknown operator must not parse");
        assert!(err.to_string().contains("StringSortOfEquals"), "{err}");
    }
}
