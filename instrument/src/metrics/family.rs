//! Labelled families: one child metric per combination of label values.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use arc_swap::{ArcSwap, Guard};

use super::direct::{DirectChild, DirectMetric, Lines, render_labels};
use super::{ChildMetric, Counter, Histogram, Metric, MetricError};
use crate::model::{Label, Labels, MetricFamily, MetricType};

/// A family of metrics that share a name and label names, one child per
/// combination of label values (e.g. `http_server_resp_time{service, code,
/// method, path}`).
///
/// [`Family::get_or_create`] returns the child, creating it on first use;
/// it cannot fail. Looking up an existing child takes no lock, allocates
/// nothing and writes nothing shared: the values are hashed as given and
/// compared in place in an immutable snapshot of the children, and the
/// returned [`ChildRef`] borrows the child from that snapshot instead of
/// cloning its handle. Threads looking up the same series then share only
/// the child's value (see `BENCHMARKS.md`). Hold on to an owned child
/// (`.clone()`) where the label values are fixed; recording through it is
/// then a plain atomic operation.
///
/// A family may be given a maximum number of children
/// ([`Family::with_max_children`]); what happens to lookups of new label
/// values beyond it is the family's [`Overflow`] setting, and each such
/// lookup is counted in [`Family::overflows`].
///
/// Clones share the children.
///
/// ```
/// use sonde_instrument::metrics::{Counter, Family, Overflow, OVERFLOW_VALUE};
///
/// let requests = Family::<Counter>::new(&["path"]).with_max_children(2, Overflow::Fold);
/// requests.get_or_create(&["/a"]).inc();
/// requests.get_or_create(&["/b"]).inc();
/// // A third path would be a third series: it is counted in the overflow child.
/// requests.get_or_create(&["/c"]).inc();
/// requests.get_or_create(&["/a"]).inc();
/// assert_eq!(requests.get_or_create(&["/a"]).get(), 2);
/// assert_eq!(requests.get_or_create(&[OVERFLOW_VALUE]).get(), 1);
/// assert_eq!(requests.overflows().get(), 1);
/// assert_eq!(requests.len(), 3);
/// ```
pub struct Family<M> {
    inner: Arc<Inner<M>>,
}

type Constructor<M> = Box<dyn Fn() -> M + Send + Sync>;

struct Inner<M> {
    label_names: Box<[String]>,
    /// Random per family, so label values an attacker picks cannot be aimed
    /// at one hash chain.
    seed: (u64, u64),
    /// Every child, keyed by the hash of its values; each entry lists the
    /// children whose values share that hash. Written under its lock; read
    /// by scrapes and by lookups the snapshot cannot answer.
    children: RwLock<ChildMap<M>>,
    /// The read path: an immutable copy of `children`, replaced (under
    /// `children`' write lock) when it falls behind. A lookup loads it
    /// without a lock or a shared write (arc-swap keeps its reference
    /// count in a per-thread slot), where an `RwLock` read would make every
    /// thread write the lock word and a cloned handle its reference count.
    snapshot: ArcSwap<Snapshot<M>>,
    /// Lookups that found their child only in `children` since the
    /// snapshot was last replaced: enough of them replace it.
    misses: AtomicUsize,
    /// Bumped, under the write lock, whenever a child is added or removed.
    generation: AtomicU64,
    /// The children sorted by label values as of `generation`, for the
    /// registry's direct path: a scrape of an unchanged family then neither
    /// collects nor sorts. Locked only while holding `children`' read lock
    /// (never the other way round).
    sorted: Mutex<Sorted<M>>,
    make: Constructor<M>,
    /// The number of children, kept beside the map (changed only under its
    /// write lock) so the limit check does not walk the chains.
    len: AtomicUsize,
    /// The most children the family creates (`usize::MAX`: no limit).
    max_children: AtomicUsize,
    /// Beyond `max_children`: fold into the overflow child (true) or refuse.
    fold: AtomicBool,
    /// Lookups that were over the limit or had the wrong number of values.
    overflows: Counter,
    /// The child refused lookups get: made once, never exposed, so a
    /// refusal neither allocates nor fails.
    sink: OnceLock<M>,
}

