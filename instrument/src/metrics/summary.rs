//! Summaries: `_sum` and `_count` over all time, quantiles over a sliding
//! window kept in HDR histograms.
//!
//! The window works like client_golang's: `max_age` (10 minutes by default)
//! is cut into `age_buckets` periods (5, so 2 minutes each), and the
//! quantiles cover the current, partial period plus the `age_buckets - 1`
//! periods before it, i.e. between 8 and 10 minutes of observations.
//! client_golang keeps one CKMS stream per age bucket and feeds every
//! observation into all of them; here each period has its own
//! [`hdrhistogram::Histogram`], an observation goes into the current one
//! only, and a scrape adds up the periods still in the window.
//!
//! # Hot path
//!
//! Observations go to one of four shards, picked once per thread (the same
//! scheme as [`Histogram`](super::Histogram)). Each shard is a mutex around
//! the count, the sum and the current period's histogram, on its own cache
//! lines, so two threads normally take two different, uncontended locks.
//! The time comes from the coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`
//! on Linux: a few nanoseconds from the vDSO, where `Instant::now` costs
//! 30–40 ns on a virtual machine; it advances once per kernel tick, so
//! periods end up to a few milliseconds late). When a shard finds its
//! period over (one integer comparison per observation), it moves the
//! period's histogram into the shared ring of past periods; that happens at
//! most once per period per shard, and a scrape does the same for shards
//! nobody wrote to lately. A scrape holds each shard's lock only while it
//! adds that shard's histogram to its total.
//!
//! # Memory
//!
//! Histograms are allocated on first use and grow with the largest value
//! they hold. At 3 significant figures and the default nanosecond scale one
//! costs about 16 KiB for values under 2 µs, 170 KiB once values reach a
//! second and 200 KiB at 10 seconds. A busy summary holds one per shard in
//! use plus one per age bucket, so budget about 1.5 MiB per busy child:
//! prefer a [`Histogram`](super::Histogram) for families with many children.
//! Periods that have left the window are freed at the next scrape.

use std::fmt;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram as Hdr;

use super::direct::{DirectChild, Lines};
use super::{ChildMetric, Family, Metric, MetricError, now_seconds};
use crate::model::{Label, Labels, MetricFamily, MetricType, Sample, Suffix};
use crate::strconv::{FloatFormat, format_float};

/// The quantiles many Rust crates default to (median, 90th, 99th
/// percentile). Not the default here: see [`SummaryOpts::objectives`].
pub const COMMON_OBJECTIVES: [f64; 3] = [0.5, 0.9, 0.99];

/// client_golang's `DefMaxAge`: quantiles cover the last 10 minutes.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// client_golang's `DefAgeBuckets`: the window moves in 5 steps of
/// `max_age / 5`.
pub const DEFAULT_AGE_BUCKETS: usize = 5;

/// Significant decimal figures kept by default: quantiles within 0.1%.
pub const DEFAULT_SIGNIFICANT_FIGURES: u8 = 3;

/// Observations are multiplied by this before they are stored as integers:
/// nanoseconds for values given in seconds.
pub const DEFAULT_UNIT_SCALE: f64 = 1e9;

/// How a [`Summary`] computes its quantiles.
///
/// The defaults are client_golang's (`SummaryOpts` with nothing set): no
/// objectives, a 10-minute window in 5 age buckets. Values are kept to 3
/// significant figures at nanosecond resolution for seconds-valued
/// observations.
///
/// ```
/// use std::time::Duration;
/// use sonde_instrument::metrics::{COMMON_OBJECTIVES, Summary, SummaryOpts};
///
/// let opts = SummaryOpts::default().with_objectives(&COMMON_OBJECTIVES).with_window(Duration::from_secs(60), 3);
/// let latency = Summary::with_opts(opts)?;
/// for ms in 1..=100 {
///     latency.observe(f64::from(ms) / 1000.0);
/// }
/// let median = latency.quantiles()[0];
/// assert_eq!(median.0, 0.5);
/// assert!((median.1 - 0.05).abs() < 0.001, "{median:?}");
/// assert_eq!(latency.count(), 100);
/// # Ok::<(), sonde_instrument::metrics::MetricError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryOpts {
    /// The quantiles to expose, each in `[0, 1]` (e.g. `0.5, 0.9, 0.99`).
    /// Empty by default, as in client_golang since v0.10: the summary then
    /// exposes only `_sum` and `_count` and keeps no histograms. See
    /// [`COMMON_OBJECTIVES`] for the usual choice.
    pub objectives: Vec<f64>,
    /// How far back the quantiles look ([`DEFAULT_MAX_AGE`]).
    pub max_age: Duration,
    /// How many steps the window moves in ([`DEFAULT_AGE_BUCKETS`]); the
    /// quantiles cover between `max_age * (age_buckets - 1) / age_buckets`
    /// and `max_age` of observations.
    pub age_buckets: usize,
    /// Decimal digits of precision, 1 to 5: a reported quantile is within
    /// a relative `10^-significant_figures` of an observed value
    /// ([`DEFAULT_SIGNIFICANT_FIGURES`]). Each extra digit costs about ten
    /// times the memory.
    pub significant_figures: u8,
    /// Observations are stored as `round(value * unit_scale)` in a histogram
    /// of integers ([`DEFAULT_UNIT_SCALE`], nanoseconds for seconds).
    /// Values that round to 0 or less, including negative values and NaN,
    /// count as 0 in the quantiles; values too large for the histogram
    /// (above about 4.6e18 units) count as its largest value. `_sum` and
    /// `_count` always take the value as given, as in client_golang.
    pub unit_scale: f64,
}

