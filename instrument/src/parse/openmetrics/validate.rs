//! The per-sample rules of OpenMetrics: labels a type needs, grouping and
//! ordering of metric points, value ranges, exemplars, histogram buckets.

use super::sample_line::ParsedSample;
use super::{Family, Group};
use crate::model::{MetricType, Suffix};
use crate::parse::ParseError;
use crate::parse::number;
use crate::parse::scan::{self, Skip};

/// Checks `sample` against its family and what came before, and updates the
/// family's grouping state. The caller appends the sample afterwards.
pub(super) fn sample(
    family: &mut Family<'_>,
    sample: &ParsedSample<'_>,
    suffix: Suffix,
    line: usize,
) -> Result<(), ParseError> {
    let fail = |message: String| ParseError::new(line, message);
    let metric_type = family.metric_type();
    let name = sample.name;
    let value = sample.value;

    let le = if suffix == Suffix::Bucket { Some(bound(sample, "le").map_err(fail)?) } else { None };
    if metric_type == MetricType::StateSet && sample.labels.get(family.name).is_none() {
        return Err(fail(format!("stateset sample {name} needs a label named {}", family.name)));
    }
    if metric_type == MetricType::Summary && suffix == Suffix::None {
        let quantile = bound(sample, "quantile").map_err(fail)?;
        if !(0.0..=1.0).contains(&quantile) {
            return Err(fail(format!("quantile {quantile} of {name} is outside 0..1")));
        }
    }
    if matches!(suffix, Suffix::Bucket | Suffix::Count | Suffix::Gcount) && !(value.is_finite() && value.fract() == 0.0)
    {
        return Err(fail(format!("{name} must be a whole number, not {value}")));
    }

    group(family, sample, suffix).map_err(fail)?;

    if sample.timestamp.is_none() {
        let hash = scan::set_hash(&sample.labels, Skip::Nothing, suffix as u64);
        let same = family.series.entry(hash).or_default();
        let samples = &family.samples;
        let repeated = same
            .iter()
            .filter_map(|&i| samples.get(i))
            .any(|s| s.suffix == suffix && s.labels.same_set(&sample.labels));
        if repeated {
            return Err(fail(format!(
                "duplicate series {name}: the same name and labels appear twice without timestamps"
            )));
        }
        same.push(samples.len());
    }

    match metric_type {
        MetricType::StateSet if value != 0.0 && value != 1.0 => {
            return Err(fail(format!("stateset values are 0 or 1, not {value}")));
        }
        MetricType::Info if value != 1.0 => return Err(fail(format!("info values are 1, not {value}"))),
        MetricType::Summary if suffix == Suffix::None && value < 0.0 => {
            return Err(fail(format!("quantile values cannot be negative ({value})")));
        }
        _ => {}
    }
    let counter_like =
        matches!(suffix, Suffix::Total | Suffix::Sum | Suffix::Count | Suffix::Bucket | Suffix::Gcount | Suffix::Gsum);
    if counter_like && value.is_nan() {
        return Err(fail(format!("{name} cannot be NaN")));
    }
    if counter_like && suffix != Suffix::Gsum && value < 0.0 {
        return Err(fail(format!("{name} cannot be negative ({value})")));
    }

    if sample.exemplar.is_some() {
        let allowed = match metric_type {
            MetricType::Counter => suffix == Suffix::Total,
            MetricType::Histogram | MetricType::GaugeHistogram => suffix == Suffix::Bucket,
            _ => false,
        };
        if !allowed {
            return Err(fail(format!(
                "exemplars are allowed only on counters' _total and histograms' _bucket samples, not on {name}"
            )));
        }
    }

    if matches!(metric_type, MetricType::Histogram | MetricType::GaugeHistogram) {
        family.histogram.add(family.name, suffix, le, value, line)?;
    }
    Ok(())
}

/// The `le` or `quantile` label as a number. Infinities must be written
/// `+Inf`/`-Inf`, so that one bound has one spelling.
fn bound(sample: &ParsedSample<'_>, label: &str) -> Result<f64, String> {
    let name = sample.name;
    let text = sample.labels.get(label).ok_or_else(|| format!("{name} needs a {label} label"))?;
    let bound = number::om_number(text).ok_or_else(|| format!("{label}={text:?} of {name} is not a number"))?;
    if bound.is_nan() {
        return Err(format!("{label}={text:?} of {name}: NaN is not a valid {label}"));
    }
    if bound.is_infinite() && text != "+Inf" && text != "-Inf" {
        return Err(format!("{label}={text:?} of {name}: infinity must be written +Inf or -Inf"));
    }
    Ok(bound)
}

