//! Unit tests of the command line and the settings.

use shared::config::EnvSource;

use super::*;

fn parse(words: &str) -> Result<Command, String> {
    Command::parse(&words.split_whitespace().collect::<Vec<_>>())
}

#[test]
fn parses_the_dlq_commands() {
    assert_eq!(
        parse("peek"),
        Ok(Command::Peek {
            target: Target::Queue,
            max: 100
        })
    );
    assert_eq!(
        parse("peek --subscription --max 5"),
        Ok(Command::Peek {
            target: Target::Subscription,
            max: 5
        })
    );
    assert_eq!(
        parse("redrive --rate 20"),
        Ok(Command::Redrive {
            target: Target::Queue,
            options: RedriveOptions {
                manual: false,
                rate: Some(20)
            }
        })
    );
    assert_eq!(
        parse("redrive --manual"),
        Ok(Command::Redrive {
            target: Target::Queue,
            options: RedriveOptions {
                manual: true,
                rate: None
            }
        })
    );
    assert_eq!(
        parse("redrive --subscription").map(|c| c.target()),
        Ok(Target::Subscription)
    );
    for wrong in [
        "",
        "purge",
        "peek --max",
        "peek --max 0",
        "peek --manual",
        "redrive --max 3",
        "redrive --rate 501",
        "redrive --manual --rate 5",
        "redrive --subscription --manual",
        "redrive --force",
    ] {
        assert!(parse(wrong).is_err(), "{wrong:?} accepted");
    }
}

#[test]
fn a_missing_subscription_dlq_setting_is_named() {
    let queue = ("SQS_QUEUE_URL", "http://127.0.0.1:4566/000000000000/q");
    let env = EnvSource::from_pairs([queue]);
    let err = DlqSettings::from_env(&env, Target::Subscription).expect_err("no subscription DLQ");
    let text = err.to_string();
    assert!(
        text.contains("SQS_SUBSCRIPTION_DLQ_URL is required"),
        "{text}"
    );
    assert!(!text.contains("SQS_DLQ_URL"), "{text}");
    assert!(!text.contains("ORDERS_TABLE"), "{text}");

    let env = EnvSource::from_pairs([
        queue,
        (
            "SQS_SUBSCRIPTION_DLQ_URL",
            "http://127.0.0.1:4566/000000000000/q-delivery-dlq",
        ),
    ]);
    let settings = DlqSettings::from_env(&env, Target::Subscription).expect("valid");
    assert!(settings.dlq_url.ends_with("q-delivery-dlq"));
    let err = DlqSettings::from_env(&env, Target::Queue).expect_err("no SQS_DLQ_URL");
    assert!(err.to_string().contains("SQS_DLQ_URL is required"), "{err}");

    let env = EnvSource::from_pairs([
        queue,
        ("SQS_SUBSCRIPTION_DLQ_URL", "http://h/1/q-delivery-dlq.fifo"),
    ]);
    assert!(DlqSettings::from_env(&env, Target::Subscription).is_err());
}
