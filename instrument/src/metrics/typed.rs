//! Typed label sets: the labels of a family as a Rust type, checked at
//! compile time.
//!
//! A [`LabelSet`] names its labels once and gives the values of one
//! combination; each value is a [`LabelValue`]: an enum whose variants are
//! the values, an integer, a string. With the `derive` feature,
//! `#[derive(LabelSet)]` and `#[derive(LabelValue)]` write both. A
//! [`TypedFamily`] is a [`Family`] looked up by such a set: its label names
//! come from the type and the number of values always matches them, so a
//! lookup cannot fail.
//!
//! ```
//! use sonde_instrument::label_values;
//! use sonde_instrument::metrics::{Counter, LabelSet, LabelValue, Registry, TypedFamily};
//!
//! label_values! {
//!     /// The HTTP methods this service answers.
//!     #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
//!     pub enum Method { Get = "GET", Put = "PUT" }
//! }
//!
//! /// Written by hand here; `#[derive(LabelSet)]` writes the same.
//! struct Request { method: Method, code: u16 }
//!
//! impl LabelSet for Request {
//!     const NAMES: &'static [&'static str] = &["method", "code"];
//!     fn with_values<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
//!         let mut code = Default::default();
//!         f(&[self.method.as_str(), self.code.label_value(&mut code)])
//!     }
//! }
//!
//! let registry = Registry::new();
//! let requests = registry.register("requests", "Requests.", TypedFamily::<Request, Counter>::new())?;
//! requests.get_or_create(&Request { method: Method::Get, code: 200 }).inc();
//! let mut families = Vec::new();
//! sonde_instrument::Collector::collect(&registry, &mut families);
//! let (text, _) = sonde_instrument::encode::encode_to_string(&families, sonde_instrument::Format::Text);
//! assert!(text.contains("requests_total{method=\"GET\",code=\"200\"} 1"));
//! # Ok::<(), sonde_instrument::metrics::MetricError>(())
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::family::{ChildRef, Family, Overflow};
use super::{ChildMetric, Counter, Histogram, Metric, MetricError};
use crate::model::{Labels, MetricFamily, MetricType};

/// The labels of a family as a type: the names, and the values of one
/// combination in the same order.
///
/// `#[derive(LabelSet)]` (feature `derive`) implements it for a struct with
/// named fields whose types are [`LabelValue`]s; see
/// [`TypedFamily`] for a hand-written one.
///
/// ```
/// use sonde_instrument::metrics::{Counter, LabelSet, TypedFamily};
///
/// /// Written by hand; `#[derive(LabelSet)]` (feature `derive`) writes the same.
/// struct Lookup { table: &'static str, hit: bool }
///
/// impl LabelSet for Lookup {
///     const NAMES: &'static [&'static str] = &["table", "hit"];
///     fn with_values<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
///         f(&[self.table, if self.hit { "true" } else { "false" }])
///     }
/// }
///
/// let lookups = TypedFamily::<Lookup, Counter>::new();
/// lookups.get_or_create(&Lookup { table: "users", hit: true }).inc();
/// assert_eq!(lookups.family().get_or_create(&["users", "true"]).get(), 1);
/// ```
pub trait LabelSet {
    /// The label names, in order.
    const NAMES: &'static [&'static str];

    /// Calls `f` with this combination's values, in the order of
    /// [`LabelSet::NAMES`] (a callback, so integers are formatted on the
    /// stack rather than into a `String`).
    fn with_values<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R;
}

/// A type whose values are label values: an enum of fixed values
/// (`#[derive(LabelValue)]` or [`label_values!`](crate::label_values)),
/// an integer, a `bool`, a string.
///
/// ```
/// use sonde_instrument::metrics::LabelValue;
///
/// let mut buffer = Default::default();
/// assert_eq!(404u16.label_value(&mut buffer), "404");
/// assert_eq!("/users/:id".label_value(&mut ()), "/users/:id");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a label value",
    label = "not a label value",
    note = "label values are strings, integers, bools and enums with #[derive(LabelValue)]"
)]
pub trait LabelValue {
    /// Scratch space the value is formatted into (`()` for strings and
    /// enums, which have their text already).
    type Buffer: Default;

    /// The value as label text, formatted into `buffer` if need be.
    fn label_value<'a>(&'a self, buffer: &'a mut Self::Buffer) -> &'a str;
}

macro_rules! integer_label_values {
    ($($t:ty),*) => {
        $(impl LabelValue for $t {
            type Buffer = itoa::Buffer;

            #[inline]
            fn label_value<'a>(&'a self, buffer: &'a mut itoa::Buffer) -> &'a str {
                buffer.format(*self)
            }
        })*
    };
}

integer_label_values!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

