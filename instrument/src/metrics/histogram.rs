//! Histograms with client_golang's default buckets and a lock-free observe.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::direct::{DirectChild, Lines};
use super::{ChildMetric, ExemplarSlot, Metric, MetricError, add_f64, exemplar, now_seconds};
use crate::model::{Exemplar, Label, Labels, MetricFamily, MetricType, Sample, Suffix};
use crate::strconv::{FloatFormat, format_float};

/// client_golang's `DefBuckets`: `.005 .01 .025 .05 .1 .25 .5 1 2.5 5 10`
/// (seconds, sized for network request latencies).
pub const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The bucket bounds and their `le` texts, shared by every child of a family
/// so a new child costs only its counters.
#[derive(Debug)]
struct Layout {
    bounds: Box<[f64]>,
    /// `le` values, one per bound plus `+Inf`, formatted once.
    le: Box<[String]>,
}

impl Layout {
    fn new(bounds: &[f64]) -> Result<Arc<Self>, MetricError> {
        // client_golang appends +Inf itself; accept it given explicitly too.
        let finite = match bounds.split_last() {
            Some((&last, rest)) if last == f64::INFINITY => rest,
            _ => bounds,
        };
        let increasing = finite.windows(2).all(|w| w[0] < w[1]);
        if finite.is_empty() || !increasing || finite.iter().any(|b| !b.is_finite()) {
            return Err(MetricError::InvalidBuckets(bounds.to_vec()));
        }
        Ok(Arc::new(Layout::checked(finite)))
    }

    /// The layout of finite, increasing `bounds`.
    fn checked(bounds: &[f64]) -> Self {
        // client_golang writes bounds with strconv.FormatFloat(b, 'g', -1, 64).
        let le = bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .map(|bound| format_float(bound, FloatFormat::G, None))
            .collect();
        Layout { bounds: bounds.into(), le }
    }
}

/// Shards per histogram. Each thread records into one shard (picked once
/// per thread), so two threads observing the same histogram rarely touch
/// the same cache line; a scrape adds the shards up.
const SHARDS: usize = 4;

