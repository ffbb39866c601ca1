//! The window store: the last few minutes of samples, per series, in memory.
//!
//! The evaluator reads only this. Samples arrive from the agent's own
//! collectors (fed directly as [`MetricFamily`] values, never through HTTP)
//! and from scraped targets (parsed text, the same model). Each series is
//! keyed by its full label set including `__name__` (the sample's exposed
//! name: `x_total`, `x_bucket{le}`, …) and keeps a time-ordered buffer of
//! `(timestamp ms, value)` points no older than [`StoreConfig::retention`]
//! behind its newest point. Set the retention to the longest range any rule
//! uses plus the 5-minute lookback.
//!
//! Bounds: at most [`StoreConfig::max_series`] series (samples of new series
//! beyond it are refused and counted in [`WindowStore::dropped_series_total`]);
//! series not seen for [`SERIES_TTL`] are dropped by [`WindowStore::gc`].
//!
//! # Memory per series
//!
//! Label names and values are interned (one `Arc<str>` per distinct string,
//! shared by every series that uses it), a label set is one `Arc<[(Arc<str>,
//! Arc<str>)]>` (32 bytes per label), points are 16 bytes each in one `Vec`
//! whose oldest points are trimmed on append. Measured by
//! `store::tests::memory_per_series` (10,000 series of 6 labels with 30 points
//! each, 15 s apart): **about 0.85–0.95 KiB per series** (844 bytes by
//! [`WindowStore::approx_bytes`], ~950 bytes of RSS growth when the test runs
//! alone), of which 480 bytes are the points themselves. For comparison,
//! Prometheus' head block needs several KiB per active series.
//!
//! # Staleness
//!
//! A target that stops exposing a series gets a staleness marker (the NaN
//! with bits [`STALE_NAN_BITS`], as Prometheus writes it) on its next append
//! through [`WindowStore::append_families_from`]; the evaluator treats a
//! marker as "no value" from that point on.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use sonde_instrument::{Labels, MetricFamily};

/// The bit pattern Prometheus uses for a staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A series whose newest point is older than this is dropped by [`WindowStore::gc`].
pub const SERIES_TTL: Duration = Duration::from_secs(300);

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// The staleness marker as a value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `v` is a staleness marker (not any NaN: only the marker's bits).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// An interned string (label name or value).
pub type Sym = Arc<str>;

/// An immutable, sorted (by name) set of labels without empty values.
///
/// Cloning is a reference-count bump. Two sets are equal when they hold the
/// same pairs.
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct LabelSet(Arc<[(Sym, Sym)]>);

impl LabelSet {
    /// The empty set.
    pub fn empty() -> Self {
        LabelSet(Arc::from(Vec::new()))
    }

