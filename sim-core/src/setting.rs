//! Reading scenario settings with errors that say what would be valid. Integers with a range,
//! for serde's `deserialize_with`: the error names the range whatever was written, also a value
//! outside the field's type (`count: 70000` for a `u16`, `seed: -1` for a `u64`,
//! `count: 2.5`). Values written as text (`"300ms"`, `"10Gbit/s"`): [`from_text`] names the
//! form when something else was written.
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Nodes {
//!     #[serde(deserialize_with = "sim_core::setting::int_in::<_, _, 1, 1000>")]
//!     count: u16,
//! }
//! # let _ = |n: Nodes| n.count;
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::Visitor;
use serde::{Deserialize, Deserializer};

/// A value written as a string and parsed with `T::from_str`; `expecting` describes the form
/// (e.g. `a duration such as "300ms"`) for input that is not a string at all.
///
/// # Errors
/// Not a string (the message says `expecting`), or `T::from_str`'s error.
pub fn from_text<'de, D, T>(d: D, expecting: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    d.deserialize_any(Text {
        expecting,
        parsed: PhantomData,
    })
}

struct Text<T> {
    expecting: &'static str,
    parsed: PhantomData<T>,
}

impl<T> Visitor<'_> for Text<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

/// An integer from `LO` to `HI` (inclusive) into `T`; the bounds must fit `T`.
///
/// # Errors
/// Anything else, with a message saying "must be LO to HI".
pub fn int_in<'de, D, T, const LO: i128, const HI: i128>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    integer(d, LO, HI, "")
}

/// [`int_in`] for an optional field (a bare value or `Some(..)`).
///
/// # Errors
/// See [`int_in`].
pub fn opt_int_in<'de, D, T, const LO: i128, const HI: i128>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    Option::<InRange<LO, HI>>::deserialize(d)?
        .map(|InRange(v)| fit(v, LO, HI, ""))
        .transpose()
}

/// An integer from `lo` to `hi` into `T`; `why` (e.g. the source of the range) follows the
/// range in the message.
///
/// # Errors
/// Anything else, with a message naming the range and `why`.
pub fn integer<'de, D, T>(d: D, lo: i128, hi: i128, why: &str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let v = d.deserialize_any(Whole { lo, hi, why })?;
    fit(v, lo, hi, why)
}

/// The value of an optional [`opt_int_in`] field, checked when it is read.
struct InRange<const LO: i128, const HI: i128>(i128);

impl<'de, const LO: i128, const HI: i128> Deserialize<'de> for InRange<LO, HI> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Whole {
            lo: LO,
            hi: HI,
            why: "",
        })
        .map(InRange)
    }
}

fn fit<E: serde::de::Error, T: TryFrom<i128>>(
    v: i128,
    lo: i128,
    hi: i128,
    why: &str,
) -> Result<T, E> {
    if (lo..=hi).contains(&v) {
        if let Ok(t) = T::try_from(v) {
            return Ok(t);
        }
    }
    Err(E::custom(format_args!(
        "{v} is out of range: must be {lo} to {hi}{}",
        Because(why)
    )))
}

/// Accepts any number and says what is wrong with one that is not a whole number in range.
struct Whole<'a> {
    lo: i128,
    hi: i128,
    why: &'a str,
}

impl<'de> Visitor<'de> for Whole<'_> {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an integer from {} to {}{}",
            self.lo,
            self.hi,
            Because(self.why)
        )
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i128, E> {
        Ok(i128::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i128, E> {
        Ok(i128::from(v))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<i128, E> {
        Ok(v)
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<i128, E> {
        i128::try_from(v).map_err(|_| self.beyond(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i128, E> {
        // The parser reads an integer too large for any integer type as a float.
        if v.is_finite() && v.fract() == 0.0 {
            return Err(self.beyond(format_args!("{v:e}")));
        }
        Err(E::custom(format_args!(
            "{v} is not a whole number: must be {} to {}{}",
            self.lo,
            self.hi,
            Because(self.why)
        )))
    }
}

impl Whole<'_> {
    fn beyond<E: serde::de::Error>(&self, v: impl fmt::Display) -> E {
        E::custom(format_args!(
            "{v} is out of range: must be {} to {}{}",
            self.lo,
            self.hi,
            Because(self.why)
        ))
    }
}

/// ` (why)`, or nothing.
struct Because<'a>(&'a str);

impl fmt::Display for Because<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, " ({})", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::Error;
    use serde::de::IntoDeserializer;

    fn count(v: impl IntoDeserializer<'static, Error>) -> Result<u16, String> {
        int_in::<_, u16, 1, 1000>(v.into_deserializer()).map_err(|e| e.to_string())
    }

    #[test]
    fn values_outside_the_range_or_the_type_name_the_range() {
        assert_eq!(count(7i64), Ok(7));
        assert_eq!(
            count(70_000i64).unwrap_err(),
            "70000 is out of range: must be 1 to 1000"
        );
        assert_eq!(
            count(-1i64).unwrap_err(),
            "-1 is out of range: must be 1 to 1000"
        );
        assert_eq!(
            count(2.5f64).unwrap_err(),
            "2.5 is not a whole number: must be 1 to 1000"
        );
        assert_eq!(
            count(1e44f64).unwrap_err(),
            "1e44 is out of range: must be 1 to 1000"
        );
        assert!(count("four")
            .unwrap_err()
            .contains("an integer from 1 to 1000"));
        let d = from_text::<_, u32>(5i64.into_deserializer(), "a number in quotes");
        assert!(d
            .map_err(|e: Error| e.to_string())
            .unwrap_err()
            .contains("a number in quotes"));
        let d: Result<u32, Error> = from_text("x".into_deserializer(), "a number in quotes");
        assert!(d.is_err());
        let seed = integer::<_, u64>((-1i64).into_deserializer(), 0, u64::MAX.into(), "a seed");
        assert_eq!(
            seed.map_err(|e: Error| e.to_string()).unwrap_err(),
            "-1 is out of range: must be 0 to 18446744073709551615 (a seed)"
        );
    }
}