impl Default for SummaryOpts {
    fn default() -> Self {
        SummaryOpts {
            objectives: Vec::new(),
            max_age: DEFAULT_MAX_AGE,
            age_buckets: DEFAULT_AGE_BUCKETS,
            significant_figures: DEFAULT_SIGNIFICANT_FIGURES,
            unit_scale: DEFAULT_UNIT_SCALE,
        }
    }
}

impl SummaryOpts {
    /// Sets the objectives (builder style).
    pub fn with_objectives(mut self, objectives: &[f64]) -> Self {
        self.objectives = objectives.to_vec();
        self
    }

    /// Sets the window: `max_age` in `age_buckets` steps (builder style).
    pub fn with_window(mut self, max_age: Duration, age_buckets: usize) -> Self {
        self.max_age = max_age;
        self.age_buckets = age_buckets;
        self
    }
}

/// A source of the current time, injectable for tests.
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Everything the children of a family share.
struct Config {
    /// Sorted, without repeats.
    objectives: Box<[f64]>,
    /// The `quantile` label value of each objective.
    labels: Box<[String]>,
    /// `max_age / age_buckets`, in nanoseconds, at least 1.
    period_nanos: u64,
    age_buckets: u64,
    scale: f64,
    /// An empty histogram with the configured precision, new ones are made
    /// from it without a fallible call; `None` without objectives, when
    /// the summary keeps no histograms.
    template: Option<Hdr<u64>>,
    /// `None` for the system's coarse monotonic clock.
    clock: Option<Clock>,
    /// What an injected clock read when the config was made: its times
    /// count from here.
    base: Instant,
}

impl Config {
    fn new(opts: &SummaryOpts, clock: Option<Clock>) -> Result<Arc<Self>, MetricError> {
        let invalid = |reason: String| Err(MetricError::InvalidSummaryOpts(reason));
        let mut objectives = opts.objectives.clone();
        if let Some(bad) = objectives.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return invalid(format!("objective {bad} is not a quantile in [0, 1]"));
        }
        objectives.sort_by(f64::total_cmp);
        objectives.dedup();
        if opts.age_buckets == 0 {
            return invalid("age_buckets must be at least 1".to_owned());
        }
        let period = opts.max_age.as_nanos() / opts.age_buckets as u128;
        if period == 0 {
            return invalid(format!("max_age {:?} is too short for {} age buckets", opts.max_age, opts.age_buckets));
        }
        if !(1..=5).contains(&opts.significant_figures) {
            return invalid(format!("significant_figures must be 1 to 5, not {}", opts.significant_figures));
        }
        if !(opts.unit_scale.is_finite() && opts.unit_scale > 0.0) {
            return invalid(format!("unit_scale must be finite and positive, not {}", opts.unit_scale));
        }
        let template = if objectives.is_empty() {
            None
        } else {
            match Hdr::new(opts.significant_figures) {
                Ok(template) => Some(template),
                Err(e) => return invalid(format!("hdrhistogram rejected the options: {e:?}")),
            }
        };
        let base = clock.as_ref().map_or_else(Instant::now, |clock| clock());
        Ok(Arc::new(Config {
            base,
            labels: objectives.iter().map(|&q| format_float(q, FloatFormat::G, None)).collect(),
            objectives: objectives.into(),
            period_nanos: u64::try_from(period).unwrap_or(u64::MAX),
            age_buckets: opts.age_buckets as u64,
            scale: opts.unit_scale,
            template,
            clock,
        }))
    }

    /// The current time in nanoseconds from an arbitrary origin.
    #[inline]
    fn now(&self) -> u64 {
        match &self.clock {
            Some(clock) => nanos(clock().saturating_duration_since(self.base)),
            None => coarse_now(),
        }
    }

    /// An observation as the integer the histograms store: rounded, with
    /// negative values and NaN at 0 and overflow at `u64::MAX` (Rust's
    /// float-to-int casts saturate).
    #[inline]
    fn units(&self, v: f64) -> u64 {
        (v * self.scale + 0.5) as u64
    }
}

