//! Number, time and JSON layout conventions of the tools' own languages (Go, C, cJSON), so the
//! bytes lbsim writes look like the bytes the real programs write.
//!
//! - Go `encoding/json` (`MarshalIndent(v, "", "  ")`, `Encoder.Encode`): shortest float digits,
//!   exponent form only below 1e-6 or from 1e21 on; `<`, `>`, `&`, U+2028, U+2029 escaped.
//! - cJSON 1.7 `cJSON_Print` (iperf3 `--json`): tab indentation, `"key":\tvalue`, arrays on one
//!   line with `", "` between elements; whole numbers in `int` range as `%d`, others `%1.15g`
//!   falling back to `%1.17g` when 15 digits do not round-trip.
//! - C/Go `%g`, Go `time.Duration.String`, Go RFC 3339 with nanoseconds, HTTP dates.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, PrettyFormatter};

/// C's and Go's `%.{prec}g`: `prec` significant digits, trailing zeros removed, exponent form
/// when the decimal exponent is below -4 or at least `prec` (exponent with at least two digits).
pub fn fmt_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let p = prec.max(1);
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// A float as Go's `encoding/json` writes a `float64`.
pub fn go_json_float(v: f64) -> String {
    if !v.is_finite() {
        // Go refuses to encode these; lbsim never produces them, so write a neutral zero.
        return "0".into();
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            _ => s,
        }
    } else {
        // Rust's Display is the shortest round-trip digits in positional form, as Go's 'f', -1.
        format!("{v}")
    }
}

/// A number as cJSON 1.7.15 `print_number` writes it.
pub fn cjson_number(d: f64) -> String {
    if !d.is_finite() {
        return "null".into();
    }
    if d.fract() == 0.0 && d >= i32::MIN as f64 && d <= i32::MAX as f64 {
        return format!("{}", d as i64);
    }
    let s15 = fmt_g(d, 15);
    let back: f64 = s15.parse().unwrap_or(f64::NAN);
    if (back - d).abs() <= back.abs().max(d.abs()) * f64::EPSILON {
        s15
    } else {
        fmt_g(d, 17)
    }
}

/// Go's `time.Duration.String()` of `ns` nanoseconds: `"1m0s"`, `"1.5s"`, `"100ms"`, `"0s"`.
pub fn go_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac_trimmed(ns / 1_000, ns % 1_000, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac_trimmed(ns / 1_000_000, ns % 1_000_000, 6));
    }
    let secs = ns / 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&frac_trimmed(s, ns % 1_000_000_000, 9));
    out.push('s');
    out
}

fn frac_trimmed(int: u64, frac: u64, digits: usize) -> String {
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:0digits$}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// A civil date and time in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of the month, 1..=31.
    pub day: u32,
    /// Hour, minute, second.
    pub hms: (u32, u32, u32),
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
}

/// The UTC civil time of `secs` seconds since the Unix epoch (proleptic Gregorian calendar).
pub fn civil_from_unix(secs: u64) -> Civil {
    let days = (secs / 86_400) as i64;
    let rem = (secs % 86_400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hms: (rem / 3600, (rem / 60) % 60, rem % 60),
        weekday: ((days + 4).rem_euclid(7)) as u32,
    }
}

/// Go's `time.Time` JSON form (RFC 3339 with nanoseconds, trailing zeros trimmed) in UTC.
pub fn rfc3339_nano(epoch_ns: u64) -> String {
    let c = civil_from_unix(epoch_ns / 1_000_000_000);
    let frac = epoch_ns % 1_000_000_000;
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hms.0, c.hms.1, c.hms.2
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Go's zero `time.Time` in JSON, which vegeta writes for an empty result set.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// An HTTP date (`"Sat, 21 Nov 2026 10:18:57 GMT"`), as iperf3's `start.timestamp.time`.
pub fn http_date(epoch_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil_from_unix(epoch_secs);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday as usize],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hms.0,
        c.hms.1,
        c.hms.2
    )
}

/// Go `encoding/json` layout: `MarshalIndent` with two spaces, or compact (`Encoder.Encode`).
pub struct GoFormatter {
    pretty: Option<PrettyFormatter<'static>>,
}

impl GoFormatter {
    /// `json.MarshalIndent(v, "", "  ")`.
    pub fn indented() -> Self {
        GoFormatter {
            pretty: Some(PrettyFormatter::with_indent(b"  ")),
        }
    }
    /// `json.Marshal` / `json.NewEncoder(w).Encode(v)` (without the trailing newline).
    pub fn compact() -> Self {
        GoFormatter { pretty: None }
    }
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*) => $compact:expr;)*) => {$(
        fn $name<W: ?Sized + io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> io::Result<()> {
            match &mut self.pretty {
                Some(p) => p.$name(w $(, $arg)*),
                None => w.write_all($compact($($arg),*)),
            }
        }
    )*};
}

