//! The size DynamoDB bills an item at, from its attributes, by the rules in
//! the DynamoDB developer guide ("Item sizes and formats"): names and string
//! values count their UTF-8 bytes, a number about one byte per two
//! significant digits plus one, binary values their bytes, booleans and nulls
//! one byte, lists and maps 3 bytes plus one per element plus the elements
//! (and, for maps, their keys), sets the sum of their elements. One write
//! request unit covers 1 KB of the larger of the item's sizes before and
//! after a write; the bench uses this to price the writes of an order.
//! [`item_from_json`] reads an item in DynamoDB's wire JSON (what a
//! `PutItem` request carries), for the bench's metering proxy.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// Bytes of a whole item (attribute names included).
pub fn item_bytes(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_bytes(value))
        .sum()
}

/// Write request units of a write whose larger item size is `bytes` (1 KB each, rounded up).
pub fn write_units(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

fn number_bytes(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1);
    significant.div_ceil(2) + 1
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_bytes(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_bytes(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_bytes(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_bytes(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// An item from DynamoDB's wire JSON (`{"pedidoId": {"S": "..."}, ...}`);
/// `None` when it is not one.
pub fn item_from_json(json: &serde_json::Value) -> Option<HashMap<String, AttributeValue>> {
    json.as_object()?
        .iter()
        .map(|(name, value)| Some((name.clone(), value_from_json(value)?)))
        .collect()
}

/// One attribute value from DynamoDB's wire JSON.
pub fn value_from_json(json: &serde_json::Value) -> Option<AttributeValue> {
    let object = json.as_object()?;
    let (kind, v) = object.iter().next()?;
    let strings = || -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|e| e.as_str().map(str::to_owned))
            .collect()
    };
    let blob = |e: &serde_json::Value| {
        Some(aws_sdk_dynamodb::primitives::Blob::new(base64(
            e.as_str()?,
        )?))
    };
    Some(match kind.as_str() {
        "S" => AttributeValue::S(v.as_str()?.to_owned()),
        "N" => AttributeValue::N(v.as_str()?.to_owned()),
        "B" => AttributeValue::B(blob(v)?),
        "BOOL" => AttributeValue::Bool(v.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings()?),
        "NS" => AttributeValue::Ns(strings()?),
        "BS" => AttributeValue::Bs(v.as_array()?.iter().map(blob).collect::<Option<_>>()?),
        "L" => AttributeValue::L(
            v.as_array()?
                .iter()
                .map(value_from_json)
                .collect::<Option<_>>()?,
        ),
        "M" => AttributeValue::M(item_from_json(v)?),
        _ => return None,
    })
}

/// Standard base64 (with or without padding) to bytes.
fn base64(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut bits = 0_u32;
        for (i, c) in chunk.iter().enumerate() {
            bits |= digit(*c)? << (18 - 6 * i);
        }
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_json_reads_back_with_the_same_size() {
        let json = serde_json::json!({
            "pedidoId": {"S": "abc"}, "total": {"N": "20001.00"}, "ok": {"BOOL": true},
            "nada": {"NULL": true}, "b": {"B": "aGk="}, "tags": {"SS": ["a", "bc"]},
            "l": {"L": [{"S": "x"}, {"N": "1"}]}, "m": {"M": {"k": {"S": "v"}}}
        });
        let item = item_from_json(&json).expect("an item");
        assert_eq!(
            item["b"],
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(b"hi".to_vec()))
        );
        // pedidoId 8+3, total 5+4, ok 2+1, nada 4+1, b 1+2, tags 4+3, l 1+(3+2+3), m 1+(3+1+1+1)
        assert_eq!(item_bytes(&item), 11 + 9 + 3 + 5 + 3 + 7 + 9 + 7);
        assert_eq!(base64("aGVsbG8gd29ybGQ="), Some(b"hello world".to_vec()));
        assert_eq!(base64("YWJj"), Some(b"abc".to_vec()));
        assert_eq!(item_from_json(&serde_json::json!({"x": {"Q": 1}})), None);
        assert_eq!(item_from_json(&serde_json::json!([1])), None);
    }

    #[test]
    fn counts_names_and_values() {
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("abc".into())),
            ("n".to_owned(), AttributeValue::N("12345".into())),
            ("ok".to_owned(), AttributeValue::Bool(true)),
            (
                "tags".to_owned(),
                AttributeValue::Ss(vec!["a".into(), "bc".into()]),
            ),
            (
                "m".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "k".to_owned(),
                    AttributeValue::S("v".into()),
                )])),
            ),
        ]);
        // pk 2+3, n 1+(3+1), ok 2+1, tags 4+3, m 1+(3+1+1+1)
        assert_eq!(item_bytes(&item), 5 + 5 + 3 + 7 + 7);
    }

    #[test]
    fn numbers_count_significant_digits() {
        assert_eq!(number_bytes("0"), 2);
        assert_eq!(number_bytes("1000"), 2);
        assert_eq!(number_bytes("20001.00"), 4);
        assert_eq!(number_bytes("-12.5"), 3);
    }

    #[test]
    fn a_unit_per_kilobyte() {
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
    }
}
