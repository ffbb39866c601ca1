//! The registry's direct path: exposition lines written straight from the
//! metrics, with each label set rendered once, so a scrape copies bytes and
//! formats numbers without building (and then freeing) the model.
//!
//! Only this module's metric types take it; a custom [`Metric`] is written
//! through the model. What a metric writes here must be, byte for byte, what
//! its [`Metric::write`] gives once encoded: the registry's tests check both
//! paths against each other.

use std::any::Any;

use super::{Counter, Family, FloatCounter, FloatGauge, Gauge, Histogram, Metric, Summary};
use crate::encode::{render_label, write_exemplar, write_value};
use crate::model::{Exemplar, Labels};

/// Where one registry entry's lines go.
pub(crate) struct Lines<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    /// The family name.
    pub(crate) name: &'a [u8],
    /// The registry's constant labels, rendered (`a="b",c="d"`); empty
    /// when there are none.
    pub(crate) base: &'a [u8],
    /// Scratch space for histogram counts, kept across children.
    pub(crate) counts: &'a mut Vec<u64>,
    /// OpenMetrics: exemplars are written (text 0.0.4 has no place for them).
    pub(crate) openmetrics: bool,
    /// `_created` lines are written (OpenMetrics, and the registry asked).
    pub(crate) created: bool,
}

impl Lines<'_> {
    /// Writes `name<suffix>{base,labels,extra="value"} value\n`, leaving
    /// out the empty parts (and the braces when all are).
    #[inline]
    pub(crate) fn line(&mut self, suffix: &[u8], labels: &[u8], extra: Option<(&[u8], &[u8])>, value: f64) {
        self.line_with_exemplar(suffix, labels, extra, value, None);
    }

    /// [`Lines::line`] with ` # {labels} value timestamp` before the end
    /// of the line when there is an exemplar and the format is OpenMetrics.
    #[inline]
    pub(crate) fn line_with_exemplar(
        &mut self,
        suffix: &[u8],
        labels: &[u8],
        extra: Option<(&[u8], &[u8])>,
        value: f64,
        exemplar: Option<&Exemplar>,
    ) {
        let out = &mut *self.out;
        out.extend_from_slice(self.name);
        out.extend_from_slice(suffix);
        let mut open = false;
        for part in [self.base, labels] {
            if !part.is_empty() {
                out.push(if open { b',' } else { b'{' });
                out.extend_from_slice(part);
                open = true;
            }
        }
        if let Some((name, text)) = extra {
            // `le` and `quantile` values are formatted numbers: nothing to escape.
            out.push(if open { b',' } else { b'{' });
            out.extend_from_slice(name);
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(text);
            out.push(b'"');
            open = true;
        }
        if open {
            out.push(b'}');
        }
        out.push(b' ');
        write_value(out, value);
        if let Some(exemplar) = exemplar.filter(|_| self.openmetrics) {
            write_exemplar(out, exemplar);
        }
        out.push(b'\n');
    }

    /// The `_created` line of a series, when the registry writes them.
    #[inline]
    pub(crate) fn created(&mut self, labels: &[u8], created: f64) {
        if self.created {
            self.line(b"_created", labels, None, created);
        }
    }
}

/// A metric that writes its own lines for one label set.
pub(crate) trait DirectChild {
    /// Writes this metric's lines with the rendered `labels` after the
    /// registry's constant labels.
    fn write_lines(&self, labels: &[u8], lines: &mut Lines<'_>);
}

/// A registered metric the registry can write directly.
pub(crate) trait DirectMetric: Send + Sync {
    /// Whether it writes any line (the registry leaves out a family with
    /// no series yet, as `collect` does).
    fn has_samples(&self) -> bool;

    /// Writes all its lines.
    fn write_direct(&self, lines: &mut Lines<'_>);
}

/// A single, unlabelled metric.
struct Single<M>(M);

impl<M: DirectChild + Send + Sync> DirectMetric for Single<M> {
    fn has_samples(&self) -> bool {
        true
    }

    fn write_direct(&self, lines: &mut Lines<'_>) {
        self.0.write_lines(b"", lines);
    }
}

/// The direct writer for `metric` when it is one of this module's types
/// (checked once, at registration); `None` sends it through the model.
pub(crate) fn direct_of<M: Metric + 'static>(metric: &M) -> Option<Box<dyn DirectMetric>> {
    let any = metric.direct_target().unwrap_or(metric as &dyn Any);
    macro_rules! single {
        ($($t:ty),*) => {
            $(if let Some(m) = any.downcast_ref::<$t>() {
                return Some(Box::new(Single(m.clone())));
            })*
        };
    }
    macro_rules! family {
        ($($t:ty),*) => {
            $(if let Some(m) = any.downcast_ref::<Family<$t>>() {
                return Some(Box::new(m.clone()));
            })*
        };
    }
    single!(Counter, FloatCounter, Gauge, FloatGauge, Histogram, Summary);
    family!(Counter, FloatCounter, Gauge, FloatGauge, Histogram, Summary);
    None
}

/// `a="b",c="d"`: a label set rendered once, escaped as every line writes it.
pub(crate) fn render_labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Box<[u8]> {
    let mut out = Vec::new();
    for (i, (name, value)) in labels.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        render_label(&mut out, name, value);
    }
    out.into_boxed_slice()
}

/// [`render_labels`] of a [`Labels`].
pub(crate) fn render_label_set(labels: &Labels) -> Box<[u8]> {
    render_labels(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
}

impl DirectChild for Counter {
    #[inline]
    fn write_lines(&self, labels: &[u8], lines: &mut Lines<'_>) {
        let exemplar = if lines.openmetrics { self.exemplar() } else { None };
        lines.line_with_exemplar(b"_total", labels, None, self.get() as f64, exemplar.as_ref());
        lines.created(labels, self.created());
    }
}

impl DirectChild for FloatCounter {
    #[inline]
    fn write_lines(&self, labels: &[u8], lines: &mut Lines<'_>) {
        let exemplar = if lines.openmetrics { self.exemplar() } else { None };
        lines.line_with_exemplar(b"_total", labels, None, self.get(), exemplar.as_ref());
        lines.created(labels, self.created());
    }
}

impl DirectChild for Gauge {
    #[inline]
    fn write_lines(&self, labels: &[u8], lines: &mut Lines<'_>) {
        lines.line(b"", labels, None, self.get() as f64);
    }
}

impl DirectChild for FloatGauge {
    #[inline]
    fn write_lines(&self, labels: &[u8], lines: &mut Lines<'_>) {
        lines.line(b"", labels, None, self.get());
    }
}
