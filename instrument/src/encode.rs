//! Writes metric families as Prometheus text 0.0.4 or OpenMetrics 1.0.
//!
//! The encoder guarantees what both formats demand of a whole exposition and
//! what a list of families from several collectors cannot promise on its own:
//! one group of lines per family name, and no series written twice. Families
//! that share a name are merged into the group of the first one; a family
//! that reuses a name with another type, and a sample that repeats a series
//! already written, are left out and counted in [`EncodeReport`].
//!
//! It writes straight into the caller's buffer and allocates nothing per
//! sample; an [`Encoder`] kept between scrapes allocates nothing at all once
//! its tables have grown to the size of the exposition.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::format::Format;
use crate::model::{Exemplar, Label, Labels, MetricFamily, MetricType, Sample, Suffix};

/// What the encoder had to leave out to keep the output valid.
///
/// ```
/// use sonde_instrument::{Format, Labels, MetricFamily, encode};
///
/// let up = MetricFamily::gauge("up", "").with_sample(Labels::new(), 1.0).with_sample(Labels::new(), 0.0);
/// let mut out = Vec::new();
/// let report = encode(&[up], Format::Text, &mut out);
/// // The second `up` is the same series: written once, counted here.
/// assert_eq!(report.duplicate_series, 1);
/// assert_eq!(out, b"# TYPE up gauge\nup 1\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodeReport {
    /// Samples dropped because an earlier sample had the same name and labels.
    pub duplicate_series: usize,
    /// Families dropped because an earlier family of the same name had another type.
    pub conflicting_families: usize,
}

/// Appends `families` to `out` in `format`.
///
/// Equivalent to [`Encoder::encode`] on a fresh [`Encoder`]; keep an
/// `Encoder` to reuse its tables when encoding repeatedly.
pub fn encode(families: &[MetricFamily], format: Format, out: &mut Vec<u8>) -> EncodeReport {
    Encoder::new().encode(families, format, out)
}

/// Encodes `families` in `format` into a new `String`.
pub fn encode_to_string(families: &[MetricFamily], format: Format) -> (String, EncodeReport) {
    let mut out = Vec::new();
    let report = encode(families, format, &mut out);
    // Every byte written comes from a `str` or is ASCII, so this never
    // takes the lossy branch; it only avoids an `unwrap`.
    let text = String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    (text, report)
}

/// A reusable encoder: the same output as [`encode`], keeping its hash
/// tables between calls so that a scrape loop allocates nothing.
///
/// ```
/// use sonde_instrument::encode::Encoder;
/// use sonde_instrument::{Format, Labels, MetricFamily};
///
/// let families = [MetricFamily::counter("jobs", "Jobs run.").with_sample(Labels::new(), 2.0)];
/// let mut encoder = Encoder::new();
/// let mut out = Vec::new();
/// for _ in 0..2 {
///     out.clear();
///     encoder.encode(&families, Format::OpenMetrics, &mut out);
/// }
/// assert_eq!(out, b"# TYPE jobs counter\n# HELP jobs Jobs run.\njobs_total 2\n# EOF\n");
/// ```
#[derive(Debug)]
pub struct Encoder {
    keys: Keys,
    /// Open-addressing table from family name to group index.
    names: Vec<NameSlot>,
    groups: Vec<Group>,
    /// For each family, the next family of its group (`NONE` ends the list).
    next: Vec<u32>,
    /// Open-addressing table of the series already written in one group;
    /// a group uses its first `series_mask + 1` slots.
    series: Vec<SeriesSlot>,
    series_mask: usize,
    /// Stamp of the current group: slots with another stamp are empty, so
    /// starting a group costs nothing instead of clearing the table.
    generation: u32,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct NameSlot {
    /// 0 marks an empty slot; real hashes have their low bit set.
    hash: u64,
    group: u32,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    head: u32,
    tail: u32,
    samples: usize,
}

#[derive(Debug, Clone, Copy)]
struct SeriesSlot {
    generation: u32,
    /// Half of the hash is plenty to skip most comparisons and keeps a
    /// slot at 16 bytes.
    hash: u32,
    family: u32,
    sample: u32,
}

const EMPTY_NAME: NameSlot = NameSlot { hash: 0, group: 0 };
const EMPTY_SERIES: SeriesSlot = SeriesSlot { generation: 0, hash: 0, family: 0, sample: 0 };

impl Encoder {
    /// A new encoder with empty tables.
    pub fn new() -> Self {
        Encoder {
            // Random keys keep a scraped target from choosing label values
            // that all collide and make the duplicate check quadratic.
            keys: Keys::random(),
            names: Vec::new(),
            groups: Vec::new(),
            next: Vec::new(),
            series: Vec::new(),
            series_mask: 0,
            generation: 0,
        }
    }

    /// Appends `families` to `out` in `format`; see the [module docs](self).
    pub fn encode(&mut self, families: &[MetricFamily], format: Format, out: &mut Vec<u8>) -> EncodeReport {
        let mut report = EncodeReport::default();
        self.encode_groups(families, format, out, &mut report);
        if format == Format::OpenMetrics {
            write_eof(out);
        }
        report
    }

    /// [`Encoder::encode`] without the OpenMetrics `# EOF` line, adding to
    /// `report`: the registry's direct path writes groups it cannot write
    /// itself this way.
    pub(crate) fn encode_groups(
        &mut self,
        families: &[MetricFamily],
        format: Format,
        out: &mut Vec<u8>,
        report: &mut EncodeReport,
    ) {
        // Indices are kept as u32 to halve the tables; an exposition with
        // four billion families is not one Prometheus could scrape anyway.
        let families = &families[..families.len().min(NONE as usize)];
        self.group(families, report);
        let mut writer = Writer { out, format };
        for g in 0..self.groups.len() {
            let group = self.groups[g];
            self.write_group(families, group, &mut writer, report);
        }
    }

