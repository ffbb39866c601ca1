//! OpenMetrics 1.0 text, read strictly.
//!
//! The rules follow the specification and its conformance corpus (whose
//! reference is the Python client's parser): metadata before samples, one
//! contiguous group per label set, no duplicate series, counter-like values
//! never negative or NaN, histogram buckets ascending and cumulative up to a
//! `+Inf` bucket that equals `_count`, exemplars only on buckets and
//! `_total`, and `# EOF` as the very last line.

use std::collections::HashMap;

use super::scan::{self, Skip};
use super::{ParseError, lines};
use crate::model::{MetricFamily, MetricType, Sample, Suffix, is_valid_metric_name};

mod sample_line;
mod validate;

use sample_line::ParsedSample;
use validate::Histogram;

pub(super) fn parse(input: &str) -> Result<Vec<MetricFamily>, ParseError> {
    let mut parser = Parser::default();
    let mut eof = false;
    let mut last = 1;
    for (number, line) in lines(input) {
        last = number;
        if eof {
            return Err(ParseError::new(number, "text after # EOF"));
        }
        if line == "# EOF" {
            eof = true;
        } else if line.is_empty() {
            return Err(ParseError::new(number, "blank lines are not allowed in OpenMetrics"));
        } else if line.starts_with('#') {
            parser.metadata(line, number)?;
        } else {
            parser.sample(line, number)?;
        }
    }
    if !eof {
        return Err(ParseError::new(last, "missing \"# EOF\" at the end of the exposition"));
    }
    parser.finish_family()?;
    Ok(parser.done)
}

/// The current group of samples: one label set (less `le`, `quantile` or
/// the stateset label) of one family.
#[derive(Debug, Clone, Copy)]
struct Group<'a> {
    /// Index of the group's first sample, whose labels stand for the group.
    first: usize,
    skip: Skip<'a>,
    timestamp: Option<f64>,
}

/// The family whose lines are being read.
#[derive(Debug)]
struct Family<'a> {
    name: &'a str,
    first_line: usize,
    metric_type: Option<MetricType>,
    help: Option<String>,
    unit: Option<(&'a str, usize)>,
    samples: Vec<Sample>,
    group: Option<Group<'a>>,
    /// Groups already seen, by label-set hash: each may appear only once.
    groups: scan::ByHash<Vec<(usize, Skip<'a>)>>,
    /// Series without timestamps, by hash: each may appear only once.
    series: scan::ByHash<Vec<usize>>,
    histogram: Histogram,
}

impl<'a> Family<'a> {
    fn new(name: &'a str, line: usize, metric_type: Option<MetricType>) -> Self {
        Family {
            name,
            first_line: line,
            metric_type,
            help: None,
            unit: None,
            samples: Vec::new(),
            group: None,
            groups: scan::ByHash::default(),
            series: scan::ByHash::default(),
            histogram: Histogram::default(),
        }
    }

    fn metric_type(&self) -> MetricType {
        self.metric_type.unwrap_or(MetricType::Unknown)
    }

    fn suffix_of(&self, sample_name: &str) -> Option<Suffix> {
        let rest = sample_name.strip_prefix(self.name)?;
        self.metric_type().allowed_suffixes().iter().copied().find(|s| s.as_str() == rest)
    }

    /// The label a sample's group identity leaves out.
    fn skip(&self, suffix: Suffix) -> Skip<'a> {
        match (self.metric_type(), suffix) {
            (MetricType::Info, _) => Skip::Everything,
            (MetricType::Summary, Suffix::None) => Skip::Label("quantile"),
            (MetricType::StateSet, _) => Skip::Label(self.name),
            (MetricType::Histogram | MetricType::GaugeHistogram, Suffix::Bucket) => Skip::Label("le"),
            _ => Skip::Nothing,
        }
    }
}

#[derive(Debug, Default)]
struct Parser<'a> {
    done: Vec<MetricFamily>,
    /// Every sample name a finished family may use, with that family's
    /// first line: another family must not claim one.
    claimed: HashMap<String, usize>,
    family: Option<Family<'a>>,
}

