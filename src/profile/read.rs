//! Readers of a real-cluster profile's own files (docs/profile.md): `lab.json`, `faults.csv`,
//! `sysctl.txt`, FRR's JSON, `router_monitor.log`, `frr_router.log`, the low-load latency CSV.
//! The tools' formats (wrk, iperf3, ping, fortio) are read by `crate::tools`. Every error names
//! the file and the line or key; nothing here panics on any input.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A profile file that is present but does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// The file.
    pub file: PathBuf,
    /// Where in it: `line 3`, `key bgp.hold_s`, ... (empty: the whole file).
    pub at: String,
    /// What is wrong and what is valid.
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.at, self.message)
        }
    }
}

impl std::error::Error for ProfileError {}

/// An error in `file` at `at`.
pub fn err(file: &Path, at: impl Into<String>, message: impl Into<String>) -> ProfileError {
    ProfileError {
        file: file.to_path_buf(),
        at: at.into(),
        message: message.into(),
    }
}

/// The file's text, `None` when it is absent.
///
/// # Errors
/// It exists but cannot be read or is not UTF-8.
pub fn text(dir: &Path, name: &str) -> Result<Option<String>, ProfileError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
            err(
                &path,
                format!("byte {}", e.utf8_error().valid_up_to()),
                "not UTF-8 text",
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(&path, "", format!("cannot read: {e}"))),
    }
}

/// A JSON file, `None` when absent.
///
/// # Errors
/// Present but not JSON: the line and column.
pub fn json(dir: &Path, name: &str) -> Result<Option<serde_json::Value>, ProfileError> {
    let Some(t) = text(dir, name)? else {
        return Ok(None);
    };
    serde_json::from_str(&t).map(Some).map_err(|e| {
        err(
            &dir.join(name),
            format!("line {}, column {}", e.line(), e.column()),
            format!("not JSON: {e}"),
        )
    })
}

/// `sysctl.txt`: key -> (value, line).
pub type Sysctl = BTreeMap<String, (String, usize)>;
/// The VIP's route events: (time, gateways; empty: deleted).
pub type Routes = Vec<(f64, Vec<String>)>;
/// `%ADJCHANGE ... Down`: (time, neighbour, reason).
pub type AdjDowns = Vec<(f64, String, String)>;

/// One row of `faults.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Epoch seconds.
    pub time: f64,
    /// `crash`, `restore`, ... (docs/profile.md).
    pub kind: String,
    /// `node-i`, `all` or `router`.
    pub node: String,
    /// Free text.
    pub detail: String,
    /// 1-based line in the file.
    pub line: usize,
}

impl Fault {
    /// The trial label `reallab/summarize.py` gives this fault (`crash_bfd`, `crash_hold`,
    /// `hang_bgpd`, `hang_all_frr`, `crash_l2`, else the kind).
    pub fn label(&self) -> String {
        match self.kind.as_str() {
            "crash" if self.detail.starts_with("hold") => "crash_hold".into(),
            "crash" if self.detail.contains("l2") => "crash_l2".into(),
            "crash" => "crash_bfd".into(),
            "hang" if self.detail.trim() == "SIGSTOP bgpd" => "hang_bgpd".into(),
            "hang" => "hang_all_frr".into(),
            k => k.into(),
        }
    }
}

/// The fault kinds `faults.csv` may hold (docs/profile.md, "faults.csv").
const KINDS: &[&str] = &[
    "up",
    "crash",
    "restore",
    "graceful_stop",
    "graceful_start",
    "bgpd_kill",
    "bgpd_start",
    "hang",
    "resume",
    "bfd_on",
    "bfd_off",
    "garp",
    "arp_accept",
    "conns_open",
    "conns_refresh",
    "conns_closed",
    "blackout",
    "blackout_end",
    "l2_end",
];