/// What a [`Family`] does with a lookup of new label values once it has
/// its maximum number of children ([`Family::with_max_children`]). Either
/// way the lookup is counted in [`Family::overflows`] and cannot fail.
///
/// ```
/// use sonde_instrument::metrics::{Counter, Family, Overflow};
///
/// let paths = Family::<Counter>::new(&["path"]).with_max_children(1, Overflow::Fold);
/// paths.get_or_create(&["/a"]).inc();
/// paths.get_or_create(&["/b"]).inc(); // folded into path="__overflow__"
/// assert_eq!((paths.len(), paths.overflows().get()), (2, 1));
/// assert_eq!(Overflow::default(), Overflow::Refuse);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Returns a child that is not exposed: what is recorded through it is
    /// dropped. The family's series stay exactly those it had.
    ///
    /// ```
    /// use sonde_instrument::metrics::{Counter, Family, Overflow};
    ///
    /// let users = Family::<Counter>::new(&["user"]).with_max_children(1, Overflow::Refuse);
    /// users.get_or_create(&["ann"]).inc();
    /// users.get_or_create(&["bob"]).inc(); // refused: recorded nowhere
    /// assert_eq!(users.len(), 1);
    /// assert_eq!(users.overflows().get(), 1);
    /// ```
    #[default]
    Refuse,
    /// Records into one more child, whose every label value is
    /// [`OVERFLOW_VALUE`]: totals stay right, the detail is lost.
    Fold,
}

/// The label value of every label of a family's overflow child
/// ([`Overflow::Fold`]).
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// A family's children in exposition order: rendered label set and metric.
struct Sorted<M> {
    generation: u64,
    children: Arc<[(Arc<[u8]>, M)]>,
}

type ChildMap<M> = HashMap<u64, Vec<Arc<Entry<M>>>, BuildHasherDefault<PrehashedHasher>>;

/// The children as of one moment, for lookups: a flat list grouped by hash
/// and, per hash, where its group starts and how long it is.
struct Snapshot<M> {
    index: HashMap<u64, (usize, usize), BuildHasherDefault<PrehashedHasher>>,
    children: Box<[Arc<Entry<M>>]>,
}

impl<M> Snapshot<M> {
    fn empty() -> Self {
        Snapshot { index: HashMap::default(), children: Box::new([]) }
    }

    fn of(map: &ChildMap<M>) -> Self {
        let mut index = HashMap::with_capacity_and_hasher(map.len(), BuildHasherDefault::default());
        let mut children = Vec::with_capacity(map.values().map(Vec::len).sum());
        for (&hash, chain) in map {
            index.insert(hash, (children.len(), chain.len()));
            children.extend(chain.iter().cloned());
        }
        Snapshot { index, children: children.into_boxed_slice() }
    }

    /// Where the child for `values` is in `children`.
    #[inline]
    fn find(&self, hash: u64, values: &[&str]) -> Option<usize> {
        let &(start, len) = self.index.get(&hash)?;
        (start..start + len).find(|&at| self.children.get(at).is_some_and(|c| same_values(&c.values, values)))
    }
}

/// A child of a [`Family`], as [`Family::get_or_create`] returns it: use it
/// as the metric (it dereferences to `M`), or `.clone()` it for an owned
/// handle to keep.
///
/// It borrows the child from the family's snapshot, so a lookup neither
/// locks nor touches a reference count other threads share. Holding it
/// only keeps that snapshot alive; it blocks nothing.
///
/// ```
/// use sonde_instrument::metrics::{Counter, Family};
///
/// let calls = Family::<Counter>::new(&["code"]);
/// calls.get_or_create(&["200"]).inc();
/// let kept: Counter = calls.get_or_create(&["200"]).clone();
/// kept.inc();
/// assert_eq!(calls.get_or_create(&["200"]).get(), 2);
/// ```
pub struct ChildRef<'a, M> {
    child: Borrowed<M>,
    family: &'a Inner<M>,
}

enum Borrowed<M> {
    /// The child at this place in the snapshot held.
    Shared(Guard<Arc<Snapshot<M>>>, usize),
    /// A child the snapshot does not hold yet (or the refusal sink).
    Owned(M),
}

