//! IAM identity policy documents and their evaluation for one action on one
//! resource: an explicit `Deny` wins, else an `Allow` is needed. Wildcards
//! (`*`, `?`) in actions (case-insensitive) and resources (case-sensitive);
//! `NotAction` / `NotResource` supported. Conditions are reported, not
//! evaluated (they depend on the request context, e.g. `kms:ViaService`).

use serde_json::Value;

/// A parse failure of a policy document.
#[derive(Debug, thiserror::Error)]
#[error("invalid policy document: {0}")]
pub struct PolicyError(String);

/// One statement, normalized.
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

/// A policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// The result of evaluating one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` matched and no `Deny` did; `conditional` when every matching
    /// `Allow` carries a condition this evaluation did not check.
    Allowed {
        /// See above.
        conditional: bool,
    },
    /// An explicit `Deny` matched (its `Sid`, if any).
    Denied(Option<String>),
    /// No statement allows it.
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

    /// Whether the statement applies to `action` on `resource`.
    pub fn applies(&self, action: &str, resource: &str) -> bool {
        let action_listed = self
            .actions
            .iter()
            .any(|p| wildcard_match(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()));
        let resource_listed = self.resources.iter().any(|p| wildcard_match(p, resource));
        action_listed != self.not_action && resource_listed != self.not_resource
    }
}

impl Policy {
    /// Parses a policy document (a JSON object with `Statement`).
    pub fn from_value(document: &Value) -> Result<Self, PolicyError> {
        let statements = match document.get("Statement") {
            Some(Value::Array(items)) => items.iter().map(Statement::from_value).collect(),
            Some(single @ Value::Object(_)) => Statement::from_value(single).map(|s| vec![s]),
            _ => Err(PolicyError("no Statement".into())),
        }?;
        Ok(Self { statements })
    }
}

/// Evaluates `action` on `resource` against every document of a principal.
pub fn evaluate(policies: &[Policy], action: &str, resource: &str) -> Decision {
    let matching: Vec<&Statement> = policies
        .iter()
        .flat_map(|p| &p.statements)
        .filter(|s| s.applies(action, resource))
        .collect();
    if let Some(deny) = matching.iter().find(|s| !s.allow) {
        return Decision::Denied(deny.sid.clone());
    }
    let allows: Vec<&&Statement> = matching.iter().filter(|s| s.allow).collect();
    if allows.is_empty() {
        Decision::NotAllowed
    } else {
        Decision::Allowed {
            conditional: allows.iter().all(|s| s.condition.is_some()),
        }
    }
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

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("sqs:get*", "sqs:getqueueattributes"));
        assert!(wildcard_match(
            "arn:aws:sqs:*:*:q-?lq",
            "arn:aws:sqs:r:1:q-dlq"
        ));
        assert!(!wildcard_match(
            "arn:aws:sqs:r:1:q",
            "arn:aws:sqs:r:1:q-dlq"
        ));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "x"));
    }

    #[test]
    fn deny_wins_and_actions_ignore_case() {
        let policy = Policy::from_value(&json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "SQS:*", "Resource": "arn:aws:sqs:r:1:*"},
                {"Sid": "NoDlq", "Effect": "Deny", "Action": ["sqs:SendMessage"], "Resource": "arn:aws:sqs:r:1:q-dlq"}
            ]
        }))
        .expect("valid");
        let policies = [policy];
        assert_eq!(
            evaluate(&policies, "sqs:ReceiveMessage", "arn:aws:sqs:r:1:q"),
            Decision::Allowed { conditional: false }
        );
        assert_eq!(
            evaluate(&policies, "sqs:SendMessage", "arn:aws:sqs:r:1:q-dlq"),
            Decision::Denied(Some("NoDlq".into()))
        );
        assert_eq!(
            evaluate(&policies, "sns:Publish", "arn:aws:sns:r:1:t"),
            Decision::NotAllowed
        );
    }

    #[test]
    fn not_action_not_resource_and_conditions() {
        let policy = Policy::from_value(&json!({
            "Statement": {"Effect": "Allow", "NotAction": "sqs:DeleteQueue", "NotResource": "arn:aws:sqs:r:1:other",
                          "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
        }))
        .expect("valid");
        let policies = [policy];
        assert_eq!(
            evaluate(&policies, "sqs:ReceiveMessage", "arn:aws:sqs:r:1:q"),
            Decision::Allowed { conditional: true }
        );
        assert_eq!(
            evaluate(&policies, "sqs:DeleteQueue", "arn:aws:sqs:r:1:q"),
            Decision::NotAllowed
        );
        assert_eq!(
            evaluate(&policies, "sqs:ReceiveMessage", "arn:aws:sqs:r:1:other"),
            Decision::NotAllowed
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        assert!(Policy::from_value(&json!({})).is_err());
        assert!(Policy::from_value(&json!({"Statement": [{"Effect": "Allow"}]})).is_err());
        assert!(
            Policy::from_value(
                &json!({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]})
            )
            .is_err()
        );
    }
}
