//! Typed label sets: label values from a fixed set, checked at compile time.
//!
//! A [`Family`] keyed by strings grows with whatever values a program
//! passes, so one unbounded value (a user id, a raw path) becomes one series
//! each. A [`LabelSet`] names its labels once and yields only `'static`
//! values, typically from enums declared with [`label_values!`], so the
//! number of series is bounded by the types. [`TypedFamily`] is a view of a
//! registered [`Family`] keyed by such a set: the label count is checked
//! once, when the view is built, so a lookup cannot fail.
//!
//! ```
//! use sonde_instrument::label_values;
//! use sonde_instrument::metrics::{Counter, Family, LabelSet, Registry, TypedFamily};
//!
//! label_values! {
//!     /// The HTTP methods this service answers.
//!     #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
//!     pub enum Method { Get = "GET", Put = "PUT" }
//! }
//! label_values! {
//!     /// Outcome classes.
//!     #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
//!     pub enum Outcome { Ok = "ok", Error = "error" }
//! }
//!
//! struct Request { method: Method, outcome: Outcome }
//!
//! impl LabelSet<2> for Request {
//!     const NAMES: [&'static str; 2] = ["method", "outcome"];
//!     fn values(&self) -> [&'static str; 2] {
//!         [self.method.as_str(), self.outcome.as_str()]
//!     }
//! }
//!
//! let registry = Registry::new();
//! let family = registry.register("requests", "Requests.", Family::<Counter>::new(&Request::NAMES))?;
//! let requests = TypedFamily::<Request, Counter, 2>::new(family)?;
//! requests.with_labels(&Request { method: Method::Get, outcome: Outcome::Ok }).inc();
//! let mut families = Vec::new();
//! sonde_instrument::Collector::collect(&registry, &mut families);
//! let (text, _) = sonde_instrument::encode::encode_to_string(&families, sonde_instrument::Format::Text);
//! assert!(text.contains("requests_total{method=\"GET\",outcome=\"ok\"} 1"));
//! # Ok::<(), sonde_instrument::metrics::MetricError>(())
//! ```

use std::fmt;
use std::marker::PhantomData;

use super::family::Family;
use super::{ChildMetric, MetricError};

/// A set of `N` labels whose values are `'static` strings: the names, and
/// the values of one combination in the same order.
pub trait LabelSet<const N: usize> {
    /// The label names, in order.
    const NAMES: [&'static str; N];
    /// This combination's values, in the order of [`LabelSet::NAMES`].
    fn values(&self) -> [&'static str; N];
}

/// A [`Family`] looked up by a typed [`LabelSet`] instead of strings.
pub struct TypedFamily<L, M, const N: usize> {
    family: Family<M>,
    labels: PhantomData<fn(&L)>,
}

impl<L, M, const N: usize> Clone for TypedFamily<L, M, N> {
    fn clone(&self) -> Self {
        TypedFamily { family: self.family.clone(), labels: PhantomData }
    }
}

impl<L, M, const N: usize> fmt::Debug for TypedFamily<L, M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedFamily")
            .field("label_names", &self.family.label_names())
            .field("children", &self.family.len())
            .finish()
    }
}

impl<L: LabelSet<N>, M: ChildMetric, const N: usize> TypedFamily<L, M, N> {
    /// A typed view of `family` (usually the handle
    /// [`super::Registry::register`] returned). Its label names must be
    /// exactly [`LabelSet::NAMES`], in order.
    pub fn new(family: Family<M>) -> Result<Self, MetricError> {
        let names = family.label_names();
        if names.len() != N || names.iter().zip(L::NAMES).any(|(have, want)| have != want) {
            return Err(MetricError::LabelCount { expected: names.to_vec(), got: N });
        }
        Ok(TypedFamily { family, labels: PhantomData })
    }

    /// The child for `labels`, created on first use.
    pub fn with_labels(&self, labels: &L) -> M {
        self.family.child(&labels.values())
    }

    /// The underlying family.
    pub fn family(&self) -> &Family<M> {
        &self.family
    }
}

/// Declares an enum of label values: each variant names the `'static`
/// string it stands for, and `as_str()` returns it.
///
/// ```
/// sonde_instrument::label_values! {
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Code { Ok = "200", NotFound = "404" }
/// }
/// assert_eq!(Code::NotFound.as_str(), "404");
/// assert_eq!(Code::ALL.len(), 2);
/// ```
#[macro_export]
macro_rules! label_values {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($variant:ident = $value:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        $vis enum $name { $(#[doc = $value] $variant),+ }

        impl $name {
            /// Every variant, in declaration order.
            $vis const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The label value this variant stands for.
            $vis const fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::super::{Counter, Histogram, Registry};
    use super::*;

    label_values! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Code { Ok = "200", Error = "500" }
    }

    struct ByCode(Code);

    impl LabelSet<1> for ByCode {
        const NAMES: [&'static str; 1] = ["code"];
        fn values(&self) -> [&'static str; 1] {
            [self.0.as_str()]
        }
    }

    #[test]
    fn typed_lookups_share_children_with_the_string_api() {
        let registry = Registry::new();
        let family = registry.register("calls", "Calls.", Family::<Counter>::new(&["code"])).unwrap();
        let typed = TypedFamily::<ByCode, Counter, 1>::new(family.clone()).unwrap();
        typed.with_labels(&ByCode(Code::Ok)).inc();
        typed.with_labels(&ByCode(Code::Ok)).inc();
        typed.with_labels(&ByCode(Code::Error)).inc();
        assert_eq!(family.with_label_values(&["200"]).unwrap().get(), 2);
        assert_eq!(family.len(), 2);
        assert_eq!(Code::ALL, &[Code::Ok, Code::Error]);
    }

    #[test]
    fn names_must_match_the_set() {
        let wrong = Family::<Histogram>::new(&["status"]);
        assert!(TypedFamily::<ByCode, Histogram, 1>::new(wrong).is_err());
        let two = Family::<Counter>::new(&["code", "method"]);
        assert!(TypedFamily::<ByCode, Counter, 1>::new(two).is_err());
    }
}