    /// A set from pairs: sorts them by name, drops empty values, keeps the
    /// last of duplicate names.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut v: Vec<(Sym, Sym)> = pairs
            .into_iter()
            .filter(|(_, val)| !val.as_ref().is_empty())
            .map(|(n, val)| (Sym::from(n.as_ref()), Sym::from(val.as_ref())))
            .collect();
        Self::normalize(&mut v);
        LabelSet(Arc::from(v))
    }

    /// A set from already interned pairs (sorted or not).
    pub fn from_syms(mut v: Vec<(Sym, Sym)>) -> Self {
        v.retain(|(_, val)| !val.is_empty());
        Self::normalize(&mut v);
        LabelSet(Arc::from(v))
    }

    /// A set from pairs known to be sorted by name, unique and non-empty.
    pub(crate) fn from_sorted(v: Vec<(Sym, Sym)>) -> Self {
        LabelSet(Arc::from(v))
    }

    fn normalize(v: &mut Vec<(Sym, Sym)>) {
        // Stable sort keeps insertion order among equal names: keep the last.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Sym, Sym)> = Vec::with_capacity(v.len());
        for pair in v.drain(..) {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        *v = out;
    }

    /// From the instrument model's labels.
    pub fn from_labels(labels: &Labels) -> Self {
        Self::from_pairs(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// To the instrument model's labels (sorted by name).
    pub fn to_labels(&self) -> Labels {
        Labels(
            self.iter()
                .map(|(n, v)| sonde_instrument::Label::new(n, v))
                .collect(),
        )
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, v)| v.as_ref())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(Sym, Sym)] {
        &self.0
    }

    /// Iterates over `(name, value)`, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The set without `__name__` (no allocation when there is none).
    pub fn without_name(&self) -> LabelSet {
        if self.get(METRIC_NAME).is_none() {
            return self.clone();
        }
        self.filter(|n| n != METRIC_NAME)
    }

    /// The set keeping only the labels for which `keep(name)` is true.
    pub fn filter(&self, mut keep: impl FnMut(&str) -> bool) -> LabelSet {
        LabelSet::from_sorted(self.0.iter().filter(|(n, _)| keep(n)).cloned().collect())
    }

    /// The set with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> LabelSet {
        let mut v: Vec<(Sym, Sym)> = self
            .0
            .iter()
            .filter(|(n, _)| n.as_ref() != name)
            .cloned()
            .collect();
        if !value.is_empty() {
            let at = v.partition_point(|(n, _)| n.as_ref() < name);
            v.insert(at, (Sym::from(name), Sym::from(value)));
        }
        LabelSet::from_sorted(v)
    }

    /// A 64-bit hash of the whole set.
    pub fn hash64(&self) -> u64 {
        hash_pairs(self.iter())
    }
}

/// Hash of `(name, value)` pairs in the given order; the same function the
/// store uses to find a series from borrowed labels.
pub fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut h = DefaultHasher::new();
    for (n, v) in pairs {
        h.write(n.as_bytes());
        h.write_u8(0xff);
        h.write(v.as_bytes());
        h.write_u8(0xfe);
    }
    h.finish()
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prometheus' notation: `name{a="b", c="d"}`, `{}` when empty.
impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (n, v) in self.iter() {
            if n == METRIC_NAME {
                continue;
            }
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// How a [`LabelMatcher`] compares.
#[derive(Debug, Clone)]
pub enum MatchKind {
    /// `=`
    Equal(String),
    /// `!=`
    NotEqual(String),
    /// `=~` (the regex is fully anchored and `.` matches newline)
    Regex(Regex),
    /// `!~`
    NotRegex(Regex),
}

/// One label matcher, compiled. A missing label matches as the empty string.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub kind: MatchKind,
}

impl LabelMatcher {
    /// `name = value`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        LabelMatcher {
            name: name.into(),
            kind: MatchKind::Equal(value.into()),
        }
    }

    /// A regex matcher (`negate` for `!~`), anchored as PromQL anchors it.
    pub fn regex(
        name: impl Into<String>,
        pattern: &str,
        negate: bool,
    ) -> Result<Self, regex::Error> {
        let re = compile_anchored(pattern)?;
        let kind = if negate {
            MatchKind::NotRegex(re)
        } else {
            MatchKind::Regex(re)
        };
        Ok(LabelMatcher {
            name: name.into(),
            kind,
        })
    }

    /// True when `value` (empty for a missing label) passes.
    pub fn matches(&self, value: &str) -> bool {
        match &self.kind {
            MatchKind::Equal(v) => v == value,
            MatchKind::NotEqual(v) => v != value,
            MatchKind::Regex(re) => re.is_match(value),
            MatchKind::NotRegex(re) => !re.is_match(value),
        }
    }

    /// True when the label set passes.
    pub fn matches_set(&self, labels: &LabelSet) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

/// Compiles a PromQL regex: fully anchored, `.` matching newline (Prometheus 3).
pub fn compile_anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("(?s)^(?:{pattern})$"))
}

