//! The one model of metrics that every part of Sonde speaks.
//!
//! Collectors produce [`MetricFamily`] values, the text parser turns scraped
//! exposition into them, the encoder writes them out and the evaluator's
//! window store reads them. A family holds a flat list of [`Sample`]s; each
//! sample names itself as the family name plus a [`Suffix`] (`_total`,
//! `_bucket`, …), so a histogram's buckets, count and sum are plain samples
//! whose labels carry `le`, exactly as the exposition formats write them.

use std::fmt;

/// The type of a metric family, as OpenMetrics 1.0 names them.
///
/// Prometheus text 0.0.4 has `counter`, `gauge`, `histogram`, `summary` and
/// `untyped`; `untyped` maps to [`MetricType::Unknown`].
///
/// ```
/// use sonde_instrument::{MetricType, Suffix};
///
/// assert_eq!(MetricType::Counter.openmetrics_name(), "counter");
/// assert!(MetricType::Histogram.allowed_suffixes().contains(&Suffix::Bucket));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    /// A monotonically increasing total (`_total`, optional `_created`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets (`_bucket{le}`), `_count`, `_sum`, optional `_created`.
    Histogram,
    /// A histogram of current values (`_bucket{le}`, `_gcount`, `_gsum`).
    GaugeHistogram,
    /// Quantiles (`{quantile}`), `_count`, `_sum`, optional `_created`.
    Summary,
    /// Constant labels describing the target (`_info`, value 1).
    Info,
    /// A set of boolean states, one label naming the state.
    StateSet,
    /// No type given (`untyped` in text 0.0.4).
    #[default]
    Unknown,
}

impl MetricType {
    /// The name OpenMetrics uses in `# TYPE` lines.
    pub fn openmetrics_name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// The suffixes a sample of this type may carry, in exposition order.
    pub fn allowed_suffixes(self) -> &'static [Suffix] {
        match self {
            MetricType::Counter => &[Suffix::Total, Suffix::Created],
            MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[Suffix::None],
            MetricType::Histogram => &[Suffix::Bucket, Suffix::Count, Suffix::Sum, Suffix::Created],
            MetricType::GaugeHistogram => &[Suffix::Bucket, Suffix::Gcount, Suffix::Gsum],
            MetricType::Summary => &[Suffix::None, Suffix::Count, Suffix::Sum, Suffix::Created],
            MetricType::Info => &[Suffix::Info],
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.openmetrics_name())
    }
}

/// What a sample's name adds to its family's name.
///
/// ```
/// use sonde_instrument::{MetricFamily, Suffix};
///
/// assert_eq!(Suffix::Created.as_str(), "_created");
/// assert_eq!(MetricFamily::counter("jobs", "").sample_name(Suffix::Total), "jobs_total");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suffix {
    /// The family name itself (gauges, unknown, stateset, summary quantiles,
    /// and counters read from text 0.0.4 whose name lacks `_total`).
    None,
    /// `_total` (counters).
    Total,
    /// `_created` (counters, histograms, summaries): creation time in seconds.
    Created,
    /// `_bucket` (histograms, gauge histograms), with an `le` label.
    Bucket,
    /// `_count` (histograms, summaries).
    Count,
    /// `_sum` (histograms, summaries).
    Sum,
    /// `_gcount` (gauge histograms).
    Gcount,
    /// `_gsum` (gauge histograms).
    Gsum,
    /// `_info` (info).
    Info,
}

impl Suffix {
    /// The text appended to the family name, e.g. `"_bucket"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Suffix::None => "",
            Suffix::Total => "_total",
            Suffix::Created => "_created",
            Suffix::Bucket => "_bucket",
            Suffix::Count => "_count",
            Suffix::Sum => "_sum",
            Suffix::Gcount => "_gcount",
            Suffix::Gsum => "_gsum",
            Suffix::Info => "_info",
        }
    }
}