    /// Fills `groups` and `next`: one group per family name, in order of
    /// first appearance, skipping families whose type conflicts.
    fn group(&mut self, families: &[MetricFamily], report: &mut EncodeReport) {
        self.groups.clear();
        self.next.clear();
        self.next.resize(families.len(), NONE);
        let capacity = (families.len() * 2).next_power_of_two().max(8);
        self.names.clear();
        self.names.resize(capacity, EMPTY_NAME);
        let mask = capacity - 1;
        for (i, family) in families.iter().enumerate() {
            let index = i as u32;
            let hash = name_hash(self.keys, &family.name) | 1;
            let mut slot = hash as usize & mask;
            loop {
                let entry = self.names[slot];
                if entry.hash == 0 {
                    self.names[slot] = NameSlot { hash, group: self.groups.len() as u32 };
                    self.groups.push(Group { head: index, tail: index, samples: family.samples.len() });
                    break;
                }
                if entry.hash == hash {
                    let group = &mut self.groups[entry.group as usize];
                    let first = &families[group.head as usize];
                    if first.name == family.name {
                        if first.metric_type == family.metric_type {
                            self.next[group.tail as usize] = index;
                            group.tail = index;
                            group.samples += family.samples.len();
                        } else {
                            report.conflicting_families += 1;
                        }
                        break;
                    }
                }
                slot = (slot + 1) & mask;
            }
        }
    }

    fn write_group(&mut self, families: &[MetricFamily], group: Group, w: &mut Writer<'_>, report: &mut EncodeReport) {
        let first = &families[group.head as usize];
        let metric_type = first.metric_type;
        let text = w.format == Format::Text;
        // The suffix every counter value is written with, so that all of a
        // counter's lines carry the name its `# TYPE` line announces.
        let counter_suffix = if !text {
            Suffix::Total
        } else if self.first_counter_suffix(families, group) == Suffix::None {
            Suffix::None
        } else {
            Suffix::Total
        };
        w.header(first, counter_suffix);

        let check = group.samples > 1;
        if check {
            self.start_series_table(group.samples);
        }
        let name = first.name.as_bytes();
        let mut f = group.head;
        while f != NONE {
            let family = &families[f as usize];
            for (s, sample) in family.samples.iter().enumerate() {
                let suffix = written_suffix(metric_type, counter_suffix, sample.suffix);
                // client_golang leaves `_created` out of text 0.0.4, which
                // has no place for it.
                if text && suffix == Suffix::Created {
                    continue;
                }
                // OpenMetrics lets a series repeat with timestamps (a
                // history of points), so only untimed samples are checked.
                let mut escapes = Escapes::Unknown;
                if check && sample.timestamp.is_none() {
                    match self.insert_series(families, (metric_type, counter_suffix), f, s, suffix) {
                        Some(known) => escapes = known,
                        None => {
                            report.duplicate_series += 1;
                            continue;
                        }
                    }
                }
                w.sample(name, suffix, sample, escapes);
            }
            f = self.next[f as usize];
        }
    }

    /// The suffix of the first counter value in `group`: text 0.0.4 names a
    /// counter's lines after it (`Total` when there are none).
    fn first_counter_suffix(&self, families: &[MetricFamily], group: Group) -> Suffix {
        let mut f = group.head;
        while f != NONE {
            let family = &families[f as usize];
            if let Some(s) = family.samples.iter().find(|s| matches!(s.suffix, Suffix::None | Suffix::Total)) {
                return s.suffix;
            }
            f = self.next[f as usize];
        }
        Suffix::Total
    }

    /// Empties the series table, sized for `samples` at most half full.
    fn start_series_table(&mut self, samples: usize) {
        let capacity = (samples * 2).next_power_of_two();
        self.series_mask = capacity - 1;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Stamps are about to repeat: really clear the table, once
            // every four billion groups.
            self.series.clear();
            self.generation = 1;
        }
        if self.series.len() < capacity {
            self.series.resize(capacity, EMPTY_SERIES);
        }
    }

