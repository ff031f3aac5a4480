//! JSON values that always deserialize: each keeps what was sent or why it
//! is unacceptable, so one pass over a body finds every invalid field. Serde
//! walks the document (the request types derive `Deserialize`); these types
//! only judge the value at their own place.
//!
//! - [`Field`]: an object member, absent or `null` ([`Field::Missing`]),
//!   unacceptable, or valid.
//! - [`Object`]: a JSON object read as a derived struct; members the struct
//!   does not know are skipped and named in [`Object::unknown`], not refused.
//! - [`List`]: a JSON array, each element judged on its own.
//! - [`FromJson`]: how a type judges the value at its place; the leaf rules
//!   (amounts, quantities, ...) implement it in `validation`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

/// A scalar JSON value, as a leaf rule sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    String(String),
    /// A non-negative integer.
    Unsigned(u64),
    /// A negative integer.
    Negative(i64),
    /// A number with a fraction or an exponent, or an integer too large for 64 bits.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// How a type reads whatever JSON value is at its place. Each method
/// answers `Ok(Err(detail))` when the value is unacceptable (the detail is
/// shown to the client) and `Err` only when the document cannot be read.
pub trait FromJson<'de>: Sized {
    /// What a value of the wrong JSON type is told, e.g. "must be a string".
    fn expected() -> String;

    /// Reads a scalar; by default every scalar is the wrong type.
    fn from_scalar(_scalar: Scalar) -> Result<Self, String> {
        Err(Self::expected())
    }

    /// Reads an object; by default it is read to its end and refused.
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Result<Self, String>, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Err(Self::expected()))
    }

    /// Reads an array; by default it is read to its end and refused.
    fn from_array<A: SeqAccess<'de>>(mut seq: A) -> Result<Result<Self, String>, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Err(Self::expected()))
    }
}

/// Reads any value and dispatches it to `T`'s [`FromJson`] methods.
struct JsonVisitor<T>(PhantomData<T>);

impl<'de, T: FromJson<'de>> Visitor<'de> for JsonVisitor<T> {
    type Value = Result<T, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(T::from_scalar(Scalar::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(T::from_scalar(match u64::try_from(v) {
            Ok(unsigned) => Scalar::Unsigned(unsigned),
            Err(_) => Scalar::Negative(v),
        }))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(T::from_scalar(Scalar::Unsigned(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(T::from_scalar(Scalar::Float(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::from_scalar(Scalar::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(T::from_scalar(Scalar::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(T::from_scalar(Scalar::Null))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(T::from_scalar(Scalar::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_array(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_object(map)
    }
}

/// Any JSON value read as `T`, or why it is not one: list elements and
/// whole request bodies (where `null` is just another wrong type).
#[derive(Debug)]
pub struct Checked<T>(pub Result<T, String>);

impl<'de, T: FromJson<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(JsonVisitor(PhantomData))
            .map(Checked)
    }
}

/// A member of a JSON object. Absent and `null` are both [`Field::Missing`]
/// (serde asks an absent member's type for `none`, which lands here too).
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    /// Absent, or `null`.
    Missing,
    /// Present but unacceptable, and why.
    Invalid(String),
    /// Present and acceptable.
    Valid(T),
}

struct FieldVisitor<T>(PhantomData<T>);

impl<'de, T: FromJson<'de>> Visitor<'de> for FieldVisitor<T> {
    type Value = Field<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Missing)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Missing)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let Checked(value) = Checked::<T>::deserialize(deserializer)?;
        Ok(match value {
            Ok(value) => Field::Valid(value),
            Err(detail) => Field::Invalid(detail),
        })
    }
}

impl<'de, T: FromJson<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(FieldVisitor(PhantomData))
    }
}

/// A JSON object read as `T` (a struct deriving `Deserialize`). Members `T`
/// does not know are skipped and named here, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Object<T> {
    /// The known members.
    pub value: T,
    /// Names of the members `T` does not know.
    pub unknown: Vec<String>,
}

impl<'de, T: Deserialize<'de>> FromJson<'de> for Object<T> {
    fn expected() -> String {
        "must be a JSON object".to_owned()
    }

    fn from_object<A: MapAccess<'de>>(map: A) -> Result<Result<Self, String>, A::Error> {
        let mut unknown = Vec::new();
        let value = T::deserialize(Members {
            map,
            unknown: &mut unknown,
        })?;
        Ok(Ok(Self { value, unknown }))
    }
}

/// A JSON array, each element judged on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Vec<Result<T, String>>);

impl<'de, T: FromJson<'de>> FromJson<'de> for List<T> {
    fn expected() -> String {
        "must be an array of items".to_owned()
    }

    fn from_array<A: SeqAccess<'de>>(mut seq: A) -> Result<Result<Self, String>, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(128));
        while let Some(Checked(element)) = seq.next_element::<Checked<T>>()? {
            elements.push(element);
        }
        Ok(Ok(Self(elements)))
    }
}

