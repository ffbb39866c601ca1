//! Label sets and label matchers: what a series is called and how a
//! selector picks it.
//!
//! Label names and values are [`Sym`]s: `arcstr::ArcStr`, a reference-counted
//! string behind a one-word pointer (its length lives with the bytes), so a
//! label pair is 16 bytes, not the 32 of two `Arc<str>`. The store interns
//! them: one allocation per distinct string, shared by every series.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::Hasher;
use std::sync::Arc;

use regex::Regex;
use sonde_instrument::Labels;

use super::METRIC_NAME;

/// An interned string (label name or value): one word, cloned by a
/// reference-count bump.
pub type Sym = arcstr::ArcStr;

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
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
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
        Labels(self.iter().map(|(n, v)| sonde_instrument::Label::new(n, v)).collect())
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().and_then(|i| self.0.get(i)).map(|(_, v)| v.as_str())
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
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
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
        let mut v: Vec<(Sym, Sym)> = self.0.iter().filter(|(n, _)| n.as_str() != name).cloned().collect();
        if !value.is_empty() {
            let at = v.partition_point(|(n, _)| n.as_str() < name);
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
        LabelMatcher { name: name.into(), kind: MatchKind::Equal(value.into()) }
    }

    /// A regex matcher (`negate` for `!~`), anchored as PromQL anchors it.
    pub fn regex(name: impl Into<String>, pattern: &str, negate: bool) -> Result<Self, regex::Error> {
        let re = compile_anchored(pattern)?;
        let kind = if negate { MatchKind::NotRegex(re) } else { MatchKind::Regex(re) };
        Ok(LabelMatcher { name: name.into(), kind })
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