impl<M: ChildMetric> Deref for ChildRef<'_, M> {
    type Target = M;

    #[inline]
    fn deref(&self) -> &M {
        match &self.child {
            Borrowed::Shared(snapshot, at) => match snapshot.children.get(*at) {
                Some(entry) => &entry.metric,
                // Not reached: `at` was found in this very snapshot.
                None => self.family.sink(),
            },
            Borrowed::Owned(metric) => metric,
        }
    }
}

impl<M: ChildMetric + fmt::Debug> fmt::Debug for ChildRef<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

struct Entry<M> {
    values: Box<[String]>,
    /// The label set rendered once (`a="b",c="d"`, values escaped) for the
    /// registry's direct path.
    rendered: Arc<[u8]>,
    metric: M,
}

impl<M> Clone for Family<M> {
    fn clone(&self) -> Self {
        Family { inner: self.inner.clone() }
    }
}

impl<M> fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family").field("label_names", &self.inner.label_names).field("children", &self.len()).finish()
    }
}

impl<M: ChildMetric + Default> Family<M> {
    /// A family whose children start as `M::default()`. Label names are
    /// validated when the family is registered.
    pub fn new(label_names: &[&str]) -> Self {
        Self::with_constructor(label_names, M::default)
    }
}

impl Family<Histogram> {
    /// A histogram family whose children use `bounds` (see
    /// [`Histogram::with_buckets`]).
    pub fn with_buckets(label_names: &[&str], bounds: &[f64]) -> Result<Self, MetricError> {
        let prototype = Histogram::with_buckets(bounds)?;
        Ok(Self::with_constructor(label_names, move || prototype.new_like()))
    }
}

impl<M: ChildMetric> Family<M> {
    /// A family whose children are made by `make`.
    pub fn with_constructor(label_names: &[&str], make: impl Fn() -> M + Send + Sync + 'static) -> Self {
        let state = RandomState::new();
        Family {
            inner: Arc::new(Inner {
                label_names: label_names.iter().map(|&n| n.to_owned()).collect(),
                seed: (state.hash_one(1u8), state.hash_one(2u8) | 1),
                children: RwLock::new(HashMap::default()),
                snapshot: ArcSwap::from_pointee(Snapshot::empty()),
                misses: AtomicUsize::new(0),
                // No child yet: generation 0 sorts to the empty list.
                generation: AtomicU64::new(0),
                sorted: Mutex::new(Sorted { generation: 0, children: Arc::new([]) }),
                make: Box::new(make),
                len: AtomicUsize::new(0),
                max_children: AtomicUsize::new(usize::MAX),
                fold: AtomicBool::new(false),
                overflows: Counter::new(),
                sink: OnceLock::new(),
            }),
        }
    }

    /// This family with at most `max` children; lookups of new label values
    /// beyond that are handled as `overflow` says (see
    /// [`Family::set_max_children`]).
    #[must_use]
    pub fn with_max_children(self, max: usize, overflow: Overflow) -> Self {
        self.set_max_children(max, overflow);
        self
    }

    /// Limits the family to `max` children from now on. Children that exist
    /// stay, even beyond a lowered limit; the overflow child
    /// ([`Overflow::Fold`]) is not counted against it.
    pub fn set_max_children(&self, max: usize, overflow: Overflow) {
        self.inner.fold.store(overflow == Overflow::Fold, Ordering::Relaxed);
        self.inner.max_children.store(max, Ordering::Relaxed);
    }

