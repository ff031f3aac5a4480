//! The size DynamoDB bills an item at, from its attributes, by the rules in
//! the DynamoDB developer guide ("Item sizes and formats"): names and string
//! values count their UTF-8 bytes, a number about one byte per two
//! significant digits plus one, binary values their bytes, booleans and nulls
//! one byte, lists and maps 3 bytes plus one per element plus the elements
//! (and, for maps, their keys), sets the sum of their elements. One write
//! request unit covers 1 KB of the larger of the item's sizes before and
//! after a write; the bench uses this to price the writes of an order.

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

#[cfg(test)]
mod tests {
    use super::*;

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
