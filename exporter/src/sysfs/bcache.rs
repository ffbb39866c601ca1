//! `/sys/fs/bcache/<uuid>/`: a bcache cache set, its backing devices
//! (`bdev<N>`) and cache devices (`cache<N>`). bcache writes many values
//! "humanized" (`1.1M`, `20.4G`) by its `bch_hprint`, parsed here as
//! node_exporter (procfs' `dehumanize`) parses them.

use crate::procfs::ParseError;

/// A cache set's entry: node_exporter globs `fs/bcache/*-*`, which leaves
/// out `register` and `register_quiet`.
pub fn is_cache_set(entry: &str) -> bool {
    entry.contains('-')
}

/// `bdev<N>` (glob `bdev[0-9]*`).
pub fn is_backing_device(entry: &str) -> bool {
    numbered(entry, "bdev")
}

/// `cache<N>` (glob `cache[0-9]*`).
pub fn is_cache_device(entry: &str) -> bool {
    numbered(entry, "cache")
}

fn numbered(entry: &str, prefix: &str) -> bool {
    entry.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

fn invalid(text: &str) -> ParseError {
    ParseError::new(format!("invalid bcache value {text:?}"))
}

/// `bch_hprint`'s fraction: the digits after the point are tenths of 1024
/// (`.5k` is 512), so `1.1M` is 1 + 1/10.24 MiB.
fn parse_pseudo_float(text: &str) -> Result<f64, ParseError> {
    let mut parts = text.split('.');
    let whole: f64 = parts.next().unwrap_or_default().parse().map_err(|_| invalid(text))?;
    match parts.next() {
        None => Ok(whole),
        Some(fraction) => {
            let fraction: f64 = fraction.parse().map_err(|_| invalid(text))?;
            Ok(whole + fraction / 10.24)
        }
    }
}

/// A value as bcache writes it: plain (`546`) or humanized with a binary
/// multiplier (`20.4G`); truncated to a whole number, as node_exporter
/// converts it to an integer.
pub fn dehumanize(text: &str) -> Result<f64, ParseError> {
    let text = text.trim();
    let last = text.bytes().last().ok_or_else(|| invalid(text))?;
    let value = if last > b'9' {
        let mantissa = parse_pseudo_float(&text[..text.len() - 1])?;
        let multiplier = match last {
            b'k' => 1024f64,
            b'M' => 1024f64.powi(2),
            b'G' => 1024f64.powi(3),
            b'T' => 1024f64.powi(4),
            b'P' => 1024f64.powi(5),
            b'E' => 1024f64.powi(6),
            b'Z' => 1024f64.powi(7),
            b'Y' => 1024f64.powi(8),
            // node_exporter's table has no other letter, and looks one
            // up as 0.
            _ => 0.0,
        };
        mantissa * multiplier
    } else {
        text.parse::<f64>().map_err(|_| invalid(text))?
    };
    Ok(value.trunc())
}

/// What a backing device's `writeback_rate_debug` says, in bytes (per
/// second for the rates).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct WritebackRateDebug {
    /// `rate`.
    pub rate: f64,
    /// `target`: the dirty data threshold.
    pub target: f64,
    /// `proportional`: the proportional controller's term.
    pub proportional: f64,
    /// `integral`: the integral controller's term.
    pub integral: f64,
    /// `change`: the last change of the rate.
    pub change: f64,
}

/// Parses `writeback_rate_debug` (`rate:  1.1M/sec`, one `key: value` a
/// line; `dirty` and `next io` are not reported).
pub fn parse_writeback_rate_debug(text: &str) -> Result<WritebackRateDebug, ParseError> {
    let mut debug = WritebackRateDebug::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let field = match key.trim() {
            "rate" => &mut debug.rate,
            "target" => &mut debug.target,
            "proportional" => &mut debug.proportional,
            "integral" => &mut debug.integral,
            "change" => &mut debug.change,
            _ => continue,
        };
        let value = value.split_whitespace().last().ok_or_else(|| invalid(line))?;
        let value = value.strip_suffix("/sec").unwrap_or(value);
        *field = match value.strip_prefix('-') {
            Some(magnitude) => -dehumanize(magnitude)?,
            None => dehumanize(value)?,
        };
    }
    Ok(debug)
}

/// What a cache device's `priority_stats` says: the percentages of the
/// cache that hold nothing and that hold metadata.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PriorityStats {
    /// `Unused:`.
    pub unused_percent: u64,
    /// `Metadata:`.
    pub metadata_percent: u64,
}

/// Parses `priority_stats`.
pub fn parse_priority_stats(text: &str) -> Result<PriorityStats, ParseError> {
    let mut stats = PriorityStats::default();
    for line in text.lines() {
        let field = if line.starts_with("Unused:") {
            &mut stats.unused_percent
        } else if line.starts_with("Metadata:") {
            &mut stats.metadata_percent
        } else {
            continue;
        };
        let value = line.split_whitespace().last().unwrap_or_default();
        *field = value.strip_suffix('%').unwrap_or(value).parse().map_err(|_| invalid(line))?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        assert!(is_cache_set("deaddd54-c735-46d5-868e-f331c5fd7c74"));
        assert!(!is_cache_set("register"));
        assert!(is_backing_device("bdev0"));
        assert!(!is_backing_device("bdev"));
        assert!(is_cache_device("cache0"));
        assert!(!is_cache_device("cache_available_percent"));
    }

    #[test]
    fn humanized_values_as_upstream_reads_them() {
        assert_eq!(dehumanize("546\n").unwrap(), 546.0);
        assert_eq!(dehumanize("1.1M").unwrap(), 1_150_976.0);
        assert_eq!(dehumanize("20.4G").unwrap(), 21_894_266_880.0);
        assert_eq!(dehumanize("427.5k").unwrap(), 437_748.0);
        assert_eq!(dehumanize("790.0k").unwrap(), 808_960.0);
        assert_eq!(dehumanize("3x").unwrap(), 0.0);
        assert!(dehumanize("fast").is_err());
        assert!(dehumanize("").is_err());
        assert!(dehumanize("a.bM").is_err());
    }

    #[test]
    fn writeback_rate_debug_of_upstreams_bdev0() {
        let text = "rate:           1.1M/sec\ndirty:          20.4G\ntarget:         20.4G\nproportional:   427.5k\nintegral:       790.0k\nchange:         321.5k/sec\nnext io:        17ms\n";
        let debug = parse_writeback_rate_debug(text).unwrap();
        assert_eq!(
            debug,
            WritebackRateDebug {
                rate: 1_150_976.0,
                target: 21_894_266_880.0,
                proportional: 437_748.0,
                integral: 808_960.0,
                change: 329_204.0,
            }
        );
        assert_eq!(parse_writeback_rate_debug("proportional: -1.0k\n").unwrap().proportional, -1024.0);
        assert!(parse_writeback_rate_debug("rate: fast/sec\n").is_err());
    }

    #[test]
    fn priority_stats_of_upstreams_cache0() {
        let text = "Unused:\t\t99%\nMetadata:\t0%\nAverage:\t10473\nSectors per Q:\t64\nQuantiles:\t[0 0 20946]\n";
        assert_eq!(parse_priority_stats(text).unwrap(), PriorityStats { unused_percent: 99, metadata_percent: 0 });
        assert!(parse_priority_stats("Unused: lots\n").is_err());
    }
}