impl Formatter for GoFormatter {
    delegate! {
        begin_array() => || b"[";
        end_array() => || b"]";
        begin_array_value(first: bool) => |first: bool| if first { &b""[..] } else { &b","[..] };
        end_array_value() => || b"";
        begin_object() => || b"{";
        end_object() => || b"}";
        begin_object_key(first: bool) => |first: bool| if first { &b""[..] } else { &b","[..] };
        end_object_key() => || b"";
        begin_object_value() => || b":";
        end_object_value() => || b"";
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(go_json_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(go_json_float(f64::from(value)).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Go escapes HTML-significant characters and the JS line separators by default.
        let mut last = 0;
        for (i, c) in fragment.char_indices() {
            let esc = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            w.write_all(&fragment.as_bytes()[last..i])?;
            w.write_all(esc.as_bytes())?;
            last = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[last..])
    }
}

/// cJSON's formatted layout (iperf3 `--json`).
#[derive(Default)]
pub struct CJsonFormatter {
    depth: usize,
    /// Per open object: whether it holds at least one member.
    members: Vec<bool>,
}

impl CJsonFormatter {
    fn tabs<W: ?Sized + io::Write>(w: &mut W, n: usize) -> io::Result<()> {
        for _ in 0..n {
            w.write_all(b"\t")?;
        }
        Ok(())
    }
}

impl Formatter for CJsonFormatter {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        w.write_all(b"[")
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        w.write_all(b"]")
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.members.push(false);
        w.write_all(b"{\n")
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.members.pop() == Some(true) {
            w.write_all(b"\n")?;
        }
        Self::tabs(w, self.depth.saturating_sub(1))?;
        self.depth = self.depth.saturating_sub(1);
        w.write_all(b"}")
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if let Some(m) = self.members.last_mut() {
            *m = true;
        }
        if !first {
            w.write_all(b",\n")?;
        }
        Self::tabs(w, self.depth)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b":\t")
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(cjson_number(value).as_bytes())
    }
    fn write_u64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: u64) -> io::Result<()> {
        w.write_all(cjson_number(value as f64).as_bytes())
    }
    fn write_i64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: i64) -> io::Result<()> {
        w.write_all(cjson_number(value as f64).as_bytes())
    }
    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        PrettyFormatter::new().write_char_escape(w, escape)
    }
}

/// Serialize `value` with `formatter`; the types lbsim serializes cannot fail.
pub fn to_string_with<T: Serialize, F: Formatter>(value: &T, formatter: F) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut ser)
        .expect("lbsim's report types always serialize");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_g_matches_c() {
        assert_eq!(fmt_g(1000.0, 9), "1000");
        assert_eq!(fmt_g(1e9, 9), "1e+09");
        assert_eq!(fmt_g(27.450980392, 6), "27.451");
        assert_eq!(fmt_g(0.00001234, 6), "1.234e-05");
        assert_eq!(fmt_g(6267863040.0, 15), "6267863040");
        assert_eq!(fmt_g(1.00002, 15), "1.00002");
    }

    #[test]
    fn cjson_numbers_match_fixture_forms() {
        assert_eq!(cjson_number(0.0), "0");
        assert_eq!(cjson_number(5201.0), "5201");
        assert_eq!(cjson_number(1.00002), "1.00002");
        assert_eq!(cjson_number(16200174756.497683), "16200174756.497683");
        assert_eq!(cjson_number(1.0000200271606445), "1.0000200271606445");
        assert_eq!(cjson_number(6267863040.0), "6267863040");
    }

    #[test]
    fn go_floats() {
        assert_eq!(go_json_float(100.0), "100");
        assert_eq!(go_json_float(0.5), "0.5");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(2.5e21), "2.5e+21");
        assert_eq!(go_json_float(0.00027292), "0.00027292");
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(60_000_000_000), "1m0s");
        assert_eq!(go_duration(100_000_000), "100ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(999), "999ns");
    }

    #[test]
    fn dates() {
        // 1795256337 is the fixture's "Sat, 21 Nov 2026 10:18:57 GMT".
        assert_eq!(http_date(1_795_256_337), "Sat, 21 Nov 2026 10:18:57 GMT");
        assert_eq!(
            rfc3339_nano(1_795_256_337_000_000_000),
            "2026-11-21T10:18:57Z"
        );
        assert_eq!(
            rfc3339_nano(1_795_256_337_279_389_000),
            "2026-11-21T10:18:57.279389Z"
        );
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn cjson_layout() {
        #[derive(Serialize)]
        struct Inner {
            a: u32,
        }
        #[derive(Serialize)]
        struct Outer {
            list: Vec<Inner>,
            empty: std::collections::BTreeMap<String, u32>,
            x: f64,
        }
        let s = to_string_with(
            &Outer {
                list: vec![Inner { a: 1 }, Inner { a: 2 }],
                empty: Default::default(),
                x: 0.5,
            },
            CJsonFormatter::default(),
        );
        assert_eq!(
            s,
            "{\n\t\"list\":\t[{\n\t\t\t\"a\":\t1\n\t\t}, {\n\t\t\t\"a\":\t2\n\t\t}],\n\t\"empty\":\t{\n\t},\n\t\"x\":\t0.5\n}"
        );
    }

    #[test]
    fn go_layout_escapes_html() {
        let s = to_string_with(&vec!["a&b<c>"], GoFormatter::compact());
        assert_eq!(s, r#"["a\u0026b\u003cc\u003e"]"#);
        let s = to_string_with(&vec![1.0f64, 2.5], GoFormatter::indented());
        assert_eq!(s, "[\n  1,\n  2.5\n]");
    }
}
