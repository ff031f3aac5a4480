//! Value types of the order domain. Each one can only be built valid: the
//! `parse`/`TryFrom` constructors are the single place where a rule lives, and
//! both the API (collecting one error per field) and the event deserializer
//! (rejecting poison messages) go through them.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Why a single value was rejected. The message is safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl ValueError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

// The limits of the contract, each defined once: the value types below check
// them, the API's validation reports them, and the OpenAPI and AsyncAPI
// documents read them (`schema.rs` here, `validation/schema.rs` in order-api).
// A doc comment names the constant rather than repeating its number.

/// Largest request body order-api reads, in bytes (413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Fewest line items an order may have.
pub const MIN_ITEMS: usize = 1;
/// Most line items an order may have.
pub const MAX_ITEMS: usize = 100;

/// Street and number. The parameter of each text type is its
/// [`BoundedText::MAX_LEN`].
pub type Street = BoundedText<200>;
/// City, region or country name.
pub type PlaceName = BoundedText<100>;
/// Postal code.
pub type PostalCode = BoundedText<20>;
/// Cancellation reason.
pub type Motivo = BoundedText<500>;

/// Largest accepted amount (price or total) in whole units of the order's currency.
const MAX_AMOUNT_UNITS: u64 = 1_000_000_000_000;

/// Largest accepted amount (price or total): one trillion in the order's currency.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(
    MAX_AMOUNT_UNITS as u32,
    (MAX_AMOUNT_UNITS >> 32) as u32,
    0,
    false,
    0,
);

/// A positive amount of money with at most [`Amount::MAX_DECIMALS`] decimal
/// places, never a float.
/// Serialized as a JSON string (`"10.50"`) so no consumer ever rounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Amount(Decimal);

impl Amount {
    /// Most decimal places.
    pub const MAX_DECIMALS: u32 = 2;
    /// Most digits before the decimal point: those of [`MAX_AMOUNT`].
    pub const MAX_INTEGER_DIGITS: u32 = MAX_AMOUNT_UNITS.ilog10() + 1;

    /// Checks an already-parsed decimal.
    pub fn new(value: Decimal) -> Result<Self, ValueError> {
        let value = value.normalize();
        if value <= Decimal::ZERO {
            return Err(ValueError::new("must be greater than 0"));
        }
        if value.scale() > Self::MAX_DECIMALS {
            return Err(ValueError::new(format!(
                "must have at most {} decimal places",
                Self::MAX_DECIMALS
            )));
        }
        if value > MAX_AMOUNT {
            return Err(ValueError::new(format!("must be at most {MAX_AMOUNT}")));
        }
        Ok(Self(value))
    }

    /// Parses a plain decimal literal such as `"10.50"` (no exponent, no sign prefix `+`).
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let well_formed = !text.is_empty()
            && text.len() <= 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            && text.bytes().filter(|&b| b == b'.').count() <= 1
            && !text.starts_with('.')
            && !text.ends_with('.');
        if !well_formed {
            return Err(ValueError::new(
                "must be a decimal number such as \"10.50\"",
            ));
        }
        let value = Decimal::from_str(text)
            .map_err(|_| ValueError::new("must be a decimal number such as \"10.50\""))?;
        Self::new(value)
    }

    /// The decimal value.
    pub fn value(self) -> Decimal {
        self.0
    }

    /// This amount times a quantity (a line's subtotal), `None` on overflow.
    pub fn checked_mul(self, quantity: Quantity) -> Option<Decimal> {
        self.0.checked_mul(Decimal::from(quantity.get()))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always two decimals on the wire: "25001.00".
        write!(f, "{:.2}", self.0)
    }
}

impl TryFrom<String> for Amount {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Amount> for String {
    fn from(value: Amount) -> Self {
        value.to_string()
    }
}

/// Number of units of one line item: from [`Quantity::MIN`] to [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// Smallest accepted quantity.
    pub const MIN: u32 = 1;
    /// Largest accepted quantity.
    pub const MAX: u32 = 1000;

    /// Checks the range.
    pub fn new(value: u32) -> Result<Self, ValueError> {
        if (Self::MIN..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(ValueError::new(format!(
                "must be an integer from {} to {}",
                Self::MIN,
                Self::MAX
            )))
        }
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = ValueError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Quantity> for u32 {
    fn from(value: Quantity) -> Self {
        value.0
    }
}

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; Currency::LEN]);

