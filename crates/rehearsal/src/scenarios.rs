//! The resource-policy scenarios (issue 22, item 3), in one place: the calls
//! that matter on the deployed order topic, queues and data key, and on the
//! ops alarm topic and the platform key (CloudWatch alarms and EventBridge
//! rules of this stack publish; others are refused), each with the
//! outcome AWS must give, decided with AWS's evaluation logic
//! (`crate::access`) against the documents read back from the deployment
//! (`crate::deployed`) and the task roles' policies (`principals.json`).

use serde_json::json;

use crate::access::{Outcome, account_of, decide, partition_of};
use crate::contract::{InputError, Principal};
use crate::deployed::{Deployed, Resource};
use crate::policy::{Caller, Key, Policy, Request};

/// A scenario's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What is asked, in words.
    pub name: String,
    /// Whether AWS must allow it.
    pub must_allow: bool,
    /// What the documents decide.
    pub outcome: Outcome,
}

impl Finding {
    /// Whether the documents decide as they must.
    pub fn holds(&self) -> bool {
        self.outcome.allowed() == self.must_allow
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (verdict, why) = match &self.outcome {
            Outcome::Allowed(by) => ("allowed", by),
            Outcome::Refused(why) => ("refused", why),
        };
        write!(
            f,
            "{}: {verdict} ({why}); must be {}",
            self.name,
            if self.must_allow {
                "allowed"
            } else {
                "refused"
            }
        )
    }
}

/// A caller of the scenarios: a role with its identity policies, or a service.
struct Who {
    name: String,
    caller: Caller,
    identity: Vec<Policy>,
}

fn parse(who: &str, docs: &[serde_json::Value]) -> Result<Vec<Policy>, InputError> {
    docs.iter()
        .map(|d| {
            Policy::from_value(d).map_err(|source| InputError::Policy {
                principal: who.to_owned(),
                source,
            })
        })
        .collect()
}

fn role(p: &Principal) -> Result<Who, InputError> {
    Ok(Who {
        name: format!("{} ({})", p.who(), p.iam_role),
        caller: Caller::Aws(p.iam_role_arn.clone()),
        identity: parse(&p.who(), &p.policies)?,
    })
}

fn request(who: &Who, action: &str, resource: &str, https: bool) -> Request {
    let mut r = Request::new(who.caller.clone(), action, resource)
        .with("aws:SecureTransport", Key::Flag(https));
    if let Caller::Aws(arn) = &who.caller {
        r = r.with_text("aws:PrincipalArn", arn);
        if let Some(account) = account_of(arn) {
            r = r.with_text("aws:PrincipalAccount", account);
        }
    }
    r
}

struct Run<'a> {
    deployed: &'a Deployed,
    findings: Vec<Finding>,
}

impl Run<'_> {
    fn on(
        &mut self,
        name: String,
        must_allow: bool,
        who: &Who,
        target: &Resource,
        req: &Request,
    ) -> Result<(), InputError> {
        let policy = Deployed::resource_policy(target)?;
        self.decide(name, must_allow, who, policy.as_ref(), req)
    }

    fn on_key(
        &mut self,
        name: String,
        must_allow: bool,
        who: &Who,
        key: &str,
        req: &Request,
    ) -> Result<(), InputError> {
        let policy = self.deployed.key_policy(key)?;
        if policy.is_none() {
            self.findings.push(Finding {
                name,
                must_allow,
                outcome: Outcome::Refused(format!("key {key} was not read back")),
            });
            return Ok(());
        }
        self.decide(name, must_allow, who, policy.as_ref(), req)
    }

    fn decide(
        &mut self,
        name: String,
        must_allow: bool,
        who: &Who,
        policy: Option<&Policy>,
        req: &Request,
    ) -> Result<(), InputError> {
        let outcome = decide(&who.identity, policy, req).map_err(|source| InputError::Policy {
            principal: who.name.clone(),
            source,
        })?;
        self.findings.push(Finding {
            name,
            must_allow,
            outcome,
        });
        Ok(())
    }
}