/// Grouping: a label set's samples are contiguous, a group's timestamps all
/// present or all absent and never going backwards.
fn group<'a>(family: &mut Family<'a>, sample: &ParsedSample<'_>, suffix: Suffix) -> Result<(), String> {
    let skip = family.skip(suffix);
    let timestamp = sample.timestamp;
    let current = family.group.filter(|g| {
        family.samples.get(g.first).is_some_and(|first| scan::set_eq(&sample.labels, skip, &first.labels, g.skip))
    });
    if let Some(group) = current {
        match (group.timestamp, timestamp) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(format!("{}: either all samples of a group have timestamps or none", sample.name));
            }
            (Some(before), Some(now)) if now < before && family.metric_type() != MetricType::Info => {
                return Err(format!("{}: timestamp {now} goes back from {before}", sample.name));
            }
            _ => {}
        }
        if group.timestamp != timestamp {
            family.histogram.next_point();
        }
        family.group = Some(Group { timestamp, ..group });
        return Ok(());
    }
    let hash = scan::set_hash(&sample.labels, skip, 0);
    let seen = family.groups.entry(hash).or_default();
    let samples = &family.samples;
    let again = seen
        .iter()
        .any(|&(i, s)| samples.get(i).is_some_and(|first| scan::set_eq(&sample.labels, skip, &first.labels, s)));
    if again {
        return Err(format!(
            "{}: this label set's samples were interrupted by another label set; a metric's samples must be together",
            sample.name
        ));
    }
    seen.push((samples.len(), skip));
    family.group = Some(Group { first: samples.len(), skip, timestamp });
    family.histogram.next_point();
    Ok(())
}

/// One histogram point (a group at one timestamp) being read.
#[derive(Debug, Default)]
pub(super) struct Histogram {
    active: bool,
    line: usize,
    last_le: Option<f64>,
    last_bucket: f64,
    count: Option<f64>,
    sum: bool,
    gsum: bool,
    negative_bucket: bool,
    negative_gsum: bool,
}

impl Histogram {
    /// Marks the end of a point: the next sample starts a new one.
    fn next_point(&mut self) {
        self.active = false;
    }

    fn add(&mut self, name: &str, suffix: Suffix, le: Option<f64>, value: f64, line: usize) -> Result<(), ParseError> {
        if !self.active {
            self.finish(name)?;
            *self = Histogram { active: true, ..Histogram::default() };
        }
        self.line = line;
        let fail = |message: String| ParseError::new(line, message);
        match suffix {
            Suffix::Bucket => {
                let le = le.unwrap_or(f64::NAN);
                if self.last_le.is_some_and(|last| le <= last) {
                    return Err(fail(format!("buckets of {name} must be in increasing order of le")));
                }
                if value < self.last_bucket {
                    return Err(fail(format!(
                        "buckets of {name} are cumulative: {value} is less than the previous bucket"
                    )));
                }
                self.negative_bucket |= le < 0.0;
                self.last_le = Some(le);
                self.last_bucket = value;
            }
            Suffix::Count | Suffix::Gcount => self.count = Some(value),
            Suffix::Sum => self.sum = true,
            Suffix::Gsum => {
                self.gsum = true;
                self.negative_gsum |= value < 0.0;
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the point read so far, if any.
    pub(super) fn finish(&mut self, name: &str) -> Result<(), ParseError> {
        let seen = std::mem::take(self);
        if seen.line == 0 {
            return Ok(());
        }
        let fail = |message: String| Err(ParseError::new(seen.line, message));
        if seen.last_le != Some(f64::INFINITY) {
            return fail(format!("histogram {name} has no le=\"+Inf\" bucket (it must be the last one)"));
        }
        if seen.count.is_some_and(|count| count != seen.last_bucket) {
            return fail(format!("the count of histogram {name} differs from its +Inf bucket"));
        }
        if seen.sum && seen.count.is_none() {
            return fail(format!("histogram {name} has _sum without _count"));
        }
        if seen.gsum && seen.count.is_none() {
            return fail(format!("gauge histogram {name} has _gsum without _gcount"));
        }
        if !(seen.sum || seen.gsum) && seen.count.is_some() {
            return fail(format!("histogram {name} has a count (_count or _gcount) but no sum"));
        }
        if seen.negative_bucket && seen.sum {
            return fail(format!("histogram {name} has negative buckets, so it cannot have _sum"));
        }
        if !seen.negative_bucket && seen.negative_gsum {
            return fail(format!("gauge histogram {name} has a negative _gsum but no negative bucket"));
        }
        Ok(())
    }
}
