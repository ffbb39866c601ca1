//! `textfile`: the families of `*.prom` files in `--collector.textfile.directory`,
//! `node_textfile_mtime_seconds{file}` and `node_textfile_scrape_error`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::UNIX_EPOCH;

use sonde_instrument::file::{ReadError, read_regular};
use sonde_instrument::{Format, Labels, MetricFamily, MetricType};

use super::read::{io_error, single};
use super::{CollectorError, ConfigError, NodeConfig, ScrapeCollector};

#[derive(Debug)]
struct Textfile {
    dir: Option<PathBuf>,
    /// `--collector.textfile.max-size`.
    max_size: u64,
    /// Whether the last scrape had an error, so a broken file logs once.
    errored: AtomicBool,
}

pub(super) fn build(config: &NodeConfig) -> Result<Box<dyn ScrapeCollector>, ConfigError> {
    Ok(Box::new(Textfile {
        dir: config.textfile_directory.clone(),
        max_size: config.textfile_max_size,
        errored: AtomicBool::new(false),
    }))
}

/// Why one file was skipped.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("failed to parse textfile data from {}: {source}", path.display())]
    Parse { path: PathBuf, source: sonde_instrument::ParseError },
    #[error("textfile {} contains unsupported client-side timestamps, skipping entire file", path.display())]
    Timestamps { path: PathBuf },
    #[error("textfile {} redefines the type of {name}", path.display())]
    TypeClash { path: PathBuf, name: String },
    /// Not a regular file, too large, unreadable or not text.
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Collector(#[from] CollectorError),
}

/// Gives every sample of a family the same label names (missing ones empty)
/// and sorts them by name, as node_exporter's const metrics come out.
fn normalize_labels(family: &mut MetricFamily) {
    let mut names: Vec<&str> = Vec::new();
    for sample in &family.samples {
        for label in &sample.labels {
            if !names.contains(&label.name.as_str()) {
                names.push(&label.name);
            }
        }
    }
    let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
    for sample in &mut family.samples {
        for name in &names {
            if sample.labels.get(name).is_none() {
                sample.labels.push(name.clone(), "");
            }
        }
        sample.labels.0.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// Reads one file into `families`, merging families already read from
/// earlier files (same name and type), and returns the file's mtime.
///
/// Only a regular file of at most `max_size` bytes is read: a FIFO named
/// `x.prom` would stall every scrape until a writer came, a symlink to
/// `/dev/zero` would never end. Its text is its own allocation, freed
/// with the scrape, not the buffer kernel files share.
fn process_file(path: &Path, max_size: u64, families: &mut Vec<MetricFamily>) -> Result<f64, FileError> {
    let text = read_regular(path, max_size)?;
    let parsed = sonde_instrument::parse(&text, Format::Text)
        .map_err(|source| FileError::Parse { path: path.to_path_buf(), source })?;
    drop(text);
    if parsed.iter().flat_map(|f| &f.samples).any(|s| s.timestamp.is_some()) {
        return Err(FileError::Timestamps { path: path.to_path_buf() });
    }
    if let Some(clash) =
        parsed.iter().find(|p| families.iter().any(|f| f.name == p.name && f.metric_type != p.metric_type))
    {
        return Err(FileError::TypeClash { path: path.to_path_buf(), name: clash.name.clone() });
    }
    // Stat only after a good parse, so a broken file does not look fresh.
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| io_error(path, e))?
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0);
    for mut family in parsed {
        match families.iter_mut().find(|f| f.name == family.name) {
            // One family per name, described by the first file that has it.
            Some(existing) => existing.samples.append(&mut family.samples),
            None => {
                if family.help.is_empty() {
                    family.help = format!("Metric read from {}", path.display());
                }
                families.push(family);
            }
        }
    }
    Ok(mtime)
}