fn missing(what: &str) -> InputError {
    InputError::Invalid {
        path: "principals.json / resource-policies.json".into(),
        message: format!("no {what}"),
    }
}

/// Runs every scenario; the rehearsal fails when one does not hold.
pub fn run(principals: &[Principal], deployed: &Deployed) -> Result<Vec<Finding>, InputError> {
    let find = |binary: &str, r: Option<&str>| {
        principals
            .iter()
            .find(|p| p.binary == binary && p.role.as_deref() == r)
            .ok_or_else(|| missing(&format!("principal {binary} {r:?}")))
            .and_then(role)
    };
    let publishers = [find("order-api", None)?, find("outbox-relay", None)?];
    let roles: Vec<String> = deployed.queues.keys().cloned().collect();
    let workers: Vec<(String, Who)> = roles
        .iter()
        .map(|r| find("sqs-worker", Some(r)).map(|w| (r.clone(), w)))
        .collect::<Result<_, _>>()?;
    let account = &deployed.account;
    let region = &deployed.region;
    let topic = &deployed.topic;
    let sns = Who {
        name: "sns.amazonaws.com".into(),
        caller: Caller::Service("sns.amazonaws.com".into()),
        identity: Vec::new(),
    };
    let partition = partition_of(&topic.arn);
    // Any other role of the account, with an identity policy allowing
    // sns:Publish, sqs:* and kms:* everywhere.
    let someone = Who {
        name: "someone-else".into(),
        caller: Caller::Aws(format!("arn:{partition}:iam::{account}:role/someone-else")),
        identity: parse(
            "someone-else",
            &[json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["sns:Publish", "sqs:*", "kms:*"], "Resource": "*"}
            ]})],
        )?,
    };
    let other_topic = format!("arn:{partition}:sns:{region}:{account}:someone-elses-topic");
    let mut run = Run {
        deployed,
        findings: Vec::new(),
    };

    // The API and the relay publish over HTTPS, with SNS's use of the key.
    let sns_via = format!("sns.{region}.amazonaws.com");
    for who in &publishers {
        run.on(
            format!("{} sns:Publish to the topic over HTTPS", who.name),
            true,
            who,
            topic,
            &request(who, "sns:Publish", &topic.arn, true),
        )?;
        run.on(
            format!("{} sns:Publish to the topic over plain HTTP", who.name),
            false,
            who,
            topic,
            &request(who, "sns:Publish", &topic.arn, false),
        )?;
        if let Some(key) = &topic.kms_key {
            for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
                let req = request(who, action, key, true)
                    .with_text("kms:ViaService", &sns_via)
                    .with_text("kms:CallerAccount", account);
                run.on_key(
                    format!("{} {action} on the topic's key through {sns_via}", who.name),
                    true,
                    who,
                    key,
                    &req,
                )?;
            }
        }
    }
    // Nobody else of the account publishes.
    for who in workers.iter().map(|(_, w)| w).chain([&someone]) {
        run.on(
            format!("{} sns:Publish to the topic", who.name),
            false,
            who,
            topic,
            &request(who, "sns:Publish", &topic.arn, true),
        )?;
    }
    // The topic delivers into each queue (both lanes) and subscription DLQ;
    // no other source does.
    let sqs_via = format!("sqs.{region}.amazonaws.com");
    for (label, queue) in deployed
        .queues
        .iter()
        .map(|(r, q)| (format!("queue {r}"), q))
        .chain(
            deployed
                .express_queues
                .iter()
                .map(|(r, q)| (format!("express queue {r}"), q)),
        )
        .chain(
            deployed
                .delivery_dlqs
                .iter()
                .map(|(r, q)| (format!("delivery DLQ {r}"), q)),
        )
    {
        for (source, must) in [(&topic.arn, true), (&other_topic, false)] {
            let req = request(&sns, "sqs:SendMessage", &queue.arn, true)
                .with_text("aws:SourceArn", source)
                .with_text("aws:SourceAccount", account);
            run.on(
                format!("sns.amazonaws.com sqs:SendMessage to {label} from {source}"),
                must,
                &sns,
                queue,
                &req,
            )?;
            // SQS encrypts what SNS delivers under the queue's key, as SNS.
            if let Some(key) = &queue.kms_key {
                for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
                    let req = request(&sns, action, key, true)
                        .with_text("aws:SourceArn", source)
                        .with_text("aws:SourceAccount", account)
                        .with_text("kms:ViaService", &sqs_via);
                    run.on_key(
                        format!("sns.amazonaws.com {action} on the key of {label} for deliveries from {source}"),
                        must,
                        &sns,
                        key,
                        &req,
                    )?;
                }
            }
        }
        let req = request(&sns, "sqs:SendMessage", &queue.arn, false)
            .with_text("aws:SourceArn", &topic.arn)
            .with_text("aws:SourceAccount", account);
        run.on(
            format!("sns.amazonaws.com sqs:SendMessage to {label} over plain HTTP"),
            false,
            &sns,
            queue,
            &req,
        )?;
    }
    // Each worker receives from its own two queues (standard and express
    // lanes) only, over HTTPS only.
    let lanes = deployed
        .queues
        .iter()
        .map(|(r, q)| (r, format!("queue {r}"), q))
        .chain(
            deployed
                .express_queues
                .iter()
                .map(|(r, q)| (r, format!("express queue {r}"), q)),
        )
        .collect::<Vec<_>>();
    for (r, who) in &workers {
        for (other, label, queue) in &lanes {
            let own = *other == r;
            run.on(
                format!("{} sqs:ReceiveMessage from {label}", who.name),
                own,
                who,
                queue,
                &request(who, "sqs:ReceiveMessage", &queue.arn, true),
            )?;
            if own {
                run.on(
                    format!(
                        "{} sqs:ReceiveMessage from {label} over plain HTTP",
                        who.name
                    ),
                    false,
                    who,
                    queue,
                    &request(who, "sqs:ReceiveMessage", &queue.arn, false),
                )?;
                if let Some(key) = &queue.kms_key {
                    let req = request(who, "kms:Decrypt", key, true)
                        .with_text("kms:ViaService", &sqs_via)
                        .with_text("kms:CallerAccount", account);
                    run.on_key(
                        format!(
                            "{} kms:Decrypt on the key of {label} through {sqs_via}",
                            who.name
                        ),
                        true,
                        who,
                        key,
                        &req,
                    )?;
                }
            }
        }
        for (label, dlqs) in [
            ("DLQ", &deployed.dlqs),
            ("express DLQ", &deployed.express_dlqs),
        ] {
            if let Some(dlq) = dlqs.get(r) {
                run.on(
                    format!(
                        "{} sqs:SendMessage to its {label} over plain HTTP",
                        who.name
                    ),
                    false,
                    who,
                    dlq,
                    &request(who, "sqs:SendMessage", &dlq.arn, false),
                )?;
            }
        }
    }
    ops_topic(&mut run, partition)?;
    Ok(run.findings)
}