/// Shards per summary; see [`Histogram`](super::Histogram) for the scheme.
const SHARDS: usize = 4;

thread_local! {
    /// This thread's shard, assigned round-robin on first use.
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

/// One shard, aligned so that no two share a cache line (or the pair of
/// lines adjacent-line prefetchers fetch together).
#[repr(align(128))]
struct Shard(Mutex<Hot>);

/// What a shard's lock guards.
struct Hot {
    /// Observations over all time.
    count: u64,
    /// Their sum over all time.
    sum: f64,
    /// The period `hist` holds.
    epoch: u64,
    /// When that period ends.
    ends: u64,
    /// The period's observations; `None` until the first one, and always
    /// without objectives.
    hist: Option<Hdr<u64>>,
}

/// Past periods, `age_buckets` slots indexed by `epoch % age_buckets`.
struct Ring {
    slots: Box<[Option<Past>]>,
}

/// One past period's observations, from every shard.
struct Past {
    epoch: u64,
    hist: Hdr<u64>,
}

struct Inner {
    config: Arc<Config>,
    /// Seconds since the epoch when the summary was made (`_created`).
    created: f64,
    /// Period `n` runs from `start + n * period` to `start + (n + 1) * period`
    /// (nanoseconds on the config's clock).
    start: u64,
    shards: Box<[Shard]>,
    ring: Mutex<Ring>,
}

/// A summary: `_count` and `_sum` over all time, and quantiles of the
/// observations in a sliding window. Clones share the data.
///
/// ```
/// use sonde_instrument::metrics::{COMMON_OBJECTIVES, Summary};
///
/// let latency = Summary::with_objectives(&COMMON_OBJECTIVES).unwrap();
/// for ms in 1..=100 {
///     latency.observe(f64::from(ms) / 1000.0);
/// }
/// assert_eq!(latency.count(), 100);
/// let median = latency.quantiles()[0];
/// assert_eq!(median.0, 0.5);
/// assert!((median.1 - 0.050).abs() <= 0.050 * 1e-3);
/// ```
///
/// Exposed as client_golang does: `{quantile="0.5"}` samples (NaN while
/// the window is empty), then `_sum`, then `_count`. See [`SummaryOpts`]
/// for the defaults and how values are stored.
#[derive(Clone)]
pub struct Summary {
    inner: Arc<Inner>,
}

impl fmt::Debug for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Summary")
            .field("objectives", &self.inner.config.objectives)
            .field("count", &self.count())
            .field("sum", &self.sum())
            .finish_non_exhaustive()
    }
}

impl Default for Summary {
    /// A summary with client_golang's defaults: no objectives, so only
    /// `_sum` and `_count`.
    fn default() -> Self {
        Summary::new()
    }
}

impl Summary {
    /// A summary with client_golang's defaults ([`SummaryOpts::default`]):
    /// no objectives, so only `_sum` and `_count`.
    pub fn new() -> Self {
        // Built directly rather than through `Config::new`, which could
        // fail only on options other than these defaults.
        let config = Config {
            objectives: Box::new([]),
            labels: Box::new([]),
            period_nanos: (DEFAULT_MAX_AGE.as_secs() * 1_000_000_000) / DEFAULT_AGE_BUCKETS as u64,
            age_buckets: DEFAULT_AGE_BUCKETS as u64,
            scale: DEFAULT_UNIT_SCALE,
            template: None,
            clock: None,
            base: Instant::now(),
        };
        Self::from_config(Arc::new(config))
    }

    /// A summary with these objectives and otherwise the defaults.
    pub fn with_objectives(objectives: &[f64]) -> Result<Self, MetricError> {
        Self::with_opts(SummaryOpts::default().with_objectives(objectives))
    }

    /// A summary with the given options; invalid options are an error.
    pub fn with_opts(opts: SummaryOpts) -> Result<Self, MetricError> {
        Ok(Self::from_config(Config::new(&opts, None)?))
    }