/// The directories `pattern` names: itself, or what its `*` / `?`
/// components match (sorted per level, like Go's `filepath.Glob`). A
/// pattern that matches nothing is returned as is, so reading it reports
/// the error.
fn expand_dirs(pattern: &Path) -> Vec<PathBuf> {
    let is_glob = |s: &str| s.contains(['*', '?']);
    if !is_glob(&pattern.to_string_lossy()) {
        return vec![pattern.to_path_buf()];
    }
    let mut current = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str().to_string_lossy();
        if !is_glob(&part) {
            current.iter_mut().for_each(|p| p.push(component));
            continue;
        }
        let mut next = Vec::new();
        for base in &current {
            let dir = if base.as_os_str().is_empty() { Path::new(".") } else { base.as_path() };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| wildcard(&part, name))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        current = next;
    }
    current.retain(|p| p.exists());
    if current.is_empty() {
        current.push(pattern.to_path_buf());
    }
    current
}

/// Shell wildcard match of one path component: `*` any run, `?` one character.
fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl ScrapeCollector for Textfile {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectorError> {
        let mut errors: Vec<String> = Vec::new();
        let mut families: Vec<MetricFamily> = Vec::new();
        let mut mtimes =
            MetricFamily::gauge("node_textfile_mtime_seconds", "Unixtime mtime of textfiles successfully read.");
        for dir in self.dir.iter().flat_map(|pattern| expand_dirs(pattern)) {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    errors.push(io_error(&dir, e).to_string());
                    continue;
                }
            };
            let mut files: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".prom"))
                .collect();
            files.sort();
            for name in files {
                let path = dir.join(&name);
                match process_file(&path, self.max_size, &mut families) {
                    Ok(mtime) => mtimes.push(Labels::new().with("file", path.to_string_lossy()), mtime),
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        for family in &mut families {
            normalize_labels(family);
        }
        out.extend(families);
        if !mtimes.samples.is_empty() {
            out.push(mtimes);
        }
        let errored = !errors.is_empty();
        let was_errored = self.errored.swap(errored, Ordering::Relaxed);
        for error in &errors {
            if was_errored {
                tracing::debug!(%error, "textfile collector error");
            } else {
                tracing::warn!(%error, "textfile collector error");
            }
        }
        if was_errored && !errored {
            tracing::info!("textfile collector recovered");
        }
        out.push(single(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            MetricType::Gauge,
            if errored { 1.0 } else { 0.0 },
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_instrument::{Label, Sample, Suffix};

    #[test]
    fn fills_missing_labels_and_sorts_them() {
        let mut family = MetricFamily::gauge("x", "");
        family.push_sample(Sample::new(Suffix::None, Labels::new().with("b", "1").with("a", "2"), 1.0));
        family.push_sample(Sample::new(Suffix::None, Labels::new().with("c", "3"), 1.0));
        normalize_labels(&mut family);
        let names = |i: usize| family.samples[i].labels.iter().map(|l: &Label| l.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(0), ["a", "b", "c"]);
        assert_eq!(names(1), ["a", "b", "c"]);
        assert_eq!(family.samples[1].labels.get("a"), Some(""));
    }

    #[test]
    fn a_missing_directory_is_a_scrape_error_not_a_failure() {
        let collector = Textfile {
            dir: Some(PathBuf::from("/nonexistent/textfiles")),
            max_size: 1 << 20,
            errored: AtomicBool::new(false),
        };
        let mut out = Vec::new();
        collector.update(&mut out).unwrap();
        let error = out.iter().find(|f| f.name == "node_textfile_scrape_error").unwrap();
        assert_eq!(error.samples[0].value, 1.0);
    }

    #[test]
    fn wildcards_match_like_a_shell() {
        assert!(wildcard("*.prom", "a.prom"));
        assert!(wildcard("node-?", "node-1"));
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b", "acb_"));
        assert!(!wildcard("node-?", "node-12"));
        assert!(wildcard("*", ""));
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn scrape(collector: &Textfile) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        collector.update(&mut out).unwrap();
        out
    }

    fn family<'a>(out: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
        out.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn reads_merges_and_reports_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("node-1");
        std::fs::create_dir(&dir).unwrap();
        write(&dir, "a.prom", "# HELP meta Node metadata.\n# TYPE meta gauge\nmeta{id=\"1\"} 1\n");
        write(&dir, "b.prom", "# TYPE meta gauge\nmeta{name=\"w\"} 2\nplain 3\n");
        write(&dir, "c.txt", "ignored 1\n");
        let pattern = tmp.path().join("node-*");
        let collector = Textfile { dir: Some(pattern), max_size: 1 << 20, errored: AtomicBool::new(false) };
        let out = scrape(&collector);
        let meta = family(&out, "meta");
        assert_eq!(meta.help, "Node metadata.");
        assert_eq!(meta.samples.len(), 2);
        assert_eq!(meta.samples[0].labels.get("name"), Some(""));
        assert_eq!(meta.samples[1].labels.get("id"), Some(""));
        assert_eq!(family(&out, "plain").help, format!("Metric read from {}", dir.join("b.prom").display()));
        assert!(out.iter().all(|f| f.name != "ignored"));
        let mtimes = family(&out, "node_textfile_mtime_seconds");
        let files: Vec<_> = mtimes.samples.iter().map(|s| s.labels.get("file").unwrap().to_owned()).collect();
        assert_eq!(files, [dir.join("a.prom").display().to_string(), dir.join("b.prom").display().to_string()]);
        assert_eq!(family(&out, "node_textfile_scrape_error").samples[0].value, 0.0);
    }

    #[test]
    fn bad_files_are_skipped_and_flagged() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "good.prom", "up 1\n");
        write(tmp.path(), "stamped.prom", "up2 1 1700000000000\n");
        write(tmp.path(), "broken.prom", "this is { not metrics\n");
        let collector =
            Textfile { dir: Some(tmp.path().to_path_buf()), max_size: 1 << 20, errored: AtomicBool::new(false) };
        let out = scrape(&collector);
        assert!(out.iter().any(|f| f.name == "up"));
        assert!(out.iter().all(|f| f.name != "up2"));
        assert_eq!(family(&out, "node_textfile_mtime_seconds").samples.len(), 1);
        assert_eq!(family(&out, "node_textfile_scrape_error").samples[0].value, 1.0);
        assert!(collector.errored.load(Ordering::Relaxed));
    }

    #[test]
    fn no_directory_reports_no_error() {
        let collector = Textfile { dir: None, max_size: 1 << 20, errored: AtomicBool::new(false) };
        let mut out = Vec::new();
        collector.update(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].samples[0].value, 0.0);
    }

    #[test]
    fn fifos_devices_and_big_files_are_skipped_and_flagged_without_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "good.prom", "good 1\n");
        rustix::fs::mkfifoat(rustix::fs::CWD, tmp.path().join("fifo.prom"), rustix::fs::Mode::from_raw_mode(0o600))
            .unwrap();
        std::os::unix::fs::symlink("/dev/zero", tmp.path().join("zero.prom")).unwrap();
        write(tmp.path(), "big.prom", &format!("big 1\n{}", "# padding\n".repeat(200)));
        let collector =
            Textfile { dir: Some(tmp.path().to_path_buf()), max_size: 1024, errored: AtomicBool::new(false) };
        // Without the checks this would wait for a writer on the FIFO.
        let out = scrape(&collector);
        assert_eq!(family(&out, "node_textfile_scrape_error").samples[0].value, 1.0);
        assert_eq!(family(&out, "good").samples[0].value, 1.0);
        assert!(out.iter().all(|f| f.name != "big"), "a file past the limit is skipped");
        let files: Vec<&str> =
            family(&out, "node_textfile_mtime_seconds").samples.iter().filter_map(|s| s.labels.get("file")).collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].ends_with("good.prom"));
    }
}