thread_local! {
    /// This thread's shard, assigned round-robin on first use.
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

#[derive(Debug)]
struct Inner {
    layout: Arc<Layout>,
    /// `SHARDS` runs of `stride` words. In each run: non-cumulative counts,
    /// one per bound plus one for `+Inf`, then the sum's `f64` bits, then at
    /// least 64 bytes of padding so no two shards share a cache line. The
    /// total count is the sum of the counts, so `observe` touches one word
    /// fewer and `_count` always equals the `+Inf` bucket in the output.
    cells: Box<[AtomicU64]>,
    stride: usize,
    /// Seconds since the epoch when the histogram was made (`_created`).
    created: f64,
    /// The latest exemplar of each bucket (`+Inf` last), made on the first
    /// [`Histogram::observe_with_exemplar`].
    exemplars: OnceLock<Box<[ExemplarSlot]>>,
}

/// A histogram: cumulative buckets, `_count` and `_sum`. Clones share the
/// data.
///
/// ```
/// use sonde_instrument::metrics::Histogram;
///
/// let latency = Histogram::with_buckets(&[0.1, 0.5])?;
/// latency.observe(0.05);
/// latency.observe(0.3);
/// latency.observe_with_exemplar(0.7, &[("trace_id", "4bf92f3577b34da6")]);
/// assert_eq!(latency.cumulative_counts(), [1, 2, 3]);
/// assert_eq!(latency.count(), 3);
/// // One exemplar per bucket: this one is on `le="+Inf"`.
/// assert_eq!(latency.exemplars()[2].as_ref().map(|e| e.value), Some(0.7));
/// # Ok::<(), sonde_instrument::metrics::MetricError>(())
/// ```
///
/// `observe` is lock-free: one relaxed `fetch_add` on the bucket and a
/// compare-and-swap on the sum's bits, both in the calling thread's shard.
/// A value equal to a bound lands in that bound's bucket (`le` means "less
/// than or equal"); NaN lands only in `+Inf`, as in client_golang.
#[derive(Debug, Clone)]
pub struct Histogram {
    inner: Arc<Inner>,
}

impl Default for Histogram {
    /// A histogram with [`DEFAULT_BUCKETS`].
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// A histogram with [`DEFAULT_BUCKETS`].
    pub fn new() -> Self {
        Self::from_layout(Arc::new(Layout::checked(&DEFAULT_BUCKETS)))
    }

    /// A histogram with the given upper bounds, strictly increasing and
    /// finite; a trailing `+Inf` is allowed and implied otherwise.
    pub fn with_buckets(bounds: &[f64]) -> Result<Self, MetricError> {
        Ok(Self::from_layout(Layout::new(bounds)?))
    }

    /// A new, empty histogram with the same buckets as this one.
    pub fn new_like(&self) -> Self {
        Self::from_layout(self.inner.layout.clone())
    }

    fn from_layout(layout: Arc<Layout>) -> Self {
        // Counts (bounds + 1) and the sum, rounded up to whole 64-byte
        // lines, plus one line of padding.
        let stride = (layout.bounds.len() + 2).div_ceil(8) * 8 + 8;
        let cells = (0..SHARDS * stride).map(|_| AtomicU64::new(0)).collect();
        let inner = Inner { layout, cells, stride, created: now_seconds(), exemplars: OnceLock::new() };
        Histogram { inner: Arc::new(inner) }
    }

    /// Records one observation.
    #[inline]
    pub fn observe(&self, v: f64) {
        self.record(self.bucket(v), v);
    }

    /// Records one observation and keeps `labels` (e.g.
    /// `[("trace_id", id)]`) as the exemplar of the bucket it lands in,
    /// with the value `v` and the time now, replacing that bucket's one
    /// before (client_golang keeps one per bucket too). An exemplar
    /// OpenMetrics forbids (a name that is not a label name, more than
    /// [`MAX_EXEMPLAR_LABELS_CHARS`](super::MAX_EXEMPLAR_LABELS_CHARS)
    /// characters) is dropped; the observation counts either way.
    pub fn observe_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) {
        let bucket = self.bucket(v);
        self.record(bucket, v);
        if let Some(exemplar) = exemplar(labels, v) {
            let slots = self
                .inner
                .exemplars
                .get_or_init(|| (0..=self.inner.layout.bounds.len()).map(|_| ExemplarSlot::default()).collect());
            if let Some(slot) = slots.get(bucket) {
                slot.store(exemplar);
            }
        }
    }

    /// The latest exemplar of each bucket, `+Inf` last.
    pub fn exemplars(&self) -> Vec<Option<Exemplar>> {
        let buckets = self.inner.layout.bounds.len() + 1;
        match self.inner.exemplars.get() {
            Some(slots) => slots.iter().map(ExemplarSlot::get).collect(),
            None => vec![None; buckets],
        }
    }

    /// The exemplar of bucket `index`; a single load when there are none.
    fn exemplar_of(&self, index: usize) -> Option<Exemplar> {
        self.inner.exemplars.get()?.get(index)?.get()
    }

    /// When the histogram was made, in seconds since the epoch (its
    /// `_created` value).
    pub fn created(&self) -> f64 {
        self.inner.created
    }

    /// The bucket `v` lands in: the first bound at or above it, else `+Inf`.
    #[inline]
    fn bucket(&self, v: f64) -> usize {
        let bounds = &self.inner.layout.bounds;
        // A linear scan: buckets are few (a dozen by default). NaN compares
        // false everywhere and so falls through to +Inf.
        bounds.iter().position(|&b| v <= b).unwrap_or(bounds.len())
    }

    #[inline]
    fn record(&self, bucket: usize, v: f64) {
        let inner = &*self.inner;
        let buckets = inner.layout.bounds.len();
        // `try_with`: during thread teardown the key may be gone, and `with`
        // would panic; shard 0 is as good as any.
        let start = SHARD.try_with(|&shard| shard).unwrap_or(0) * inner.stride;
        if let Some(shard) = inner.cells.get(start..start + buckets + 2) {
            if let Some(count) = shard.get(bucket) {
                count.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(sum) = shard.last() {
                add_f64(sum, v);
            }
        }
    }

    /// The upper bounds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.inner.layout.bounds
    }

    /// Each shard's words: counts, then the sum's bits.
    fn shards(&self) -> impl Iterator<Item = &[AtomicU64]> {
        let used = self.inner.layout.bounds.len() + 2;
        self.inner.cells.chunks(self.inner.stride).map(move |chunk| chunk.get(..used).unwrap_or(chunk))
    }

    /// Non-cumulative counts over all shards.
    fn counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.inner.layout.bounds.len() + 1];
        for shard in self.shards() {
            for (total, cell) in counts.iter_mut().zip(shard) {
                *total = total.wrapping_add(cell.load(Ordering::Relaxed));
            }
        }
        counts
    }

    /// Cumulative counts, one per bound plus the last for `+Inf`.
    pub fn cumulative_counts(&self) -> Vec<u64> {
        let mut total = 0u64;
        self.counts()
            .into_iter()
            .map(|c| {
                total = total.wrapping_add(c);
                total
            })
            .collect()
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.counts().into_iter().fold(0, u64::wrapping_add)
    }

    /// The sum of observations.
    pub fn sum(&self) -> f64 {
        self.shards().filter_map(|shard| shard.last()).map(|bits| f64::from_bits(bits.load(Ordering::Relaxed))).sum()
    }
}

