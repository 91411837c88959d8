//! The units scenario files are written in, as people write them (issue 4): durations like "15m", "3d",
//! "1h 30m" (humantime); sizes like "500GiB", "1.5TB", "40 GB" (parse-size: KB/MB/GB are decimal,
//! KiB/MiB/GiB binary); bandwidths like "1Gbps", "100 Mbit/s" (bits) or "125MB/s", "10MiB/s" (bytes).
//! Plain integers are accepted too: milliseconds, bytes, bytes per second. Each parses into the integer
//! units the world uses and prints back in a form that parses to the same value.

use drsim_engine::Millis;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A duration in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub Millis);

/// A size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Bytes(pub u64);

/// A bandwidth in bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Bandwidth(pub u64);

/// The longest duration a scenario may give: 100 years (so sums of times never overflow).
pub const MAX_DURATION_MS: Millis = 100 * 365 * drsim_engine::time::DAY_MS;

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let d = parse_duration(s)?;
        if d.0 > MAX_DURATION_MS {
            return Err(format!("`{s}` is too long a duration: at most 100 years"));
        }
        Ok(d)
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    {
        let t = s.trim();
        if let Ok(ms) = t.parse::<u64>() {
            return Ok(Duration(ms));
        }
        if t.contains('M') {
            // humantime reads "M" as months; nobody means that in a scenario.
            return Err(format!(
                "`{s}` is ambiguous: write \"m\" for minutes (months are not a unit here)"
            ));
        }
        let d = humantime::parse_duration(t).map_err(|e| {
            format!(
                "`{s}` is not a duration ({e}); expected e.g. \"90s\", \"15m\", \"1h 30m\", \"3d\""
            )
        })?;
        u64::try_from(d.as_millis())
            .map(Duration)
            .map_err(|_| format!("`{s}` is too long a duration"))
    }
}

impl FromStr for Bytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_size::parse_size(s.trim()).map(Bytes).map_err(|e| {
            format!("`{s}` is not a size ({e}); expected e.g. \"500GiB\", \"1.5TB\", \"40 GB\"")
        })
    }
}

impl FromStr for Bandwidth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let expected =
            "expected e.g. \"1Gbps\", \"100 Mbit/s\", \"1 Gb/s\", \"125MB/s\", \"10MiB/s\"";
        let positive = |b: u64| {
            if b == 0 {
                Err(format!(
                    "`{s}` is no bandwidth: it must be more than 0 bytes per second"
                ))
            } else {
                Ok(Bandwidth(b))
            }
        };
        if let Ok(b) = t.parse::<u64>() {
            return positive(b);
        }
        // Bits per second: "<n>[k|m|g|t]bps", "<n>[k|m|g|t]b/s", "<n>[k|m|g|t]bit/s" — a lower-case b
        // means bits ("Mbps", "Gb/s"); an upper-case B means bytes ("MBps", "MB/s").
        let lower = t.to_ascii_lowercase();
        let bits_head = ["bps", "b/s"]
            .iter()
            .find_map(|x| t.strip_suffix(x))
            .map(|h| h.to_ascii_lowercase())
            .or_else(|| {
                ["bits/s", "bit/s"]
                    .iter()
                    .find_map(|x| lower.strip_suffix(x))
                    .map(str::to_owned)
            });
        if let Some(head) = bits_head {
            let head = head.trim_end();
            let (num, factor) = match head.chars().last() {
                Some('k') => (&head[..head.len() - 1], 1_000u64),
                Some('m') => (&head[..head.len() - 1], 1_000_000),
                Some('g') => (&head[..head.len() - 1], 1_000_000_000),
                Some('t') => (&head[..head.len() - 1], 1_000_000_000_000),
                _ => (head, 1),
            };
            let num = num.trim();
            if num.is_empty()
                || !num
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | 'e' | '+'))
            {
                return Err(format!("`{s}` is not a bandwidth; {expected}"));
            }
            let bits = parse_size::Config::new()
                .with_default_factor(factor)
                .parse_size(num)
                .map_err(|e| format!("`{s}` is not a bandwidth ({e}); {expected}"))?;
            return positive(bits.div_ceil(8));
        }
        // Bytes per second: a size per second.
        for suffix in ["/s", "ps"] {
            if let Some(head) = t
                .strip_suffix(suffix)
                .or_else(|| t.strip_suffix(&suffix.to_ascii_uppercase()))
            {
                let b = head
                    .parse::<Bytes>()
                    .map_err(|_| format!("`{s}` is not a bandwidth; {expected}"))?;
                return positive(b.0);
            }
        }
        Err(format!(
            "`{s}` is not a bandwidth: give its unit; {expected}"
        ))
    }
}

