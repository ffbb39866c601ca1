//! The templates of alert labels and annotations: the forms Prometheus
//! rules use, parsed once and expanded at every evaluation.
//!
//! Supported: text with `{{ … }}` actions (`{{-`/`-}}` trim spaces,
//! `{{/* … */}}` comments); the variables `$labels`, `$labels.x`,
//! `$value`, `$externalLabels(.x)`, `$externalURL` and their `.Labels.x`,
//! `.Value`, … spellings; string, number and boolean literals;
//! parentheses; pipelines with `|`; the functions `humanize`,
//! `humanize1024`, `humanizePercentage`, `humanizeDuration`, `printf`,
//! `toUpper`, `toLower`, `title`, `index`, `match`, `reReplaceAll` and
//! `stripPort`. Anything else (`if`, `range`, `query`, variables of one's
//! own) is a parse error, so a rule Sonde cannot render is refused when it
//! is loaded, not when it fires.

use std::collections::BTreeMap;
use std::fmt;

use super::template_format::{humanize, humanize_duration, humanize_percentage, humanize1024, printf};
use super::template_parse::{find_action_end, parse_action};
use sonde_instrument::strconv::{FloatFormat, format_float};

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {0}")]
pub(crate) struct TemplateError(pub(crate) String);

/// Why expanding a parsed template failed; Prometheus renders it as
/// `<error expanding template: …>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExpandError {
    /// A pipeline without commands.
    #[error("empty pipeline")]
    EmptyPipeline,
    /// A `humanize*` argument that is not a number (quoted if a string).
    #[error("cannot convert {0} to a number")]
    NotANumber(String),
    /// `index` of a value that is not a map.
    #[error("index of a value that is not a map")]
    IndexOfNonMap,
    /// A `match` or `reReplaceAll` pattern that is not a regular expression.
    #[error("{0}")]
    Regex(String),
    /// The text grew past [`MAX_OUTPUT`].
    #[error("the expanded text is longer than {MAX_OUTPUT} bytes")]
    TooLong,
}

/// The longest text a template may expand to: a label or annotation is a
/// line or a paragraph; a `printf` width in the millions (which Go allows)
/// must not make a gigabyte of alerts and saved state.
pub(crate) const MAX_OUTPUT: usize = 64 * 1024;

/// What a template sees.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TemplateData<'a> {
    /// The alert's labels (`$labels`): the query result's element.
    pub labels: &'a BTreeMap<String, String>,
    /// The element's value (`$value`).
    pub value: f64,
    /// The agent's external labels (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// The agent's external URL (`$externalURL`).
    pub external_url: &'a str,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action(Pipeline),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline(pub(crate) Vec<Command>);

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    Operand(Operand),
    Call(Func, Vec<Operand>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Var(Var),
    Literal(Value),
    Sub(Pipeline),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Var {
    Labels(Option<String>),
    Value,
    ExternalLabels(Option<String>),
    ExternalUrl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Humanize,
    Humanize1024,
    HumanizePercentage,
    HumanizeDuration,
    Printf,
    ToUpper,
    ToLower,
    Title,
    Index,
    Match,
    ReReplaceAll,
    StripPort,
}

impl Func {
    pub(crate) fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "humanize" => Func::Humanize,
            "humanize1024" => Func::Humanize1024,
            "humanizePercentage" => Func::HumanizePercentage,
            "humanizeDuration" => Func::HumanizeDuration,
            "printf" => Func::Printf,
            "toUpper" => Func::ToUpper,
            "toLower" => Func::ToLower,
            "title" => Func::Title,
            "index" => Func::Index,
            "match" => Func::Match,
            "reReplaceAll" => Func::ReReplaceAll,
            "stripPort" => Func::StripPort,
            _ => return None,
        })
    }

    /// The number of arguments, None for any (printf: at least one).
    pub(crate) fn arity(self) -> Option<usize> {
        match self {
            Func::Printf => None,
            Func::Index | Func::Match => Some(2),
            Func::ReReplaceAll => Some(3),
            _ => Some(1),
        }
    }
}

/// A value inside a template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Map(BTreeMap<String, String>),
}

impl Value {
    pub(crate) fn as_number(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }

    fn to_number(&self) -> Result<f64, ExpandError> {
        match self {
            Value::Num(n) => Ok(*n),
            Value::Str(s) => s.trim().parse().map_err(|_| ExpandError::NotANumber(format!("{s:?}"))),
            other => Err(ExpandError::NotANumber(other.to_string())),
        }
    }