/// One label: a name and a value. An empty value means "label absent" to
/// Prometheus, but the model keeps what it was given.
///
/// ```
/// use sonde_instrument::Label;
///
/// let label = Label::new("code", "200");
/// assert_eq!((label.name.as_str(), label.value.as_str()), ("code", "200"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// Label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub name: String,
    /// Label value, any UTF-8.
    pub value: String,
}

impl Label {
    /// A label from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label { name: name.into(), value: value.into() }
    }
}

/// The labels of one sample, in the order they are written.
///
/// Order matters for output only; [`Labels::same_set`] compares as sets.
///
/// ```
/// use sonde_instrument::Labels;
///
/// let labels = Labels::new().with("method", "GET").with("code", "200");
/// assert_eq!(labels.get("code"), Some("200"));
/// // Order does not make a different set.
/// assert!(labels.same_set(&Labels::from_pairs([("code", "200"), ("method", "GET")])));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels(pub Vec<Label>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Labels(Vec::new())
    }

    /// Labels from `(name, value)` pairs.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<String>,
    {
        Labels(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// Appends a label (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push(Label::new(name, value));
        self
    }

    /// Appends a label.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Label::new(name, value));
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|l| l.name == name).map(|l| l.value.as_str())
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the labels in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// True when both hold the same name/value pairs, whatever their order.
    pub fn same_set(&self, other: &Labels) -> bool {
        self.len() == other.len() && self.0.iter().all(|l| other.0.contains(l))
    }

    /// The labels sorted by name: a canonical form for identity and hashing.
    pub fn sorted(&self) -> Labels {
        let mut labels = self.0.clone();
        labels.sort();
        Labels(labels)
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// An OpenMetrics exemplar attached to a sample: `# {trace_id="…"} 0.5 [ts]`.
///
/// ```
/// use sonde_instrument::{Exemplar, Format, Labels, MetricFamily, Sample, Suffix, encode::encode_to_string};
///
/// let exemplar = Exemplar { labels: Labels::new().with("trace_id", "abc"), value: 1.0, timestamp: Some(1.5) };
/// let mut family = MetricFamily::counter("jobs", "");
/// family.push_sample(Sample { exemplar: Some(exemplar), ..Sample::new(Suffix::Total, Labels::new(), 4.0) });
/// let (text, _) = encode_to_string(&[family], Format::OpenMetrics);
/// assert_eq!(text, "# TYPE jobs counter\njobs_total 4 # {trace_id=\"abc\"} 1 1.5\n# EOF\n");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's labels (at most 128 UTF-8 characters of names and values).
    pub labels: Labels,
    /// The exemplar's value.
    pub value: f64,
    /// Optional timestamp in seconds since the epoch.
    pub timestamp: Option<f64>,
}

/// One sample: the family name plus a suffix, labels, a value.
///
/// ```
/// use sonde_instrument::{Labels, Sample, Suffix};
///
/// let sample = Sample::new(Suffix::Count, Labels::new().with("path", "/"), 12.0);
/// assert_eq!((sample.timestamp, sample.exemplar), (None, None));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// What the sample's name adds to the family name.
    pub suffix: Suffix,
    /// The sample's labels, including `le` / `quantile` where the type needs them.
    pub labels: Labels,
    /// The value. NaN and ±Inf are allowed.
    pub value: f64,
    /// Optional timestamp in seconds since the epoch. Exporters should not
    /// set it; scraped input may carry it (text 0.0.4 writes milliseconds).
    pub timestamp: Option<f64>,
    /// Optional exemplar (OpenMetrics only; text 0.0.4 drops it).
    pub exemplar: Option<Exemplar>,
}

impl Sample {
    /// A sample with no timestamp and no exemplar.
    pub fn new(suffix: Suffix, labels: Labels, value: f64) -> Self {
        Sample { suffix, labels, value, timestamp: None, exemplar: None }
    }
}

