//! Prometheus text format 0.0.4, read as Prometheus 2.x reads it.

use std::collections::HashMap;

use super::number;
use super::scan::{self, Cursor, Dialect, Skip};
use super::{Finding, FindingKind, ParseError, Parsed, lines};
use crate::model::{Labels, MetricFamily, MetricType, Sample, Suffix};

/// A family being built, keyed by the name its metadata and samples use.
#[derive(Debug)]
struct Family<'a> {
    /// The name in `# TYPE`/`# HELP` lines: a counter keeps its `_total`.
    key: &'a str,
    model: MetricFamily,
    typed: bool,
    helped: bool,
    /// A counter whose `# TYPE` name ends in `_total`: the model name drops
    /// it and the samples carry [`Suffix::Total`].
    total: bool,
    first_line: usize,
    /// Sample indices by label-set hash, to find duplicate series.
    series: scan::ByHash<Vec<usize>>,
}

impl<'a> Family<'a> {
    fn new(key: &'a str, line: usize) -> Self {
        Family {
            key,
            model: MetricFamily::new(key, "", MetricType::Unknown),
            typed: false,
            helped: false,
            total: false,
            first_line: line,
            series: scan::ByHash::default(),
        }
    }

    /// The suffix a sample named `name` has in this family, if it belongs.
    fn suffix_of(&self, name: &str) -> Option<Suffix> {
        let rest = name.strip_prefix(self.key)?;
        match (self.model.metric_type, rest) {
            (MetricType::Counter, "") if self.total => Some(Suffix::Total),
            (MetricType::Histogram, "_bucket") => Some(Suffix::Bucket),
            (MetricType::Histogram | MetricType::Summary, "_count") => Some(Suffix::Count),
            (MetricType::Histogram | MetricType::Summary, "_sum") => Some(Suffix::Sum),
            (MetricType::Histogram, _) => None,
            (_, "") => Some(Suffix::None),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Parser<'a> {
    families: Vec<Family<'a>>,
    by_key: HashMap<&'a str, usize>,
    current: Option<usize>,
    detailed: bool,
    findings: Vec<Finding>,
}

pub(super) fn parse(input: &str, detailed: bool) -> Result<Parsed, ParseError> {
    let mut parser = Parser { detailed, ..Parser::default() };
    for (number, line) in lines(input) {
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() {
            continue;
        }
        let result = if line.starts_with('#') { parser.comment(line, number) } else { parser.sample(line, number) };
        result.map_err(|message| ParseError::new(number, message))?;
    }
    Ok(Parsed { families: parser.families.into_iter().map(|f| f.model).collect(), findings: parser.findings })
}

impl<'a> Parser<'a> {
    /// Makes family `index` the one receiving lines, noting a split when it
    /// had lines before another family's.
    fn enter(&mut self, index: usize, line: usize) {
        if self.current == Some(index) {
            return;
        }
        self.current = Some(index);
        if let (true, Some(family)) = (self.detailed, self.families.get(index)) {
            self.findings.push(Finding {
                line,
                kind: FindingKind::SplitFamily { name: family.key.to_owned(), first_line: family.first_line },
            });
        }
    }

    fn create(&mut self, key: &'a str, line: usize) -> usize {
        let index = self.families.len();
        self.families.push(Family::new(key, line));
        self.by_key.insert(key, index);
        self.current = Some(index);
        index
    }

    fn family_for_metadata(&mut self, key: &'a str, line: usize) -> usize {
        match self.by_key.get(key) {
            Some(&index) => {
                self.enter(index, line);
                index
            }
            None => self.create(key, line),
        }
    }

    fn comment(&mut self, line: &'a str, number: usize) -> Result<(), String> {
        let mut cur = Cursor::new(line);
        cur.advance(1);
        // Like Prometheus, only `# HELP ` and `# TYPE ` are metadata; any
        // other comment, `#HELP` included, is ignored.
        if !cur.skip_blanks() {
            return Ok(());
        }
        let help = if cur.eat_str("HELP") {
            true
        } else if cur.eat_str("TYPE") {
            false
        } else {
            return Ok(());
        };
        if !cur.skip_blanks() {
            return Ok(());
        }
        let keyword = if help { "HELP" } else { "TYPE" };
        let name = scan::metric_name(&mut cur);
        if name.is_empty() || cur.peek().is_some_and(|b| !scan::is_blank(b)) {
            return Err(format!("invalid metric name in {keyword} line: {:?}", scan::preview(line)));
        }
        cur.skip_blanks();
        if help {
            self.help(name, cur.rest(), number)
        } else {
            self.type_line(name, cur.rest().trim_end_matches([' ', '\t']), number)
        }
    }

    fn help(&mut self, name: &'a str, text: &str, number: usize) -> Result<(), String> {
        let index = self.family_for_metadata(name, number);
        let family = self.families.get_mut(index).ok_or("internal: lost family")?;
        if family.helped {
            return Err(format!("second HELP line for metric name {name}"));
        }
        family.helped = true;
        family.model.help = scan::unescape(text, false);
        Ok(())
    }

    fn type_line(&mut self, name: &'a str, type_name: &str, number: usize) -> Result<(), String> {
        let metric_type = match type_name {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Unknown,
            "" => return Err(format!("TYPE line for {name} has no type")),
            other => {
                return Err(format!(
                    "invalid metric type {other:?} for {name} (text 0.0.4 knows counter, gauge, histogram, summary and untyped)"
                ));
            }
        };
        let index = self.family_for_metadata(name, number);
        let family = self.families.get_mut(index).ok_or("internal: lost family")?;
        if family.typed {
            return Err(format!("second TYPE line for metric name {name}"));
        }
        if !family.model.samples.is_empty() {
            return Err(format!("TYPE line for {name} comes after its samples"));
        }
        family.typed = true;
        family.model.metric_type = metric_type;
        if metric_type == MetricType::Counter {
            if let Some(base) = name.strip_suffix("_total").filter(|base| !base.is_empty()) {
                family.total = true;
                family.model.name = base.to_owned();
            }
        }
        Ok(())
    }

    /// The family and suffix a sample named `name` belongs to.
    fn resolve(&self, name: &str) -> Result<Option<(usize, Suffix)>, String> {
        let lookup = |index: usize| {
            let family = self.families.get(index)?;
            family.suffix_of(name).map(|suffix| (index, suffix))
        };
        if let Some(found) = self.current.and_then(lookup) {
            return Ok(Some(found));
        }
        if let Some(&index) = self.by_key.get(name) {
            return match lookup(index) {
                Some(found) => Ok(Some(found)),
                None => Err(format!(
                    "sample {name} does not fit histogram {name}: expected {name}_bucket, {name}_count or {name}_sum"
                )),
            };
        }
        for suffix in ["_bucket", "_count", "_sum"] {
            let found = name.strip_suffix(suffix).and_then(|base| self.by_key.get(base)).and_then(|&i| lookup(i));
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn sample(&mut self, line: &'a str, number: usize) -> Result<(), String> {
        let mut cur = Cursor::new(line);
        let name = scan::metric_name(&mut cur);
        if name.is_empty() {
            return Err(format!("invalid metric name at {:?}", scan::preview(line)));
        }
        let blank = cur.skip_blanks();
        let labels = if cur.peek() == Some(b'{') {
            let labels = scan::label_set(&mut cur, Dialect::Text)?;
            cur.skip_blanks();
            labels
        } else if blank {
            Labels::new()
        } else if cur.is_empty() {
            return Err(format!("sample {name} has no value"));
        } else {
            return Err(format!("invalid character in metric name at {:?}", scan::preview(line)));
        };
        let token = cur.take_while(|b| !scan::is_blank(b));
        if token.is_empty() {
            return Err(format!("sample {name} has no value"));
        }
        let value = number::go_float(token).ok_or_else(|| format!("invalid value {:?}", scan::preview(token)))?;
        cur.skip_blanks();
        let timestamp = if cur.is_empty() {
            None
        } else {
            let token = cur.take_while(|b| !scan::is_blank(b));
            let millis: i64 = token.parse().map_err(|_| {
                format!("invalid timestamp {:?}: text 0.0.4 wants integer milliseconds", scan::preview(token))
            })?;
            cur.skip_blanks();
            if !cur.is_empty() {
                return Err(format!("unexpected text after the timestamp: {:?}", scan::preview(cur.rest())));
            }
            Some(millis as f64 / 1000.0)
        };

        let (index, suffix) = match self.resolve(name)? {
            Some((index, suffix)) => {
                self.enter(index, number);
                (index, suffix)
            }
            None => (self.create(name, number), Suffix::None),
        };
        let detailed = self.detailed;
        let family = self.families.get_mut(index).ok_or("internal: lost family")?;
        if detailed {
            let position = family.model.samples.len();
            let hash = scan::set_hash(&labels, Skip::Nothing, suffix as u64);
            let same = family.series.entry(hash).or_default();
            let samples = &family.model.samples;
            if same.iter().filter_map(|&i| samples.get(i)).any(|s| s.suffix == suffix && s.labels.same_set(&labels)) {
                self.findings.push(Finding {
                    line: number,
                    kind: FindingKind::DuplicateSeries { name: name.to_owned(), labels: labels.clone() },
                });
            } else {
                // Only distinct series are remembered, so that many copies of
                // one line cost linear, not quadratic, time.
                same.push(position);
            }
        }
        family.model.samples.push(Sample { suffix, labels, value, timestamp, exemplar: None });
        Ok(())
    }
}
