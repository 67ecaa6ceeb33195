//! Scenario fields by path, spelled as the schema and its error messages spell them:
//! `nodes.count`, `bgp.router_hold_time`, `clients[0].load.OpenLoop.rate`,
//! `variants[frr-bfd].bgp.bfd.detect_multiplier` (list entries by index or by `name`).
//!
//! A scenario is serialized to a value tree (serde's shape: a struct is a map of its fields, an
//! enum variant with fields is `{"Variant": {..}}`, a unit variant `"Variant"`, durations the
//! strings they parse from), the field is replaced, and the tree is deserialized and checked
//! again, so every type and range check is the scenario's own.
//!
//! ```
//! use lbsim::sweep::path::{label, parse_value, FieldPath};
//! let p: FieldPath = "variants[frr-bfd].bgp.bfd.detect_multiplier".parse().unwrap();
//! assert_eq!(p.to_string(), "variants[frr-bfd].bgp.bfd.detect_multiplier");
//! assert_eq!(label(&parse_value("3s").unwrap()), "3s");
//! assert_eq!(label(&parse_value("Fortio(qps: 1000, connections: 50)").unwrap()),
//!            "Fortio(connections: 50, qps: 1000)");
//! ```

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::scenario::{Scenario, ScenarioError};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A struct field or an enum variant's name.
    Field(String),
    /// A list entry by position.
    Index(usize),
    /// A list entry by its `name` field.
    Named(String),
}

/// A parsed field path, e.g. `clients[0].load.OpenLoop.rate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    steps: Vec<Step>,
}

impl FieldPath {
    /// The first field (`bgp` of `bgp.bfd.detect_multiplier`).
    pub fn top(&self) -> &str {
        match self.steps.first() {
            Some(Step::Field(f)) => f,
            _ => "",
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for FieldPath {
    type Err = String;

    fn from_str(text: &str) -> Result<FieldPath, String> {
        let bad = |why: &str| {
            Err(format!(
                "{text:?} is not a field path ({why}); write it as the scenario's errors do, e.g. `bgp.router_hold_time`, `clients[0].load.OpenLoop.rate`, `variants[frr-bfd].bgp.bfd.detect_multiplier`"
            ))
        };
        let mut steps = Vec::new();
        let mut rest = text.trim();
        if rest.is_empty() {
            return bad("empty");
        }
        loop {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let field = &rest[..end];
            if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return bad(&format!("{field:?} is not a field name"));
            }
            steps.push(Step::Field(field.to_string()));
            rest = &rest[end..];
            while let Some(inner) = rest.strip_prefix('[') {
                let Some(close) = inner.find(']') else {
                    return bad("a `[` without `]`");
                };
                let key = inner[..close].trim();
                if key.is_empty() {
                    return bad("empty `[]`");
                }
                steps.push(match key.parse::<usize>() {
                    Ok(i) => Step::Index(i),
                    Err(_) => Step::Named(key.to_string()),
                });
                rest = &inner[close + 1..];
            }
            match rest.strip_prefix('.') {
                Some(next) => rest = next,
                None if rest.is_empty() => break,
                None => return bad(&format!("unexpected {rest:?}")),
            }
        }
        Ok(FieldPath {
            text: text.trim().to_string(),
            steps,
        })
    }
}

impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Any RON value, kept as a tree in the shape serde gives the scenario's types.
#[derive(Debug, Clone, PartialEq)]
pub struct RonValue(pub Value);

impl<'de> Deserialize<'de> for RonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // ron hands serde's buffered content (what an untagged enum reads through) enum
        // variants with their names, `{"Name": ..}` and `"Name"` (ron de/mod.rs
        // `handle_any_struct`); read straight into a tree it would drop them.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            Tree(Value),
        }
        let Any::Tree(v) = Any::deserialize(d)?;
        Ok(RonValue(v))
    }
}

impl Serialize for RonValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A value as written on the command line: RON as in a scenario file (`9`, `Poisson`,
/// `(transmit_interval: "300ms")`, `"3s"`), or plain text for a duration, a bandwidth or a
/// name (`3s`, `10Gbit/s`, `node-2`), which RON would need quoted.
///
/// # Errors
/// Text that opens a RON structure (`(`, `[`, `{`, `"`) but does not parse.
pub fn parse_value(text: &str) -> Result<Value, String> {
    let t = text.trim();
    match ron::from_str::<RonValue>(t) {
        Ok(RonValue(v)) => Ok(v),
        Err(e) if t.starts_with(['(', '[', '{', '"']) => {
            Err(format!("{t:?} is not a RON value: {}", e.code))
        }
        Err(_) => Ok(Value::String(t.to_string())),
    }
}

/// A value's text in tables and column values: a string as itself (`3s`, `Poisson`), anything
/// else as RON (`9`, `(detect_multiplier: 3)`, `Fortio(connections: 50, qps: 1000)`).
pub fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => ron_text(other),
    }
}