/// Limits of a [`WindowStore`].
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// How far behind a series' newest point its points are kept: the
    /// longest range any rule uses plus the 5-minute lookback.
    pub retention: Duration,
    /// The most series kept; samples of new series beyond it are refused.
    pub max_series: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: Duration::from_secs(15 * 60),
            max_series: 100_000,
        }
    }
}

/// What one append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples stored.
    pub appended: u64,
    /// Samples refused because they would have created a series beyond `max_series`.
    pub refused: u64,
    /// Staleness markers written for series a source no longer exposes.
    pub stale_marked: u64,
}

/// A series as the store returns it from a selection.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'a> {
    /// The full label set, `__name__` included.
    pub labels: &'a LabelSet,
    /// The points in the selected window, oldest first (staleness markers included).
    pub points: &'a [(i64, f64)],
}

#[derive(Debug)]
struct SeriesData {
    labels: LabelSet,
    hash: u64,
    points: Vec<(i64, f64)>,
    last_seen_ms: i64,
}

/// A hasher for keys that already are hashes.
#[derive(Debug, Default, Clone, Copy)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ByHash = HashMap<u64, Ids, BuildHasherDefault<IdentityHasher>>;

/// Series ids under one hash: almost always exactly one.
#[derive(Debug)]
enum Ids {
    One(u32),
    Many(Vec<u32>),
}

impl Ids {
    fn as_slice(&self) -> &[u32] {
        match self {
            Ids::One(id) => std::slice::from_ref(id),
            Ids::Many(v) => v,
        }
    }
}

/// The in-memory window of samples. See the module documentation.
#[derive(Debug)]
pub struct WindowStore {
    cfg: StoreConfig,
    retention_ms: i64,
    slots: Vec<Option<SeriesData>>,
    free: Vec<u32>,
    live: usize,
    by_hash: ByHash,
    by_name: HashMap<Sym, Vec<u32>>,
    symbols: HashSet<Sym>,
    sources: HashMap<String, Vec<u32>>,
    dropped: u64,
}

impl WindowStore {
    /// An empty store.
    pub fn new(cfg: StoreConfig) -> Self {
        let retention_ms = i64::try_from(cfg.retention.as_millis()).unwrap_or(i64::MAX);
        WindowStore {
            cfg,
            retention_ms,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            by_hash: ByHash::default(),
            by_name: HashMap::new(),
            symbols: HashSet::new(),
            sources: HashMap::new(),
            dropped: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> StoreConfig {
        self.cfg
    }

    /// Changes how far behind its newest point a series keeps points (the
    /// rules changed). A shorter retention trims each series at its next
    /// append; a longer one keeps points from now on.
    pub fn set_retention(&mut self, retention: Duration) {
        self.cfg.retention = retention;
        self.retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.live
    }

    /// Samples refused so far because they would have created a series
    /// beyond `max_series`.
    pub fn dropped_series_total(&self) -> u64 {
        self.dropped
    }

    /// True when the series cap is reached.
    pub fn is_full(&self) -> bool {
        self.live >= self.cfg.max_series
    }

    fn intern(&mut self, s: &str) -> Sym {
        if let Some(sym) = self.symbols.get(s) {
            return sym.clone();
        }
        let sym: Sym = Sym::from(s);
        self.symbols.insert(sym.clone());
        sym
    }

    /// Finds the id of the series with exactly these (sorted, non-empty) pairs.
    fn find(&self, hash: u64, pairs: &[(&str, &str)]) -> Option<u32> {
        let ids = self.by_hash.get(&hash)?;
        ids.as_slice().iter().copied().find(|id| {
            self.slots
                .get(*id as usize)
                .and_then(|s| s.as_ref())
                .is_some_and(|s| {
                    s.labels.len() == pairs.len() && s.labels.iter().eq(pairs.iter().copied())
                })
        })
    }

    /// Finds or creates the series; `None` when the cap refuses it.
    fn find_or_create(&mut self, pairs: &[(&str, &str)]) -> Option<u32> {
        let hash = hash_pairs(pairs.iter().copied());
        if let Some(id) = self.find(hash, pairs) {
            return Some(id);
        }
        if self.live >= self.cfg.max_series {
            return None;
        }
        let syms: Vec<(Sym, Sym)> = pairs
            .iter()
            .map(|(n, v)| (self.intern(n), self.intern(v)))
            .collect();
        let labels = LabelSet::from_sorted(syms);
        let name = labels.metric_name().map(|n| self.intern(n));
        let data = SeriesData {
            labels,
            hash,
            points: Vec::new(),
            last_seen_ms: i64::MIN,
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.slots.get_mut(id as usize) {
                    *slot = Some(data);
                }
                id
            }
            None => {
                let id = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Some(data));
                id
            }
        };
        self.live += 1;
        match self.by_hash.get_mut(&hash) {
            None => {
                self.by_hash.insert(hash, Ids::One(id));
            }
            Some(ids) => match ids {
                Ids::One(other) => *ids = Ids::Many(vec![*other, id]),
                Ids::Many(v) => v.push(id),
            },
        }
        if let Some(name) = name {
            // Kept sorted by labels: selections come out in Prometheus' order.
            let slots = &self.slots;
            let list = self.by_name.entry(name).or_default();
            let new_labels = slots
                .get(id as usize)
                .and_then(|s| s.as_ref())
                .map(|s| &s.labels);
            let at = list.partition_point(|other| {
                slots
                    .get(*other as usize)
                    .and_then(|s| s.as_ref())
                    .map(|s| &s.labels)
                    < new_labels
            });
            list.insert(at, id);
        }
        Some(id)
    }