impl Currency {
    /// Letters of a code.
    pub const LEN: usize = 3;

    /// Chilean peso, the default currency of the shop.
    pub const CLP: Self = Self(*b"CLP");

    /// Parses `"CLP"`, `"USD"`, ...
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        <[u8; Self::LEN]>::try_from(text.as_bytes())
            .ok()
            .filter(|code| code.iter().all(u8::is_ascii_uppercase))
            .map(Self)
            .ok_or_else(|| {
                ValueError::new(format!(
                    "must be an ISO 4217 code of {} upper-case letters, e.g. \"CLP\"",
                    Self::LEN
                ))
            })
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl Default for Currency {
    fn default() -> Self {
        Self::CLP
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

/// How urgently an order is handled: an `EXPRESS` order travels in its own
/// lane (the `prioridad` message attribute routes it to the express queues,
/// which the workers drain first). The one source of its wire values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Prioridad {
    /// Express handling.
    Express,
    /// Standard handling: the default, and what readers take when an event
    /// (or an order record) written before priorities carries none.
    #[default]
    Estandar,
}

impl Prioridad {
    /// Every priority, in the order the documents list them.
    pub const ALL: [Prioridad; 2] = [Prioridad::Express, Prioridad::Estandar];

    /// The wire value (`EXPRESS`, `ESTANDAR`).
    pub fn as_str(self) -> &'static str {
        match self {
            Prioridad::Express => "EXPRESS",
            Prioridad::Estandar => "ESTANDAR",
        }
    }

    /// Parses a wire value (exactly, upper case).
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| {
                let allowed: Vec<String> = Self::ALL
                    .iter()
                    .map(|p| format!("\"{}\"", p.as_str()))
                    .collect();
                ValueError::new(format!("must be one of {}", allowed.join(", ")))
            })
    }

    /// Whether this is the default priority (left out of the content fingerprint).
    pub fn is_estandar(&self) -> bool {
        *self == Prioridad::Estandar
    }
}

impl fmt::Display for Prioridad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Prioridad {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Prioridad> for String {
    fn from(value: Prioridad) -> Self {
        value.as_str().to_owned()
    }
}

/// Control characters, and the invisible ones that reorder how text is shown
/// ("Trojan Source": bidi embeddings, overrides and isolates) or hide in it (BOM).
fn is_hostile_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Text of [`BoundedText::MIN_LEN`] to `MAX` characters, without control
/// characters, trimmed of surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BoundedText<const MAX: usize>(String);

impl<const MAX: usize> BoundedText<MAX> {
    /// Fewest characters (after trimming): the text must not be empty.
    pub const MIN_LEN: usize = 1;
    /// Most characters (after trimming).
    pub const MAX_LEN: usize = MAX;