    /// Records the series of `families[f].samples[s]` (with its written
    /// `suffix`); `None` when the group already holds it, else whether its
    /// label values need escaping. `spelling` is the group's type and
    /// counter suffix, which [`written_suffix`] needs.
    fn insert_series(
        &mut self,
        families: &[MetricFamily],
        spelling: (MetricType, Suffix),
        f: u32,
        s: usize,
        suffix: Suffix,
    ) -> Option<Escapes> {
        let sample = &families[f as usize].samples[s];
        let (full, escapes) = series_hash(self.keys, suffix, &sample.labels);
        let hash = (full >> 32) as u32;
        let mask = self.series_mask;
        let mut slot = full as usize & mask;
        loop {
            let entry = self.series[slot];
            if entry.generation != self.generation {
                self.series[slot] = SeriesSlot { generation: self.generation, hash, family: f, sample: s as u32 };
                return Some(if escapes { Escapes::Some } else { Escapes::None });
            }
            if entry.hash == hash {
                let other = &families[entry.family as usize].samples[entry.sample as usize];
                if written_suffix(spelling.0, spelling.1, other.suffix) == suffix
                    && other.labels.same_set(&sample.labels)
                {
                    return None;
                }
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// The suffix a sample is written (and compared) with: all of a counter's
/// values take `counter_suffix`, so that they carry the name its `# TYPE`
/// line announces, and an info value is always `_info`.
#[inline]
fn written_suffix(metric_type: MetricType, counter_suffix: Suffix, suffix: Suffix) -> Suffix {
    match (metric_type, suffix) {
        (MetricType::Counter, Suffix::None | Suffix::Total) => counter_suffix,
        (MetricType::Info, Suffix::None) => Suffix::Info,
        (_, suffix) => suffix,
    }
}

// A multiply-fold hash in the manner of wyhash and foldhash: strings of up
// to 8 bytes (most label names and values) cost one load and share one
// multiply per label, several times cheaper than SipHash, which matters
// because the duplicate check hashes every label of every sample.
const K1: u64 = 0x243f_6a88_85a3_08d3;
const K2: u64 = 0x1319_8a2e_0370_7344;

/// Random keys of one encoder.
#[derive(Debug, Clone, Copy)]
struct Keys {
    name: u64,
    value: u64,
    set: u64,
}

impl Keys {
    fn random() -> Self {
        let state = RandomState::new();
        Keys { name: state.hash_one(1u8), value: state.hash_one(2u8), set: state.hash_one(3u8) }
    }
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

#[inline]
fn read_u32(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, |b| u64::from(u32::from_le_bytes(b)))
}

#[inline]
fn read_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, u64::from_le_bytes)
}

/// Up to 8 bytes as one word; with the length, no two such strings share it.
#[inline]
fn short_word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    if len >= 4 {
        // Two overlapping reads cover every byte of 4..=8.
        (read_u32(&bytes[len - 4..]) << 32) | read_u32(&bytes[..4])
    } else if len > 0 {
        (u64::from(bytes[0]) << 16) | (u64::from(bytes[len / 2]) << 8) | u64::from(bytes[len - 1])
    } else {
        0
    }
}

/// A 64-bit digest of `bytes`; only its combination by [`fold_mul`] with
/// a key has to spread well.
#[inline]
fn digest(bytes: &[u8]) -> u64 {
    // Once inlined, the unused escape check compiles away.
    digest_value(bytes).0
}

fn name_hash(keys: Keys, name: &str) -> u64 {
    fold_mul(digest(name.as_bytes()) ^ keys.name, keys.value)
}

/// [`digest`] of a label value, and (nonzero) whether it needs escaping:
/// the words the digest reads cover every byte, so the check comes almost
/// free.
#[inline(always)]
fn digest_value(bytes: &[u8]) -> (u64, u64) {
    let len = bytes.len();
    if len <= 8 {
        let word = short_word(bytes);
        return (word ^ ((len as u64) << 59), escape_bits(word));
    }
    let mut h = len as u64;
    let mut escapes = 0;
    let mut rest = bytes;
    while rest.len() > 16 {
        let (a, b) = (read_u64(&rest[..8]), read_u64(&rest[8..16]));
        escapes |= escape_bits(a) | escape_bits(b);
        h = fold_mul(a ^ h, b ^ K1);
        rest = &rest[16..];
    }
    let (a, b) =
        if rest.len() > 8 { (read_u64(&rest[..8]), read_u64(&rest[rest.len() - 8..])) } else { (short_word(rest), 0) };
    (fold_mul(a ^ h, b ^ K2), escapes | escape_bits(a) | escape_bits(b))
}

/// A hash of (suffix, label set) that ignores label order (per-label
/// hashes are combined with addition, which commutes), and whether any
/// label value needs escaping.
#[inline]
fn series_hash(keys: Keys, suffix: Suffix, labels: &Labels) -> (u64, bool) {
    let mut sum = suffix as u64;
    let mut escapes = 0;
    for label in labels {
        let (value, value_escapes) = digest_value(label.value.as_bytes());
        escapes |= value_escapes;
        sum = sum.wrapping_add(fold_mul(digest(label.name.as_bytes()) ^ keys.name, value ^ keys.value));
    }
    (fold_mul(sum ^ keys.set, K1 ^ labels.len() as u64), escapes != 0)
}

/// What is known of the escapes a sample's label values need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escapes {
    /// Not checked yet: check each value.
    Unknown,
    /// No value needs escaping.
    None,
    /// Some value may.
    Some,
}

/// The output buffer and the format being written.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    format: Format,
}

impl Writer<'_> {
    fn header(&mut self, family: &MetricFamily, counter_suffix: Suffix) {
        let header = Header {
            name: &family.name,
            help: &family.help,
            unit: family.unit.as_deref(),
            metric_type: family.metric_type,
        };
        write_header(self.out, self.format, &header, counter_suffix);
    }

    #[inline]
    fn sample(&mut self, name: &[u8], suffix: Suffix, sample: &Sample, escapes: Escapes) {
        let out = &mut *self.out;
        out.extend_from_slice(name);
        out.extend_from_slice(suffix.as_str().as_bytes());
        write_labels(out, &sample.labels, escapes);
        out.push(b' ');
        write_value(out, sample.value);
        match self.format {
            Format::Text => {
                if let Some(ts) = sample.timestamp {
                    write_millis(out, ts);
                }
            }
            Format::OpenMetrics => {
                if let Some(ts) = sample.timestamp {
                    write_seconds(out, ts);
                }
                if let Some(exemplar) = &sample.exemplar {
                    write_exemplar(out, exemplar);
                }
            }
        }
        out.push(b'\n');
    }
}

/// What a family's comment lines say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header<'a> {
    pub(crate) name: &'a str,
    pub(crate) help: &'a str,
    pub(crate) unit: Option<&'a str>,
    pub(crate) metric_type: MetricType,
}

