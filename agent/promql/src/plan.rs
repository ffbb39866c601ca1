//! Lowering of `promql-parser`'s AST into Sonde's evaluation plan: matchers
//! and regexes compiled once, functions resolved, durations in
//! milliseconds, and every construct outside the subset refused with
//! [`EvalError::Unsupported`].

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_DIV, T_EQLC, T_GROUP, T_GTE, T_GTR, T_LAND, T_LOR,
    T_LSS, T_LTE, T_LUNLESS, T_MAX, T_MIN, T_MOD, T_MUL, T_NEQ, T_POW, T_QUANTILE, T_STDDEV, T_STDVAR, T_SUB, T_SUM,
    T_TOPK,
};
use promql_parser::parser::{Expr, LabelModifier, VectorMatchCardinality, VectorSelector};
use regex::Regex;

use super::EvalError;
use crate::store::{LabelMatcher, LabelSet, METRIC_NAME, MatchKind};

/// A compiled expression, ready to evaluate many times.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) root: Node,
}

impl Plan {
    /// Lowers `expr`; refuses anything outside the subset.
    pub fn new(expr: &Expr) -> Result<Plan, EvalError> {
        Ok(Plan { root: lower(expr)? })
    }

    /// True when the expression's result is a range vector.
    pub fn is_matrix(&self) -> bool {
        matches!(self.root, Node::Matrix(..))
    }

    /// The longest range (`[5m]`) any range selector of the expression
    /// uses; zero when there is none. The window store must keep this much
    /// plus the lookback.
    pub fn max_range(&self) -> std::time::Duration {
        let ms = self.root.max_range_ms().max(0);
        std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }
}