    fn push_point(&mut self, id: u32, t_ms: i64, value: f64) {
        let retention_ms = self.retention_ms;
        let Some(Some(s)) = self.slots.get_mut(id as usize) else {
            return;
        };
        match s.points.last() {
            Some(&(last, _)) if t_ms < last => {
                let at = s.points.partition_point(|(t, _)| *t < t_ms);
                match s.points.get_mut(at) {
                    Some(p) if p.0 == t_ms => p.1 = value,
                    _ => s.points.insert(at, (t_ms, value)),
                }
            }
            Some(&(last, _)) if t_ms == last => {
                if let Some(p) = s.points.last_mut() {
                    p.1 = value;
                }
            }
            _ => s.points.push((t_ms, value)),
        }
        s.last_seen_ms = s.last_seen_ms.max(t_ms);
        let newest = s.points.last().map_or(t_ms, |p| p.0);
        let cutoff = newest.saturating_sub(retention_ms);
        let expired = s.points.partition_point(|(t, _)| *t <= cutoff);
        if expired > 0 {
            s.points.drain(..expired);
        }
    }

    /// Appends one sample of the series with these labels (`__name__`
    /// included; empty values are ignored). Returns false when the series cap
    /// refused it.
    pub fn append(&mut self, labels: &Labels, t_ms: i64, value: f64) -> bool {
        let mut pairs: Vec<(&str, &str)> = labels
            .iter()
            .filter(|l| !l.value.is_empty())
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        sort_dedup(&mut pairs);
        self.append_pairs(&pairs, t_ms, value).is_some()
    }

    /// Appends one sample of a series given as a [`LabelSet`].
    pub fn append_set(&mut self, labels: &LabelSet, t_ms: i64, value: f64) -> bool {
        let pairs: Vec<(&str, &str)> = labels.iter().collect();
        self.append_pairs(&pairs, t_ms, value).is_some()
    }

    fn append_pairs(&mut self, pairs: &[(&str, &str)], t_ms: i64, value: f64) -> Option<u32> {
        match self.find_or_create(pairs) {
            Some(id) => {
                self.push_point(id, t_ms, value);
                Some(id)
            }
            None => {
                self.dropped += 1;
                None
            }
        }
    }