/// Another account, for the confused-deputy scenarios.
const OTHER_ACCOUNT: &str = "444455556666";

/// The ops alarm topic: this stack's CloudWatch alarms and EventBridge rules
/// publish to it and encrypt with the platform key; another account's alarm
/// or another stack's rule is refused. The request context each service
/// sends: SNS's topic policy sees `aws:SourceArn` and `aws:SourceAccount`
/// of the alarm or rule; in its KMS requests CloudWatch sends
/// `aws:SourceAccount` (and `aws:SourceArn`), EventBridge no `aws:Source*`
/// key at all (so the platform key's EventBridge statement has no
/// condition, infra/envs/aws/main.tf `AllowEventBridgeRulesToOpsTopic`).
fn ops_topic(run: &mut Run<'_>, partition: &str) -> Result<(), InputError> {
    let deployed = run.deployed;
    let (account, region, ops) = (&deployed.account, &deployed.region, &deployed.ops_topic);
    let prefix = ops
        .arn
        .rsplit(':')
        .next()
        .and_then(|name| name.strip_suffix("-ops-alarms"))
        .ok_or_else(|| InputError::Invalid {
            path: "resource-policies.json".into(),
            message: format!("ops topic {} is not named <prefix>-ops-alarms", ops.arn),
        })?;
    let Some(key) = ops.kms_key.as_deref() else {
        return Err(InputError::Invalid {
            path: "resource-policies.json".into(),
            message: format!(
                "ops topic {} read back without its customer-managed key",
                ops.arn
            ),
        });
    };
    let service = |name: &str| Who {
        name: name.into(),
        caller: Caller::Service(name.into()),
        identity: Vec::new(),
    };
    let (cloudwatch, events) = (
        service("cloudwatch.amazonaws.com"),
        service("events.amazonaws.com"),
    );
    let alarm = |acct: &str| format!("arn:{partition}:cloudwatch:{region}:{acct}:alarm:{prefix}-x");
    let rule = |acct: &str, prefix: &str| {
        format!("arn:{partition}:events:{region}:{acct}:rule/{prefix}-x")
    };
    let publish = |who: &Who, source: &str, source_account: &str, https: bool| {
        request(who, "sns:Publish", &ops.arn, https)
            .with_text("aws:SourceArn", source)
            .with_text("aws:SourceAccount", source_account)
    };
    let kms_actions = ["kms:GenerateDataKey", "kms:Decrypt"];

    // CloudWatch: an alarm of this stack, over HTTPS; the key with its source.
    let own_alarm = alarm(account);
    run.on(
        format!("cloudwatch.amazonaws.com sns:Publish to the ops topic for alarm {own_alarm}"),
        true,
        &cloudwatch,
        ops,
        &publish(&cloudwatch, &own_alarm, account, true),
    )?;
    run.on(
        "cloudwatch.amazonaws.com sns:Publish to the ops topic over plain HTTP".into(),
        false,
        &cloudwatch,
        ops,
        &publish(&cloudwatch, &own_alarm, account, false),
    )?;
    let foreign_alarm = alarm(OTHER_ACCOUNT);
    run.on(
        format!("cloudwatch.amazonaws.com sns:Publish to the ops topic for another account's alarm {foreign_alarm}"),
        false,
        &cloudwatch,
        ops,
        &publish(&cloudwatch, &foreign_alarm, OTHER_ACCOUNT, true),
    )?;
    for action in kms_actions {
        for (source, source_account, must) in [
            (&own_alarm, account.as_str(), true),
            (&foreign_alarm, OTHER_ACCOUNT, false),
        ] {
            let req = request(&cloudwatch, action, key, true)
                .with_text("aws:SourceArn", source)
                .with_text("aws:SourceAccount", source_account);
            run.on_key(
                format!("cloudwatch.amazonaws.com {action} on the platform key for alarm {source}"),
                must,
                &cloudwatch,
                key,
                &req,
            )?;
        }
    }

    // EventBridge: a rule of this stack; not another stack's or account's.
    let own_rule = rule(account, prefix);
    for (source, source_account, must) in [
        (own_rule.clone(), account.as_str(), true),
        (rule(account, "someone-else"), account.as_str(), false),
        (rule(OTHER_ACCOUNT, prefix), OTHER_ACCOUNT, false),
    ] {
        run.on(
            format!("events.amazonaws.com sns:Publish to the ops topic for rule {source}"),
            must,
            &events,
            ops,
            &publish(&events, &source, source_account, true),
        )?;
    }
    for action in kms_actions {
        // What EventBridge sends to KMS: no aws:SourceArn, no aws:SourceAccount.
        run.on_key(
            format!("events.amazonaws.com {action} on the platform key (no aws:Source* keys, as EventBridge sends it)"),
            true,
            &events,
            key,
            &request(&events, action, key, true),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRINCIPALS: &str = include_str!("../fixtures/principals.json");
    const DEPLOYED: &str = include_str!("../fixtures/resource-policies.json");

    fn principals() -> Vec<Principal> {
        serde_json::from_str(PRINCIPALS).expect("fixture principals")
    }

    fn deployed() -> Deployed {
        serde_json::from_str(DEPLOYED).expect("fixture resource policies")
    }

    fn failing(d: &Deployed) -> Vec<String> {
        run(&principals(), d)
            .expect("runs")
            .iter()
            .filter(|f| !f.holds())
            .map(ToString::to_string)
            .collect()
    }

    fn drop_statement(policy: &mut Option<serde_json::Value>, sid: &str) {
        policy.as_mut().expect("policy")["Statement"]
            .as_array_mut()
            .expect("statements")
            .retain(|s| s["Sid"] != sid);
    }

    #[test]
    fn the_deployed_documents_decide_every_scenario_as_aws_must() {
        let findings = run(&principals(), &deployed()).expect("runs");
        let bad: Vec<String> = findings
            .iter()
            .filter(|f| !f.holds())
            .map(ToString::to_string)
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
        assert!(findings.len() > 30, "{findings:#?}");
        let someone = findings
            .iter()
            .find(|f| f.name == "someone-else sns:Publish to the topic")
            .expect("scenario");
        assert_eq!(
            someone.outcome,
            Outcome::Refused(
                "explicitly denied by statement DenyOtherPublishers of the resource policy".into()
            )
        );
    }

    #[test]
    fn without_deny_other_publishers_another_role_could_publish() {
        let mut d = deployed();
        drop_statement(&mut d.topic.policy, "DenyOtherPublishers");
        let bad = failing(&d);
        assert_eq!(
            bad,
            [
                "someone-else sns:Publish to the topic: allowed (a statement of the identity \
              policies); must be refused"
            ]
        );
    }

    #[test]
    fn without_the_secure_transport_deny_plain_http_gets_through() {
        let mut d = deployed();
        drop_statement(&mut d.topic.policy, "DenyInsecureTransport");
        let bad = failing(&d);
        assert_eq!(bad.len(), 2, "{bad:#?}");
        assert!(
            bad.iter()
                .all(|b| b.contains("sns:Publish to the topic over plain HTTP: allowed")),
            "{bad:#?}"
        );
        let mut d = deployed();
        let q = d.queues.get_mut("logistica").expect("queue");
        drop_statement(&mut q.policy, "DenyInsecureTransport");
        let bad = failing(&d);
        assert!(
            bad.iter().any(|b| b.starts_with(
                "sqs-worker (logistica) (ecomexpress-worker-logistica-task) sqs:ReceiveMessage \
                 from queue logistica over plain HTTP: allowed"
            )),
            "{bad:#?}"
        );
    }

    #[test]
    fn a_queue_policy_naming_another_topic_refuses_the_delivery() {
        let mut d = deployed();
        let q = d.queues.get_mut("procesamiento").expect("queue");
        let text = serde_json::to_string(&q.policy).expect("json");
        q.policy = Some(
            serde_json::from_str(
                &text.replace("ecomexpress-pedidos-eventos", "ecomexpress-otro-topic"),
            )
            .expect("json"),
        );
        let bad = failing(&d);
        assert_eq!(bad.len(), 1, "{bad:#?}");
        assert!(
            bad[0].starts_with(
                "sns.amazonaws.com sqs:SendMessage to queue procesamiento from \
                 arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos: refused"
            ),
            "{bad:#?}"
        );
    }

    #[test]
    fn a_key_policy_without_the_topic_statement_stops_sns_encrypting() {
        let mut d = deployed();
        let key = d.keys.get_mut("data").expect("data key");
        key.policy["Statement"]
            .as_array_mut()
            .expect("statements")
            .retain(|s| s["Sid"] != "AllowOrderTopicDeliveryToQueues");
        let bad = failing(&d);
        // GenerateDataKey and Decrypt, for both queues of both lanes.
        assert_eq!(bad.len(), 8, "{bad:#?}");
        assert!(
            bad.iter()
                .all(|b| b.starts_with("sns.amazonaws.com kms:") && b.contains("refused")),
            "{bad:#?}"
        );
    }

    fn ops_findings() -> Vec<Finding> {
        run(&principals(), &deployed())
            .expect("runs")
            .into_iter()
            .filter(|f| f.name.contains("ops topic") || f.name.contains("platform key"))
            .collect()
    }

    #[test]
    fn this_stacks_alarms_and_rules_reach_the_ops_topic_and_others_do_not() {
        let ops = ops_findings();
        let allowed: Vec<&str> = ops
            .iter()
            .filter(|f| f.must_allow && f.holds())
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            allowed,
            [
                "cloudwatch.amazonaws.com sns:Publish to the ops topic for alarm \
                 arn:aws:cloudwatch:us-east-1:123456789012:alarm:ecomexpress-x",
                "cloudwatch.amazonaws.com kms:GenerateDataKey on the platform key for alarm \
                 arn:aws:cloudwatch:us-east-1:123456789012:alarm:ecomexpress-x",
                "cloudwatch.amazonaws.com kms:Decrypt on the platform key for alarm \
                 arn:aws:cloudwatch:us-east-1:123456789012:alarm:ecomexpress-x",
                "events.amazonaws.com sns:Publish to the ops topic for rule \
                 arn:aws:events:us-east-1:123456789012:rule/ecomexpress-x",
                "events.amazonaws.com kms:GenerateDataKey on the platform key (no aws:Source* \
                 keys, as EventBridge sends it)",
                "events.amazonaws.com kms:Decrypt on the platform key (no aws:Source* keys, as \
                 EventBridge sends it)",
            ]
        );
        let refused: Vec<&str> = ops
            .iter()
            .filter(|f| !f.must_allow && f.holds())
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(refused.len(), 6, "{refused:#?}");
        assert!(ops.iter().all(Finding::holds), "{ops:#?}");
    }

    fn ops_failing(edit: impl FnOnce(&mut Deployed)) -> Vec<String> {
        let mut d = deployed();
        edit(&mut d);
        failing(&d)
    }

    #[test]
    fn a_platform_key_asking_eventbridge_for_its_source_drops_every_event() {
        let bad = ops_failing(|d| {
            let key = d.keys.get_mut("platform").expect("platform key");
            for s in key.policy["Statement"].as_array_mut().expect("statements") {
                if s["Sid"] == "AllowEventBridgeRulesToOpsTopic" {
                    s["Condition"] = json!({"StringEquals": {"aws:SourceAccount": "123456789012"}});
                }
            }
        });
        assert_eq!(bad.len(), 2, "{bad:#?}");
        assert!(
            bad.iter()
                .all(|b| b.starts_with("events.amazonaws.com kms:")
                    && b.contains("refused (the key policy neither allows this caller")),
            "{bad:#?}"
        );
    }

    #[test]
    fn the_ops_topic_policy_admits_only_this_stacks_sources() {
        // Without the EventBridge statement, the rules' events are refused.
        let bad = ops_failing(|d| {
            drop_statement(&mut d.ops_topic.policy, "EventBridgeRulesOfThisAccount")
        });
        assert_eq!(bad.len(), 1, "{bad:#?}");
        assert!(
            bad[0].starts_with(
                "events.amazonaws.com sns:Publish to the ops topic for rule \
                 arn:aws:events:us-east-1:123456789012:rule/ecomexpress-x: refused"
            ),
            "{bad:#?}"
        );
        // An alarm statement without its source conditions lets any account's alarm in.
        let bad = ops_failing(|d| {
            for s in d.ops_topic.policy.as_mut().expect("policy")["Statement"]
                .as_array_mut()
                .expect("statements")
            {
                if s["Sid"] == "CloudWatchAlarmsOfThisAccount"
                    || s["Sid"] == "EventBridgeRulesOfThisAccount"
                {
                    s.as_object_mut().expect("statement").remove("Condition");
                }
            }
        });
        assert_eq!(bad.len(), 3, "{bad:#?}");
        assert!(
            bad.iter().any(|b| b.starts_with(
                "cloudwatch.amazonaws.com sns:Publish to the ops topic for another account's \
                 alarm arn:aws:cloudwatch:us-east-1:444455556666:alarm:ecomexpress-x: allowed"
            )),
            "{bad:#?}"
        );
        // The key's CloudWatch statement without aws:SourceAccount serves any account.
        let bad = ops_failing(|d| {
            let key = d.keys.get_mut("platform").expect("platform key");
            for s in key.policy["Statement"].as_array_mut().expect("statements") {
                if s["Sid"] == "AllowCloudWatchAlarmsToOpsTopic" {
                    s.as_object_mut().expect("statement").remove("Condition");
                }
            }
        });
        assert_eq!(bad.len(), 2, "{bad:#?}");
        assert!(
            bad.iter()
                .all(|b| b.contains("444455556666") && b.contains(": allowed")),
            "{bad:#?}"
        );
        // Plain HTTP is refused only by DenyInsecureTransport.
        let bad = ops_failing(|d| drop_statement(&mut d.ops_topic.policy, "DenyInsecureTransport"));
        assert_eq!(
            bad,
            [
                "cloudwatch.amazonaws.com sns:Publish to the ops topic over plain HTTP: allowed \
              (statement CloudWatchAlarmsOfThisAccount of the resource policy); must be refused"
            ]
        );
    }

    #[test]
    fn a_worker_allowed_the_other_queue_is_caught() {
        let mut ps = principals();
        let w = ps
            .iter_mut()
            .find(|p| p.role.as_deref() == Some("procesamiento"))
            .expect("worker");
        let text = serde_json::to_string(&w.policies).expect("json");
        w.policies = serde_json::from_str(&text.replace(
            "\"arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento\"",
            "\"arn:aws:sqs:us-east-1:123456789012:ecomexpress-*\"",
        ))
        .expect("json");
        let bad: Vec<String> = run(&ps, &deployed())
            .expect("runs")
            .iter()
            .filter(|f| !f.holds())
            .map(ToString::to_string)
            .collect();
        // The other role's queue, and its express queue (the wildcard
        // matches both).
        assert_eq!(bad.len(), 2, "{bad:#?}");
        assert!(
            bad[0].contains("sqs:ReceiveMessage from queue logistica: allowed"),
            "{bad:#?}"
        );
        assert!(
            bad[1].contains("sqs:ReceiveMessage from express queue logistica: allowed"),
            "{bad:#?}"
        );
    }

    #[test]
    fn a_worker_without_its_express_statement_cannot_drain_the_express_lane() {
        let mut ps = principals();
        let w = ps
            .iter_mut()
            .find(|p| p.role.as_deref() == Some("logistica"))
            .expect("worker");
        for doc in &mut w.policies {
            doc["Statement"]
                .as_array_mut()
                .expect("statements")
                .retain(|s| s["Sid"] != "ConsumeOwnExpressQueue");
        }
        let bad: Vec<String> = run(&ps, &deployed())
            .expect("runs")
            .iter()
            .filter(|f| !f.holds())
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            bad,
            vec![
                "sqs-worker (logistica) (ecomexpress-worker-logistica-task) sqs:ReceiveMessage \
                 from express queue logistica: refused (allowed neither by the caller's identity \
                 policies nor by the resource policy); must be allowed"
            ]
        );
    }

    #[test]
    fn an_express_queue_policy_naming_another_topic_refuses_the_delivery() {
        let mut d = deployed();
        let q = d
            .express_queues
            .get_mut("procesamiento")
            .expect("express queue");
        let text = serde_json::to_string(&q.policy).expect("json").replace(
            "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos",
            "arn:aws:sns:us-east-1:123456789012:another-topic",
        );
        q.policy = serde_json::from_str(&text).expect("json");
        let bad = failing(&d);
        assert!(
            bad.iter().any(|b| b.starts_with(
                "sns.amazonaws.com sqs:SendMessage to express queue procesamiento from \
                 arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos: refused"
            )),
            "{bad:#?}"
        );
    }
}