/// `faults.csv`: `time,kind,node,detail`, in time order.
///
/// # Errors
/// A header other than that, a row without four fields, a time that is not a number, an
/// unknown kind, times going backwards: each with its line.
pub fn faults(dir: &Path) -> Result<Option<Vec<Fault>>, ProfileError> {
    let name = "faults.csv";
    let Some(t) = text(dir, name)? else {
        return Ok(None);
    };
    let path = dir.join(name);
    let mut out: Vec<Fault> = Vec::new();
    for (i, raw) in t.lines().enumerate() {
        let line = i + 1;
        if line == 1 {
            if raw.trim() != "time,kind,node,detail" {
                return Err(err(
                    &path,
                    "line 1",
                    format!("expected the header `time,kind,node,detail`, found {raw:?}"),
                ));
            }
            continue;
        }
        if raw.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = raw.splitn(4, ',').collect();
        if f.len() < 3 {
            return Err(err(
                &path,
                format!("line {line}"),
                format!("expected time,kind,node,detail, found {raw:?}"),
            ));
        }
        let time: f64 = f[0]
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| {
                err(
                    &path,
                    format!("line {line}, column time"),
                    format!("expected epoch seconds, found {:?}", f[0]),
                )
            })?;
        let kind = f[1].trim();
        let known = KINDS.contains(&kind) || kind.starts_with("load_");
        if !known {
            return Err(err(
                &path,
                format!("line {line}, column kind"),
                format!(
                    "unknown kind {kind:?}; valid: {}, load_<mode>_<test>",
                    KINDS.join(", ")
                ),
            ));
        }
        if let Some(prev) = out.last() {
            if time < prev.time {
                return Err(err(
                    &path,
                    format!("line {line}, column time"),
                    format!(
                        "{time} is before the previous row's {}: rows must be in time order",
                        prev.time
                    ),
                ));
            }
        }
        out.push(Fault {
            time,
            kind: kind.into(),
            node: f[2].trim().into(),
            detail: f.get(3).map_or("", |d| d.trim()).into(),
            line,
        });
    }
    Ok(Some(out))
}

