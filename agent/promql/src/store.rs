//! The window store: the last few minutes of samples, per series, in memory.
//!
//! The evaluator reads only this. Samples arrive from the agent's own
//! collectors (fed directly as [`MetricFamily`] values, never through HTTP)
//! and from scraped targets (parsed text, the same model). Each series is
//! keyed by its full label set including `__name__` (the sample's exposed
//! name: `x_total`, `x_bucket{le}`, …) and keeps its `(timestamp ms, value)`
//! points no older than [`StoreConfig::retention`] behind its newest point.
//! Set the retention to the longest range any rule uses plus the 5-minute
//! lookback.
//!
//! Bounds: at most [`StoreConfig::max_series`] series (samples of new series
//! beyond it are refused and counted in [`WindowStore::dropped_series_total`]);
//! series not seen for [`SERIES_TTL`] are dropped by [`WindowStore::gc`].
//!
//! # Memory per series
//!
//! * Points are compressed as Prometheus compresses them: Gorilla-style
//!   chunks (delta-of-delta timestamps, XOR'd values; `store/chunk.rs`) kept
//!   back to back in one buffer per series, the newest point also kept
//!   uncompressed for instant selectors (`store/points.rs`). Whole chunks go
//!   once all their points are older than the retention.
//! * Label names and values are interned (one `arcstr::ArcStr`, a one-word
//!   pointer, per distinct string, shared by every series that uses it); a
//!   label set is one `Arc<[(Sym, Sym)]>`, 16 bytes per label.
//! * The series themselves live in pages of [`PAGE`] slots, not one
//!   doubling `Vec`; the hash index holds a `u32` per series.
//!
//! Measured by `store::tests::memory_per_series` (10,000 series of 5 labels
//! with 30 points each, 15 s apart with ms jitter, half counters and half
//! gauges of random two-decimal values, the worst case for XOR):
//! **485 bytes per series** by [`WindowStore::approx_bytes`]: points 252
//! (8.4 bytes a point), label set 112, slot 80, indexes about 40.
//! The uncompressed store took 844 bytes for the same shape (its cost did
//! not depend on the values), of which 512 were the points (16 bytes each
//! in a doubling `Vec`). `approx_bytes_tracks_rss`
//! checks the estimate against the anonymous RSS a store of that size costs
//! (about 605 bytes per series: malloc keeps the smaller buffers the
//! series grew out of).
//!
//! # Staleness
//!
//! A target that stops exposing a series gets a staleness marker (the NaN
//! with bits [`STALE_NAN_BITS`], as Prometheus writes it) on its next append
//! through [`WindowStore::append_families_from`]; the evaluator treats a
//! marker as "no value" from that point on.

mod chunk;
mod labels;
mod points;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use sonde_instrument::{Labels, MetricFamily};

pub use labels::{LabelMatcher, LabelSet, MatchKind, Sym, compile_anchored, hash_pairs};
use points::Points;

/// The bit pattern Prometheus uses for a staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A series whose newest point is older than this is dropped by [`WindowStore::gc`].
pub const SERIES_TTL: Duration = Duration::from_secs(300);

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Series slots per page of the store's series table.
pub const PAGE: usize = 256;

/// The staleness marker as a value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `v` is a staleness marker (not any NaN: only the marker's bits).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
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
        StoreConfig { retention: Duration::from_secs(15 * 60), max_series: 100_000 }
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

/// A series as the store hands it to a selection's callback.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'a> {
    /// The full label set, `__name__` included.
    pub labels: &'a LabelSet,
    /// The points in the selected window, oldest first (staleness markers
    /// included), decoded into a buffer that lives for the callback only.
    pub points: &'a [(i64, f64)],
}

/// A series and its points, owned: what [`WindowStore::select_vec`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectedSeries {
    /// The full label set, `__name__` included.
    pub labels: LabelSet,
    /// The points in the selected window, oldest first.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug)]
struct SeriesData {
    labels: LabelSet,
    points: Points,
}

/// The series table: pages of [`PAGE`] slots, so growing it never copies
/// or doubles the whole table.
#[derive(Debug, Default)]
struct Slots {
    pages: Vec<Vec<Option<SeriesData>>>,
    len: usize,
}