macro_rules! str_label_values {
    ($($t:ty),*) => {
        $(impl LabelValue for $t {
            type Buffer = ();

            #[inline]
            fn label_value<'a>(&'a self, _: &'a mut ()) -> &'a str {
                self
            }
        })*
    };
}

str_label_values!(&str, String, Box<str>, Arc<str>, Rc<str>, Cow<'_, str>);

impl LabelValue for bool {
    type Buffer = ();

    #[inline]
    fn label_value<'a>(&'a self, _: &'a mut ()) -> &'a str {
        if *self { "true" } else { "false" }
    }
}

/// A [`Family`] looked up by a typed [`LabelSet`] instead of strings.
/// Register it as it is; clones share the children.
///
/// ```
/// use sonde_instrument::metrics::{Counter, LabelSet, Overflow, TypedFamily};
///
/// struct Route { path: &'static str }
/// impl LabelSet for Route {
///     const NAMES: &'static [&'static str] = &["path"];
///     fn with_values<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
///         f(&[self.path])
///     }
/// }
///
/// let hits = TypedFamily::<Route, Counter>::new().with_max_children(100, Overflow::Fold);
/// hits.get_or_create(&Route { path: "/" }).inc();
/// assert_eq!(hits.get_or_create(&Route { path: "/" }).get(), 1);
/// assert_eq!(hits.family().get_or_create(&["/"]).get(), 1);
/// ```
pub struct TypedFamily<L, M> {
    family: Family<M>,
    labels: PhantomData<fn(&L)>,
}

impl<L, M> Clone for TypedFamily<L, M> {
    fn clone(&self) -> Self {
        TypedFamily { family: self.family.clone(), labels: PhantomData }
    }
}

impl<L, M> fmt::Debug for TypedFamily<L, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedFamily")
            .field("label_names", &self.family.label_names())
            .field("children", &self.family.len())
            .finish()
    }
}

impl<L: LabelSet, M: ChildMetric + Default> TypedFamily<L, M> {
    /// A family labelled by `L` whose children start as `M::default()`.
    pub fn new() -> Self {
        Self::from_family_unchecked(Family::new(L::NAMES))
    }
}

impl<L: LabelSet, M: ChildMetric + Default> Default for TypedFamily<L, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L: LabelSet> TypedFamily<L, Histogram> {
    /// A histogram family labelled by `L` whose children use `bounds` (see
    /// [`Histogram::with_buckets`]).
    pub fn with_buckets(bounds: &[f64]) -> Result<Self, MetricError> {
        Ok(Self::from_family_unchecked(Family::with_buckets(L::NAMES, bounds)?))
    }
}

impl<L: LabelSet, M: ChildMetric> TypedFamily<L, M> {
    /// A family labelled by `L` whose children are made by `make`.
    pub fn with_constructor(make: impl Fn() -> M + Send + Sync + 'static) -> Self {
        Self::from_family_unchecked(Family::with_constructor(L::NAMES, make))
    }

    /// A typed view of a string-keyed `family`, e.g. one registered
    /// earlier; its label names must be exactly [`LabelSet::NAMES`], in
    /// order.
    pub fn from_family(family: Family<M>) -> Result<Self, MetricError> {
        let names = family.label_names();
        if names.len() != L::NAMES.len() || names.iter().zip(L::NAMES).any(|(have, want)| have != want) {
            return Err(MetricError::LabelCount { expected: names.to_vec(), got: L::NAMES.len() });
        }
        Ok(Self::from_family_unchecked(family))
    }

    fn from_family_unchecked(family: Family<M>) -> Self {
        TypedFamily { family, labels: PhantomData }
    }

    /// This family with at most `max` children (see
    /// [`Family::set_max_children`]).
    #[must_use]
    pub fn with_max_children(self, max: usize, overflow: Overflow) -> Self {
        self.family.set_max_children(max, overflow);
        self
    }

    /// The child for `labels`, created on first use. It cannot fail; beyond
    /// the maximum number of children the family's [`Overflow`] setting
    /// applies.
    #[inline]
    pub fn get_or_create(&self, labels: &L) -> ChildRef<'_, M> {
        labels.with_values(|values| self.family.get_or_create(values))
    }

    /// Removes the child for `labels`; returns whether it existed.
    pub fn remove(&self, labels: &L) -> bool {
        labels.with_values(|values| self.family.remove_label_values(values)).unwrap_or(false)
    }

    /// Lookups beyond the maximum number of children (see
    /// [`Family::overflows`]).
    pub fn overflows(&self) -> Counter {
        self.family.overflows()
    }

    /// The underlying family, keyed by strings.
    pub fn family(&self) -> &Family<M> {
        &self.family
    }
}