/// A metric family: one name, one help text, one type, and its samples.
///
/// `name` is the OpenMetrics family name: without `_total` for counters and
/// without `_info` for info families. Text 0.0.4 writes a counter's `# TYPE`
/// line with the name its samples carry (`node_cpu_seconds_total`).
///
/// ```
/// use sonde_instrument::{Format, Labels, MetricFamily, encode::encode_to_string};
///
/// let family = MetricFamily::gauge("temperature_celsius", "Room temperature.")
///     .with_unit("celsius")
///     .with_sample(Labels::new().with("room", "lab"), 21.5);
/// let (text, _) = encode_to_string(&[family], Format::Text);
/// assert_eq!(
///     text,
///     "# HELP temperature_celsius Room temperature.\n# TYPE temperature_celsius gauge\ntemperature_celsius{room=\"lab\"} 21.5\n"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricFamily {
    /// Family name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub name: String,
    /// Help text (unescaped); empty when none was given.
    pub help: String,
    /// Unit (OpenMetrics `# UNIT`); must be a suffix of `name` when set.
    pub unit: Option<String>,
    /// The family's type.
    pub metric_type: MetricType,
    /// The samples, in exposition order.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// An empty family.
    pub fn new(name: impl Into<String>, help: impl Into<String>, metric_type: MetricType) -> Self {
        MetricFamily { name: name.into(), help: help.into(), unit: None, metric_type, samples: Vec::new() }
    }

    /// A gauge family (builder start).
    pub fn gauge(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, MetricType::Gauge)
    }

    /// A counter family (builder start). Give the name without `_total`.
    pub fn counter(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, MetricType::Counter)
    }

    /// Sets the unit (builder style).
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Adds a sample with the suffix a plain value of this type takes:
    /// `_total` for counters, `_info` for info, none otherwise.
    pub fn push(&mut self, labels: Labels, value: f64) {
        let suffix = match self.metric_type {
            MetricType::Counter => Suffix::Total,
            MetricType::Info => Suffix::Info,
            _ => Suffix::None,
        };
        self.samples.push(Sample::new(suffix, labels, value));
    }

    /// Adds a sample (builder style); see [`MetricFamily::push`].
    pub fn with_sample(mut self, labels: Labels, value: f64) -> Self {
        self.push(labels, value);
        self
    }

    /// Adds a sample with an explicit suffix.
    pub fn push_sample(&mut self, sample: Sample) {
        self.samples.push(sample);
    }

    /// The full name of a sample of this family with `suffix`.
    pub fn sample_name(&self, suffix: Suffix) -> String {
        let mut name = String::with_capacity(self.name.len() + 8);
        name.push_str(&self.name);
        name.push_str(suffix.as_str());
        name
    }
}

/// True for a valid metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*` (Prometheus'
/// `model.IsValidMetricName`): the one check every part of Sonde uses.
///
/// ```
/// use sonde_instrument::model::is_valid_metric_name;
///
/// assert!(is_valid_metric_name("http_requests_total"));
/// assert!(is_valid_metric_name("job:errors:rate5m"));
/// assert!(!is_valid_metric_name("5xx"));
/// assert!(!is_valid_metric_name("a-b"));
/// assert!(!is_valid_metric_name(""));
/// ```
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(is_metric_name_start) && bytes.all(is_metric_name_byte)
}

/// True for a valid label name, `[a-zA-Z_][a-zA-Z0-9_]*` (Prometheus'
/// `model.LabelName.IsValid`). Names starting with `__` are valid but
/// reserved for Prometheus itself; whoever cares checks that apart.
///
/// ```
/// use sonde_instrument::model::is_valid_label_name;
///
/// assert!(is_valid_label_name("instance"));
/// assert!(is_valid_label_name("__name__"));
/// assert!(!is_valid_label_name("a:b"));
/// assert!(!is_valid_label_name("0x"));
/// assert!(!is_valid_label_name(""));
/// ```
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(is_label_name_start) && bytes.all(is_label_name_byte)
}

/// The first byte of a metric name: `[a-zA-Z_:]`.
pub(crate) fn is_metric_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

/// A later byte of a metric name: `[a-zA-Z0-9_:]`.
pub(crate) fn is_metric_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// The first byte of a label name: `[a-zA-Z_]`.
pub(crate) fn is_label_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// A later byte of a label name: `[a-zA-Z0-9_]`.
pub(crate) fn is_label_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