/// The members of an object, handed to a derived `Deserialize` as its
/// deserializer: when it names its fields (`deserialize_struct`), the
/// others are skipped and recorded instead of reaching it.
struct Members<'u, A> {
    map: A,
    unknown: &'u mut Vec<String>,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Members<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(KnownMembers {
            map: self.map,
            known: None,
            unknown: self.unknown,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(KnownMembers {
            map: self.map,
            known: Some(fields),
            unknown: self.unknown,
        })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// A map that yields only the `known` keys (all of them when `None`).
struct KnownMembers<'u, A> {
    map: A,
    known: Option<&'static [&'static str]>,
    unknown: &'u mut Vec<String>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for KnownMembers<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<String>()? {
            if self.known.is_none_or(|known| known.contains(&key.as_str())) {
                let key: serde::de::value::StringDeserializer<A::Error> = key.into_deserializer();
                return seed.deserialize(key).map(Some);
            }
            self.map.next_value::<Skip>()?;
            self.unknown.push(key);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Any JSON value, read in full and dropped. Unlike `serde::de::IgnoredAny`
/// it has every string decoded, so a body that is not valid JSON (a lone
/// surrogate, invalid UTF-8) is malformed wherever the fault is.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_none<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Skip, D::Error> {
        Skip::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts non-empty strings.
    #[derive(Debug, PartialEq)]
    struct Word(String);

    impl<'de> FromJson<'de> for Word {
        fn expected() -> String {
            "must be a string".to_owned()
        }

        fn from_scalar(scalar: Scalar) -> Result<Self, String> {
            match scalar {
                Scalar::String(s) if !s.is_empty() => Ok(Word(s)),
                Scalar::String(_) => Err("must not be empty".to_owned()),
                _ => Err(Self::expected()),
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        a: Field<Word>,
        b: Field<Word>,
    }

    fn read(json: &str) -> Result<Object<Pair>, String> {
        serde_json::from_str::<Checked<Object<Pair>>>(json)
            .expect("readable")
            .0
    }

    #[test]
    fn every_member_keeps_its_own_outcome() {
        let pair = read(r#"{"a": "x", "b": 7}"#).expect("object").value;
        assert_eq!(pair.a, Field::Valid(Word("x".into())));
        assert_eq!(pair.b, Field::Invalid("must be a string".into()));
        let pair = read(r#"{"a": "", "b": [1, {"c": 2}]}"#)
            .expect("object")
            .value;
        assert_eq!(pair.a, Field::Invalid("must not be empty".into()));
        assert_eq!(pair.b, Field::Invalid("must be a string".into()));
    }

    #[test]
    fn absent_and_null_are_missing() {
        let pair = read(r#"{"b": null}"#).expect("object").value;
        assert_eq!(pair.a, Field::Missing);
        assert_eq!(pair.b, Field::Missing);
    }

    #[test]
    fn unknown_members_are_named_not_refused() {
        let object = read(r#"{"z": {"deep": [1]}, "a": "x", "y": 1}"#).expect("object");
        assert_eq!(object.unknown, ["z", "y"]);
        assert_eq!(object.value.a, Field::Valid(Word("x".into())));
    }

    #[test]
    fn other_types_are_not_objects() {
        for json in ["[]", "1", "\"x\"", "null", "true", "[{\"a\": \"x\"}]"] {
            assert_eq!(read(json).expect_err(json), "must be a JSON object");
        }
    }

    #[test]
    fn list_elements_are_judged_one_by_one() {
        let list = serde_json::from_str::<Checked<List<Word>>>(r#"["x", 1, null, ""]"#)
            .expect("readable")
            .0
            .expect("array");
        assert_eq!(
            list.0,
            [
                Ok(Word("x".into())),
                Err("must be a string".into()),
                Err("must be a string".into()),
                Err("must not be empty".into()),
            ]
        );
        let not_a_list = serde_json::from_str::<Checked<List<Word>>>(r#"{"a": 1}"#)
            .expect("readable")
            .0;
        assert_eq!(not_a_list, Err("must be an array of items".into()));
    }

    #[test]
    fn skipped_values_must_still_be_valid_json() {
        for json in [
            r#"{"z": "\ud800"}"#,
            r#"{"a": ["\ud800"]}"#,
            r#"{"z": [1,]}"#,
            r#"{"z": 1e999999}"#,
        ] {
            assert!(
                serde_json::from_str::<Checked<Object<Pair>>>(json).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn a_repeated_member_is_a_structural_error() {
        let err = serde_json::from_str::<Checked<Object<Pair>>>(r#"{"a": "x", "a": "y"}"#)
            .expect_err("duplicate");
        assert!(err.to_string().contains("duplicate field `a`"), "{err}");
    }
}
