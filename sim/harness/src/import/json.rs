//! Writing an imported scenario as people write scenario files: fields in the order of the format, the
//! fields that only repeat their default left out (the defaults are the format's own, found by reading a
//! minimal object of each kind), and small objects on one line. The text depends on nothing but the
//! scenario, so the same export always gives the same bytes.

use crate::scenario::Scenario;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::fmt::Write as _;

/// A JSON value that keeps its fields' order.
#[derive(Clone, Debug, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E: de::Error>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<J, E> {
                Ok(J::Null)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<J, E> {
                Ok(J::Bool(b))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<J, E> {
                Ok(J::Num(n.into()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<J, E> {
                Ok(J::Num(n.into()))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<J, E> {
                serde_json::Number::from_f64(x)
                    .map(J::Num)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<J, E> {
                Ok(J::Str(s.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(J::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, J>()? {
                    v.push((k, x));
                }
                Ok(J::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl J {
    fn of<T: serde::Serialize>(value: &T) -> Result<J, String> {
        let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut J> {
        match self {
            J::Obj(fields) => fields.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn each_mut(&mut self, key: &str, f: &mut dyn FnMut(&mut J)) {
        if let Some(J::Arr(items)) = self.get_mut(key) {
            items.iter_mut().for_each(f);
        }
    }
}

/// The defaults of one kind of object: a minimal object of it read through the scenario types, and
/// the fields that minimal object had to give (never left out).
struct Defaults {
    template: J,
    required: Vec<String>,
}

impl Defaults {
    fn of<T: serde::Serialize + serde::de::DeserializeOwned>(
        minimal: &str,
    ) -> Result<Self, String> {
        let required = match serde_json::from_str::<J>(minimal).map_err(|e| e.to_string())? {
            J::Obj(f) => f.into_iter().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        };
        let value: T = serde_json::from_str(minimal).map_err(|e| e.to_string())?;
        Ok(Defaults {
            template: J::of(&value)?,
            required,
        })
    }

    /// Leaves out of `obj` the fields equal to the default.
    fn prune(&self, obj: &mut J) {
        let (J::Obj(fields), J::Obj(defaults)) = (obj, &self.template) else {
            return;
        };
        fields.retain(|(k, v)| {
            self.required.contains(k) || defaults.iter().all(|(dk, dv)| dk != k || dv != v)
        });
    }
}

/// The scenario as JSON text, defaults left out, ending in a newline.
pub fn scenario_text(s: &Scenario) -> Result<String, String> {
    use crate::scenario::inventory::*;
    use crate::scenario::steps::Step;
    let mut j = J::of(s)?;
    let top = Defaults::of::<Scenario>(
        r#"{"name":"x","duration":1,"inventory":{"vcenters":[],"hosts":[],"datastores":[],
            "process_servers":[],"master_targets":[]},"machines":[]}"#,
    )?;
    let network = Defaults::of::<Network>("{}")?;
    let vcenter = Defaults::of::<VCenter>(r#"{"name":"x"}"#)?;
    let host = Defaults::of::<Host>(r#"{"name":"x","vcenter":"x"}"#)?;
    let datastore = Defaults::of::<Datastore>(r#"{"name":"x","vcenter":"x","capacity":1}"#)?;
    let ps = Defaults::of::<ProcessServer>(r#"{"name":"x"}"#)?;
    let mt = Defaults::of::<MasterTarget>(
        r#"{"name":"x","os":"windows","host":"x","retention_drives":[]}"#,
    )?;
    let drive = Defaults::of::<RetentionDrive>(r#"{"name":"x","capacity":1}"#)?;
    let machine = Defaults::of::<Machine>(
        r#"{"name":"x","os":"windows","state":"in-azure","host":"x","disks":[]}"#,
    )?;
    let disk = Defaults::of::<Disk>(r#"{"size":1}"#)?;
    let step = Defaults::of::<Step>(r#"{"op":"failover"}"#)?;
    let inventory = Defaults::of::<Inventory>(
        r#"{"vcenters":[],"hosts":[],"datastores":[],"process_servers":[],"master_targets":[]}"#,
    )?;
    // whole sections that only repeat their defaults first (network, policies, expect, report, churn)
    top.prune(&mut j);
    if let Some(n) = j.get_mut("network") {
        network.prune(n);
    }
    if let Some(inv) = j.get_mut("inventory") {
        inventory.prune(inv);
        inv.each_mut("vcenters", &mut |x| vcenter.prune(x));
        inv.each_mut("hosts", &mut |x| host.prune(x));
        inv.each_mut("datastores", &mut |x| datastore.prune(x));
        inv.each_mut("process_servers", &mut |x| ps.prune(x));
        inv.each_mut("master_targets", &mut |x| {
            mt.prune(x);
            x.each_mut("retention_drives", &mut |r| drive.prune(r));
        });
    }
    j.each_mut("machines", &mut |m| {
        machine.prune(m);
        m.each_mut("disks", &mut |d| disk.prune(d));
    });
    j.each_mut("steps", &mut |x| step.prune(x));
    decimal_sizes(&mut j);
    let mut out = String::new();
    write(&j, 0, &mut out);
    out.push('\n');
    Ok(out)
}

/// The fields holding sizes.
const SIZE_FIELDS: &[&str] = &[
    "capacity",
    "free",
    "cache",
    "memory_free",
    "memory",
    "size",
    "used",
];

/// Sizes that are whole decimal gigabytes written as such ("300GB", "1TB", as DOMAIN.md §5 and people
/// write them) rather than in binary units ("292968750KiB").
fn decimal_sizes(j: &mut J) {
    match j {
        J::Obj(fields) => {
            for (k, v) in fields {
                if let J::Str(s) = v
                    && SIZE_FIELDS.contains(&k.as_str())
                    && let Ok(b) = s.parse::<crate::units::Bytes>()
                    && b.0 > 0
                    && b.0 % 1_000_000_000 == 0
                    && b.0 % (1 << 30) != 0
                {
                    *s = if b.0 % 1_000_000_000_000 == 0 {
                        format!("{}TB", b.0 / 1_000_000_000_000)
                    } else {
                        format!("{}GB", b.0 / 1_000_000_000)
                    };
                } else {
                    decimal_sizes(v);
                }
            }
        }
        J::Arr(items) => items.iter_mut().for_each(decimal_sizes),
        _ => {}
    }
}

/// Objects and arrays up to this wide (with their indent) stay on one line.
const WIDTH: usize = 120;

fn compact(j: &J, out: &mut String) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => {
            let _ = write!(out, "{n}");
        }
        J::Str(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        J::Arr(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                compact(x, out);
            }
            out.push(']');
        }
        J::Obj(fields) if fields.is_empty() => out.push_str("{}"),
        J::Obj(fields) => {
            out.push_str("{ ");
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                compact(v, out);
            }
            out.push_str(" }");
        }
    }
}

fn write(j: &J, indent: usize, out: &mut String) {
    let mut one = String::new();
    compact(j, &mut one);
    let nested = matches!(j, J::Arr(_) | J::Obj(_));
    if !nested || (indent > 0 && indent * 2 + one.chars().count() <= WIDTH) {
        out.push_str(&one);
        return;
    }
    let pad = "  ".repeat(indent + 1);
    match j {
        J::Arr(items) => {
            out.push_str("[\n");
            for (i, x) in items.iter().enumerate() {
                out.push_str(&pad);
                write(x, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
        }
        J::Obj(fields) => {
            out.push_str("{\n");
            for (i, (k, v)) in fields.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                write(v, indent + 1, out);
                out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
            }
        }
        _ => {}
    }
    out.push_str(&"  ".repeat(indent));
    out.push(if matches!(j, J::Arr(_)) { ']' } else { '}' });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_left_out_and_the_text_reads_back() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scenarios/tutorial/01-one-vm-cycle.json"),
        )
        .unwrap();
        let s = crate::scenario::parse(std::path::Path::new("t.json"), &text).unwrap();
        let out = scenario_text(&s).unwrap();
        assert!(!out.contains("\"policies\""), "{out}");
        assert!(!out.contains("\"onprem_exists\""), "{out}");
        assert!(!out.contains("\"if\""), "{out}");
        assert!(out.contains("\"name\": \"01-one-vm-cycle\""), "{out}");
        let again = crate::scenario::parse(std::path::Path::new("t.json"), &out).unwrap();
        assert_eq!(scenario_text(&again).unwrap(), out, "stable");
        crate::scenario::load_str(std::path::Path::new("t.json"), &out, None).unwrap();
    }
}