/// A duration for people to read: whole seconds once it is a second or more ("8m 33s").
pub fn human_duration(ms: Millis) -> String {
    let ms = if ms >= 1000 { ms - ms % 1000 } else { ms };
    humantime::format_duration(std::time::Duration::from_millis(ms)).to_string()
}

/// A size for people to read, in decimal units with three significant digits ("2.23 GB").
pub fn human_bytes(b: u64) -> String {
    let units = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, size) in units {
        let x = b as f64 / size;
        if x >= 1.0 {
            let digits = if x >= 100.0 {
                0
            } else if x >= 10.0 {
                1
            } else {
                2
            };
            return format!("{x:.digits$} {unit}");
        }
    }
    format!("{b} B")
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            humantime::format_duration(std::time::Duration::from_millis(self.0))
        )
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", Bytes(self.0))
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!(
                            "a ",
                            stringify!($t),
                            " as a string with its unit, or an integer"
                        ))
                    }
                    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<$t, E> {
                        format!("{n}").parse().map_err(E::custom)
                    }
                    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<$t, E> {
                        match u64::try_from(n) {
                            Ok(n) => self.visit_u64(n),
                            Err(_) => Err(E::custom(format!(
                                concat!(
                                    "{} is negative; expected a ",
                                    stringify!($t),
                                    " of 0 or more"
                                ),
                                n
                            ))),
                        }
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$t, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

macro_rules! schema_via_str {
    ($t:ty, $name:literal, $desc:literal, $examples:expr) => {
        impl schemars::JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "description": $desc,
                    "anyOf": [
                        {"type": "string", "examples": $examples},
                        {"type": "integer", "minimum": 0}
                    ]
                })
            }
        }
    };
}

schema_via_str!(
    Duration,
    "Duration",
    "A duration: \"90s\", \"15m\", \"1h 30m\", \"3d\", or an integer of milliseconds.",
    ["15m", "3d"]
);
schema_via_str!(
    Bytes,
    "Bytes",
    "A size: \"500GiB\", \"1.5TB\" (KB/MB/GB decimal, KiB/MiB/GiB binary), or an integer of bytes.",
    ["500GiB", "40GB"]
);
schema_via_str!(
    Bandwidth,
    "Bandwidth",
    "A bandwidth: \"1Gbps\", \"100 Mbit/s\" (bits) or \"125MB/s\" (bytes), or an integer of bytes per second.",
    ["1Gbps", "2MB/s"]
);

serde_via_str!(Duration);
serde_via_str!(Bytes);
serde_via_str!(Bandwidth);

#[cfg(test)]
mod tests {
    use super::*;
    use drsim_engine::time::{DAY_MS, HOUR_MS, MINUTE_MS};

    #[test]
    fn durations_as_people_write_them() {
        assert_eq!("15m".parse(), Ok(Duration(15 * MINUTE_MS)));
        assert_eq!("3d".parse(), Ok(Duration(3 * DAY_MS)));
        assert_eq!("1h 30m".parse(), Ok(Duration(HOUR_MS + 30 * MINUTE_MS)));
        assert_eq!("500ms".parse(), Ok(Duration(500)));
        assert_eq!("2500".parse(), Ok(Duration(2500)));
        let e = "-5m".parse::<Duration>().unwrap_err();
        assert!(
            e.contains("`-5m` is not a duration") && e.contains("\"15m\""),
            "{e}"
        );
        assert!("soon".parse::<Duration>().is_err());
        assert!("15M".parse::<Duration>().unwrap_err().contains("minutes"));
    }