impl<L: 'static, M: ChildMetric> Metric for TypedFamily<L, M> {
    fn metric_type(&self) -> MetricType {
        M::TYPE
    }

    fn label_names(&self) -> &[String] {
        self.family.label_names()
    }

    fn write(&self, base: &Labels, out: &mut MetricFamily) {
        self.family.write(base, out);
    }

    fn write_with_created(&self, base: Labels, out: &mut MetricFamily) {
        self.family.write_with_created(base, out);
    }

    fn direct_target(&self) -> Option<&dyn Any> {
        Some(&self.family)
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

        impl $crate::metrics::LabelValue for $name {
            type Buffer = ();

            #[inline]
            fn label_value<'a>(&'a self, _: &'a mut ()) -> &'a str {
                self.as_str()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::super::{Counter, Histogram, Registry};
    use super::*;
    use crate::Collector;
    use crate::encode::{Encoder, encode_to_string};
    use crate::format::Format;

    label_values! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Code { Ok = "200", Error = "500" }
    }

    struct ByCode(Code);

    impl LabelSet for ByCode {
        const NAMES: &'static [&'static str] = &["code"];
        fn with_values<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
            f(&[self.0.as_str()])
        }
    }

    /// A hand-written set that gives fewer values than names.
    struct Short;

    impl LabelSet for Short {
        const NAMES: &'static [&'static str] = &["a", "b"];
        fn with_values<R>(&self, f: impl FnOnce(&[&str]) -> R) -> R {
            f(&["x"])
        }
    }

    #[test]
    fn typed_lookups_share_children_with_the_string_api() {
        let registry = Registry::new();
        let typed = registry.register("calls", "Calls.", TypedFamily::<ByCode, Counter>::new()).unwrap();
        typed.get_or_create(&ByCode(Code::Ok)).inc();
        typed.get_or_create(&ByCode(Code::Ok)).inc();
        typed.get_or_create(&ByCode(Code::Error)).inc();
        let family = typed.family();
        assert_eq!(family.with_label_values(&["200"]).unwrap().get(), 2);
        assert_eq!(family.len(), 2);
        assert_eq!(Code::ALL, &[Code::Ok, Code::Error]);
        assert!(typed.remove(&ByCode(Code::Error)));
        assert!(!typed.remove(&ByCode(Code::Error)));
    }

    #[test]
    fn a_registered_typed_family_is_encoded_like_a_family() {
        let registry = Registry::new();
        let typed = registry.register("calls", "Calls.", TypedFamily::<ByCode, Counter>::new()).unwrap();
        typed.get_or_create(&ByCode(Code::Error)).inc_by(3);
        let mut direct = Vec::new();
        registry.encode_with(&mut Encoder::new(), Format::Text, &mut direct);
        let mut families = Vec::new();
        registry.collect(&mut families);
        let (text, _) = encode_to_string(&families, Format::Text);
        assert!(text.contains("calls_total{code=\"500\"} 3\n"), "{text}");
        assert_eq!(String::from_utf8_lossy(&direct), text);
    }

    #[test]
    fn from_family_checks_the_names() {
        let wrong = Family::<Histogram>::new(&["status"]);
        assert!(TypedFamily::<ByCode, Histogram>::from_family(wrong).is_err());
        let two = Family::<Counter>::new(&["code", "method"]);
        assert!(TypedFamily::<ByCode, Counter>::from_family(two).is_err());
        let right = Family::<Counter>::new(&["code"]);
        let typed = TypedFamily::<ByCode, Counter>::from_family(right.clone()).unwrap();
        typed.get_or_create(&ByCode(Code::Ok)).inc();
        assert_eq!(right.get_or_create(&["200"]).get(), 1);
    }

    #[test]
    fn a_set_that_miscounts_is_refused() {
        let typed = TypedFamily::<Short, Counter>::new();
        typed.get_or_create(&Short).inc();
        assert!(typed.family().is_empty());
        assert_eq!(typed.overflows().get(), 1);
    }

    #[test]
    fn the_limit_applies_to_typed_lookups() {
        let typed = TypedFamily::<ByCode, Counter>::new().with_max_children(1, Overflow::Refuse);
        typed.get_or_create(&ByCode(Code::Ok)).inc();
        typed.get_or_create(&ByCode(Code::Error)).inc();
        assert_eq!((typed.family().len(), typed.overflows().get()), (1, 1));
    }

    #[test]
    fn values() {
        let mut buffer = itoa::Buffer::new();
        assert_eq!((-7i64).label_value(&mut buffer), "-7");
        assert_eq!(u128::MAX.label_value(&mut Default::default()), "340282366920938463463374607431768211455");
        assert_eq!(true.label_value(&mut ()), "true");
        assert_eq!(String::from("s").label_value(&mut ()), "s");
        assert_eq!(Code::Error.label_value(&mut ()), "500");
    }
}
