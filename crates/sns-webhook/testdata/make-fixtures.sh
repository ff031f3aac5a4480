#!/usr/bin/env bash
# Regenerates the signed SNS message fixtures of the unit tests: a throwaway
# RSA key and self-signed certificate (the key is deleted at the end; only the
# certificate is kept), and messages signed over AWS's canonical string with
# SHA1withRSA (SignatureVersion 1) and SHA256withRSA (SignatureVersion 2).
# The canonical string is built here with jq, independently of the Rust code
# under test. Rule: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
# Usage: bash crates/sns-webhook/testdata/make-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out cert.pem \
  -days 36500 -subj "/CN=sns-webhook test fixture" 2>/dev/null

# The shape AWS sends (and src/origin.rs requires on the AWS host).
cert_url="https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
topic="arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"

# $1 message JSON (unsigned), $2 SignatureVersion, $3 output file
sign() {
  local digest fields
  case "$2" in 1) digest=-sha1 ;; 2) digest=-sha256 ;; esac
  case "$(jq -r .Type <<<"$1")" in
    Notification) fields='["Message","MessageId","Subject","Timestamp","TopicArn","Type"]' ;;
    *) fields='["Message","MessageId","SubscribeURL","Timestamp","Token","TopicArn","Type"]' ;;
  esac
  jq -j --argjson f "$fields" '. as $m | [$f[] as $k | select($m | has($k)) | "\($k)\n\($m[$k])\n"] | join("")' \
    <<<"$1" >"$tmp/canonical"
  local signature
  signature=$(openssl dgst "$digest" -sign "$tmp/key.pem" "$tmp/canonical" | base64 -w0)
  jq --arg v "$2" --arg s "$signature" --arg u "$cert_url" \
    '. + {SignatureVersion: $v, Signature: $s, SigningCertURL: $u}' <<<"$1" >"$3"
}

sign "$(jq -n --arg t "$topic" '{
  Type: "Notification",
  MessageId: "7d3c6f0e-1111-4c1e-9a39-000000000001",
  TopicArn: $t,
  Subject: "PedidoCreado",
  Message: "{\"eventType\":\"PedidoCreado\",\"nota\":\"línea 1\nlínea 2 ñ\"}",
  Timestamp: "2026-11-23T10:00:00.000Z",
  UnsubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
  MessageAttributes: {prioridad: {Type: "String", Value: "EXPRESS"}}
}')" 1 notification-v1.json

sign "$(jq -n --arg t "$topic" '{
  Type: "Notification",
  MessageId: "7d3c6f0e-2222-4c1e-9a39-000000000002",
  TopicArn: $t,
  Message: "hola",
  Timestamp: "2026-11-23T10:00:01.000Z",
  UnsubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
}')" 2 notification-v2.json

sign "$(jq -n --arg t "$topic" '{
  Type: "SubscriptionConfirmation",
  MessageId: "7d3c6f0e-3333-4c1e-9a39-000000000003",
  Token: "2336412f37fb687f5d51e6e2425f004aed",
  TopicArn: $t,
  Message: "You have chosen to subscribe to the topic.",
  SubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=\($t)&Token=2336412f37fb687f5d51e6e2425f004aed",
  Timestamp: "2026-11-23T10:00:02.000Z"
}')" 2 subscription-confirmation-v2.json
echo "fixtures written to $(pwd)"