impl Metric for Histogram {
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        self.write_owned(base.clone(), out);
    }

    fn write_owned(&self, base: Labels, out: &mut MetricFamily) {
        let cumulative = self.cumulative_counts();
        for (i, (le, &count)) in self.inner.layout.le.iter().zip(&cumulative).enumerate() {
            let mut labels = Labels(Vec::with_capacity(base.len() + 1));
            labels.0.extend_from_slice(&base.0);
            labels.0.push(Label::new("le", le.as_str()));
            let exemplar = self.exemplar_of(i);
            out.push_sample(Sample { exemplar, ..Sample::new(Suffix::Bucket, labels, count as f64) });
        }
        let count = cumulative.last().copied().unwrap_or(0);
        // `_sum` before `_count`, the order client_golang writes.
        out.push_sample(Sample::new(Suffix::Sum, base.clone(), self.sum()));
        out.push_sample(Sample::new(Suffix::Count, base, count as f64));
    }

    fn write_with_created(&self, base: Labels, out: &mut MetricFamily) {
        self.write_owned(base.clone(), out);
        // After `_count`, where client_golang writes it.
        out.push_sample(Sample::new(Suffix::Created, base, self.created()));
    }
}

impl ChildMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl DirectChild for Histogram {
    /// The lines [`Metric::write_owned`] gives, with the counts added up in
    /// `lines`' scratch space instead of two new `Vec`s.
    fn write_lines(&self, labels: &[u8], lines: &mut Lines<'_>) {
        let mut counts = std::mem::take(lines.counts);
        counts.clear();
        counts.resize(self.inner.layout.bounds.len() + 1, 0);
        for shard in self.shards() {
            for (total, cell) in counts.iter_mut().zip(shard) {
                *total = total.wrapping_add(cell.load(Ordering::Relaxed));
            }
        }
        let mut total = 0u64;
        let exemplars = self.inner.exemplars.get().filter(|_| lines.openmetrics);
        for (i, (le, &count)) in self.inner.layout.le.iter().zip(&counts).enumerate() {
            total = total.wrapping_add(count);
            let exemplar = exemplars.and_then(|slots| slots.get(i)).and_then(ExemplarSlot::get);
            lines.line_with_exemplar(b"_bucket", labels, Some((b"le", le.as_bytes())), total as f64, exemplar.as_ref());
        }
        *lines.counts = counts;
        lines.line(b"_sum", labels, None, self.sum());
        lines.line(b"_count", labels, None, total as f64);
        lines.created(labels, self.created());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_land_in_their_bucket() {
        let h = Histogram::with_buckets(&[1.0, 2.0, 5.0]).unwrap();
        for v in [0.5, 1.0, 1.0000001, 2.0, 4.9, 5.0, 5.1, f64::NAN] {
            h.observe(v);
        }
        // le=1: 0.5, 1.0; le=2: +1.0000001, 2.0; le=5: +4.9, 5.0; +Inf: +5.1, NaN.
        assert_eq!(h.cumulative_counts(), vec![2, 4, 6, 8]);
        assert_eq!(h.count(), 8);
        assert!(h.sum().is_nan());
    }

    #[test]
    fn default_buckets_edges() {
        let h = Histogram::new();
        for &b in &DEFAULT_BUCKETS {
            h.observe(b);
        }
        h.observe(10.5);
        h.observe(-1.0);
        assert_eq!(h.cumulative_counts(), vec![2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        assert_eq!(h.bounds(), &DEFAULT_BUCKETS);
    }

    #[test]
    fn bucket_validation() {
        assert!(Histogram::with_buckets(&[]).is_err());
        assert!(Histogram::with_buckets(&[f64::INFINITY]).is_err());
        assert!(Histogram::with_buckets(&[1.0, 1.0]).is_err());
        assert!(Histogram::with_buckets(&[2.0, 1.0]).is_err());
        assert!(Histogram::with_buckets(&[1.0, f64::NAN]).is_err());
        let h = Histogram::with_buckets(&[1.0, f64::INFINITY]).unwrap();
        assert_eq!(h.bounds(), &[1.0]);
        assert_eq!(h.new_like().bounds(), &[1.0]);
    }

    #[test]
    fn writes_cumulative_samples() {
        let h = Histogram::with_buckets(&[0.1, 1.0]).unwrap();
        h.observe(0.05);
        h.observe(0.5);
        h.observe(3.0);
        let mut family = MetricFamily::new("t", "", MetricType::Histogram);
        h.write(&Labels::new().with("a", "b"), &mut family);
        let got: Vec<(Suffix, Option<&str>, f64)> =
            family.samples.iter().map(|s| (s.suffix, s.labels.get("le"), s.value)).collect();
        assert_eq!(
            got,
            vec![
                (Suffix::Bucket, Some("0.1"), 1.0),
                (Suffix::Bucket, Some("1"), 2.0),
                (Suffix::Bucket, Some("+Inf"), 3.0),
                (Suffix::Sum, None, 3.55),
                (Suffix::Count, None, 3.0),
            ]
        );
        assert_eq!(family.samples[0].labels.get("a"), Some("b"));
    }
}