    /// Trims and checks the text.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let trimmed = text.trim();
        let len = trimmed.chars().count();
        if len == 0 {
            return Err(ValueError::new("must not be empty"));
        }
        if len < Self::MIN_LEN {
            return Err(ValueError::new(format!(
                "must be at least {} characters",
                Self::MIN_LEN
            )));
        }
        if len > Self::MAX_LEN {
            return Err(ValueError::new(format!(
                "must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        if trimmed.chars().any(is_hostile_char) {
            return Err(ValueError::new(
                "must not contain control, bidirectional-override or byte-order-mark characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Display for BoundedText<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> TryFrom<String> for BoundedText<MAX> {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl<const MAX: usize> From<BoundedText<MAX>> for String {
    fn from(value: BoundedText<MAX>) -> Self {
        value.0
    }
}

/// A stock-keeping unit: [`Sku::MIN_LEN`] to [`Sku::MAX_LEN`] printable ASCII
/// characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    /// Shortest accepted SKU.
    pub const MIN_LEN: usize = 1;
    /// Longest accepted SKU.
    pub const MAX_LEN: usize = 64;

    /// Checks length and characters (printable ASCII `!`..=`~`).
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&text.len()) {
            return Err(ValueError::new(format!(
                "must be {} to {} characters",
                Self::MIN_LEN,
                Self::MAX_LEN
            )));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValueError::new(
                "must contain only printable ASCII characters without spaces",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Sku> for String {
    fn from(value: Sku) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_amount_constant_is_one_trillion() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000_u64));
        assert_eq!(Amount::MAX_INTEGER_DIGITS, 13);
    }

    #[test]
    fn amount_accepts_up_to_two_decimals() {
        assert_eq!(
            Amount::parse("10.50").map(|a| a.to_string()),
            Ok("10.50".into())
        );
        assert_eq!(
            Amount::parse("0.01").map(|a| a.to_string()),
            Ok("0.01".into())
        );
        assert_eq!(Amount::parse("7").map(|a| a.to_string()), Ok("7.00".into()));
        // Trailing zeros are not extra precision.
        assert!(Amount::parse("10.500").is_ok());
        assert!(Amount::parse("1000000000000").is_ok());
    }

    #[test]
    fn amount_rejects_non_positive_fractional_cents_huge_and_malformed() {
        for bad in [
            "0",
            "0.00",
            "-1",
            "-0.01",
            "0.001",
            "10.005",
            "1000000000000.01",
            "1e3",
            "+5",
            "",
            " 5",
            "5 ",
            "abc",
            "1.2.3",
            ".5",
            "5.",
            "NaN",
            "99999999999999999999999999999999999",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn amount_serializes_as_string() {
        let amount = Amount::parse("25001").expect("valid");
        assert_eq!(
            serde_json::to_string(&amount).expect("json"),
            "\"25001.00\""
        );
        let back: Amount = serde_json::from_str("\"25001.00\"").expect("parse");
        assert_eq!(back, amount);
        assert!(
            serde_json::from_str::<Amount>("25001.0").is_err(),
            "floats are not accepted on the wire"
        );
    }

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(1).is_ok());
        assert!(Quantity::new(1000).is_ok());
        assert!(Quantity::new(1001).is_err());
    }

    #[test]
    fn currency_is_three_upper_case_letters() {
        assert_eq!(Currency::parse("CLP"), Ok(Currency::CLP));
        assert_eq!(Currency::default().as_str(), "CLP");
        for bad in ["clp", "CL", "CLPX", "C1P", "ÇLP", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prioridad_values_and_default() {
        assert_eq!(Prioridad::default(), Prioridad::Estandar);
        assert_eq!(Prioridad::parse("EXPRESS"), Ok(Prioridad::Express));
        assert_eq!(Prioridad::parse("ESTANDAR"), Ok(Prioridad::Estandar));
        for bad in ["express", "URGENTE", "", " EXPRESS"] {
            let err = Prioridad::parse(bad).expect_err(bad);
            assert_eq!(err.0, "must be one of \"EXPRESS\", \"ESTANDAR\"", "{bad:?}");
        }
        assert_eq!(
            serde_json::to_string(&Prioridad::Express).expect("json"),
            "\"EXPRESS\""
        );
        assert!(serde_json::from_str::<Prioridad>("\"NORMAL\"").is_err());
    }

    #[test]
    fn sku_rules() {
        assert!(Sku::parse("SKU-001").is_ok());
        assert!(Sku::parse(&"A".repeat(64)).is_ok());
        assert!(Sku::parse(&"A".repeat(65)).is_err());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("with space").is_err());
        assert!(Sku::parse("tab\t").is_err());
        assert!(Sku::parse("ñandú").is_err());
    }

    #[test]
    fn bounded_text_trims_and_bounds() {
        type T = BoundedText<5>;
        assert_eq!(T::parse("  ab ").map(|t| t.to_string()), Ok("ab".into()));
        assert!(T::parse("   ").is_err());
        assert!(
            T::parse("ñññññ").is_ok(),
            "bounds count characters, not bytes"
        );
        assert!(T::parse("abcdef").is_err());
        assert!(T::parse("a\u{0}b").is_err());
        assert!(T::parse("\u{202e}evil").is_err(), "bidi override");
        assert!(T::parse("a\u{2067}b").is_err(), "bidi isolate");
        assert!(T::parse("\u{feff}ab").is_err(), "byte order mark");
        assert!(
            T::parse("שלום").is_ok(),
            "right-to-left text itself is fine"
        );
    }
}