    /// A summary that reads the time from `clock` instead of
    /// [`Instant::now`]: for tests and simulations that move the window
    /// without waiting.
    pub fn with_opts_and_clock(
        opts: SummaryOpts,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Result<Self, MetricError> {
        Ok(Self::from_config(Config::new(&opts, Some(Arc::new(clock)))?))
    }

    /// A new, empty summary with the same options (and clock) as this one.
    pub fn new_like(&self) -> Self {
        Self::from_config(self.inner.config.clone())
    }

    /// When the summary was made, in seconds since the epoch (its
    /// `_created` value).
    pub fn created(&self) -> f64 {
        self.inner.created
    }

    fn from_config(config: Arc<Config>) -> Self {
        let start = config.now();
        let ends = end_of(start, config.period_nanos, 0);
        let shards =
            (0..SHARDS).map(|_| Shard(Mutex::new(Hot { count: 0, sum: 0.0, epoch: 0, ends, hist: None }))).collect();
        let slots = (0..config.age_buckets).map(|_| None).collect();
        let created = now_seconds();
        Summary { inner: Arc::new(Inner { config, created, start, shards, ring: Mutex::new(Ring { slots }) }) }
    }

    /// The objectives, sorted.
    pub fn objectives(&self) -> &[f64] {
        &self.inner.config.objectives
    }

    /// Records one observation.
    #[inline]
    pub fn observe(&self, v: f64) {
        let inner = &*self.inner;
        let config = &*inner.config;
        // `try_with`: during thread teardown the key may be gone; shard 0
        // is as good as any.
        let index = SHARD.try_with(|&shard| shard).unwrap_or(0);
        let Some(shard) = inner.shards.get(index) else { return };
        let Some(template) = &config.template else {
            let mut hot = lock(&shard.0);
            hot.count = hot.count.wrapping_add(1);
            hot.sum += v;
            return;
        };
        // Read the clock before taking the lock, to keep the lock short.
        let now = config.now();
        let mut hot = lock(&shard.0);
        hot.count = hot.count.wrapping_add(1);
        hot.sum += v;
        if now >= hot.ends {
            inner.rotate(&mut hot, now);
        }
        let units = config.units(v);
        let hist = match hot.hist {
            Some(ref mut hist) => hist,
            None => hot.hist.insert(Hdr::new_from(template)),
        };
        // `record` grows the histogram; it fails only past the largest
        // value an auto-resizing histogram can hold.
        if hist.record(units).is_err() {
            hist.saturating_record(units);
        }
    }

    /// The number of observations over all time.
    pub fn count(&self) -> u64 {
        self.inner.shards.iter().map(|shard| lock(&shard.0).count).fold(0, u64::wrapping_add)
    }

    /// The sum of observations over all time.
    pub fn sum(&self) -> f64 {
        self.inner.shards.iter().map(|shard| lock(&shard.0).sum).sum()
    }

    /// Each objective with its current value (NaN when the window is empty).
    pub fn quantiles(&self) -> Vec<(f64, f64)> {
        self.snapshot_at(self.inner.config.now()).quantiles
    }

    /// Count, sum and quantiles as of `now`.
    fn snapshot_at(&self, now: u64) -> Snapshot {
        let inner = &*self.inner;
        let config = &*inner.config;
        let mut snapshot = Snapshot { count: 0, sum: 0.0, window_count: 0, quantiles: Vec::new() };
        let mut window: Option<Hdr<u64>> = None;
        let mut merge = |hist: &Hdr<u64>| {
            if hist.is_empty() {
                return;
            }
            match window {
                Some(ref mut window) => {
                    // Fails only if the sum needs a histogram larger than
                    // memory: the quantiles then lack this part.
                    let _ = window.add(hist);
                }
                None => window = Some(hist.clone()),
            }
        };
        for shard in inner.shards.iter() {
            let mut hot = lock(&shard.0);
            snapshot.count = snapshot.count.wrapping_add(hot.count);
            snapshot.sum += hot.sum;
            if config.template.is_none() {
                continue;
            }
            if now >= hot.ends {
                inner.rotate(&mut hot, now);
            }
            if let Some(hist) = &hot.hist {
                merge(hist);
            }
        }
        if config.template.is_none() {
            return snapshot;
        }
        let epoch = inner.epoch_at(now);
        {
            let mut ring = lock(&inner.ring);
            for slot in ring.slots.iter_mut() {
                let Some(past) = slot else { continue };
                if past.epoch.saturating_add(config.age_buckets) <= epoch {
                    // Out of the window for good: free it.
                    *slot = None;
                } else if past.epoch < epoch {
                    merge(&past.hist);
                }
                // A slot for the current period (or later) only fills when
                // a period ends during this scrape. A shard read above before
                // it rotated is counted already; one that rotated before it
                // was read is left out of this one scrape, a small gap at
                // most once per period rather than a double count.
            }
        }
        snapshot.window_count = window.as_ref().map_or(0, Hdr::len);
        snapshot.quantiles = config
            .objectives
            .iter()
            .map(|&q| {
                let value = match &window {
                    Some(window) => {
                        let bucket = window.value_at_quantile(q);
                        let (low, high) = (window.lowest_equivalent(bucket), window.highest_equivalent(bucket));
                        simplest_between(low, high) as f64 / config.scale
                    }
                    None => f64::NAN,
                };
                (q, value)
            })
            .collect();
        snapshot
    }
}

/// What one scrape reads.
struct Snapshot {
    count: u64,
    sum: f64,
    /// Observations in the window.
    window_count: u64,
    quantiles: Vec<(f64, f64)>,
}

impl Inner {
    /// The period `now` falls in.
    fn epoch_at(&self, now: u64) -> u64 {
        now.saturating_sub(self.start) / self.config.period_nanos
    }