    /// The child for `values`, given in the order of the label names;
    /// created on first use. It cannot fail: a lookup beyond the maximum
    /// number of children is handled by the family's [`Overflow`] setting,
    /// and one with the wrong number of values (a programming error, which
    /// a derived [`LabelSet`](super::LabelSet) rules out at compile time)
    /// gets a child that is not exposed. Both are counted in
    /// [`Family::overflows`].
    ///
    /// ```
    /// use sonde_instrument::metrics::{Counter, Family};
    ///
    /// let calls = Family::<Counter>::new(&["method", "code"]);
    /// calls.get_or_create(&["GET", "200"]).inc();
    /// calls.get_or_create(&["GET", "200"]).inc();
    /// assert_eq!(calls.get_or_create(&["GET", "200"]).get(), 2);
    /// // One value for two labels: not a series, but counted.
    /// calls.get_or_create(&["GET"]).inc();
    /// assert_eq!((calls.len(), calls.overflows().get()), (1, 1));
    /// ```
    #[inline]
    pub fn get_or_create(&self, values: &[&str]) -> ChildRef<'_, M> {
        let child = if values.len() == self.inner.label_names.len() {
            let hash = self.hash(values);
            let snapshot = self.inner.snapshot.load();
            match snapshot.find(hash, values) {
                Some(at) => Borrowed::Shared(snapshot, at),
                None => {
                    drop(snapshot);
                    Borrowed::Owned(self.locked_child(hash, values, false))
                }
            }
        } else {
            Borrowed::Owned(self.refuse())
        };
        ChildRef { child, family: &self.inner }
    }

    /// How many lookups were over the maximum number of children or had
    /// the wrong number of values: a handle to register beside the family
    /// (e.g. as `<name>_overflows`) so the loss is visible.
    pub fn overflows(&self) -> Counter {
        self.inner.overflows.clone()
    }

    /// The child for `values`, given in the order of the label names;
    /// created on first use. A wrong number of values is an error, so the
    /// caller can report it; [`Family::get_or_create`] is the lookup that
    /// cannot fail. Beyond the maximum number of children this is `Ok`
    /// with what the [`Overflow`] setting gives.
    pub fn with_label_values(&self, values: &[&str]) -> Result<M, MetricError> {
        self.check_count(values)?;
        Ok(M::clone(&self.get_or_create(values)))
    }

    /// The child for `values` (whose count the caller has checked) when
    /// the snapshot does not have it: from the map under its read lock, or
    /// created.
    #[cold]
    fn locked_child(&self, hash: u64, values: &[&str], overflow: bool) -> M {
        {
            let children = self.inner.children.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(child) = find(&children, hash, values) {
                let metric = child.metric.clone();
                // Each miss pays for an eighth of a copy of the snapshot, so
                // children created since stop costing the lock soon, and a
                // family that keeps growing is not copied per new child.
                let misses = self.inner.misses.fetch_add(1, Ordering::Relaxed) + 1;
                if misses > self.inner.len.load(Ordering::Relaxed) / 8 {
                    drop(children);
                    let children = self.inner.children.write().unwrap_or_else(PoisonError::into_inner);
                    // Unless a thread that missed at the same time did it.
                    if self.inner.misses.load(Ordering::Relaxed) >= misses {
                        self.publish(&children);
                    }
                }
                return metric;
            }
        }
        // A full family turns new values away without the write lock, so a
        // flood of them (a scan of random paths) does not serialize every
        // thread; `create` checks again under the lock.
        if !overflow && self.inner.len.load(Ordering::Relaxed) >= self.inner.max_children.load(Ordering::Relaxed) {
            return self.over_limit();
        }
        self.create(hash, values, overflow)
    }

    /// Replaces the snapshot with the children as they are; called with
    /// `children`' write lock held, so no change is missed.
    fn publish(&self, children: &ChildMap<M>) {
        self.inner.snapshot.store(Arc::new(Snapshot::of(children)));
        self.inner.misses.store(0, Ordering::Relaxed);
    }

    /// The slow path: the child for `values` under the write lock, created
    /// unless the family is full (`overflow` lets the overflow child past).
    #[cold]
    fn create(&self, hash: u64, values: &[&str], overflow: bool) -> M {
        let mut children = self.inner.children.write().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have created it between the two locks.
        if let Some(child) = find(&children, hash, values) {
            return child.metric.clone();
        }
        if !overflow && self.inner.len.load(Ordering::Relaxed) >= self.inner.max_children.load(Ordering::Relaxed) {
            drop(children);
            return self.over_limit();
        }
        let metric = (self.inner.make)();
        let rendered = render_labels(self.inner.label_names.iter().map(String::as_str).zip(values.iter().copied()));
        let values = values.iter().map(|&v| v.to_owned()).collect();
        let entry = Entry { values, rendered: rendered.into(), metric: metric.clone() };
        children.entry(hash).or_default().push(Arc::new(entry));
        let len = self.inner.len.fetch_add(1, Ordering::Relaxed) + 1;
        self.inner.generation.fetch_add(1, Ordering::Relaxed);
        // A small family is copied on each new child, so its next lookup
        // finds it lock-free; a big one when an eighth of it is new (or
        // after enough misses, in `locked_child`), so copying stays linear
        // in the number of children created.
        let snapshot_len = self.inner.snapshot.load().children.len();
        if (len - snapshot_len.min(len)) * 8 > snapshot_len {
            self.publish(&children);
        }
        metric
    }

    /// A lookup of new values in a full family: the overflow child or the sink.
    fn over_limit(&self) -> M {
        if !self.inner.fold.load(Ordering::Relaxed) {
            return self.refuse();
        }
        self.inner.overflows.inc();
        let values = vec![OVERFLOW_VALUE; self.inner.label_names.len()];
        let hash = self.hash(&values);
        {
            let snapshot = self.inner.snapshot.load();
            if let Some(entry) = snapshot.find(hash, &values).and_then(|at| snapshot.children.get(at)) {
                return entry.metric.clone();
            }
        }
        // Through the read lock first, so the overflow child of a big
        // family is found without the write lock until the snapshot has it.
        self.locked_child(hash, &values, true)
    }

    /// The child that is not exposed, for a refused lookup.
    #[cold]
    fn refuse(&self) -> M {
        self.inner.overflows.inc();
        self.inner.sink().clone()
    }

    /// Removes the child for `values`; returns whether it existed. Handles
    /// already held keep working but are no longer exposed.
    pub fn remove_label_values(&self, values: &[&str]) -> Result<bool, MetricError> {
        self.check_count(values)?;
        let hash = self.hash(values);
        let mut children = self.inner.children.write().unwrap_or_else(PoisonError::into_inner);
        let Some(chain) = children.get_mut(&hash) else { return Ok(false) };
        let before = chain.len();
        chain.retain(|c| !same_values(&c.values, values));
        let removed = chain.len() != before;
        self.inner.len.fetch_sub(before - chain.len(), Ordering::Relaxed);
        if chain.is_empty() {
            children.remove(&hash);
        }
        if removed {
            self.inner.generation.fetch_add(1, Ordering::Relaxed);
            // At once: a lookup after the removal must not find the child.
            self.publish(&children);
        }
        Ok(removed)
    }

    /// Removes every child.
    pub fn clear(&self) {
        let mut children = self.inner.children.write().unwrap_or_else(PoisonError::into_inner);
        children.clear();
        self.inner.len.store(0, Ordering::Relaxed);
        self.inner.generation.fetch_add(1, Ordering::Relaxed);
        self.publish(&children);
    }

    fn check_count(&self, values: &[&str]) -> Result<(), MetricError> {
        if values.len() == self.inner.label_names.len() {
            Ok(())
        } else {
            Err(MetricError::LabelCount { expected: self.inner.label_names.to_vec(), got: values.len() })
        }
    }

    fn hash(&self, values: &[&str]) -> u64 {
        hash_values(self.inner.seed, values)
    }
}