impl Slots {
    fn get(&self, id: u32) -> Option<&SeriesData> {
        let id = id as usize;
        self.pages.get(id / PAGE)?.get(id % PAGE)?.as_ref()
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut SeriesData> {
        let id = id as usize;
        self.pages.get_mut(id / PAGE)?.get_mut(id % PAGE)?.as_mut()
    }

    fn slot_mut(&mut self, id: u32) -> Option<&mut Option<SeriesData>> {
        let id = id as usize;
        self.pages.get_mut(id / PAGE)?.get_mut(id % PAGE)
    }

    /// Adds a slot at the end; `None` past `u32` ids.
    fn push(&mut self, data: SeriesData) -> Option<u32> {
        let id = u32::try_from(self.len).ok()?;
        if self.len % PAGE == 0 {
            self.pages.push(Vec::with_capacity(PAGE));
        }
        self.pages.last_mut()?.push(Some(data));
        self.len += 1;
        Some(id)
    }

    fn iter(&self) -> impl Iterator<Item = &SeriesData> {
        self.pages.iter().flatten().flatten()
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut Option<SeriesData>)> {
        self.pages.iter_mut().flatten().enumerate().map(|(i, s)| (i as u32, s))
    }

    fn heap_bytes(&self) -> usize {
        self.pages.capacity() * std::mem::size_of::<Vec<Option<SeriesData>>>()
            + self
                .pages
                .iter()
                .map(|p| alloc_size(p.capacity() * std::mem::size_of::<Option<SeriesData>>()))
                .sum::<usize>()
    }
}

/// What glibc's malloc takes for a request of `n` bytes: an 8-byte header,
/// rounded up to 16, at least 32.
fn alloc_size(n: usize) -> usize {
    if n == 0 { 0 } else { ((n + 8).div_ceil(16) * 16).max(32) }
}

/// What a hashbrown table of `capacity` entries of `entry` bytes takes: its
/// buckets (capacity is 7/8 of them) and one control byte per bucket.
fn table_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 { 0 } else { alloc_size(capacity * 8 / 7 * (entry + 1) + 16) }
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

type ByHash<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// The in-memory window of samples. See the module documentation.
#[derive(Debug)]
pub struct WindowStore {
    cfg: StoreConfig,
    retention_ms: i64,
    slots: Slots,
    free: Vec<u32>,
    live: usize,
    /// The first series with each label-set hash…
    by_hash: ByHash<u32>,
    /// … and the others with the same hash (a 64-bit collision: next to never).
    collided: ByHash<Vec<u32>>,
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
            slots: Slots::default(),
            free: Vec::new(),
            live: 0,
            by_hash: ByHash::default(),
            collided: ByHash::default(),
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
        let is = |id: &u32| {
            self.slots
                .get(*id)
                .is_some_and(|s| s.labels.len() == pairs.len() && s.labels.iter().eq(pairs.iter().copied()))
        };
        let first = self.by_hash.get(&hash)?;
        if is(first) {
            return Some(*first);
        }
        self.collided.get(&hash)?.iter().copied().find(|id| is(id))
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
        let syms: Vec<(Sym, Sym)> = pairs.iter().map(|(n, v)| (self.intern(n), self.intern(v))).collect();
        let labels = LabelSet::from_sorted(syms);
        let name = labels.metric_name().map(|n| self.intern(n));
        let data = SeriesData { labels, points: Points::new() };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.slots.slot_mut(id) {
                    *slot = Some(data);
                }
                id
            }
            None => self.slots.push(data)?,
        };
        self.live += 1;
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.entry(hash).or_default().push(id);
            }
        }
        if let Some(name) = name {
            // Kept sorted by labels: selections come out in Prometheus' order.
            let slots = &self.slots;
            let list = self.by_name.entry(name).or_default();
            let new_labels = slots.get(id).map(|s| &s.labels);
            let at = list.partition_point(|other| slots.get(*other).map(|s| &s.labels) < new_labels);
            list.insert(at, id);
        }
        Some(id)
    }

    fn push_point(&mut self, id: u32, t_ms: i64, value: f64) {
        let retention_ms = self.retention_ms;
        if let Some(s) = self.slots.get_mut(id) {
            s.points.push(t_ms, value, retention_ms);
        }
    }

    /// Appends one sample of the series with these labels (`__name__`
    /// included; empty values are ignored). Returns false when the series cap
    /// refused it.
    pub fn append(&mut self, labels: &Labels, t_ms: i64, value: f64) -> bool {
        let mut pairs: Vec<(&str, &str)> =
            labels.iter().filter(|l| !l.value.is_empty()).map(|l| (l.name.as_str(), l.value.as_str())).collect();
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
    pub fn append_families(&mut self, families: &[MetricFamily], t_ms: i64, extra: &Labels) -> AppendStats {
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
        let previous = self.sources.insert(source_id.to_string(), seen.clone()).unwrap_or_default();
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
                let live = self.slots.get(*id).is_some();
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
                let name = names.iter().find(|(s, _)| *s == sample.suffix).map_or("", |(_, n)| n.as_str());
                let t = sample.timestamp.map_or(t_ms, |s| (s * 1000.0).round() as i64);
                pairs.clear();
                pairs.push((METRIC_NAME, name));
                for l in sample.labels.iter() {
                    if l.value.is_empty() {
                        continue;
                    }
                    if extra.get(&l.name).is_some_and(|v| !v.is_empty()) {
                        if let Some(r) = renamed.iter().find(|r| r.get(9..) == Some(l.name.as_str())) {
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
        let mut gone: Vec<(u32, LabelSet)> = Vec::new();
        for (id, slot) in self.slots.iter_mut() {
            let expired = slot.as_ref().is_some_and(|s| s.points.newest_t() < cutoff);
            if expired && let Some(s) = slot.take() {
                removed.push(id);
                gone.push((id, s.labels));
            }
        }
        if removed.is_empty() {
            return 0;
        }
        let mut names: HashSet<Sym> = HashSet::new();
        for (id, labels) in &gone {
            let hash = labels.hash64();
            if self.by_hash.get(&hash) == Some(id) {
                // Another series with the same hash takes the first place.
                let next = self.collided.get_mut(&hash).and_then(|v| v.pop());
                match next {
                    Some(other) => {
                        self.by_hash.insert(hash, other);
                    }
                    None => {
                        self.by_hash.remove(&hash);
                    }
                }
            } else if let Some(v) = self.collided.get_mut(&hash) {
                v.retain(|x| x != id);
            }
            if self.collided.get(&hash).is_some_and(|v| v.is_empty()) {
                self.collided.remove(&hash);
            }
            if let Some((_, name)) = labels.pairs().iter().find(|(n, _)| n.as_str() == METRIC_NAME) {
                names.insert(name.clone());
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
        self.live -= removed.len();
        for list in self.sources.values_mut() {
            list.retain(|id| removed.binary_search(id).is_err());
        }
        self.free.extend(removed.iter().copied());
        drop(names);
        drop(gone);
        self.symbols.retain(|s| Sym::strong_count(s).is_none_or(|n| n > 1));
        removed.len()
    }

    /// Calls `visit` for every series matching all `matchers`. Selection by
    /// `__name__ = "x"` uses the name index.
    fn matching<'a>(&'a self, matchers: &[LabelMatcher], mut visit: impl FnMut(&'a SeriesData)) {
        let mut visit = |s: &'a SeriesData| {
            if matchers.iter().all(|m| m.matches_set(&s.labels)) {
                visit(s);
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
                    if let Some(s) = self.slots.get(*id) {
                        visit(s);
                    }
                }
            }
            None => {
                for s in self.slots.iter() {
                    visit(s);
                }
            }
        }
    }

    /// Calls `f` for every series matching all `matchers`, with its points in
    /// the left-open window `(start_ms, end_ms]`. Series with no point there
    /// are skipped. The points are decoded into a buffer reused from one
    /// series to the next: copy what you keep.
    pub fn select(&self, matchers: &[LabelMatcher], start_ms: i64, end_ms: i64, mut f: impl FnMut(SeriesRef<'_>)) {
        let mut buf: Vec<(i64, f64)> = Vec::new();
        self.matching(matchers, |s| {
            buf.clear();
            s.points.range(start_ms, end_ms, &mut buf);
            if !buf.is_empty() {
                f(SeriesRef { labels: &s.labels, points: &buf });
            }
        });
    }

    /// Like [`WindowStore::select`] with only the newest point of each
    /// series in `(start_ms, end_ms]` (a staleness marker included): what an
    /// instant selector reads. No decoding when that point is the series'
    /// newest.
    pub fn select_last(&self, matchers: &[LabelMatcher], start_ms: i64, end_ms: i64, mut f: impl FnMut(SeriesRef<'_>)) {
        self.matching(matchers, |s| {
            if let Some(p) = s.points.last_in(start_ms, end_ms) {
                f(SeriesRef { labels: &s.labels, points: std::slice::from_ref(&p) });
            }
        });
    }

    /// Convenience: the matching series and their points in `(start_ms, end_ms]`.
    pub fn select_vec(&self, matchers: &[LabelMatcher], start_ms: i64, end_ms: i64) -> Vec<SelectedSeries> {
        let mut out = Vec::new();
        self.select(matchers, start_ms, end_ms, |s| {
            out.push(SelectedSeries { labels: s.labels.clone(), points: s.points.to_vec() });
        });
        out
    }

    /// An estimate of the heap bytes the store holds: the series table,
    /// label sets, point buffers, indexes, interned strings, each
    /// allocation rounded as glibc's malloc rounds it.
    /// `store::tests::approx_bytes_tracks_rss` holds it to the RSS it costs.
    pub fn approx_bytes(&self) -> usize {
        let pair = std::mem::size_of::<(Sym, Sym)>();
        let mut total = self.slots.heap_bytes();
        for s in self.slots.iter() {
            // The label set: `Arc`'s two counts and the pairs.
            total += alloc_size(16 + s.labels.len() * pair);
            total += alloc_size(s.points.heap_bytes());
        }
        total += table_bytes(self.by_hash.capacity(), 16);
        total += table_bytes(self.collided.capacity(), 32);
        total += self.collided.values().map(|v| alloc_size(v.capacity() * 4)).sum::<usize>();
        total += table_bytes(self.by_name.capacity(), 32);
        total += self.by_name.values().map(|v| alloc_size(v.capacity() * 4)).sum::<usize>();
        total += table_bytes(self.symbols.capacity(), 8);
        total += self.symbols.iter().map(|s| alloc_size(16 + s.len())).sum::<usize>();
        total += alloc_size(self.free.capacity() * 4);
        total += table_bytes(self.sources.capacity(), 48);
        total += self.sources.iter().map(|(k, v)| alloc_size(k.len()) + alloc_size(v.capacity() * 4)).sum::<usize>();
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
        h.push_sample(Sample::new(Suffix::Bucket, Labels::from_pairs([("le", "0.1")]), 1.0));
        h.push_sample(Sample::new(Suffix::Count, Labels::new(), 1.0));
        let extra = Labels::from_pairs([("job", "svc"), ("instance", "n1")]);
        let st = s.append_families(&[c, h], 1000, &extra);
        assert_eq!(st.appended, 3);
        let got = s.select_vec(&name_matcher("http_requests_total"), 0, 1000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.get("job"), Some("svc"));
        assert_eq!(got[0].labels.get("exported_job"), Some("inner"));
        assert_eq!(s.select_vec(&name_matcher("lat_bucket"), 0, 1000)[0].labels.get("le"), Some("0.1"));
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
        let mut s = WindowStore::new(StoreConfig { retention: Duration::from_secs(60), max_series: 2 });
        for i in 0..4 {
            s.append(&Labels::from_pairs([("__name__", "x"), ("i", &i.to_string())]), 0, 1.0);
        }
        assert_eq!(s.series_count(), 2);
        assert_eq!(s.dropped_series_total(), 2);
        // Existing series still accept samples.
        assert!(s.append(&Labels::from_pairs([("__name__", "x"), ("i", "0")]), 1, 1.0));
    }

    #[test]
    fn retention_trims_and_gc_drops() {
        let mut s = WindowStore::new(StoreConfig { retention: Duration::from_secs(10), max_series: 10 });
        let l = Labels::from_pairs([("__name__", "x")]);
        for i in 0..100 {
            s.append(&l, i * 1000, 1.0);
        }
        let got = s.select_vec(&name_matcher("x"), i64::MIN, i64::MAX);
        assert_eq!(got[0].points.len(), 10);
        assert_eq!(s.gc(99_000 + 299_000), 0);
        assert_eq!(s.gc(99_000 + 300_001), 1);
        assert_eq!(s.series_count(), 0);
        assert!(s.select_vec(&name_matcher("x"), i64::MIN, i64::MAX).is_empty());
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

    const SERIES: usize = 10_000;

    /// 10,000 series of 5 labels (`__name__`, `code`, `path`, `job`,
    /// `instance`) with 30 points each, 15 s apart with a few ms of jitter:
    /// half are counters (integers growing at their own pace), half gauges
    /// (a pseudo-random walk with two decimals, the worst case for XOR).
    /// The families are built before `before` runs.
    fn fill_bench_store(before: impl FnOnce()) -> WindowStore {
        let mut fams = Vec::new();
        for m in 0..100 {
            let mut f = if m % 2 == 0 {
                MetricFamily::counter(format!("sonde_bench_metric_{m}"), "h")
            } else {
                MetricFamily::gauge(format!("sonde_bench_metric_{m}"), "h")
            };
            for i in 0..SERIES / 100 {
                f.push(
                    Labels::from_pairs([("code", format!("{}", 200 + i % 5)), ("path", format!("/api/v1/item/{i}"))]),
                    0.0,
                );
            }
            fams.push(f);
        }
        let extra = Labels::from_pairs([("job", "go-demo_main"), ("instance", "10.0.0.1:8080")]);
        before();
        let mut s = WindowStore::new(StoreConfig { retention: Duration::from_secs(450), max_series: SERIES });
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for p in 0..30i64 {
            for (m, f) in fams.iter_mut().enumerate() {
                for (i, sample) in f.samples.iter_mut().enumerate() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    sample.value = if m % 2 == 0 {
                        sample.value + ((i % 20) as u64 * (x % 4)) as f64
                    } else {
                        ((x % 100_000) as f64) / 100.0
                    };
                }
            }
            let t = p * 15_000 + (p * 37 + 11) % 9;
            s.append_families_from("t", &fams, t, &extra);
        }
        assert_eq!(s.series_count(), SERIES);
        s
    }

    /// Memory per series of [`fill_bench_store`] by [`WindowStore::approx_bytes`].
    /// Run with `--nocapture` to see the number. Before the points were
    /// compressed (16 bytes each in a doubling `Vec`) it was 844 bytes.
    #[test]
    fn memory_per_series() {
        let s = fill_bench_store(|| {});
        let est = s.approx_bytes() / SERIES;
        let points: usize = s.slots.iter().map(|d| alloc_size(d.points.heap_bytes())).sum::<usize>() / SERIES;
        let labels: usize =
            s.slots.iter().map(|d| alloc_size(16 + d.labels.len() * std::mem::size_of::<(Sym, Sym)>())).sum::<usize>()
                / SERIES;
        eprintln!(
            "store estimate: {est} bytes/series (10,000 series x 30 points): \
             points {points}, label set {labels}, slot {}",
            std::mem::size_of::<Option<SeriesData>>()
        );
        assert!(est < 520, "estimate {est} bytes/series");
        assert!(points < 270, "points {points} bytes/series");
        // Every point is there, and the newest too.
        let got = s.select_vec(&name_matcher("sonde_bench_metric_1"), i64::MIN, i64::MAX);
        assert_eq!(got.len(), 100);
        assert!(got.iter().all(|g| g.points.len() == 30));
    }

    fn rss_anon_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    const PROBE_ENV: &str = "SONDE_STORE_MEMORY_PROBE";

    /// Run by [`approx_bytes_tracks_rss`] in a process of its own: prints
    /// the store's estimate and how much the anonymous RSS grew (file-backed
    /// pages are the binary's code, touched for the first time).
    #[test]
    #[ignore = "run by approx_bytes_tracks_rss in a process of its own"]
    fn memory_probe() {
        if std::env::var_os(PROBE_ENV).is_none() {
            return;
        }
        let mut before = None;
        let s = fill_bench_store(|| before = rss_anon_kib());
        let after = rss_anon_kib();
        let (Some(b), Some(a)) = (before, after) else {
            return;
        };
        println!("probe: approx={} rss={}", s.approx_bytes(), (a - b) * 1024);
    }

    /// `approx_bytes` feeds `sonde_window_memory_bytes`: it must stay close
    /// to what the store really costs. The probe fills a store alone in a
    /// fresh process (this test binary, filtered to `memory_probe`) and
    /// compares the estimate with the growth of its anonymous RSS.
    #[test]
    fn approx_bytes_tracks_rss() {
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        if rss_anon_kib().is_none() {
            return; // no /proc
        }
        let out = std::process::Command::new(exe)
            .args(["store::tests::memory_probe", "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads=1"])
            .env(PROBE_ENV, "1")
            .output()
            .expect("the probe runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("probe: ").map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no probe line in {stdout}"));
        let field = |name: &str| -> f64 {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {line}"))
        };
        let (approx, rss) = (field("approx="), field("rss="));
        eprintln!(
            "approx_bytes {:.0} bytes/series, RSS growth {:.0} bytes/series",
            approx / SERIES as f64,
            rss / SERIES as f64
        );
        // The estimate counts what the store holds; the anonymous RSS also
        // holds the smaller buffers each series grew out of, which glibc
        // keeps for later allocations (measured: 0.8).
        let ratio = approx / rss;
        assert!((0.6..=1.4).contains(&ratio), "approx_bytes / RSS growth = {ratio:.2} ({line})");
    }
}