/// Writes the `# HELP` / `# TYPE` / `# UNIT` lines of a family in
/// `format`; `counter_suffix` is the suffix text 0.0.4 names a counter with.
pub(crate) fn write_header(out: &mut Vec<u8>, format: Format, header: &Header<'_>, counter_suffix: Suffix) {
    let name = header.name.as_bytes();
    match format {
        Format::Text => {
            let (type_name, suffix): (&[u8], Suffix) = match header.metric_type {
                MetricType::Counter => (b"counter", counter_suffix),
                MetricType::Gauge | MetricType::StateSet => (b"gauge", Suffix::None),
                MetricType::Info => (b"gauge", Suffix::Info),
                MetricType::Histogram | MetricType::GaugeHistogram => (b"histogram", Suffix::None),
                MetricType::Summary => (b"summary", Suffix::None),
                MetricType::Unknown => (b"untyped", Suffix::None),
            };
            let suffix = suffix.as_str().as_bytes();
            if !header.help.is_empty() {
                out.extend_from_slice(b"# HELP ");
                out.extend_from_slice(name);
                out.extend_from_slice(suffix);
                out.push(b' ');
                write_help(out, header.help, false);
                out.push(b'\n');
            }
            out.extend_from_slice(b"# TYPE ");
            out.extend_from_slice(name);
            out.extend_from_slice(suffix);
            out.push(b' ');
            out.extend_from_slice(type_name);
            out.push(b'\n');
        }
        Format::OpenMetrics => {
            out.extend_from_slice(b"# TYPE ");
            out.extend_from_slice(name);
            out.push(b' ');
            out.extend_from_slice(header.metric_type.openmetrics_name().as_bytes());
            out.push(b'\n');
            if let Some(unit) = header.unit {
                out.extend_from_slice(b"# UNIT ");
                out.extend_from_slice(name);
                out.push(b' ');
                out.extend_from_slice(unit.as_bytes());
                out.push(b'\n');
            }
            if !header.help.is_empty() {
                out.extend_from_slice(b"# HELP ");
                out.extend_from_slice(name);
                out.push(b' ');
                write_help(out, header.help, true);
                out.push(b'\n');
            }
        }
    }
}

/// Appends `name="value"` to `out`, escaping the value as every sample
/// line does: a label pre-rendered once for the registry's direct path.
pub(crate) fn render_label(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    if needs_escape(value.as_bytes()) {
        write_escaped_slow(out, value.as_bytes(), true);
    } else {
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'"');
}

/// Writes the OpenMetrics `# EOF` line.
pub(crate) fn write_eof(out: &mut Vec<u8>) {
    out.extend_from_slice(b"# EOF\n");
}

#[inline(always)]
fn write_labels(out: &mut Vec<u8>, labels: &Labels, escapes: Escapes) {
    let mut labels = labels.iter();
    let Some(first) = labels.next() else { return };
    out.push(b'{');
    write_label(out, first, escapes);
    for label in labels {
        out.extend_from_slice(b"\",");
        write_label(out, label, escapes);
    }
    out.extend_from_slice(b"\"}");
}

/// Writes `name="value` (the closing quote goes with what follows).
#[inline(always)]
fn write_label(out: &mut Vec<u8>, label: &Label, escapes: Escapes) {
    out.extend_from_slice(label.name.as_bytes());
    out.extend_from_slice(b"=\"");
    let value = label.value.as_bytes();
    let escape = match escapes {
        Escapes::Unknown => needs_escape(value),
        Escapes::None => false,
        Escapes::Some => true,
    };
    if escape {
        write_escaped_slow(out, value, true);
    } else {
        out.extend_from_slice(value);
    }
}

pub(crate) fn write_exemplar(out: &mut Vec<u8>, exemplar: &Exemplar) {
    out.extend_from_slice(b" # ");
    // An exemplar always has braces, even with no labels.
    if exemplar.labels.is_empty() {
        out.extend_from_slice(b"{}");
    } else {
        write_labels(out, &exemplar.labels, Escapes::Unknown);
    }
    out.push(b' ');
    write_value(out, exemplar.value);
    if let Some(ts) = exemplar.timestamp {
        write_seconds(out, ts);
    }
}

/// Writes ` <ms>` for a timestamp in seconds; a non-finite one is left out,
/// since neither format can carry it.
fn write_millis(out: &mut Vec<u8>, seconds: f64) {
    let millis = (seconds * 1000.0).round();
    if millis.is_finite() {
        out.push(b' ');
        // `as` saturates; a timestamp beyond ±2^63 ms is nonsense anyway.
        out.extend_from_slice(itoa::Buffer::new().format(millis as i64).as_bytes());
    }
}

/// Writes ` <seconds>`; a non-finite timestamp is left out.
fn write_seconds(out: &mut Vec<u8>, seconds: f64) {
    if seconds.is_finite() {
        out.push(b' ');
        write_value(out, seconds);
    }
}

/// 2^53: below it every integer is exact in an f64 and `itoa` prints the
/// same number `ryu` would, only shorter (`3` rather than `3.0`) and faster.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Writes a value so that it parses back to the same f64 (NaN payloads
/// aside) in Prometheus, OpenMetrics and Rust parsers.
#[inline(always)]
pub(crate) fn write_value(out: &mut Vec<u8>, v: f64) {
    if v.abs() < EXACT_INT {
        let i = v as i64;
        // `-0` fails this test and goes the long way, which keeps its sign.
        if i as f64 == v && (i != 0 || v.is_sign_positive()) {
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            return;
        }
    }
    write_value_slow(out, v);
}