impl Node {
    fn max_range_ms(&self) -> i64 {
        match self {
            Node::Number(_) | Node::Str(_) | Node::Vector(_) => 0,
            Node::Matrix(_, range) => *range,
            Node::Neg(inner) => inner.max_range_ms(),
            Node::Binary(b) => b.lhs.max_range_ms().max(b.rhs.max_range_ms()),
            Node::Aggregate(a) => a.expr.max_range_ms().max(a.param.as_ref().map_or(0, Node::max_range_ms)),
            Node::Call(c) => c.args.iter().map(Node::max_range_ms).max().unwrap_or(0),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Number(f64),
    Str(String),
    Vector(Box<Selector>),
    Matrix(Box<Selector>, i64),
    Neg(Box<Node>),
    Binary(Box<Binary>),
    Aggregate(Box<Aggregate>),
    Call(Box<Call>),
}

#[derive(Debug, Clone)]
pub(crate) struct Selector {
    pub(crate) matchers: Vec<LabelMatcher>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub(crate) fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le)
    }
    pub(crate) fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

#[derive(Debug, Clone)]
pub(crate) struct Binary {
    pub(crate) op: BinOp,
    pub(crate) lhs: Node,
    pub(crate) rhs: Node,
    pub(crate) return_bool: bool,
    pub(crate) card: Card,
    /// `on` (true) or `ignoring` (false) with `labels`.
    pub(crate) on: bool,
    pub(crate) labels: Vec<String>,
    /// `group_left(…)` / `group_right(…)` labels.
    pub(crate) include: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
}

#[derive(Debug, Clone)]
pub(crate) struct Aggregate {
    pub(crate) op: AggOp,
    pub(crate) expr: Node,
    pub(crate) param: Option<Node>,
    pub(crate) without: bool,
    pub(crate) grouping: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Func {
    // Range vector functions.
    Rate,
    Irate,
    Increase,
    Delta,
    Idelta,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    LastOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    PresentOverTime,
    AbsentOverTime,
    Changes,
    Resets,
    Deriv,
    PredictLinear,
    // Instant vector functions.
    Abs,
    Ceil,
    Floor,
    Round,
    Sqrt,
    Exp,
    Ln,
    Log2,
    Log10,
    Sgn,
    Clamp,
    ClampMin,
    ClampMax,
    Trig(fn(f64) -> f64),
    Absent,
    Scalar,
    Vector,
    Time,
    Pi,
    Timestamp,
    HistogramQuantile,
    LabelReplace,
    LabelJoin,
    Sort,
    SortDesc,
    Date(DateFn),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateFn {
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    DaysInMonth,
    Hour,
    Minute,
    Month,
    Year,
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) func: Func,
    pub(crate) args: Vec<Node>,
    /// For `absent`/`absent_over_time`: the labels of the result.
    pub(crate) absent_labels: Option<LabelSet>,
    /// For `label_replace`: the compiled regex.
    pub(crate) regex: Option<Regex>,
}

fn unsupported<T>(what: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError::Unsupported(what.into()))
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn lower(expr: &Expr) -> Result<Node, EvalError> {
    match expr {
        Expr::NumberLiteral(n) => Ok(Node::Number(n.val)),
        Expr::StringLiteral(s) => Ok(Node::Str(s.val.clone())),
        Expr::Paren(p) => lower(&p.expr),
        Expr::Unary(u) => Ok(Node::Neg(Box::new(lower(&u.expr)?))),
        Expr::VectorSelector(vs) => Ok(Node::Vector(Box::new(lower_selector(vs)?))),
        Expr::MatrixSelector(ms_) => {
            let sel = lower_selector(&ms_.vs)?;
            Ok(Node::Matrix(Box::new(sel), ms(ms_.range)))
        }
        Expr::Subquery(_) => unsupported("subqueries"),
        Expr::Extension(_) => unsupported("extension expressions"),
        Expr::Binary(b) => lower_binary(b),
        Expr::Aggregate(a) => lower_aggregate(a),
        Expr::Call(c) => lower_call(c),
    }
}

fn lower_selector(vs: &VectorSelector) -> Result<Selector, EvalError> {
    if vs.at.is_some() {
        return unsupported("the @ modifier");
    }
    if vs.offset.is_some() {
        return unsupported("the offset modifier");
    }
    if !vs.matchers.or_matchers.is_empty() {
        return unsupported("`or` inside a selector");
    }
    let mut matchers = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        matchers.push(LabelMatcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        matchers.push(lower_matcher(m)?);
    }
    // Cheapest first: equality on the name (index), then equalities, then regexes.
    matchers.sort_by_key(|m| match (&m.kind, m.name == METRIC_NAME) {
        (MatchKind::Equal(_), true) => 0,
        (MatchKind::Equal(_), false) => 1,
        (MatchKind::NotEqual(_), _) => 2,
        _ => 3,
    });
    Ok(Selector { matchers })
}

fn lower_matcher(m: &Matcher) -> Result<LabelMatcher, EvalError> {
    let kind = match &m.op {
        MatchOp::Equal => MatchKind::Equal(m.value.clone()),
        MatchOp::NotEqual => MatchKind::NotEqual(m.value.clone()),
        MatchOp::Re(parsed) => MatchKind::Regex(compile(&m.value, parsed)?),
        MatchOp::NotRe(parsed) => MatchKind::NotRegex(compile(&m.value, parsed)?),
    };
    Ok(LabelMatcher { name: m.name.clone(), kind })
}

/// Compiles with `.` matching newline; falls back to the parser's own
/// rewrite of Go-only syntax (a literal `{`), with the same flag.
fn compile(pattern: &str, parsed: &Regex) -> Result<Regex, EvalError> {
    crate::store::compile_anchored(pattern)
        .or_else(|_| Regex::new(&format!("(?s){}", parsed.as_str())))
        .map_err(|e| EvalError::Parse(format!("invalid regex {pattern:?}: {e}")))
}

fn lower_binary(b: &promql_parser::parser::BinaryExpr) -> Result<Node, EvalError> {
    let op = match b.op.id() {
        T_ADD => BinOp::Add,
        T_SUB => BinOp::Sub,
        T_MUL => BinOp::Mul,
        T_DIV => BinOp::Div,
        T_MOD => BinOp::Mod,
        T_POW => BinOp::Pow,
        T_ATAN2 => BinOp::Atan2,
        T_EQLC => BinOp::Eq,
        T_NEQ => BinOp::Ne,
        T_GTR => BinOp::Gt,
        T_LSS => BinOp::Lt,
        T_GTE => BinOp::Ge,
        T_LTE => BinOp::Le,
        T_LAND => BinOp::And,
        T_LOR => BinOp::Or,
        T_LUNLESS => BinOp::Unless,
        _ => return unsupported(format!("binary operator {}", b.op)),
    };
    let mut node = Binary {
        op,
        lhs: lower(&b.lhs)?,
        rhs: lower(&b.rhs)?,
        return_bool: false,
        card: if op.is_set() { Card::ManyToMany } else { Card::OneToOne },
        on: false,
        labels: Vec::new(),
        include: Vec::new(),
    };
    if let Some(m) = &b.modifier {
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            return unsupported("the fill modifier");
        }
        node.return_bool = m.return_bool;
        match &m.card {
            VectorMatchCardinality::OneToOne => {}
            VectorMatchCardinality::ManyToOne(l) => {
                node.card = Card::ManyToOne;
                node.include = l.labels.clone();
            }
            VectorMatchCardinality::OneToMany(l) => {
                node.card = Card::OneToMany;
                node.include = l.labels.clone();
            }
            VectorMatchCardinality::ManyToMany => node.card = Card::ManyToMany,
        }
        if op.is_set() {
            node.card = Card::ManyToMany;
        }
        match &m.matching {
            Some(LabelModifier::Include(l)) => {
                node.on = true;
                node.labels = l.labels.clone();
            }
            Some(LabelModifier::Exclude(l)) => node.labels = l.labels.clone(),
            None => {}
        }
    }
    Ok(Node::Binary(Box::new(node)))
}

fn lower_aggregate(a: &promql_parser::parser::AggregateExpr) -> Result<Node, EvalError> {
    let op = match a.op.id() {
        T_SUM => AggOp::Sum,
        T_AVG => AggOp::Avg,
        T_COUNT => AggOp::Count,
        T_MIN => AggOp::Min,
        T_MAX => AggOp::Max,
        T_GROUP => AggOp::Group,
        T_STDDEV => AggOp::Stddev,
        T_STDVAR => AggOp::Stdvar,
        T_TOPK => AggOp::Topk,
        T_BOTTOMK => AggOp::Bottomk,
        T_QUANTILE => AggOp::Quantile,
        T_COUNT_VALUES => AggOp::CountValues,
        _ => return unsupported(format!("aggregation {}", a.op)),
    };
    let (without, grouping) = match &a.modifier {
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        // No modifier: `by ()`.
        None => (false, Vec::new()),
    };
    let param = match &a.param {
        Some(p) => Some(lower(p)?),
        None => None,
    };
    Ok(Node::Aggregate(Box::new(Aggregate { op, expr: lower(&a.expr)?, param, without, grouping })))
}

fn lower_call(c: &promql_parser::parser::Call) -> Result<Node, EvalError> {
    let name = c.func.name;
    let func = match name {
        "rate" => Func::Rate,
        "irate" => Func::Irate,
        "increase" => Func::Increase,
        "delta" => Func::Delta,
        "idelta" => Func::Idelta,
        "avg_over_time" => Func::AvgOverTime,
        "min_over_time" => Func::MinOverTime,
        "max_over_time" => Func::MaxOverTime,
        "sum_over_time" => Func::SumOverTime,
        "count_over_time" => Func::CountOverTime,
        "last_over_time" => Func::LastOverTime,
        "stddev_over_time" => Func::StddevOverTime,
        "stdvar_over_time" => Func::StdvarOverTime,
        "quantile_over_time" => Func::QuantileOverTime,
        "present_over_time" => Func::PresentOverTime,
        "absent_over_time" => Func::AbsentOverTime,
        "changes" => Func::Changes,
        "resets" => Func::Resets,
        "deriv" => Func::Deriv,
        "predict_linear" => Func::PredictLinear,
        "abs" => Func::Abs,
        "ceil" => Func::Ceil,
        "floor" => Func::Floor,
        "round" => Func::Round,
        "sqrt" => Func::Sqrt,
        "exp" => Func::Exp,
        "ln" => Func::Ln,
        "log2" => Func::Log2,
        "log10" => Func::Log10,
        "sgn" => Func::Sgn,
        "clamp" => Func::Clamp,
        "clamp_min" => Func::ClampMin,
        "clamp_max" => Func::ClampMax,
        "acos" => Func::Trig(f64::acos),
        "acosh" => Func::Trig(f64::acosh),
        "asin" => Func::Trig(f64::asin),
        "asinh" => Func::Trig(f64::asinh),
        "atan" => Func::Trig(f64::atan),
        "atanh" => Func::Trig(f64::atanh),
        "cos" => Func::Trig(f64::cos),
        "cosh" => Func::Trig(f64::cosh),
        "sin" => Func::Trig(f64::sin),
        "sinh" => Func::Trig(f64::sinh),
        "tan" => Func::Trig(f64::tan),
        "tanh" => Func::Trig(f64::tanh),
        "deg" => Func::Trig(f64::to_degrees),
        "rad" => Func::Trig(f64::to_radians),
        "pi" => Func::Pi,
        "absent" => Func::Absent,
        "scalar" => Func::Scalar,
        "vector" => Func::Vector,
        "time" => Func::Time,
        "timestamp" => Func::Timestamp,
        "histogram_quantile" => Func::HistogramQuantile,
        "label_replace" => Func::LabelReplace,
        "label_join" => Func::LabelJoin,
        "sort" => Func::Sort,
        "sort_desc" => Func::SortDesc,
        "day_of_month" => Func::Date(DateFn::DayOfMonth),
        "day_of_week" => Func::Date(DateFn::DayOfWeek),
        "day_of_year" => Func::Date(DateFn::DayOfYear),
        "days_in_month" => Func::Date(DateFn::DaysInMonth),
        "hour" => Func::Date(DateFn::Hour),
        "minute" => Func::Date(DateFn::Minute),
        "month" => Func::Date(DateFn::Month),
        "year" => Func::Date(DateFn::Year),
        n if n.starts_with("histogram_") => {
            return unsupported(format!("native histogram function {n}"));
        }
        other => return unsupported(format!("function {other}")),
    };
    let mut args = Vec::with_capacity(c.args.args.len());
    for a in &c.args.args {
        args.push(lower(a)?);
    }
    let absent_labels = match func {
        Func::Absent | Func::AbsentOverTime => Some(absent_labels(c.args.args.first().map(|b| b.as_ref()))),
        _ => None,
    };
    let regex = match func {
        Func::LabelReplace => {
            let pattern = match c.args.args.get(4).map(|b| unparen(b)) {
                Some(Expr::StringLiteral(s)) => s.val.clone(),
                _ => {
                    return Err(EvalError::Parse("label_replace needs a string regex".into()));
                }
            };
            Some(
                crate::store::compile_anchored(&pattern)
                    .map_err(|e| EvalError::Execution(format!("invalid regular expression in label_replace(): {e}")))?,
            )
        }
        _ => None,
    };
    Ok(Node::Call(Box::new(Call { func, args, absent_labels, regex })))
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

/// The labels `absent(sel)` returns: the selector's equality matchers,
/// except a name given twice (Prometheus' historic behaviour).
fn absent_labels(arg: Option<&Expr>) -> LabelSet {
    let matchers = match arg {
        Some(Expr::VectorSelector(vs)) => &vs.matchers.matchers,
        Some(Expr::MatrixSelector(m)) => &m.vs.matchers.matchers,
        _ => return LabelSet::empty(),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        pairs.retain(|(n, _)| *n != m.name);
        if matches!(m.op, MatchOp::Equal) && !has.contains(&m.name.as_str()) {
            pairs.push((m.name.clone(), m.value.clone()));
            has.push(&m.name);
        }
    }
    LabelSet::from_pairs(pairs)
}