    /// Moves a shard whose period is over to the period `now` falls in:
    /// the old period's histogram goes into the ring if it is still in the
    /// window, and the shard's histogram is emptied for reuse.
    ///
    /// Takes the ring's lock while the caller holds the shard's: the order
    /// is always shard, then ring.
    #[cold]
    #[inline(never)]
    fn rotate(&self, hot: &mut Hot, now: u64) {
        let epoch = self.epoch_at(now);
        let config = &*self.config;
        if let Some(hist) = hot.hist.as_mut() {
            if !hist.is_empty() && hot.epoch.saturating_add(config.age_buckets) > epoch {
                let mut ring = lock(&self.ring);
                let index = usize::try_from(hot.epoch % config.age_buckets).unwrap_or(0);
                if let Some(slot) = ring.slots.get_mut(index) {
                    match slot {
                        Some(past) => {
                            if past.epoch != hot.epoch {
                                // The slot held an expired period: reuse its memory.
                                past.hist.reset();
                                past.epoch = hot.epoch;
                            }
                            let _ = past.hist.add(&*hist);
                        }
                        None => *slot = Some(Past { epoch: hot.epoch, hist: hist.clone() }),
                    }
                }
            }
            hist.reset();
        }
        hot.epoch = epoch;
        hot.ends = end_of(self.start, config.period_nanos, epoch);
    }
}

/// The number in `low..=high` with the most trailing decimal zeros.
///
/// A quantile is known only to within its histogram bucket, `low..=high`;
/// every number in it is equally right, within the stated precision. The
/// roundest one prints shortest once scaled: `0.05` rather than
/// `0.050003967` (hdrhistogram's own choice, the bucket's top).
fn simplest_between(low: u64, high: u64) -> u64 {
    let mut step = 10_000_000_000_000_000_000u64;
    while step > 1 {
        match low.div_ceil(step).checked_mul(step) {
            Some(candidate) if candidate <= high => return candidate,
            _ => {}
        }
        step /= 10;
    }
    low
}

/// When period `epoch` ends.
fn end_of(start: u64, period_nanos: u64, epoch: u64) -> u64 {
    start.saturating_add(period_nanos.saturating_mul(epoch.saturating_add(1)))
}

/// A duration in nanoseconds, saturating after 584 years.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: the clock `Instant` uses, read
/// at the last kernel tick.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn coarse_now() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let subsec = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(subsec)
}

/// `Instant::now` in nanoseconds from the first call, where there is no
/// coarse clock.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn coarse_now() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    nanos(ORIGIN.get_or_init(Instant::now).elapsed())
}

impl Metric for Summary {
    fn metric_type(&self) -> MetricType {
        MetricType::Summary
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        self.write_owned(base.clone(), out);
    }

    fn write_owned(&self, base: Labels, out: &mut MetricFamily) {
        let snapshot = self.snapshot_at(self.inner.config.now());
        for (label, (_, value)) in self.inner.config.labels.iter().zip(&snapshot.quantiles) {
            let mut labels = Labels(Vec::with_capacity(base.len() + 1));
            labels.0.extend_from_slice(&base.0);
            labels.0.push(Label::new("quantile", label.as_str()));
            out.push_sample(Sample::new(Suffix::None, labels, *value));
        }
        // `_sum` before `_count`, the order client_golang writes.
        out.push_sample(Sample::new(Suffix::Sum, base.clone(), snapshot.sum));
        out.push_sample(Sample::new(Suffix::Count, base, snapshot.count as f64));
    }

    fn write_with_created(&self, base: Labels, out: &mut MetricFamily) {
        self.write_owned(base.clone(), out);
        // After `_count`, where client_golang writes it.
        out.push_sample(Sample::new(Suffix::Created, base, self.created()));
    }
}

impl ChildMetric for Summary {
    const TYPE: MetricType = MetricType::Summary;
}