// Fractions and specials: out of line so that integers stay inline.
#[inline(never)]
fn write_value_slow(out: &mut Vec<u8>, v: f64) {
    // The only zero that gets here is `-0`.
    if v == 0.0 {
        out.extend_from_slice(b"-0");
    } else if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v > 0.0 {
        out.extend_from_slice(b"+Inf");
    } else {
        out.extend_from_slice(b"-Inf");
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bits set in the bytes of `word` that a label value must escape:
/// `\`, newline, `"`.
#[inline(always)]
fn escape_bits(word: u64) -> u64 {
    zero_bytes(word ^ (ONES * u64::from(b'\\')))
        | zero_bytes(word ^ (ONES * u64::from(b'\n')))
        | zero_bytes(word ^ (ONES * u64::from(b'"')))
}

/// Nonzero when some byte of `x` is zero (exact as a test, from Hacker's
/// Delight; the bits above a zero byte may be spurious).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// True when a label value holds `\`, newline or `"`; eight bytes at a
/// time, since almost no value needs escaping.
#[inline(always)]
fn needs_escape(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        if escape_bits(read_u64(chunk)) != 0 {
            return true;
        }
    }
    // The short word repeats some bytes and pads with zeros, neither of
    // which can invent a match.
    escape_bits(short_word(chunks.remainder())) != 0
}

/// Writes help text, escaping `\` and newline, and `"` too when `quote`
/// is set (OpenMetrics).
fn write_help(out: &mut Vec<u8>, help: &str, quote: bool) {
    write_escaped_slow(out, help.as_bytes(), quote);
}

/// Writes `bytes` escaping `\\` and newline, and `"` too when `quote` is set.
// Out of line so that the common path, a plain copy, inlines.
#[cold]
#[inline(never)]
fn write_escaped_slow(out: &mut Vec<u8>, bytes: &[u8], quote: bool) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Label, Labels};

    fn text(families: &[MetricFamily]) -> (String, EncodeReport) {
        encode_to_string(families, Format::Text)
    }

    fn om(families: &[MetricFamily]) -> (String, EncodeReport) {
        encode_to_string(families, Format::OpenMetrics)
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn sample(suffix: Suffix, pairs: &[(&str, &str)], value: f64) -> Sample {
        Sample::new(suffix, labels(pairs), value)
    }

    fn family(name: &str, help: &str, metric_type: MetricType, samples: Vec<Sample>) -> MetricFamily {
        MetricFamily { samples, ..MetricFamily::new(name, help, metric_type) }
    }

    fn value(v: f64) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escaping_in_text() {
        let fam = family(
            "esc",
            "a \\ b\nc \"q\"",
            MetricType::Gauge,
            vec![sample(Suffix::None, &[("path", "C:\\x\n\"y\"")], 1.0)],
        );
        let (out, _) = text(&[fam]);
        assert_eq!(out, "# HELP esc a \\\\ b\\nc \"q\"\n# TYPE esc gauge\nesc{path=\"C:\\\\x\\n\\\"y\\\"\"} 1\n");
    }

    #[test]
    fn escaping_in_openmetrics() {
        let fam = family(
            "esc",
            "a \\ b\nc \"q\"",
            MetricType::Gauge,
            vec![sample(Suffix::None, &[("path", "C:\\x\n\"y\"")], 1.0)],
        );
        let (out, _) = om(&[fam]);
        assert_eq!(
            out,
            "# TYPE esc gauge\n# HELP esc a \\\\ b\\nc \\\"q\\\"\nesc{path=\"C:\\\\x\\n\\\"y\\\"\"} 1\n# EOF\n"
        );
    }

    #[test]
    fn empty_input() {
        assert_eq!(text(&[]).0, "");
        assert_eq!(om(&[]).0, "# EOF\n");
    }

    #[test]
    fn appends_to_the_buffer() {
        let mut out = b"keep\n".to_vec();
        encode(&[MetricFamily::gauge("g", "").with_sample(Labels::new(), 2.0)], Format::Text, &mut out);
        assert_eq!(out, b"keep\n# TYPE g gauge\ng 2\n");
    }

    fn counter() -> MetricFamily {
        let mut fam = MetricFamily::counter("http_requests", "Requests served.");
        fam.push(labels(&[("code", "200"), ("method", "GET")]), 1027.0);
        fam.push_sample(sample(Suffix::Created, &[("code", "200"), ("method", "GET")], 1.7e9));
        fam
    }

    #[test]
    fn counter_with_total() {
        assert_eq!(
            text(&[counter()]).0,
            "# HELP http_requests_total Requests served.\n\
             # TYPE http_requests_total counter\n\
             http_requests_total{code=\"200\",method=\"GET\"} 1027\n"
        );
        assert_eq!(
            om(&[counter()]).0,
            "# TYPE http_requests counter\n\
             # HELP http_requests Requests served.\n\
             http_requests_total{code=\"200\",method=\"GET\"} 1027\n\
             http_requests_created{code=\"200\",method=\"GET\"} 1700000000\n\
             # EOF\n"
        );
    }

    #[test]
    fn counter_without_total() {
        let fam = family("jobs_done", "", MetricType::Counter, vec![sample(Suffix::None, &[], 3.0)]);
        assert_eq!(text(std::slice::from_ref(&fam)).0, "# TYPE jobs_done counter\njobs_done 3\n");
        assert_eq!(om(&[fam]).0, "# TYPE jobs_done counter\njobs_done_total 3\n# EOF\n");
    }

    #[test]
    fn counter_without_samples_takes_total() {
        let fam = MetricFamily::counter("c", "");
        assert_eq!(text(std::slice::from_ref(&fam)).0, "# TYPE c_total counter\n");
        assert_eq!(om(&[fam]).0, "# TYPE c counter\n# EOF\n");
    }

    #[test]
    fn gauge_with_unit() {
        let fam = MetricFamily::gauge("temp_celsius", "Temperature.")
            .with_unit("celsius")
            .with_sample(labels(&[("sensor", "a")]), 21.5);
        assert_eq!(
            text(std::slice::from_ref(&fam)).0,
            "# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\ntemp_celsius{sensor=\"a\"} 21.5\n"
        );
        assert_eq!(
            om(&[fam]).0,
            "# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\n# HELP temp_celsius Temperature.\n\
             temp_celsius{sensor=\"a\"} 21.5\n# EOF\n"
        );
    }

    fn histogram(metric_type: MetricType) -> MetricFamily {
        let (count, sum) = match metric_type {
            MetricType::GaugeHistogram => (Suffix::Gcount, Suffix::Gsum),
            _ => (Suffix::Count, Suffix::Sum),
        };
        family(
            "rt_seconds",
            "Response time.",
            metric_type,
            vec![
                sample(Suffix::Bucket, &[("path", "/"), ("le", "0.1")], 2.0),
                sample(Suffix::Bucket, &[("path", "/"), ("le", "1.0")], 3.0),
                sample(Suffix::Bucket, &[("path", "/"), ("le", "+Inf")], 4.0),
                sample(count, &[("path", "/")], 4.0),
                sample(sum, &[("path", "/")], 2.25),
            ],
        )
    }

    #[test]
    fn histogram_in_both_formats() {
        let mut fam = histogram(MetricType::Histogram);
        fam.push_sample(sample(Suffix::Created, &[("path", "/")], 1.5));
        assert_eq!(
            text(std::slice::from_ref(&fam)).0,
            "# HELP rt_seconds Response time.\n# TYPE rt_seconds histogram\n\
             rt_seconds_bucket{path=\"/\",le=\"0.1\"} 2\n\
             rt_seconds_bucket{path=\"/\",le=\"1.0\"} 3\n\
             rt_seconds_bucket{path=\"/\",le=\"+Inf\"} 4\n\
             rt_seconds_count{path=\"/\"} 4\n\
             rt_seconds_sum{path=\"/\"} 2.25\n"
        );
        assert_eq!(
            om(&[fam]).0,
            "# TYPE rt_seconds histogram\n# HELP rt_seconds Response time.\n\
             rt_seconds_bucket{path=\"/\",le=\"0.1\"} 2\n\
             rt_seconds_bucket{path=\"/\",le=\"1.0\"} 3\n\
             rt_seconds_bucket{path=\"/\",le=\"+Inf\"} 4\n\
             rt_seconds_count{path=\"/\"} 4\n\
             rt_seconds_sum{path=\"/\"} 2.25\n\
             rt_seconds_created{path=\"/\"} 1.5\n# EOF\n"
        );
    }

    #[test]
    fn gauge_histogram_in_both_formats() {
        let fam = histogram(MetricType::GaugeHistogram);
        let body = "rt_seconds_bucket{path=\"/\",le=\"0.1\"} 2\n\
                    rt_seconds_bucket{path=\"/\",le=\"1.0\"} 3\n\
                    rt_seconds_bucket{path=\"/\",le=\"+Inf\"} 4\n\
                    rt_seconds_gcount{path=\"/\"} 4\n\
                    rt_seconds_gsum{path=\"/\"} 2.25\n";
        assert_eq!(
            text(std::slice::from_ref(&fam)).0,
            format!("# HELP rt_seconds Response time.\n# TYPE rt_seconds histogram\n{body}")
        );
        assert_eq!(
            om(&[fam]).0,
            format!("# TYPE rt_seconds gaugehistogram\n# HELP rt_seconds Response time.\n{body}# EOF\n")
        );
    }

    #[test]
    fn summary_in_both_formats() {
        let fam = family(
            "lat",
            "",
            MetricType::Summary,
            vec![
                sample(Suffix::None, &[("quantile", "0.5")], 0.25),
                sample(Suffix::None, &[("quantile", "0.99")], f64::NAN),
                sample(Suffix::Count, &[], 7.0),
                sample(Suffix::Sum, &[], 1.75),
                sample(Suffix::Created, &[], 1.0),
            ],
        );
        let body = "lat{quantile=\"0.5\"} 0.25\nlat{quantile=\"0.99\"} NaN\nlat_count 7\nlat_sum 1.75\n";
        assert_eq!(text(std::slice::from_ref(&fam)).0, format!("# TYPE lat summary\n{body}"));
        assert_eq!(om(&[fam]).0, format!("# TYPE lat summary\n{body}lat_created 1\n# EOF\n"));
    }

    #[test]
    fn info_and_stateset() {
        let info =
            family("build", "Build facts.", MetricType::Info, vec![sample(Suffix::Info, &[("version", "1.2.3")], 1.0)]);
        let states = family(
            "door",
            "",
            MetricType::StateSet,
            vec![sample(Suffix::None, &[("door", "open")], 1.0), sample(Suffix::None, &[("door", "shut")], 0.0)],
        );
        let families = [info, states];
        assert_eq!(
            text(&families).0,
            "# HELP build_info Build facts.\n# TYPE build_info gauge\nbuild_info{version=\"1.2.3\"} 1\n\
             # TYPE door gauge\ndoor{door=\"open\"} 1\ndoor{door=\"shut\"} 0\n"
        );
        assert_eq!(
            om(&families).0,
            "# TYPE build info\n# HELP build Build facts.\nbuild_info{version=\"1.2.3\"} 1\n\
             # TYPE door stateset\ndoor{door=\"open\"} 1\ndoor{door=\"shut\"} 0\n# EOF\n"
        );
    }

    #[test]
    fn unknown_is_untyped_in_text() {
        let fam = family("x", "", MetricType::Unknown, vec![sample(Suffix::None, &[], 1.0)]);
        assert_eq!(text(std::slice::from_ref(&fam)).0, "# TYPE x untyped\nx 1\n");
        assert_eq!(om(&[fam]).0, "# TYPE x unknown\nx 1\n# EOF\n");
    }

    #[test]
    fn timestamps() {
        let mut fam = MetricFamily::gauge("g", "");
        fam.push_sample(Sample { timestamp: Some(1_520_879_607.789), ..sample(Suffix::None, &[("a", "1")], 1.0) });
        fam.push_sample(Sample { timestamp: Some(1_520_879_607.0), ..sample(Suffix::None, &[("a", "2")], 2.0) });
        fam.push_sample(Sample { timestamp: Some(f64::NAN), ..sample(Suffix::None, &[("a", "3")], 3.0) });
        assert_eq!(
            text(std::slice::from_ref(&fam)).0,
            "# TYPE g gauge\ng{a=\"1\"} 1 1520879607789\ng{a=\"2\"} 2 1520879607000\ng{a=\"3\"} 3\n"
        );
        assert_eq!(
            om(&[fam]).0,
            "# TYPE g gauge\ng{a=\"1\"} 1 1520879607.789\ng{a=\"2\"} 2 1520879607\ng{a=\"3\"} 3\n# EOF\n"
        );
    }

    #[test]
    fn exemplars_only_in_openmetrics() {
        let mut fam = MetricFamily::counter("hits", "");
        fam.push_sample(Sample {
            exemplar: Some(Exemplar { labels: labels(&[("trace_id", "abc")]), value: 0.5, timestamp: Some(1.25) }),
            ..sample(Suffix::Total, &[], 4.0)
        });
        fam.push_sample(Sample {
            exemplar: Some(Exemplar { labels: Labels::new(), value: 1.0, timestamp: None }),
            ..sample(Suffix::Total, &[("a", "b")], 5.0)
        });
        assert_eq!(
            text(std::slice::from_ref(&fam)).0,
            "# TYPE hits_total counter\nhits_total 4\nhits_total{a=\"b\"} 5\n"
        );
        assert_eq!(
            om(&[fam]).0,
            "# TYPE hits counter\nhits_total 4 # {trace_id=\"abc\"} 0.5 1.25\nhits_total{a=\"b\"} 5 # {} 1\n# EOF\n"
        );
    }

    #[test]
    fn escapes_are_found_at_every_position() {
        for len in 0..40 {
            let plain = "a".repeat(len);
            assert!(!needs_escape(plain.as_bytes()));
            assert_eq!(digest_value(plain.as_bytes()).1, 0);
            for at in 0..len {
                for c in [b'\\', b'\n', b'"'] {
                    let mut s = plain.clone().into_bytes();
                    s[at] = c;
                    assert!(needs_escape(&s), "{len} {at} {c}");
                    assert_ne!(digest_value(&s).1, 0, "{len} {at} {c}");
                }
            }
        }
    }

    #[test]
    fn escaping_on_the_checked_path() {
        // Several samples take the duplicate check, which finds the escapes.
        let mut fam = MetricFamily::gauge("g", "");
        for value in ["plain", "a\"b", "long value with a \\ late in it", "new\nline"] {
            fam.push(labels(&[("first", "x"), ("v", value)]), 1.0);
        }
        assert_eq!(
            text(&[fam]).0,
            "# TYPE g gauge\n\
             g{first=\"x\",v=\"plain\"} 1\n\
             g{first=\"x\",v=\"a\\\"b\"} 1\n\
             g{first=\"x\",v=\"long value with a \\\\ late in it\"} 1\n\
             g{first=\"x\",v=\"new\\nline\"} 1\n"
        );
    }

    #[test]
    fn special_values() {
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(value(-0.0), "-0");
        assert_eq!(value(0.0), "0");
        assert_eq!(value(-3.0), "-3");
        assert_eq!(value(9_007_199_254_740_991.0), "9007199254740991");
        assert_eq!(value(9_007_199_254_740_992.0), "9007199254740992.0");
        assert_eq!(value(1e300), "1e300");
        assert_eq!(value(-2.5e-300), "-2.5e-300");
        assert_eq!(value(5e-324), "5e-324");
        assert_eq!(value(f64::MAX), "1.7976931348623157e308");
        assert_eq!(value(0.1), "0.1");
    }

    proptest::proptest! {
        #[test]
        fn values_round_trip(bits in proptest::prelude::any::<u64>()) {
            let v = f64::from_bits(bits);
            let parsed: f64 = value(v).parse().unwrap();
            if v.is_nan() {
                proptest::prop_assert!(parsed.is_nan());
            } else {
                proptest::prop_assert_eq!(parsed.to_bits(), v.to_bits());
            }
        }
    }

    #[test]
    fn split_families_are_merged() {
        let a1 = MetricFamily::gauge("a", "First.").with_sample(labels(&[("x", "1")]), 1.0);
        let b = MetricFamily::gauge("b", "").with_sample(Labels::new(), 9.0);
        let a2 = MetricFamily::gauge("a", "Second.").with_sample(labels(&[("x", "2")]), 2.0);
        let (out, report) = text(&[a1, b, a2]);
        assert_eq!(out, "# HELP a First.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"2\"} 2\n# TYPE b gauge\nb 9\n");
        assert_eq!(report, EncodeReport::default());
    }

    #[test]
    fn conflicting_types_are_dropped() {
        let a = MetricFamily::gauge("a", "").with_sample(Labels::new(), 1.0);
        let a_counter = MetricFamily::counter("a", "").with_sample(labels(&[("y", "1")]), 5.0);
        let a_more = MetricFamily::gauge("a", "").with_sample(labels(&[("y", "2")]), 2.0);
        let (out, report) = om(&[a, a_counter.clone(), a_counter, a_more]);
        assert_eq!(out, "# TYPE a gauge\na 1\na{y=\"2\"} 2\n# EOF\n");
        assert_eq!(report, EncodeReport { duplicate_series: 0, conflicting_families: 2 });
    }

    #[test]
    fn duplicates_are_dropped_whatever_the_label_order() {
        let mut fam = MetricFamily::counter("c", "");
        fam.push(labels(&[("a", "1"), ("b", "2")]), 1.0);
        fam.push(labels(&[("b", "2"), ("a", "1")]), 2.0);
        fam.push(labels(&[("a", "1"), ("b", "3")]), 3.0);
        // Written alike in both formats: one series.
        fam.push_sample(sample(Suffix::None, &[("a", "1"), ("b", "3")], 4.0));
        fam.push_sample(sample(Suffix::Created, &[("b", "2"), ("a", "1")], 5.0));
        let other = MetricFamily::counter("c", "").with_sample(labels(&[("b", "3"), ("a", "1")]), 6.0);
        let families = [fam, other];
        let (out, report) = text(&families);
        assert_eq!(out, "# TYPE c_total counter\nc_total{a=\"1\",b=\"2\"} 1\nc_total{a=\"1\",b=\"3\"} 3\n");
        assert_eq!(report, EncodeReport { duplicate_series: 3, conflicting_families: 0 });
        let (out, report) = om(&families);
        assert_eq!(
            out,
            "# TYPE c counter\nc_total{a=\"1\",b=\"2\"} 1\nc_total{a=\"1\",b=\"3\"} 3\nc_created{b=\"2\",a=\"1\"} 5\n# EOF\n"
        );
        assert_eq!(report, EncodeReport { duplicate_series: 3, conflicting_families: 0 });
    }

    #[test]
    fn duplicates_of_a_counter_without_total() {
        // As parsed from text 0.0.4: the counter keeps its bare name.
        let fam = family(
            "jobs",
            "",
            MetricType::Counter,
            vec![sample(Suffix::None, &[("a", "1")], 1.0), sample(Suffix::None, &[("a", "1")], 2.0)],
        );
        let (out, report) = text(std::slice::from_ref(&fam));
        assert_eq!(out, "# TYPE jobs counter\njobs{a=\"1\"} 1\n");
        assert_eq!(report.duplicate_series, 1);
        let (out, report) = om(&[fam]);
        assert_eq!(out, "# TYPE jobs counter\njobs_total{a=\"1\"} 1\n# EOF\n");
        assert_eq!(report.duplicate_series, 1);
    }

    #[test]
    fn label_sets_that_differ_only_in_pairing_are_distinct() {
        let fam = MetricFamily::gauge("g", "")
            .with_sample(labels(&[("a", "1"), ("b", "2")]), 1.0)
            .with_sample(labels(&[("a", "2"), ("b", "1")]), 2.0)
            .with_sample(labels(&[("a", "12")]), 3.0)
            .with_sample(labels(&[("a1", "2")]), 4.0)
            .with_sample(Labels::new(), 5.0)
            .with_sample(labels(&[("a", "")]), 6.0);
        let (out, report) = text(&[fam]);
        assert_eq!(out.lines().count(), 7);
        assert_eq!(report, EncodeReport::default());
    }

    #[test]
    fn duplicates_with_timestamps_are_kept() {
        // The OpenMetrics corpus case `duplicate_timestamps_1`.
        let mut fam = MetricFamily::gauge("a", "help");
        for (a, v) in [("1", 1.0), ("1", 2.0), ("1", 3.0), ("2", 4.0), ("2", 5.0)] {
            fam.push_sample(Sample { timestamp: Some(0.0), ..sample(Suffix::None, &[("a", a), ("foo", "bar")], v) });
        }
        let (out, report) = om(&[fam]);
        assert_eq!(
            out,
            "# TYPE a gauge\n# HELP a help\n\
             a{a=\"1\",foo=\"bar\"} 1 0\na{a=\"1\",foo=\"bar\"} 2 0\na{a=\"1\",foo=\"bar\"} 3 0\n\
             a{a=\"2\",foo=\"bar\"} 4 0\na{a=\"2\",foo=\"bar\"} 5 0\n# EOF\n"
        );
        assert_eq!(report, EncodeReport::default());
    }

    #[test]
    fn many_series_with_a_reused_encoder() {
        let mut big = MetricFamily::gauge("big", "");
        for i in 0..1000 {
            big.push(Labels(vec![Label::new("i", i.to_string()), Label::new("j", (i % 7).to_string())]), f64::from(i));
        }
        let mut dup = big.clone();
        dup.samples.truncate(10);
        let families = [big, dup];
        let mut encoder = Encoder::new();
        for _ in 0..2 {
            let mut out = Vec::new();
            let report = encoder.encode(&families, Format::Text, &mut out);
            assert_eq!(report, EncodeReport { duplicate_series: 10, conflicting_families: 0 });
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1001);
        }
    }
}