impl<M> Family<M> {
    /// The label names, in order.
    pub fn label_names(&self) -> &[String] {
        &self.inner.label_names
    }

    /// The number of children (the overflow child included).
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    /// True when no child exists yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<M: ChildMetric> Metric for Family<M> {
    fn metric_type(&self) -> MetricType {
        M::TYPE
    }

    fn label_names(&self) -> &[String] {
        &self.inner.label_names
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        self.write_children(base, out, M::write_owned);
    }

    fn write_with_created(&self, base: Labels, out: &mut MetricFamily) {
        self.write_children(&base, out, M::write_with_created);
    }
}

impl<M: ChildMetric> Family<M> {
    /// Each child's samples through `write`, in label-value order.
    fn write_children(&self, base: &Labels, out: &mut MetricFamily, write: fn(&M, Labels, &mut MetricFamily)) {
        let children = self.inner.children.read().unwrap_or_else(PoisonError::into_inner);
        // Sorted by label values so the output is stable between scrapes,
        // whatever the hash order (client_golang sorts the same way).
        let mut sorted: Vec<&Arc<Entry<M>>> = children.values().flatten().collect();
        sorted.sort_unstable_by(|a, b| a.values.cmp(&b.values));
        for child in sorted {
            let mut labels = Labels(Vec::with_capacity(base.len() + child.values.len()));
            labels.0.extend_from_slice(&base.0);
            for (name, value) in self.inner.label_names.iter().zip(child.values.iter()) {
                labels.0.push(Label { name: name.clone(), value: value.clone() });
            }
            write(&child.metric, labels, out);
        }
    }
}

