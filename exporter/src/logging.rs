//! Structured logs on stderr, in the shape Prometheus' Go programs write:
//! `ts=… level=info msg=listening address=[::]:9097`, or the same keys as
//! one JSON object per line.
//!
//! `tracing-logfmt` names the message `message` and adds `target`, so lines
//! would not match what log pipelines built for the Go exporters expect
//! (`msg`); the formatter here is small enough to own.

use std::fmt;

use clap::ValueEnum;
use sonde_instrument::strconv::{FloatFormat, format_float};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including per-connection details.
    Debug,
    /// State changes and lifecycle.
    Info,
    /// Things an operator should look at.
    Warn,
    /// Failures.
    Error,
}

impl LogLevel {
    fn filter(self) -> LevelFilter {
        match self {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs, one event per line.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// The global logger could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("installing the logger: {0}")]
pub struct LogInitError(String);

/// Installs the process-wide logger writing to stderr.
pub fn init(level: LogLevel, format: LogFormat) -> Result<(), LogInitError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level.filter())
        .event_format(LineFormat::new(format))
        .try_init()
        .map_err(|err| LogInitError(err.to_string()))
}

/// A [`FormatEvent`] writing `ts`, `level`, `msg`, then the event's fields.
/// Span fields are not written: the agent logs flat events.
#[derive(Debug, Clone, Copy)]
pub struct LineFormat {
    format: LogFormat,
}

impl LineFormat {
    /// A formatter for `format`.
    pub fn new(format: LogFormat) -> Self {
        LineFormat { format }
    }
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut ts = String::with_capacity(32);
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = level_name(*event.metadata().level());
        let line = Line { ts: &ts, level, msg: fields.message.as_deref().unwrap_or(""), fields: &fields.pairs };
        match self.format {
            LogFormat::Logfmt => line.write_logfmt(&mut writer),
            LogFormat::Json => line.write_json(&mut writer),
        }
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

#[derive(Debug)]
enum Value {
    Text(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

#[derive(Debug, Default)]
struct Fields {
    message: Option<String>,
    pairs: Vec<(&'static str, Value)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::Text(text) => text,
                Value::I64(v) => v.to_string(),
                Value::U64(v) => v.to_string(),
                Value::F64(v) => v.to_string(),
                Value::Bool(v) => v.to_string(),
            });
        } else {
            self.pairs.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Text(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::Text(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here already rendered with Display.
        self.push(field, Value::Text(format!("{value:?}")));
    }
}

struct Line<'a> {
    ts: &'a str,
    level: &'static str,
    msg: &'a str,
    fields: &'a [(&'static str, Value)],
}

impl Line<'_> {
    fn write_logfmt(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "ts={} level={} msg=", self.ts, self.level)?;
        write_logfmt_value(w, self.msg)?;
        for (key, value) in self.fields {
            write!(w, " {key}=")?;
            match value {
                Value::Text(text) => write_logfmt_value(w, text)?,
                Value::I64(v) => write!(w, "{v}")?,
                Value::U64(v) => write!(w, "{v}")?,
                // go-logfmt writes a float64 with `%v`.
                Value::F64(v) => w.write_str(&format_float(*v, FloatFormat::G, None))?,
                Value::Bool(v) => write!(w, "{v}")?,
            }
        }
        w.write_char('\n')
    }

    fn write_json(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(
            w,
            "{{\"ts\":{},\"level\":{},\"msg\":{}",
            json_string(self.ts),
            json_string(self.level),
            json_string(self.msg)
        )?;
        for (key, value) in self.fields {
            write!(w, ",{}:", json_string(key))?;
            match value {
                Value::Text(text) => w.write_str(&json_string(text))?,
                Value::I64(v) => write!(w, "{v}")?,
                Value::U64(v) => write!(w, "{v}")?,
                // JSON has no NaN or infinities; serde_json writes them as null.
                Value::F64(v) => w.write_str(&serde_json::Value::from(*v).to_string())?,
                Value::Bool(v) => write!(w, "{v}")?,
            }
        }
        w.write_str("}\n")
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    sonde_instrument::json::write_string(&mut out, text);
    out
}

/// Writes a logfmt value, quoted only when it has to be, as go-logfmt does.
fn write_logfmt_value(w: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let needs_quotes = value.is_empty() || value.chars().any(|c| c <= ' ' || c == '=' || c == '"' || c.is_control());
    if !needs_quotes {
        return w.write_str(value);
    }
    w.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            '\n' => w.write_str("\\n")?,
            '\r' => w.write_str("\\r")?,
            '\t' => w.write_str("\\t")?,
            c if c.is_control() => write!(w, "\\u{:04x}", u32::from(c))?,
            c => w.write_char(c)?,
        }
    }
    w.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(format: LogFormat, log: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_max_level(LevelFilter::DEBUG)
            .event_format(LineFormat::new(format))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn strip_ts(line: &str) -> &str {
        let rest = line.strip_prefix("ts=").unwrap();
        let (ts, rest) = rest.split_once(' ').unwrap();
        assert!(ts.ends_with('Z') && ts.contains('T'), "RFC 3339 UTC timestamp, got {ts}");
        rest
    }

    #[test]
    fn logfmt_lines_look_like_go_exporters() {
        let out = capture(LogFormat::Logfmt, || {
            let address: std::net::SocketAddr = "127.0.0.1:9097".parse().unwrap();
            tracing::info!(address = %address, connections = 3u64, "listening");
            tracing::warn!(err = "broken pipe", path = "", "collector failed");
        });
        let lines: Vec<&str> = out.lines().map(strip_ts).collect();
        assert_eq!(
            lines,
            [
                "level=info msg=listening address=127.0.0.1:9097 connections=3",
                r#"level=warn msg="collector failed" err="broken pipe" path="""#,
            ]
        );
    }

    #[test]
    fn logfmt_floats_are_written_like_go() {
        let out = capture(LogFormat::Logfmt, || tracing::info!(seconds = 1.5e-5, ratio = 0.25, big = 1e21, "took"));
        assert_eq!(strip_ts(out.trim_end()), "level=info msg=took seconds=1.5e-05 ratio=0.25 big=1e+21");
    }

    #[test]
    fn logfmt_escapes_quotes_and_newlines() {
        let out = capture(LogFormat::Logfmt, || tracing::error!(value = "a \"b\"\nc=d\\", "x"));
        assert_eq!(strip_ts(out.trim_end()), r#"level=error msg=x value="a \"b\"\nc=d\\""#);
    }

    #[test]
    fn json_lines_use_the_same_keys() {
        let out = capture(LogFormat::Json, || {
            tracing::info!(address = "[::]:9097", ok = true, ratio = 0.5, "listening");
        });
        let value: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(value["level"], "info");
        assert_eq!(value["msg"], "listening");
        assert_eq!(value["address"], "[::]:9097");
        assert_eq!(value["ok"], true);
        assert_eq!(value["ratio"], 0.5);
        assert!(value["ts"].as_str().unwrap().ends_with('Z'));
    }
}
