//! Integer settings with a valid range, for serde's `deserialize_with`: the error names the
//! range whatever was written, also a value outside the field's type (`count: 70000` for a
//! `u16`, `seed: -1` for a `u64`), so the person editing the file learns what would be valid.
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Nodes {
//!     #[serde(deserialize_with = "sim_core::ranged::int_in::<_, _, 1, 1000>")]
//!     count: u16,
//! }
//! # let _ = |n: Nodes| n.count;
//! ```

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// An integer from `LO` to `HI` (inclusive) into `T`; the bounds must fit `T`.
///
/// # Errors
/// Anything else, with a message ending "must be LO to HI".
pub fn int_in<'de, D, T, const LO: i128, const HI: i128>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    integer(d, LO, HI, "")
}

/// [`int_in`] for an optional field.
///
/// # Errors
/// See [`int_in`].
pub fn opt_int_in<'de, D, T, const LO: i128, const HI: i128>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    Option::<i128>::deserialize(d)
        .map_err(|e| D::Error::custom(format_args!("{e}; must be {LO} to {HI}")))?
        .map(|v| fit(v, LO, HI, ""))
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
    // i128 holds every u64 and i64 value, so only numbers beyond any setting fail here.
    let v = i128::deserialize(d)
        .map_err(|e| D::Error::custom(format_args!("{e}; must be {lo} to {hi}{}", because(why))))?;
    fit(v, lo, hi, why)
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
        because(why)
    )))
}

fn because(why: &str) -> String {
    if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    }
}