    /// Appends every sample of `families` at `t_ms` (a sample's own timestamp,
    /// when it has one, wins), with `extra` labels (e.g. `job`, `instance`)
    /// added. On a conflict the extra label wins and the sample's own value
    /// moves to `exported_<name>`, as Prometheus does without `honor_labels`.
    pub fn append_families(
        &mut self,
        families: &[MetricFamily],
        t_ms: i64,
        extra: &Labels,
    ) -> AppendStats {
        let mut stats = AppendStats::default();
        self.append_families_inner(families, t_ms, extra, &mut stats, None);
        stats
    }

    /// Like [`WindowStore::append_families`] for one source (a scraped target,
    /// a collector): series the source exposed on its previous append and no
    /// longer exposes get a staleness marker at `t_ms`.
    pub fn append_families_from(
        &mut self,
        source_id: &str,
        families: &[MetricFamily],
        t_ms: i64,
        extra: &Labels,
    ) -> AppendStats {
        let mut stats = AppendStats::default();
        let mut seen: Vec<u32> = Vec::new();
        self.append_families_inner(families, t_ms, extra, &mut stats, Some(&mut seen));
        seen.sort_unstable();
        seen.dedup();
        let previous = self
            .sources
            .insert(source_id.to_string(), seen.clone())
            .unwrap_or_default();
        stats.stale_marked = self.mark_stale_missing(&previous, &seen, t_ms);
        stats
    }

    /// Forgets a source that is gone (a target removed from discovery):
    /// every series it exposed last time gets a staleness marker at `t_ms`.
    pub fn remove_source(&mut self, source_id: &str, t_ms: i64) -> u64 {
        let previous = self.sources.remove(source_id).unwrap_or_default();
        self.mark_stale_missing(&previous, &[], t_ms)
    }

    fn mark_stale_missing(&mut self, previous: &[u32], current: &[u32], t_ms: i64) -> u64 {
        let mut n = 0;
        for id in previous {
            if current.binary_search(id).is_err() {
                let live = self.slots.get(*id as usize).is_some_and(|s| s.is_some());
                if live {
                    self.push_point(*id, t_ms, stale_nan());
                    n += 1;
                }
            }
        }
        n
    }

    fn append_families_inner(
        &mut self,
        families: &[MetricFamily],
        t_ms: i64,
        extra: &Labels,
        stats: &mut AppendStats,
        mut seen: Option<&mut Vec<u32>>,
    ) {
        // Sample names per suffix of the current family: no allocation per sample.
        let mut names: Vec<(sonde_instrument::Suffix, String)> = Vec::new();
        let mut renamed: Vec<String> = Vec::new();
        for family in families {
            names.clear();
            for sample in &family.samples {
                if !names.iter().any(|(s, _)| *s == sample.suffix) {
                    names.push((sample.suffix, family.sample_name(sample.suffix)));
                }
            }
            renamed.clear();
            for sample in &family.samples {
                for l in sample.labels.iter() {
                    if extra.get(&l.name).is_some_and(|v| !v.is_empty())
                        && !renamed.iter().any(|r| r.get(9..) == Some(l.name.as_str()))
                    {
                        renamed.push(format!("exported_{}", l.name));
                    }
                }
            }
            // One buffer per family, reused for each of its samples.
            let mut pairs: Vec<(&str, &str)> = Vec::new();
            for sample in &family.samples {
                let name = names
                    .iter()
                    .find(|(s, _)| *s == sample.suffix)
                    .map_or("", |(_, n)| n.as_str());
                let t = sample
                    .timestamp
                    .map_or(t_ms, |s| (s * 1000.0).round() as i64);
                pairs.clear();
                pairs.push((METRIC_NAME, name));
                for l in sample.labels.iter() {
                    if l.value.is_empty() {
                        continue;
                    }
                    if extra.get(&l.name).is_some_and(|v| !v.is_empty()) {
                        if let Some(r) =
                            renamed.iter().find(|r| r.get(9..) == Some(l.name.as_str()))
                        {
                            pairs.push((r.as_str(), l.value.as_str()));
                        }
                    } else {
                        pairs.push((l.name.as_str(), l.value.as_str()));
                    }
                }
                for l in extra.iter().filter(|l| !l.value.is_empty()) {
                    pairs.push((l.name.as_str(), l.value.as_str()));
                }
                sort_dedup(&mut pairs);
                let Some(id) = self.find_or_create(&pairs) else {
                    self.dropped += 1;
                    stats.refused += 1;
                    continue;
                };
                self.push_point(id, t, sample.value);
                stats.appended += 1;
                if let Some(seen) = seen.as_deref_mut() {
                    seen.push(id);
                }
            }
        }
    }