    pub(crate) fn go_type_and_value(&self) -> String {
        match self {
            Value::Str(s) => format!("string={s}"),
            Value::Num(n) => format!("float64={}", format_float(*n, FloatFormat::G, None)),
            Value::Bool(b) => format!("bool={b}"),
            Value::Map(_) => format!("map[string]string={self}"),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Num(n) => f.write_str(&format_float(*n, FloatFormat::G, None)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Map(map) => {
                f.write_str("map[")?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Template {
    /// Parses `text`.
    pub(crate) fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut nodes = Vec::new();
        let mut rest = text;
        let mut trim_next = false;
        while let Some(start) = rest.find("{{") {
            let mut before = &rest[..start];
            if trim_next {
                before = before.trim_start();
            }
            let mut inner = &rest[start + 2..];
            if let Some(after) = inner.strip_prefix("- ") {
                before = before.trim_end();
                inner = after;
            }
            let Some(end) = find_action_end(inner) else {
                return Err(TemplateError(format!("unclosed action in {text:?}")));
            };
            let mut action = &inner[..end];
            trim_next = false;
            if let Some(stripped) = action.strip_suffix(" -") {
                action = stripped;
                trim_next = true;
            }
            if !before.is_empty() {
                nodes.push(Node::Text(before.to_owned()));
            }
            let action = action.trim();
            if !(action.starts_with("/*") && action.ends_with("*/")) {
                nodes.push(Node::Action(parse_action(action)?));
            }
            rest = &inner[end + 2..];
        }
        let rest = if trim_next { rest.trim_start() } else { rest };
        if !rest.is_empty() {
            nodes.push(Node::Text(rest.to_owned()));
        }
        Ok(Template { nodes })
    }

    /// Expands the template with `data`; an error names what went wrong.
    pub(crate) fn expand(&self, data: &TemplateData<'_>) -> Result<String, ExpandError> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action(pipeline) => out.push_str(&eval_pipeline(pipeline, data)?.to_string()),
            }
            if out.len() > MAX_OUTPUT {
                return Err(ExpandError::TooLong);
            }
        }
        Ok(out)
    }

    /// Expands like Prometheus does: an error becomes the text
    /// `<error expanding template: …>`.
    pub(crate) fn render(&self, data: &TemplateData<'_>) -> String {
        self.expand(data).unwrap_or_else(|err| format!("<error expanding template: {err}>"))
    }
}

fn eval_pipeline(pipeline: &Pipeline, data: &TemplateData<'_>) -> Result<Value, ExpandError> {
    let mut last: Option<Value> = None;
    for command in &pipeline.0 {
        last = Some(match command {
            Command::Operand(operand) => eval_operand(operand, data)?,
            Command::Call(func, operands) => {
                let mut args = operands.iter().map(|o| eval_operand(o, data)).collect::<Result<Vec<_>, _>>()?;
                args.extend(last.take());
                call(*func, &args)?
            }
        });
    }
    last.ok_or(ExpandError::EmptyPipeline)
}

fn eval_operand(operand: &Operand, data: &TemplateData<'_>) -> Result<Value, ExpandError> {
    let lookup = |map: &BTreeMap<String, String>, key: &Option<String>| match key {
        Some(key) => Value::Str(map.get(key).cloned().unwrap_or_default()),
        None => Value::Map(map.clone()),
    };
    Ok(match operand {
        Operand::Var(Var::Labels(key)) => lookup(data.labels, key),
        Operand::Var(Var::ExternalLabels(key)) => lookup(data.external_labels, key),
        Operand::Var(Var::Value) => Value::Num(data.value),
        Operand::Var(Var::ExternalUrl) => Value::Str(data.external_url.to_owned()),
        Operand::Literal(value) => value.clone(),
        Operand::Sub(pipeline) => eval_pipeline(pipeline, data)?,
    })
}

fn call(func: Func, args: &[Value]) -> Result<Value, ExpandError> {
    let text = |i: usize| args.get(i).map(Value::to_string).unwrap_or_default();
    let number = || args.first().map(Value::to_number).unwrap_or(Ok(f64::NAN));
    let regex = |pattern: &str| regex::Regex::new(pattern).map_err(|e| ExpandError::Regex(e.to_string()));
    Ok(match func {
        Func::Humanize => Value::Str(humanize(number()?)),
        Func::Humanize1024 => Value::Str(humanize1024(number()?)),
        Func::HumanizePercentage => Value::Str(humanize_percentage(number()?)),
        Func::HumanizeDuration => Value::Str(humanize_duration(number()?)),
        Func::Printf => Value::Str(printf(&text(0), args.get(1..).unwrap_or_default())),
        Func::ToUpper => Value::Str(text(0).to_uppercase()),
        Func::ToLower => Value::Str(text(0).to_lowercase()),
        Func::Title => Value::Str(title(&text(0))),
        Func::Index => match args.first() {
            Some(Value::Map(map)) => Value::Str(map.get(&text(1)).cloned().unwrap_or_default()),
            _ => return Err(ExpandError::IndexOfNonMap),
        },
        Func::Match => Value::Bool(regex(&format!("^(?:{})$", text(0)))?.is_match(&text(1))),
        Func::ReReplaceAll => {
            let re = regex(&text(0))?;
            Value::Str(re.replace_all(&text(2), text(1).as_str()).into_owned())
        }
        Func::StripPort => {
            let host = text(0);
            Value::Str(match host.rsplit_once(':') {
                Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
                    h.trim_start_matches('[').trim_end_matches(']').to_owned()
                }
                _ => host,
            })
        }
    })
}

fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '\'';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, value: f64) -> String {
        let labels: BTreeMap<String, String> = [("service", "go-demo_main"), ("instance", "10.0.0.1:8080")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let external = BTreeMap::new();
        let data = TemplateData { labels: &labels, value, external_labels: &external, external_url: "http://sonde" };
        Template::parse(text).unwrap().expand(&data).unwrap()
    }

    #[test]
    fn prometheus_forms_expand() {
        assert_eq!(render("Service {{ $labels.service }} at {{ $value }}", 0.25), "Service go-demo_main at 0.25");
        assert_eq!(render("{{ .Labels.service }}={{ .Value }}", 3.0), "go-demo_main=3");
        assert_eq!(render("{{$labels.missing}}|", 1.0), "|");
        assert_eq!(render("{{ $value | humanizePercentage }}", 0.5), "50%");
        assert_eq!(render("{{ humanize $value }}", 1500.0), "1.5k");
        assert_eq!(render(r#"{{ printf "%.2f" $value }}"#, 0.12345), "0.12");
        assert_eq!(render("{{ $labels.instance | stripPort | toUpper }}", 0.0), "10.0.0.1");
        assert_eq!(render(r#"{{ index $labels "service" }}"#, 0.0), "go-demo_main");
        assert_eq!(render("a {{- /* note */ -}} b", 0.0), "ab");
        assert_eq!(render("x {{- $value }} {{ $value -}} y", 1.0), "x1 1y");
        assert_eq!(render("{{ $externalURL }}", 0.0), "http://sonde");
        assert_eq!(render("no actions", 0.0), "no actions");
        assert_eq!(render(r#"{{ "}}" }}"#, 0.0), "}}");
        assert_eq!(render("{{ $value }}", f64::NAN), "NaN");
    }

    #[test]
    fn what_cannot_be_rendered_does_not_parse() {
        for text in [
            "{{ $labels.service",
            "{{ if $value }}x{{ end }}",
            "{{ $foo }}",
            "{{ .Foo }}",
            "{{ query \"up\" }}",
            "{{ $x := 1 }}",
            "{{ }}",
            "{{ $value $value }}",
            "{{ humanize }}",
            "{{ $value | $value }}",
            "{{ \"abc }}",
        ] {
            assert!(Template::parse(text).is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn expansion_errors_render_like_prometheus() {
        let t = Template::parse(r#"{{ humanize "abc" }}"#).unwrap();
        let empty = BTreeMap::new();
        let data = TemplateData { labels: &empty, value: 0.0, external_labels: &empty, external_url: "" };
        assert!(t.render(&data).starts_with("<error expanding template: "), "{}", t.render(&data));
        let labels: BTreeMap<String, String> = [("a".to_owned(), "x".to_owned())].into();
        let data = TemplateData { labels: &labels, ..data };
        for (text, want) in [
            (r#"{{ humanize "abc" }}"#, ExpandError::NotANumber("\"abc\"".to_owned())),
            (r#"{{ humanize $labels }}"#, ExpandError::NotANumber("map[a:x]".to_owned())),
            (r#"{{ index $value "a" }}"#, ExpandError::IndexOfNonMap),
        ] {
            assert_eq!(Template::parse(text).unwrap().expand(&data), Err(want), "{text}");
        }
        let err = Template::parse(r#"{{ match "(" "a" }}"#).unwrap().expand(&data).unwrap_err();
        assert!(matches!(err, ExpandError::Regex(_)), "{err:?}");
        assert_eq!(ExpandError::NotANumber("\"abc\"".to_owned()).to_string(), r#"cannot convert "abc" to a number"#);
    }
}