impl DirectChild for Summary {
    /// The lines [`Metric::write_owned`] gives.
    fn write_lines(&self, labels: &[u8], lines: &mut Lines<'_>) {
        let snapshot = self.snapshot_at(self.inner.config.now());
        for (label, (_, value)) in self.inner.config.labels.iter().zip(&snapshot.quantiles) {
            lines.line(b"", labels, Some((b"quantile", label.as_bytes())), *value);
        }
        lines.line(b"_sum", labels, None, snapshot.sum);
        lines.line(b"_count", labels, None, snapshot.count as f64);
        lines.created(labels, self.created());
    }
}

impl Family<Summary> {
    /// A summary family whose children use `opts` (see
    /// [`Summary::with_opts`]).
    pub fn with_opts(label_names: &[&str], opts: SummaryOpts) -> Result<Self, MetricError> {
        let prototype = Summary::with_opts(opts)?;
        Ok(Self::with_constructor(label_names, move || prototype.new_like()))
    }
}

/// Locks, ignoring poisoning: every critical section leaves the data
/// consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::thread;

    use super::*;
    use crate::collector::Collector;
    use crate::metrics::Registry;
    use crate::{Format, encode::encode_to_string, lint};

    /// A clock the test moves by hand: `base` plus the offset in `nanos`.
    fn manual_clock() -> (Arc<AtomicU64>, impl Fn() -> Instant + Send + Sync + 'static) {
        let base = Instant::now();
        let nanos = Arc::new(AtomicU64::new(0));
        let read = nanos.clone();
        (nanos, move || base + Duration::from_nanos(read.load(Ordering::Relaxed)))
    }

    const MINUTE: u64 = 60_000_000_000;

    /// xorshift64*: reproducible data without a dependency.
    fn random(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed | 1;
        move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The value hdrhistogram's `value_at_quantile` aims at: the
    /// `ceil(q * n)`-th smallest (at least the first).
    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn quantiles_match_an_exact_sort_within_the_stated_precision() {
        let objectives = [0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0];
        for (sigfig, scale) in [(3, 1e9), (2, 1e9), (4, 1e9), (3, 1e6), (5, 1e3)] {
            let opts = SummaryOpts { significant_figures: sigfig, unit_scale: scale, ..SummaryOpts::default() }
                .with_objectives(&objectives);
            let summary = Summary::with_opts(opts).unwrap();
            let mut next = random(u64::from(sigfig) * 7919 + scale as u64);
            // Log-uniform from 1 µs to 100 s: seven decades.
            let mut data: Vec<f64> = (0..50_000).map(|_| 1e-6 * 10f64.powf(8.0 * next())).collect();
            for &v in &data {
                summary.observe(v);
            }
            data.sort_by(f64::total_cmp);
            let tolerance = 10f64.powi(-i32::from(sigfig));
            for (q, got) in summary.quantiles() {
                let want = exact_quantile(&data, q);
                // Relative precision of the histogram, plus half a unit of
                // rounding to an integer.
                let allowed = want * tolerance + 0.5 / scale;
                assert!(
                    (got - want).abs() <= allowed,
                    "sigfig {sigfig} scale {scale} q {q}: got {got}, exact {want}, allowed ±{allowed}"
                );
            }
            assert_eq!(summary.count(), 50_000);
        }
    }

    #[test]
    fn the_window_slides_in_age_buckets() {
        let (nanos, clock) = manual_clock();
        let opts = SummaryOpts::default().with_objectives(&[0.5, 0.9]);
        let summary = Summary::with_opts_and_clock(opts, clock).unwrap();
        let at = |minutes: f64| nanos.store((minutes * MINUTE as f64) as u64, Ordering::Relaxed);
        let now = || summary.inner.config.now();

        at(0.0);
        let empty = summary.snapshot_at(now());
        assert!(empty.quantiles.iter().all(|(_, v)| v.is_nan()), "{:?}", empty.quantiles);

        for _ in 0..100 {
            summary.observe(1.0);
        }
        at(1.0);
        assert_eq!(summary.quantiles(), vec![(0.5, 1.0), (0.9, 1.0)]);

        at(3.0); // Period 1: period 0 moves to the ring.
        for _ in 0..100 {
            summary.observe(2.0);
        }
        at(9.99); // Period 4: periods 0 to 4 are in the window.
        let both = summary.snapshot_at(now());
        assert_eq!(both.window_count, 200);
        assert_eq!(both.quantiles, vec![(0.5, 1.0), (0.9, 2.0)]);

        at(10.0); // Period 5: period 0 has left the window.
        let later = summary.snapshot_at(now());
        assert_eq!(later.window_count, 100);
        assert_eq!(later.quantiles, vec![(0.5, 2.0), (0.9, 2.0)]);

        at(11.99); // Still period 5: period 1 is in.
        assert_eq!(summary.snapshot_at(now()).window_count, 100);

        at(12.0); // Period 6: period 1 has left, the window is empty again.
        let gone = summary.snapshot_at(now());
        assert_eq!(gone.window_count, 0);
        assert!(gone.quantiles.iter().all(|(_, v)| v.is_nan()));
        // `_count` and `_sum` are over all time.
        assert_eq!((gone.count, gone.sum), (200, 300.0));

        // After a long silence the first observation starts a fresh period.
        at(600.0);
        summary.observe(3.0);
        assert_eq!(summary.quantiles(), vec![(0.5, 3.0), (0.9, 3.0)]);
        assert_eq!(summary.count(), 201);
    }

    #[test]
    fn rotations_by_many_threads_neither_lose_nor_double_count() {
        let (nanos, clock) = manual_clock();
        let opts = SummaryOpts::default().with_objectives(&[0.5]).with_window(Duration::from_secs(50), 5);
        let summary = Summary::with_opts_and_clock(opts, clock).unwrap();
        // Ten periods of 10 s; in each, 4 threads observe 1 000 times.
        for period in 0..10u64 {
            nanos.store(period * 10_000_000_000 + 5_000_000_000, Ordering::Relaxed);
            thread::scope(|scope| {
                for _ in 0..4 {
                    scope.spawn(|| {
                        for _ in 0..1_000 {
                            summary.observe(period as f64);
                        }
                    });
                }
            });
            let snapshot = summary.snapshot_at(summary.inner.config.now());
            // The window holds this period and up to four before it.
            let periods = (period + 1).min(5);
            assert_eq!(snapshot.window_count, periods * 4_000, "period {period}");
            assert_eq!(snapshot.count, (period + 1) * 4_000);
        }
    }

    #[test]
    fn count_and_sum_are_exact_under_contention() {
        const THREADS: usize = 4;
        const PER_THREAD: usize = 50_000;
        let summary = Summary::with_objectives(&COMMON_OBJECTIVES).unwrap();
        let plain = Summary::new();
        thread::scope(|scope| {
            for t in 0..THREADS {
                let (summary, plain) = (&summary, &plain);
                scope.spawn(move || {
                    for i in 0..PER_THREAD {
                        // Multiples of 1/4 add exactly.
                        summary.observe(((t + i) % 8) as f64 * 0.25);
                        plain.observe(0.5);
                    }
                });
            }
        });
        let total = (THREADS * PER_THREAD) as u64;
        assert_eq!(summary.count(), total);
        assert_eq!(summary.sum(), (THREADS * PER_THREAD) as f64 / 8.0 * (0..8).sum::<i32>() as f64 * 0.25);
        assert_eq!(summary.snapshot_at(summary.inner.config.now()).window_count, total);
        assert_eq!(plain.count(), total);
        assert_eq!(plain.sum(), total as f64 * 0.5);
    }

    #[test]
    fn odd_values_count_but_clamp_in_the_quantiles() {
        let summary = Summary::with_objectives(&[0.0, 1.0]).unwrap();
        summary.observe(-1.0);
        summary.observe(1e30);
        assert_eq!(summary.count(), 2);
        assert_eq!(summary.sum(), 1e30 - 1.0);
        let quantiles = summary.quantiles();
        assert_eq!(quantiles[0], (0.0, 0.0));
        // Clamped to the largest value an auto-resizing histogram holds.
        assert!(quantiles[1].1 > 1e9 && quantiles[1].1.is_finite(), "{quantiles:?}");
        summary.observe(f64::NAN);
        assert_eq!(summary.count(), 3);
        assert!(summary.sum().is_nan());
    }

    #[test]
    fn quantiles_are_the_roundest_number_in_their_bucket() {
        assert_eq!(simplest_between(999_817_216, 1_000_341_503), 1_000_000_000);
        assert_eq!(simplest_between(49_987_584, 50_020_351), 50_000_000);
        assert_eq!(simplest_between(1_234, 1_234), 1_234);
        assert_eq!(simplest_between(1_231, 1_239), 1_231);
        assert_eq!(simplest_between(1_231, 1_240), 1_240);
        assert_eq!(simplest_between(0, 5), 0);
        assert_eq!(simplest_between(u64::MAX - 1, u64::MAX), u64::MAX - 1);
    }

    #[test]
    fn options_are_validated() {
        let bad = |opts: SummaryOpts| matches!(Summary::with_opts(opts), Err(MetricError::InvalidSummaryOpts(_)));
        let base = SummaryOpts::default;
        assert!(bad(base().with_objectives(&[0.5, 1.5])));
        assert!(bad(base().with_objectives(&[f64::NAN])));
        assert!(bad(base().with_objectives(&[-0.1])));
        assert!(bad(base().with_window(Duration::from_secs(60), 0)));
        assert!(bad(base().with_window(Duration::ZERO, 5)));
        assert!(bad(SummaryOpts { significant_figures: 0, ..base().with_objectives(&[0.5]) }));
        assert!(bad(SummaryOpts { significant_figures: 6, ..base() }));
        assert!(bad(SummaryOpts { unit_scale: 0.0, ..base() }));
        assert!(bad(SummaryOpts { unit_scale: f64::INFINITY, ..base() }));
        let summary = Summary::with_objectives(&[0.99, 0.5, 0.9, 0.5]).unwrap();
        assert_eq!(summary.objectives(), &[0.5, 0.9, 0.99]);
        assert!(Summary::new().objectives().is_empty());
        assert_eq!(Summary::default().new_like().objectives(), &[] as &[f64]);
    }

    #[test]
    fn writes_quantiles_then_sum_and_count() {
        let summary = Summary::with_objectives(&[0.5, 0.99]).unwrap();
        let mut family = MetricFamily::new("t", "", MetricType::Summary);
        summary.write(&Labels::new().with("a", "b"), &mut family);
        let got: Vec<(Suffix, Option<&str>, String)> =
            family.samples.iter().map(|s| (s.suffix, s.labels.get("quantile"), s.value.to_string())).collect();
        let nan = f64::NAN.to_string();
        assert_eq!(
            got,
            vec![
                (Suffix::None, Some("0.5"), nan.clone()),
                (Suffix::None, Some("0.99"), nan),
                (Suffix::Sum, None, "0".to_owned()),
                (Suffix::Count, None, "0".to_owned()),
            ]
        );
        assert!(family.samples.iter().all(|s| s.labels.get("a") == Some("b")));

        let mut plain = MetricFamily::new("t", "", MetricType::Summary);
        let default = Summary::new();
        default.observe(0.25);
        default.write(&Labels::new(), &mut plain);
        let got: Vec<(Suffix, f64)> = plain.samples.iter().map(|s| (s.suffix, s.value)).collect();
        assert_eq!(got, vec![(Suffix::Sum, 0.25), (Suffix::Count, 1.0)]);
    }

    #[test]
    fn family_through_the_registry() {
        let registry = Registry::with_const_labels(&[("service", "demo")]).unwrap();
        let opts = SummaryOpts::default().with_objectives(&[0.5, 0.9]);
        let family = registry
            .register_with_unit(
                "rpc_duration_seconds",
                "RPC latency.",
                "seconds",
                Family::<Summary>::with_opts(&["method"], opts).unwrap(),
            )
            .unwrap();
        let get = family.with_label_values(&["get"]).unwrap();
        for ms in 1..=10 {
            get.observe(f64::from(ms) / 100.0);
        }
        assert_eq!(get.objectives(), &[0.5, 0.9]);
        family.with_label_values(&["put"]).unwrap();
        assert!(matches!(
            registry.register("bad", "", Family::<Summary>::new(&["quantile"])),
            Err(MetricError::InvalidLabelName { .. })
        ));

        let mut families = Vec::new();
        registry.collect(&mut families);
        let (text, _) = encode_to_string(&families, Format::Text);
        let expected = concat!(
            "# HELP rpc_duration_seconds RPC latency.\n",
            "# TYPE rpc_duration_seconds summary\n",
            "rpc_duration_seconds{service=\"demo\",method=\"get\",quantile=\"0.5\"} 0.05\n",
            "rpc_duration_seconds{service=\"demo\",method=\"get\",quantile=\"0.9\"} 0.09\n",
            "rpc_duration_seconds_sum{service=\"demo\",method=\"get\"} 0.55\n",
            "rpc_duration_seconds_count{service=\"demo\",method=\"get\"} 10\n",
            "rpc_duration_seconds{service=\"demo\",method=\"put\",quantile=\"0.5\"} NaN\n",
            "rpc_duration_seconds{service=\"demo\",method=\"put\",quantile=\"0.9\"} NaN\n",
            "rpc_duration_seconds_sum{service=\"demo\",method=\"put\"} 0\n",
            "rpc_duration_seconds_count{service=\"demo\",method=\"put\"} 0\n",
        );
        assert_eq!(text, expected);
        assert_eq!(lint::check(&text, Format::Text).unwrap(), vec![]);
        let (open, _) = encode_to_string(&families, Format::OpenMetrics);
        assert_eq!(lint::check(&open, Format::OpenMetrics).unwrap(), vec![]);
    }
}