/// `sysctl.txt`: `key = value` lines, `#` comments; the first value of a key wins (the router's
/// namespace comes first), with its line.
///
/// # Errors
/// A line that is neither a comment, blank nor `key = value`.
pub fn sysctl(dir: &Path) -> Result<Option<Sysctl>, ProfileError> {
    let name = "sysctl.txt";
    let Some(t) = text(dir, name)? else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for (i, raw) in t.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        // `ethtool -x` output appended (docs/profile.md) is kept out of the key = value part.
        let Some((k, v)) = l.split_once(" = ") else {
            if l.contains(':') {
                continue;
            }
            return Err(err(
                &dir.join(name),
                format!("line {}", i + 1),
                format!("expected `key = value`, found {raw:?}"),
            ));
        };
        out.entry(k.trim().to_string())
            .or_insert((v.trim().to_string(), i + 1));
    }
    Ok(Some(out))
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS.ffffff` (UTC), or with `/` and a space
/// (FRR's log: `YYYY/MM/DD HH:MM:SS.ffffff`).
pub fn utc_seconds(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let p = s.get(r)?;
        p.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| p.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let frac = match s.get(19..) {
        None | Some("") => 0.0,
        Some(f)
            if f.starts_with('.') && f.len() > 1 && f[1..].bytes().all(|c| c.is_ascii_digit()) =>
        {
            format!("0{f}").parse().ok()?
        }
        Some(_) => return None,
    };
    // Days from the civil date (Howard Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + se) as f64 + frac)
}

/// The VIP's routes in `router_monitor.log`: (time, gateways) per route event, empty
/// gateways for a deletion (docs/profile.md, "router_monitor.log").
///
/// # Errors
/// An event line whose time stamp does not read.
pub fn vip_routes(dir: &Path, vip: &str) -> Result<Option<Routes>, ProfileError> {
    let name = "router_monitor.log";
    let Some(t) = text(dir, name)? else {
        return Ok(None);
    };
    let mut out: Vec<(f64, Vec<String>)> = Vec::new();
    let mut current: Option<(f64, Vec<String>)> = None;
    for (i, raw) in t.lines().enumerate() {
        if let Some(rest) = raw.strip_prefix('[') {
            if let Some(c) = current.take() {
                out.push(c);
            }
            let (stamp, body) = rest.split_once("] ").ok_or_else(|| {
                err(
                    &dir.join(name),
                    format!("line {}", i + 1),
                    format!("expected `[YYYY-MM-DDTHH:MM:SS.ffffff] ...`, found {raw:?}"),
                )
            })?;
            let at = utc_seconds(stamp).ok_or_else(|| {
                err(
                    &dir.join(name),
                    format!("line {}", i + 1),
                    format!("time stamp {stamp:?}: expected YYYY-MM-DDTHH:MM:SS.ffffff (UTC)"),
                )
            })?;
            let deleted = body.starts_with("Deleted ");
            let body = body.strip_prefix("Deleted ").unwrap_or(body);
            if body.starts_with(&format!("{vip} ")) {
                let hops = if deleted { Vec::new() } else { vias(body) };
                current = Some((at, hops));
            }
        } else if let Some(c) = current.as_mut() {
            if raw.trim_start().starts_with("nexthop via") {
                c.1.extend(vias(raw));
            }
        }
    }
    if let Some(c) = current.take() {
        out.push(c);
    }
    Ok(Some(out))
}

fn vias(s: &str) -> Vec<String> {
    let w: Vec<&str> = s.split_whitespace().collect();
    w.windows(2)
        .filter(|p| p[0] == "via")
        .map(|p| p[1].to_string())
        .collect()
}

/// `%ADJCHANGE: neighbor <ip>... Down <reason>` lines of `frr_router.log`: (time, ip, reason).
///
/// # Errors
/// An ADJCHANGE line whose time stamp does not read.
pub fn adj_downs(dir: &Path) -> Result<Option<AdjDowns>, ProfileError> {
    let name = "frr_router.log";
    let Some(t) = text(dir, name)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (i, raw) in t.lines().enumerate() {
        let Some(pos) = raw.find("%ADJCHANGE: neighbor ") else {
            continue;
        };
        let Some(down) = raw.find(" Down ") else {
            continue;
        };
        let at = raw.get(..26).and_then(utc_seconds).ok_or_else(|| {
            err(&dir.join(name), format!("line {}", i + 1), "expected `YYYY/MM/DD HH:MM:SS.ffffff` at the start (FRR: log timestamp precision 6)")
        })?;
        let ip = raw[pos + 21..]
            .split(['(', ' '])
            .next()
            .unwrap_or("")
            .to_string();
        out.push((at, ip, raw[down + 6..].trim().to_string()));
    }
    Ok(Some(out))
}

/// `<mode>_lowload_latency.csv`: every request's latency, seconds (`t_sent,latency_s,conn_id`).
///
/// # Errors
/// Another header, a latency that is not a non-negative number: with the line.
pub fn lowload(dir: &Path, name: &str) -> Result<Option<Vec<f64>>, ProfileError> {
    let Some(t) = text(dir, name)? else {
        return Ok(None);
    };
    let path = dir.join(name);
    let mut lines = t.lines();
    let header = lines.next().unwrap_or("");
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let Some(col) = cols.iter().position(|c| *c == "latency_s") else {
        return Err(err(
            &path,
            "line 1",
            format!(
                "expected a header with latency_s (t_sent,latency_s,conn_id), found {header:?}"
            ),
        ));
    };
    let mut out = Vec::new();
    for (i, raw) in lines.enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let v = raw
            .split(',')
            .nth(col)
            .and_then(|x| x.trim().parse::<f64>().ok());
        match v {
            Some(x) if x.is_finite() && x >= 0.0 => out.push(x),
            _ => {
                return Err(err(
                    &path,
                    format!("line {}, column latency_s", i + 2),
                    format!("expected seconds, found {raw:?}"),
                ))
            }
        }
    }
    Ok(Some(out))
}

/// The `q` quantile (0..1) of sorted `v`, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[i - 1]
}

/// The median of `v` (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => s[n / 2],
        _ => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// A JSON value at a `.`-separated path of object keys.
pub fn at<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_read_both_spellings() {
        assert_eq!(utc_seconds("1970-01-01T00:00:01.5"), Some(1.5));
        assert_eq!(
            utc_seconds("2026/12/04 02:24:32.486496").map(|x| x.floor()),
            Some(1_796_351_072.0)
        );
        assert_eq!(utc_seconds("2026-13-04T02:24:32"), None);
        assert_eq!(utc_seconds("garbage"), None);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 0.999), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0, 4.0]), 2.5);
    }
}