impl<M: ChildMetric + DirectChild> DirectMetric for Family<M> {
    fn has_samples(&self) -> bool {
        // Empty chains are removed, so no chain means no child.
        !self.inner.children.read().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    /// Each child's lines, in the order [`Metric::write`] gives them, from
    /// its rendered label set.
    fn write_direct(&self, lines: &mut Lines<'_>) {
        let children = self.inner.children.read().unwrap_or_else(PoisonError::into_inner);
        // Children change only under the write lock, so the generation is
        // the one the map shows for as long as this read lock is held.
        let generation = self.inner.generation.load(Ordering::Relaxed);
        let sorted = {
            let mut cache = self.inner.sorted.lock().unwrap_or_else(PoisonError::into_inner);
            if cache.generation != generation {
                let mut list: Vec<&Arc<Entry<M>>> = children.values().flatten().collect();
                list.sort_unstable_by(|a, b| a.values.cmp(&b.values));
                cache.children = list.into_iter().map(|c| (c.rendered.clone(), c.metric.clone())).collect();
                cache.generation = generation;
            }
            cache.children.clone()
        };
        drop(children);
        for (rendered, metric) in sorted.iter() {
            metric.write_lines(rendered, lines);
        }
    }
}

impl<M: ChildMetric> Inner<M> {
    /// The child refused lookups get: made once, never exposed.
    fn sink(&self) -> &M {
        self.sink.get_or_init(|| (self.make)())
    }
}

fn find<'a, M>(children: &'a ChildMap<M>, hash: u64, values: &[&str]) -> Option<&'a Arc<Entry<M>>> {
    children.get(&hash)?.iter().find(|c| same_values(&c.values, values))
}

fn same_values(stored: &[String], values: &[&str]) -> bool {
    stored.len() == values.len() && stored.iter().zip(values).all(|(s, v)| same_bytes(s.as_bytes(), v.as_bytes()))
}

/// `a == b`, with label values of up to 16 bytes (nearly all of them)
/// compared by at most two fixed-size loads each instead of a `memcmp`
/// call; four such calls were a sixth of a lookup's instructions.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        // The first, middle and last bytes are every byte.
        1..=3 => a.first() == b.first() && a.get(n / 2) == b.get(n / 2) && a.last() == b.last(),
        // Two loads that overlap when n < 8 (or 16) cover every byte.
        4..=8 => read_u32(a, 0) == read_u32(b, 0) && read_u32(a, n - 4) == read_u32(b, n - 4),
        9..=16 => read_u64(a, 0) == read_u64(b, 0) && read_u64(a, n - 8) == read_u64(b, n - 8),
        _ => a == b,
    }
}

/// A folded multiply: the high and low halves of the 128-bit product.
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Hashes label values eight bytes at a time (much cheaper than SipHash for
/// short values). Collisions only cost a comparison: children are always
/// matched on their values.
#[inline]
pub(crate) fn hash_values(seed: (u64, u64), values: &[&str]) -> u64 {
    let mut h = seed.0;
    for value in values {
        let bytes = value.as_bytes();
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            if let Ok(word) = <[u8; 8]>::try_from(chunk) {
                h = fold_mul(h ^ u64::from_le_bytes(word), seed.1);
            }
        }
        // The length separates ["ab", "c"] from ["a", "bc"].
        h = fold_mul(h ^ tail_word(chunks.remainder()), seed.1 ^ bytes.len() as u64);
    }
    h
}

/// The last 0–7 bytes as one word from at most two fixed-size loads, the
/// way wyhash/foldhash read short inputs: a variable-length copy would be a
/// `memcpy` call per label value, which dominated the lookup.
#[inline]
fn tail_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    match bytes {
        [] => 0,
        [a, ..] if n < 4 => (u64::from(*a) << 16) | (u64::from(bytes[n / 2]) << 8) | u64::from(bytes[n - 1]),
        _ => (read_u32(bytes, 0) << 32) | read_u32(bytes, n - 4),
    }
}

#[inline]
fn read_u32(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => u64::from(u32::from_le_bytes([a, b, c, d])),
        _ => 0,
    }
}