    /// Drops series whose newest point is older than [`SERIES_TTL`] before
    /// `now_ms`, and strings no series uses any more. Returns how many
    /// series were dropped.
    pub fn gc(&mut self, now_ms: i64) -> usize {
        let ttl_ms = i64::try_from(SERIES_TTL.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(ttl_ms);
        let mut removed: Vec<u32> = Vec::new();
        let mut names: HashSet<Sym> = HashSet::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let expired = slot.as_ref().is_some_and(|s| s.last_seen_ms < cutoff);
            if expired && let Some(s) = slot.take() {
                let id = i as u32;
                removed.push(id);
                if let Some(ids) = self.by_hash.get_mut(&s.hash) {
                    match ids {
                        Ids::One(_) => {
                            self.by_hash.remove(&s.hash);
                        }
                        Ids::Many(v) => v.retain(|x| *x != id),
                    }
                }
                if let Some((_, name)) = s
                    .labels
                    .pairs()
                    .iter()
                    .find(|(n, _)| n.as_ref() == METRIC_NAME)
                {
                    names.insert(name.clone());
                }
            }
        }
        // `removed` is sorted (slots are visited in order): one pass per name list.
        for name in &names {
            if let Some(v) = self.by_name.get_mut(name) {
                v.retain(|id| removed.binary_search(id).is_err());
                if v.is_empty() {
                    self.by_name.remove(name);
                }
            }
        }
        if removed.is_empty() {
            return 0;
        }
        self.live -= removed.len();
        for list in self.sources.values_mut() {
            list.retain(|id| removed.binary_search(id).is_err());
        }
        self.free.extend(removed.iter().copied());
        drop(names);
        self.symbols.retain(|s| Arc::strong_count(s) > 1);
        removed.len()
    }

    /// Calls `f` for every series matching all `matchers`, with its points in
    /// the left-open window `(start_ms, end_ms]`. Series with no point there
    /// are skipped. Selection by `__name__ = "x"` uses the name index.
    pub fn select<'a>(
        &'a self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
        mut f: impl FnMut(SeriesRef<'a>),
    ) {
        let mut visit = |s: &'a SeriesData| {
            if !matchers.iter().all(|m| m.matches_set(&s.labels)) {
                return;
            }
            let lo = s.points.partition_point(|(t, _)| *t <= start_ms);
            let hi = s.points.partition_point(|(t, _)| *t <= end_ms);
            if let Some(points) = s.points.get(lo..hi)
                && !points.is_empty()
            {
                f(SeriesRef {
                    labels: &s.labels,
                    points,
                });
            }
        };
        let by_name = matchers.iter().find_map(|m| match &m.kind {
            MatchKind::Equal(v) if m.name == METRIC_NAME => Some(v.as_str()),
            _ => None,
        });
        match by_name {
            Some(name) => {
                let Some(ids) = self.by_name.get(name) else {
                    return;
                };
                for id in ids {
                    if let Some(Some(s)) = self.slots.get(*id as usize) {
                        visit(s);
                    }
                }
            }
            None => {
                for s in self.slots.iter().flatten() {
                    visit(s);
                }
            }
        }
    }

    /// Convenience: the matching series and their points in `(start_ms, end_ms]`.
    pub fn select_vec(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<SeriesRef<'_>> {
        let mut out = Vec::new();
        self.select(matchers, start_ms, end_ms, |s| out.push(s));
        out
    }

    /// An estimate of the heap bytes the store holds: label sets, points,
    /// indexes, interned strings.
    pub fn approx_bytes(&self) -> usize {
        let pair = std::mem::size_of::<(Sym, Sym)>();
        let mut total = self.slots.capacity() * std::mem::size_of::<Option<SeriesData>>();
        for s in self.slots.iter().flatten() {
            total += 16 + s.labels.len() * pair;
            total += s.points.capacity() * std::mem::size_of::<(i64, f64)>();
        }
        // hashbrown: key + value + one control byte per bucket, ~87% load.
        total += self.by_hash.capacity() * (8 + std::mem::size_of::<Ids>() + 1) * 8 / 7;
        total += self
            .by_name
            .values()
            .map(|v| v.capacity() * 4 + 48)
            .sum::<usize>();
        total += self
            .symbols
            .iter()
            .map(|s| s.len() + 16 + 16)
            .sum::<usize>();
        total += self.free.capacity() * 4;
        total += self
            .sources
            .values()
            .map(|v| v.capacity() * 4)
            .sum::<usize>();
        total
    }
}