    #[test]
    fn sizes_decimal_and_binary() {
        assert_eq!("500GiB".parse(), Ok(Bytes(500 << 30)));
        assert_eq!("40 GB".parse(), Ok(Bytes(40_000_000_000)));
        assert_eq!("1.5TB".parse(), Ok(Bytes(1_500_000_000_000)));
        assert_eq!("4096".parse(), Ok(Bytes(4096)));
        assert!("-1GB".parse::<Bytes>().is_err());
        assert!("lots".parse::<Bytes>().unwrap_err().contains("\"500GiB\""));
    }

    #[test]
    fn bandwidth_in_bits_or_bytes() {
        assert_eq!("1Gbps".parse(), Ok(Bandwidth(125_000_000)));
        assert_eq!("100 Mbit/s".parse(), Ok(Bandwidth(12_500_000)));
        assert_eq!("800kbps".parse(), Ok(Bandwidth(100_000)));
        assert_eq!("125MB/s".parse(), Ok(Bandwidth(125_000_000)));
        assert_eq!("10MiB/s".parse(), Ok(Bandwidth(10 << 20)));
        assert_eq!("10MBps".parse(), Ok(Bandwidth(10_000_000)));
        assert_eq!("5000".parse(), Ok(Bandwidth(5000)));
        assert!(
            "1G".parse::<Bandwidth>()
                .unwrap_err()
                .contains("give its unit")
        );
        assert!("fast".parse::<Bandwidth>().is_err());
        // from review: "Gb/s" is bits; garbage and nothing are refused; bits round up to bytes
        assert_eq!("1 Gb/s".parse(), Ok(Bandwidth(125_000_000)));
        assert_eq!("100Mb/s".parse(), Ok(Bandwidth(12_500_000)));
        assert!("1Gkbps".parse::<Bandwidth>().is_err());
        assert!("1 GiBbps".parse::<Bandwidth>().is_err());
        assert!(
            "0".parse::<Bandwidth>()
                .unwrap_err()
                .contains("more than 0")
        );
        assert_eq!("7bps".parse(), Ok(Bandwidth(1)));
    }

    #[test]
    fn printed_values_parse_back() {
        for d in [
            Duration(0),
            Duration(15 * MINUTE_MS),
            Duration(3 * DAY_MS + 7),
        ] {
            assert_eq!(d.to_string().parse(), Ok(d), "{d}");
        }
        for b in [Bytes(0), Bytes(500 << 30), Bytes(40_000_000_000), Bytes(7)] {
            assert_eq!(b.to_string().parse(), Ok(b), "{b}");
        }
        for w in [Bandwidth(125_000_000), Bandwidth(10 << 20), Bandwidth(3)] {
            assert_eq!(w.to_string().parse(), Ok(w), "{w}");
        }
    }

    #[test]
    fn json_takes_strings_or_integers_and_names_the_problem() {
        #[derive(Deserialize, Serialize, PartialEq, Debug)]
        struct S {
            every: Duration,
            size: Bytes,
            link: Bandwidth,
        }
        let s: S = serde_json::from_str(r#"{"every":"15m","size":"1TiB","link":"1Gbps"}"#).unwrap();
        assert_eq!(
            s,
            S {
                every: Duration(15 * MINUTE_MS),
                size: Bytes(1 << 40),
                link: Bandwidth(125_000_000)
            }
        );
        assert_eq!(
            serde_json::from_str::<S>(&serde_json::to_string(&s).unwrap()).unwrap(),
            s
        );
        let e = serde_json::from_str::<S>(r#"{"every":"15m","size":"1TiB","link":"1G"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`1G` is not a bandwidth") && e.contains("line 1 column"),
            "{e}"
        );
        let e = serde_json::from_str::<S>(r#"{"every":true,"size":"1TiB","link":"1Gbps"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a Duration"), "{e}");
    }
}