#[inline]
fn read_u64(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8).map(<[u8; 8]>::try_from) {
        Some(Ok(word)) => u64::from_le_bytes(word),
        _ => 0,
    }
}

/// The map key is already a hash; hashing it again would only cost time.
#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Counter;

    #[test]
    fn children_are_cached_and_shared() {
        let family = Family::<Counter>::new(&["method", "code"]);
        family.with_label_values(&["GET", "200"]).unwrap().inc();
        family.with_label_values(&["GET", "200"]).unwrap().inc_by(2);
        family.clone().with_label_values(&["GET", "500"]).unwrap().inc();
        assert_eq!(family.len(), 2);
        assert_eq!(family.with_label_values(&["GET", "200"]).unwrap().get(), 3);
        assert_eq!(family.with_label_values(&["GET", "500"]).unwrap().get(), 1);
    }

    #[test]
    fn wrong_label_count_is_an_error() {
        let family = Family::<Counter>::new(&["method", "code"]);
        let err = family.with_label_values(&["GET"]).unwrap_err();
        assert_eq!(err, MetricError::LabelCount { expected: vec!["method".into(), "code".into()], got: 1 });
        assert!(family.with_label_values(&["a", "b", "c"]).is_err());
        assert!(family.remove_label_values(&[]).is_err());
        assert!(family.is_empty());
    }

    #[test]
    fn values_that_concatenate_alike_are_distinct() {
        let family = Family::<Counter>::new(&["a", "b"]);
        family.with_label_values(&["ab", "c"]).unwrap().inc();
        family.with_label_values(&["a", "bc"]).unwrap().inc();
        family.with_label_values(&["", "abc"]).unwrap().inc();
        family.with_label_values(&["a_long_value_over_8_bytes", ""]).unwrap().inc();
        assert_eq!(family.len(), 4);
    }

    /// A `ChildRef` may be held across an `.await` in a spawned task.
    #[test]
    fn child_refs_are_send_and_sync() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        let family = Family::<Counter>::new(&["a"]);
        send_sync(&family.get_or_create(&["x"]));
    }

    #[test]
    fn short_comparisons_agree_with_eq() {
        // Every length the fixed-size loads handle and past them, with
        // one differing byte at every place.
        for n in 0..40 {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_bytes(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "length {n}, byte {at}");
            }
            assert!(!same_bytes(&a, &[a.as_slice(), b"x"].concat()));
        }
    }

    #[test]
    fn remove_and_clear() {
        let family = Family::<Counter>::new(&["a"]);
        let held = family.with_label_values(&["x"]).unwrap();
        family.with_label_values(&["y"]).unwrap();
        assert_eq!(family.remove_label_values(&["x"]), Ok(true));
        assert_eq!(family.remove_label_values(&["x"]), Ok(false));
        held.inc();
        assert_eq!(family.with_label_values(&["x"]).unwrap().get(), 0);
        family.clear();
        assert!(family.is_empty());
    }

    #[test]
    fn histogram_children_share_buckets() {
        let family = Family::<Histogram>::with_buckets(&["path"], &[1.0, 2.0]).unwrap();
        let h = family.with_label_values(&["/a"]).unwrap();
        h.observe(1.5);
        assert_eq!(h.bounds(), &[1.0, 2.0]);
        assert_eq!(h.cumulative_counts(), vec![0, 1, 1]);
        assert!(Family::<Histogram>::with_buckets(&["path"], &[]).is_err());
    }

    #[test]
    fn writes_children_sorted_with_labels() {
        let family = Family::<Counter>::new(&["code"]);
        family.with_label_values(&["500"]).unwrap().inc();
        family.with_label_values(&["200"]).unwrap().inc_by(7);
        let mut out = MetricFamily::counter("requests", "");
        family.write(&Labels::new().with("service", "s"), &mut out);
        let got: Vec<(Option<&str>, Option<&str>, f64)> =
            out.samples.iter().map(|s| (s.labels.get("service"), s.labels.get("code"), s.value)).collect();
        assert_eq!(got, vec![(Some("s"), Some("200"), 7.0), (Some("s"), Some("500"), 1.0)]);
    }

    #[test]
    fn get_or_create_shares_children_with_with_label_values() {
        let family = Family::<Counter>::new(&["method", "code"]);
        family.get_or_create(&["GET", "200"]).inc();
        family.with_label_values(&["GET", "200"]).unwrap().inc();
        assert_eq!(family.get_or_create(&["GET", "200"]).get(), 2);
        assert_eq!(family.overflows().get(), 0);
    }

    #[test]
    fn a_wrong_count_is_refused_and_counted() {
        let family = Family::<Counter>::new(&["method", "code"]).with_max_children(10, Overflow::Fold);
        family.get_or_create(&["GET"]).inc();
        family.get_or_create(&["GET", "200", "x"]).inc();
        // Not folded either: the overflow child has the right count of values.
        assert!(family.is_empty());
        assert_eq!(family.overflows().get(), 2);
    }

    #[test]
    fn refuse_keeps_the_series_and_counts() {
        let family = Family::<Counter>::new(&["user"]).with_max_children(2, Overflow::Refuse);
        for user in ["a", "b", "c", "d", "a"] {
            family.get_or_create(&[user]).inc();
        }
        assert_eq!(family.len(), 2);
        assert_eq!(family.overflows().get(), 2);
        assert_eq!(family.get_or_create(&["a"]).get(), 2);
        // Refused children record nowhere that is exposed.
        let mut out = MetricFamily::counter("logins", "");
        family.write(&Labels::new(), &mut out);
        let users: Vec<Option<&str>> = out.samples.iter().map(|s| s.labels.get("user")).collect();
        assert_eq!(users, vec![Some("a"), Some("b")]);
    }

    #[test]
    fn fold_counts_into_the_overflow_child() {
        let family = Family::<Counter>::new(&["path", "code"]).with_max_children(1, Overflow::Fold);
        family.get_or_create(&["/a", "200"]).inc();
        family.get_or_create(&["/b", "200"]).inc();
        family.with_label_values(&["/c", "500"]).unwrap().inc_by(3);
        assert_eq!(family.len(), 2);
        assert_eq!(family.get_or_create(&[OVERFLOW_VALUE, OVERFLOW_VALUE]).get(), 4);
        assert_eq!(family.overflows().get(), 2);
    }

    #[test]
    fn a_big_full_family_folds_and_refuses_exactly() {
        // Past the sizes where every new child is published at once, so
        // the overflow child and the last children live in the locked map
        // for a while.
        let fold = Family::<Counter>::new(&["path"]).with_max_children(100, Overflow::Fold);
        let refuse = Family::<Counter>::new(&["path"]).with_max_children(100, Overflow::Refuse);
        for round in 0..3 {
            for i in 0..250 {
                let path = format!("/p/{i}");
                fold.get_or_create(&[&path]).inc();
                refuse.get_or_create(&[&path]).inc();
            }
            let over = 150 * (round + 1);
            assert_eq!(fold.get_or_create(&[OVERFLOW_VALUE]).get(), over);
            assert_eq!((fold.len(), fold.overflows().get()), (101, over));
            assert_eq!((refuse.len(), refuse.overflows().get()), (100, over));
        }
        for i in 0..100 {
            assert_eq!(fold.get_or_create(&[&format!("/p/{i}")]).get(), 3);
            assert_eq!(refuse.get_or_create(&[&format!("/p/{i}")]).get(), 3);
        }
    }

    #[test]
    fn removing_children_makes_room() {
        let family = Family::<Counter>::new(&["a"]).with_max_children(1, Overflow::Refuse);
        family.get_or_create(&["x"]).inc();
        assert_eq!(family.remove_label_values(&["x"]), Ok(true));
        family.get_or_create(&["y"]).inc();
        assert_eq!(family.get_or_create(&["y"]).get(), 1);
        family.clear();
        family.get_or_create(&["z"]).inc();
        assert_eq!((family.len(), family.overflows().get()), (1, 0));
    }

    #[test]
    fn a_lowered_limit_keeps_existing_children() {
        let family = Family::<Counter>::new(&["a"]);
        family.get_or_create(&["x"]).inc();
        family.get_or_create(&["y"]).inc();
        family.set_max_children(1, Overflow::Refuse);
        family.get_or_create(&["y"]).inc();
        family.get_or_create(&["z"]).inc();
        assert_eq!(family.get_or_create(&["y"]).get(), 2);
        assert_eq!((family.len(), family.overflows().get()), (2, 1));
    }
}