fn ron_text(v: &Value) -> String {
    let fields = |m: &Map<String, Value>| {
        m.iter()
            .map(|(k, v)| format!("{k}: {}", ron_text(v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(ron_text).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => match variant_of(m) {
            Some((name, Value::Object(inner))) => format!("{name}({})", fields(inner)),
            Some((name, inner)) => format!("{name}({})", ron_text(inner)),
            None => format!("({})", fields(m)),
        },
    }
}

/// An enum variant with fields, `{"Name": ..}`: a single key that starts upper case (struct
/// fields are snake_case).
fn variant_of(m: &Map<String, Value>) -> Option<(&str, &Value)> {
    let (k, v) = m.iter().next()?;
    (m.len() == 1 && k.starts_with(|c: char| c.is_ascii_uppercase())).then_some((k.as_str(), v))
}

/// A value tree's place in words: `` `bgp.bfd` `` or "the scenario".
fn place(at: &str) -> String {
    if at.is_empty() {
        "the scenario".into()
    } else {
        format!("`{at}`")
    }
}

/// What a value is, for messages.
fn kind(v: &Value) -> String {
    match v {
        Value::Null => "not set (None)".into(),
        Value::Bool(b) => format!("a value ({b})"),
        Value::Number(n) => format!("a value ({n})"),
        Value::String(s) => format!("a value ({s})"),
        Value::Array(a) => format!("a list of {}", a.len()),
        Value::Object(m) => match variant_of(m) {
            Some((name, _)) => format!("the variant {name}"),
            None => "a section".into(),
        },
    }
}

/// The entries' names of a list (its elements' `name` fields).
fn names(a: &[Value]) -> Vec<&str> {
    a.iter()
        .filter_map(|e| e.get("name").and_then(Value::as_str))
        .collect()
}

/// Replace the value at `path` in `tree`.
///
/// # Errors
/// A path that leaves the tree: the message names where it went wrong and what is valid there
/// (the fields, the list's entries), or how to set a section that is not set.
pub fn set(tree: &mut Value, path: &FieldPath, new: Value) -> Result<(), String> {
    let mut cur = tree;
    let mut at = String::new();
    for (i, step) in path.steps.iter().enumerate() {
        if i > 0 && cur.is_null() {
            return Err(format!(
                "{} is not set (None) here, so it has no fields to vary: give the whole section, e.g. --set '{at}=(...)' (fields left out take their defaults) and vary its fields, or vary `{at}` itself",
                place(&at)
            ));
        }
        cur = match (step, cur) {
            (Step::Field(name), Value::Object(map)) => {
                if !map.contains_key(name) {
                    return Err(match variant_of(map) {
                        Some((variant, _)) => format!(
                            "{} is the variant {variant} here, not {name}: go through it (`{at}.{variant}.<field>`) or set the whole `{at}`, e.g. to `{name}(...)`",
                            place(&at)
                        ),
                        None => format!(
                            "{} has no field `{name}`; its fields: {}",
                            place(&at),
                            map.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
                &mut map[name.as_str()]
            }
            (Step::Index(k), Value::Array(list)) => {
                if *k >= list.len() {
                    return Err(format!(
                        "{} has {} entries: [0] to [{}]{}",
                        place(&at),
                        list.len(),
                        list.len().saturating_sub(1),
                        by_name_hint(list)
                    ));
                }
                &mut list[*k]
            }
            (Step::Named(n), Value::Array(list)) => {
                let Some(k) = list
                    .iter()
                    .position(|e| e.get("name").and_then(Value::as_str) == Some(n))
                else {
                    return Err(format!(
                        "{} has no entry named `{n}`; {}",
                        place(&at),
                        match names(list).as_slice() {
                            [] => "its entries have no names: index them, [0] ..".to_string(),
                            all => format!("its names: {}", all.join(", ")),
                        }
                    ));
                };
                &mut list[k]
            }
            (Step::Field(name), other) => {
                return Err(format!(
                    "{} is {}, which has no field `{name}`{}",
                    place(&at),
                    kind(other),
                    if other.is_array() {
                        format!(": pick an entry, e.g. `{at}[0]`")
                    } else {
                        format!(": vary `{at}` itself")
                    }
                ))
            }
            (_, other) => return Err(format!("{} is {}, not a list", place(&at), kind(other))),
        };
        match step {
            Step::Field(f) if at.is_empty() => at.push_str(f),
            Step::Field(f) => {
                at.push('.');
                at.push_str(f);
            }
            Step::Index(k) => at.push_str(&format!("[{k}]")),
            Step::Named(n) => at.push_str(&format!("[{n}]")),
        }
    }
    *cur = new;
    Ok(())
}

fn by_name_hint(list: &[Value]) -> String {
    let all = names(list);
    if all.is_empty() {
        String::new()
    } else {
        format!(", or by name: {}", all.join(", "))
    }
}

/// `base` with each `(path, value)` set in turn, deserialized and checked as a scenario file
/// is; errors name `origin` (the base's file) and the field.
///
/// # Errors
/// A [`ScenarioError`]: a path that does not exist, a value of the wrong type (serde's message
/// names the type expected), or a scenario the checks refuse.
pub fn with_values(
    base: &Scenario,
    assigns: &[(&FieldPath, &Value)],
    origin: &Path,
) -> Result<Scenario, ScenarioError> {
    let error = |field: String, message: String| ScenarioError {
        file: origin.to_path_buf(),
        position: None,
        field,
        message,
    };
    let mut tree = serde_json::to_value(base).map_err(|e| error(String::new(), e.to_string()))?;
    for (path, value) in assigns {
        set(&mut tree, path, (*value).clone()).map_err(|m| error(path.to_string(), m))?;
    }
    let scenario: Scenario = serde_path_to_error::deserialize(tree).map_err(|e| {
        let field = e.path().to_string();
        let given = assigns
            .iter()
            .map(|(p, v)| format!("{p}={}", label(v)))
            .collect::<Vec<_>>()
            .join(" ");
        error(field, format!("{} (with {given})", e.into_inner()))
    })?;
    scenario.checked(origin)
}

/// The sections a variant replaces whole (see [`crate::scenario::Variant`]): a base path under
/// one of them does not reach a variant that gives its own.
const REPLACED_WHOLE: [&str; 5] = ["bgp", "l2", "events", "services", "advertisements"];
/// The sections a variant patches field by field (`EcmpPatch`, `ServicePatch`).
const PATCHED: [&str; 2] = ["ecmp", "service"];

/// The variants of `base` that a base-scenario path does not reach, each with why: they
/// replace the section it is in, patch that very field, or run in the other mode.
pub fn overridden_by(base: &Scenario, path: &FieldPath) -> Vec<(String, String)> {
    let top = path.top();
    let mut out = Vec::new();
    for v in &base.variants {
        let reason = if REPLACED_WHOLE.contains(&top) {
            let own = match top {
                "bgp" => v.bgp.is_some(),
                "l2" => v.l2.is_some(),
                "services" => v.services.is_some(),
                "advertisements" => v.advertisements.is_some(),
                _ => v.events.is_some(),
            };
            let other_mode = match top {
                "bgp" => v.l2.is_some(),
                "l2" => v.bgp.is_some(),
                _ => false,
            };
            if own {
                Some(format!(
                    "it gives its own `{top}` section, which replaces the base's whole"
                ))
            } else if other_mode {
                Some(format!(
                    "it runs in {} mode, without the base's `{top}`",
                    if top == "bgp" { "L2" } else { "BGP" }
                ))
            } else {
                None
            }
        } else if PATCHED.contains(&top) {
            let field = match path.steps.get(1) {
                Some(Step::Field(f)) => Some(f.as_str()),
                _ => None,
            };
            let patch = serde_json::to_value(v).unwrap_or(Value::Null);
            field
                .and_then(|f| patch.get(top).and_then(|p| p.get(f)))
                .filter(|set| !set.is_null())
                .map(|set| format!("it sets `{top}.{}` to {}", field.unwrap_or(""), label(set)))
        } else {
            None
        };
        if let Some(r) = reason {
            out.push((v.name.clone(), r));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Value {
        serde_json::json!({
            "nodes": {"count": 3, "cores": 2},
            "bgp": {"bfd": null, "router_hold_time": "9s"},
            "clients": [
                {"name": "web", "load": {"OpenLoop": {"rate": 100.0, "pacing": "Poisson"}}},
                {"name": "ping", "load": {"Ping": {"interval": "100ms"}}}
            ],
        })
    }

    fn try_set(path: &str, v: &str) -> Result<Value, String> {
        let mut t = tree();
        set(&mut t, &path.parse()?, parse_value(v)?)?;
        Ok(t)
    }

    #[test]
    fn paths_parse_and_print_back() {
        for p in [
            "nodes.count",
            "clients[0].load.OpenLoop.rate",
            "variants[frr-bfd].bgp.bfd.detect_multiplier",
            "a[1][2].b",
        ] {
            assert_eq!(p.parse::<FieldPath>().unwrap().to_string(), p);
        }
        for bad in ["", ".a", "a.", "a[", "a[]", "a..b", "a b", "a]"] {
            assert!(bad.parse::<FieldPath>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_as_on_the_command_line() {
        assert_eq!(parse_value("3s").unwrap(), Value::String("3s".into()));
        assert_eq!(parse_value("\"3s\"").unwrap(), Value::String("3s".into()));
        assert_eq!(parse_value("9").unwrap(), serde_json::json!(9));
        assert_eq!(
            parse_value("Poisson").unwrap(),
            serde_json::json!("Poisson")
        );
        assert_eq!(parse_value("node-2").unwrap(), serde_json::json!("node-2"));
        assert_eq!(
            parse_value("Frr(keepalive: \"1s\", hold: \"9s\")").unwrap(),
            serde_json::json!({"Frr": {"keepalive": "1s", "hold": "9s"}})
        );
        assert_eq!(
            parse_value("InCluster(\"node-1\")").unwrap(),
            serde_json::json!({"InCluster": "node-1"})
        );
        assert!(parse_value("(transmit_interval: \"300ms\"").is_err());
    }

    #[test]
    fn set_by_index_by_name_and_through_a_variant() {
        let t = try_set("clients[web].load.OpenLoop.rate", "250").unwrap();
        assert_eq!(t["clients"][0]["load"]["OpenLoop"]["rate"], 250);
        let t = try_set("clients[1].load", "Ping(interval: \"1s\")").unwrap();
        assert_eq!(t["clients"][1]["load"]["Ping"]["interval"], "1s");
    }

    #[test]
    fn wrong_paths_say_what_is_valid() {
        let e = try_set("nodes.coresz", "2").unwrap_err();
        assert!(
            e.contains("`nodes` has no field `coresz`") && e.contains("cores, count"),
            "{e}"
        );
        let e = try_set("nodez", "2").unwrap_err();
        assert!(
            e.contains("the scenario has no field `nodez`") && e.contains("bgp"),
            "{e}"
        );
        let e = try_set("clients[0].load.Fortio.qps", "2").unwrap_err();
        assert!(e.contains("the variant OpenLoop here, not Fortio"), "{e}");
        let e = try_set("clients[5].count", "2").unwrap_err();
        assert!(e.contains("2 entries") && e.contains("web, ping"), "{e}");
        let e = try_set("clients[wbe].count", "2").unwrap_err();
        assert!(
            e.contains("no entry named `wbe`") && e.contains("web, ping"),
            "{e}"
        );
        let e = try_set("bgp.bfd.detect_multiplier", "4").unwrap_err();
        assert!(
            e.contains("`bgp.bfd` is not set") && e.contains("--set 'bgp.bfd=(...)'"),
            "{e}"
        );
        let e = try_set("nodes.count.x", "4").unwrap_err();
        assert!(e.contains("`nodes.count` is a value (3)"), "{e}");
        let e = try_set("clients.count", "4").unwrap_err();
        assert!(e.contains("pick an entry, e.g. `clients[0]`"), "{e}");
    }

    #[test]
    fn labels_read_like_ron() {
        let l = |t: &str| label(&parse_value(t).unwrap());
        assert_eq!(l("9s"), "9s");
        assert_eq!(l("4"), "4");
        assert_eq!(l("2.5"), "2.5");
        assert_eq!(l("(detect_multiplier: 3)"), "(detect_multiplier: 3)");
        assert_eq!(l("OnNodes([\"node-1\"])"), "OnNodes([\"node-1\"])");
        assert_eq!(l("Resilient(buckets: 64)"), "Resilient(buckets: 64)");
    }

    #[test]
    fn variant_sections_are_the_known_ones() {
        // overridden_by knows which of a variant's sections replace and which patch; a new
        // section in `Variant` must be sorted into one of the two lists.
        let v = crate::scenario::Variant {
            name: "v".into(),
            ecmp: None,
            service: None,
            events: None,
            bgp: None,
            l2: None,
            services: None,
            advertisements: None,
        };
        let tree = serde_json::to_value(&v).unwrap();
        let mut keys: Vec<&str> = tree
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.retain(|k| *k != "name");
        let mut known: Vec<&str> = REPLACED_WHOLE.iter().chain(&PATCHED).copied().collect();
        keys.sort_unstable();
        known.sort_unstable();
        assert_eq!(keys, known);
    }
}