/// Sorts by name and keeps the last of duplicate names.
fn sort_dedup(pairs: &mut Vec<(&str, &str)>) {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut i = 0;
    while i + 1 < pairs.len() {
        if pairs.get(i).map(|p| p.0) == pairs.get(i + 1).map(|p| p.0) {
            pairs.remove(i);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_instrument::{MetricFamily, MetricType, Sample, Suffix};

    fn name_matcher(n: &str) -> Vec<LabelMatcher> {
        vec![LabelMatcher::equal(METRIC_NAME, n)]
    }

    #[test]
    fn append_and_select_window_is_left_open() {
        let mut s = WindowStore::new(StoreConfig::default());
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        for i in 0..10 {
            assert!(s.append(&l, i * 1000, i as f64));
        }
        let got = s.select_vec(&name_matcher("up"), 2000, 5000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].points, &[(3000, 3.0), (4000, 4.0), (5000, 5.0)]);
        assert_eq!(got[0].labels.get("job"), Some("a"));
    }

    #[test]
    fn families_get_sample_names_and_extra_labels() {
        let mut s = WindowStore::new(StoreConfig::default());
        let mut c = MetricFamily::counter("http_requests", "h");
        c.push(Labels::from_pairs([("code", "200"), ("job", "inner")]), 5.0);
        let mut h = MetricFamily::new("lat", "h", MetricType::Histogram);
        h.push_sample(Sample::new(
            Suffix::Bucket,
            Labels::from_pairs([("le", "0.1")]),
            1.0,
        ));
        h.push_sample(Sample::new(Suffix::Count, Labels::new(), 1.0));
        let extra = Labels::from_pairs([("job", "svc"), ("instance", "n1")]);
        let st = s.append_families(&[c, h], 1000, &extra);
        assert_eq!(st.appended, 3);
        let got = s.select_vec(&name_matcher("http_requests_total"), 0, 1000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.get("job"), Some("svc"));
        assert_eq!(got[0].labels.get("exported_job"), Some("inner"));
        assert_eq!(
            s.select_vec(&name_matcher("lat_bucket"), 0, 1000)[0]
                .labels
                .get("le"),
            Some("0.1")
        );
        assert_eq!(s.select_vec(&name_matcher("lat_count"), 0, 1000).len(), 1);
    }

    #[test]
    fn missing_series_gets_staleness_marker() {
        let mut s = WindowStore::new(StoreConfig::default());
        let fam = |labels: &[&str]| {
            let mut f = MetricFamily::gauge("g", "h");
            for l in labels {
                f.push(Labels::from_pairs([("k", *l)]), 1.0);
            }
            vec![f]
        };
        s.append_families_from("t1", &fam(&["a", "b"]), 1000, &Labels::new());
        let st = s.append_families_from("t1", &fam(&["a"]), 2000, &Labels::new());
        assert_eq!(st.stale_marked, 1);
        let got = s.select_vec(&[LabelMatcher::equal("k", "b")], 0, 5000);
        assert!(is_stale(got[0].points[1].1));
        assert_eq!(s.remove_source("t1", 3000), 1);
    }

    #[test]
    fn cap_refuses_and_counts() {
        let mut s = WindowStore::new(StoreConfig {
            retention: Duration::from_secs(60),
            max_series: 2,
        });
        for i in 0..4 {
            s.append(
                &Labels::from_pairs([("__name__", "x"), ("i", &i.to_string())]),
                0,
                1.0,
            );
        }
        assert_eq!(s.series_count(), 2);
        assert_eq!(s.dropped_series_total(), 2);
        // Existing series still accept samples.
        assert!(s.append(&Labels::from_pairs([("__name__", "x"), ("i", "0")]), 1, 1.0));
    }

    #[test]
    fn retention_trims_and_gc_drops() {
        let mut s = WindowStore::new(StoreConfig {
            retention: Duration::from_secs(10),
            max_series: 10,
        });
        let l = Labels::from_pairs([("__name__", "x")]);
        for i in 0..100 {
            s.append(&l, i * 1000, 1.0);
        }
        let got = s.select_vec(&name_matcher("x"), i64::MIN, i64::MAX);
        assert_eq!(got[0].points.len(), 10);
        assert_eq!(s.gc(99_000 + 299_000), 0);
        assert_eq!(s.gc(99_000 + 300_001), 1);
        assert_eq!(s.series_count(), 0);
        assert!(
            s.select_vec(&name_matcher("x"), i64::MIN, i64::MAX)
                .is_empty()
        );
        // The slot is reused.
        s.append(&l, 500_000, 2.0);
        assert_eq!(s.series_count(), 1);
    }

    #[test]
    fn regex_matchers_are_anchored_and_dotall() {
        let m = LabelMatcher::regex("a", "fo.", false).unwrap();
        assert!(m.matches("foo"));
        assert!(m.matches("fo\n"));
        assert!(!m.matches("xfoo"));
        let n = LabelMatcher::regex("a", "^5..$", true).unwrap();
        assert!(!n.matches("500"));
        assert!(n.matches(""));
    }

    fn rss_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Measures memory per series: 10,000 series of 6 labels, 30 points each.
    /// Run with `--nocapture` to see the numbers.
    #[test]
    fn memory_per_series() {
        const SERIES: usize = 10_000;
        let mut fams = Vec::new();
        for m in 0..100 {
            let mut f = MetricFamily::counter(format!("sonde_bench_metric_{m}"), "h");
            for i in 0..SERIES / 100 {
                f.push(
                    Labels::from_pairs([
                        ("code", format!("{}", 200 + i % 5)),
                        ("path", format!("/api/v1/item/{i}")),
                    ]),
                    0.0,
                );
            }
            fams.push(f);
        }
        let extra = Labels::from_pairs([("job", "go-demo_main"), ("instance", "10.0.0.1:8080")]);
        let before = rss_kib();
        let mut s = WindowStore::new(StoreConfig {
            retention: Duration::from_secs(450),
            max_series: SERIES,
        });
        for p in 0..30 {
            s.append_families_from("t", &fams, p * 15_000, &extra);
        }
        let after = rss_kib();
        assert_eq!(s.series_count(), SERIES);
        let est = s.approx_bytes() / SERIES;
        eprintln!("store estimate: {est} bytes/series (10,000 series x 30 points)");
        if let (Some(b), Some(a)) = (before, after) {
            eprintln!(
                "RSS growth: {} bytes/series (run alone for a clean number)",
                (a.saturating_sub(b)) * 1024 / SERIES as u64
            );
        }
        assert!(est < 1200, "estimate {est} bytes/series");
    }
}