impl<'a> Parser<'a> {
    fn metadata(&mut self, line: &'a str, number: usize) -> Result<(), ParseError> {
        let fail = |message: String| ParseError::new(number, message);
        let rest = line.strip_prefix("# ").ok_or_else(|| {
            fail("comments are not allowed in OpenMetrics; only # HELP, # TYPE, # UNIT and # EOF".into())
        })?;
        let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
            return Err(fail(format!(
                "unknown metadata {:?}: only # HELP, # TYPE, # UNIT and # EOF are allowed",
                scan::preview(keyword)
            )));
        }
        let (name, text) = rest
            .split_once(' ')
            .ok_or_else(|| fail(format!("# {keyword} needs a metric name, a space and a value")))?;
        if !is_valid_metric_name(name) {
            return Err(fail(format!("invalid metric name {:?} in # {keyword}", scan::preview(name))));
        }
        let same = self.family.as_ref().is_some_and(|f| f.name == name);
        if same {
            if self.family.as_ref().is_some_and(|f| !f.samples.is_empty()) {
                return Err(fail(format!("# {keyword} for {name} comes after its samples")));
            }
        } else {
            self.finish_family()?;
        }
        let family = self.family.get_or_insert_with(|| Family::new(name, number, None));
        match keyword {
            "HELP" if family.help.is_some() => Err(fail(format!("second # HELP for {name}"))),
            "HELP" => {
                family.help = Some(scan::unescape(text, true));
                Ok(())
            }
            "TYPE" if family.metric_type.is_some() => Err(fail(format!("second # TYPE for {name}"))),
            "TYPE" => {
                family.metric_type = Some(metric_type(text).map_err(fail)?);
                Ok(())
            }
            _ if family.unit.is_some() => Err(fail(format!("second # UNIT for {name}"))),
            _ => {
                family.unit = Some((text, number));
                Ok(())
            }
        }
    }

    fn sample(&mut self, line: &'a str, number: usize) -> Result<(), ParseError> {
        let fail = |message: String| ParseError::new(number, message);
        let parsed = sample_line::parse(line).map_err(fail)?;
        let known = self.family.as_ref().and_then(|f| f.suffix_of(parsed.name));
        let suffix = match known {
            Some(suffix) => suffix,
            None => {
                self.finish_family()?;
                self.family = Some(Family::new(parsed.name, number, Some(MetricType::Unknown)));
                Suffix::None
            }
        };
        let Some(family) = self.family.as_mut() else {
            return Err(fail("internal: no family".into()));
        };
        validate::sample(family, &parsed, suffix, number)?;
        let ParsedSample { labels, value, timestamp, exemplar, .. } = parsed;
        family.samples.push(Sample { suffix, labels, value, timestamp, exemplar });
        Ok(())
    }

    /// Checks the current family as a whole and moves it to `done`.
    fn finish_family(&mut self) -> Result<(), ParseError> {
        let Some(mut family) = self.family.take() else { return Ok(()) };
        family.histogram.finish(family.name)?;
        let metric_type = family.metric_type();
        let unit = match family.unit {
            Some(("", _)) | None => None,
            Some((unit, line)) => {
                let fits = family.name.strip_suffix(unit).is_some_and(|base| base.ends_with('_'));
                if !fits {
                    return Err(ParseError::new(
                        line,
                        format!("unit {unit:?} is not a suffix of the metric name {}", family.name),
                    ));
                }
                if matches!(metric_type, MetricType::Info | MetricType::StateSet) {
                    return Err(ParseError::new(
                        line,
                        format!("{metric_type} metrics such as {} cannot have a unit", family.name),
                    ));
                }
                Some(unit.to_owned())
            }
        };
        let suffixes = std::iter::once(Suffix::None).chain(metric_type.allowed_suffixes().iter().copied());
        for suffix in suffixes {
            let mut sample_name = String::with_capacity(family.name.len() + 8);
            sample_name.push_str(family.name);
            sample_name.push_str(suffix.as_str());
            if let Some(&other) = self.claimed.get(&sample_name) {
                if other != family.first_line {
                    return Err(ParseError::new(
                        family.first_line,
                        format!(
                            "metric {} clashes with the names of the family at line {other} (a family must be written in one piece, and its sample names may not be another family's)",
                            family.name
                        ),
                    ));
                }
            }
            self.claimed.insert(sample_name, family.first_line);
        }
        self.done.push(MetricFamily {
            name: family.name.to_owned(),
            help: family.help.unwrap_or_default(),
            unit,
            metric_type,
            samples: family.samples,
        });
        Ok(())
    }
}

fn metric_type(text: &str) -> Result<MetricType, String> {
    Ok(match text {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::StateSet,
        "unknown" => MetricType::Unknown,
        "untyped" => return Err("\"untyped\" is text 0.0.4; OpenMetrics calls it \"unknown\"".into()),
        other => return Err(format!("invalid metric type {:?}", scan::preview(other))),
    })
}
