//! Mapping request paths to route templates, so the `path` label stays
//! bounded whatever paths clients send.

use std::borrow::Cow;
use std::fmt;

/// Maps a request path (never the query string: the layer passes
/// [`Uri::path`](::http::Uri::path)) to the value of the `path` label.
///
/// Implemented by [`Routes`] and by any
/// `Fn(&str) -> Cow<'_, str> + Send + Sync + 'static` (a `fn` item, or a
/// closure given to [`RespTimeLayer::route_fn`](super::RespTimeLayer::route_fn),
/// whose bound lets the compiler see that the result borrows from the
/// path). Borrow whenever you can: a borrowed value costs no allocation per
/// request.
///
/// ```
/// use std::borrow::Cow;
/// use sonde_instrument::http::{RouteTemplate, Routes};
///
/// let routes = Routes::new(["/demo/person/:id", "/static/*"]);
/// assert_eq!(routes.template("/demo/person/7"), "/demo/person/:id");
/// assert_eq!(routes.template("/static/css/site.css"), "/static/*");
/// assert_eq!(routes.template("/wp-admin"), Routes::DEFAULT_FALLBACK);
/// // A function is a template too: here, every path is kept as it is.
/// fn keep(path: &str) -> Cow<'_, str> {
///     Cow::Borrowed(path)
/// }
/// assert_eq!(keep.template("/anything"), "/anything");
/// ```
pub trait RouteTemplate: Send + Sync + 'static {
    /// The label value for `path`.
    fn template<'a>(&'a self, path: &'a str) -> Cow<'a, str>;
}

impl<F> RouteTemplate for F
where
    F: Fn(&str) -> Cow<'_, str> + Send + Sync + 'static,
{
    fn template<'a>(&'a self, path: &'a str) -> Cow<'a, str> {
        self(path)
    }
}

/// A fixed set of route templates, matched segment by segment in the order
/// given: a literal segment matches itself, `:name` matches any one
/// non-empty segment, and a last segment `*` or `*name` matches whatever
/// follows that slash, even nothing (`/files/*` matches `/files/` and
/// `/files/a/b`, not `/files`).
///
/// A path that matches no template gets the fallback label (default
/// [`Routes::DEFAULT_FALLBACK`]), so the number of `path` values is at most
/// the number of templates plus one. Matching allocates nothing.
///
/// ```
/// use sonde_instrument::http::{RouteTemplate, Routes};
///
/// let routes = Routes::new(["/demo/hello", "/demo/person/:id", "/static/*"]);
/// assert_eq!(routes.template("/demo/person/42"), "/demo/person/:id");
/// assert_eq!(routes.template("/static/css/site.css"), "/static/*");
/// assert_eq!(routes.template("/wp-login.php"), "unmatched");
/// ```
#[derive(Clone)]
pub struct Routes {
    routes: Vec<Route>,
    fallback: String,
}

#[derive(Clone)]
struct Route {
    template: String,
    segments: Vec<Segment>,
    /// No `:param` or `*`: the path must equal the template.
    literal: bool,
}

#[derive(Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    Rest,
}

impl Routes {
    /// The label of paths that match no template.
    pub const DEFAULT_FALLBACK: &'static str = "unmatched";

    /// Routes from templates such as `/demo/person/:id`. A `*` segment
    /// anywhere but last is taken literally.
    pub fn new<I, S>(templates: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let routes = templates
            .into_iter()
            .map(|template| {
                let template = template.into();
                let count = template.split('/').count();
                let segments: Vec<Segment> = template
                    .split('/')
                    .enumerate()
                    .map(|(i, segment)| match segment.as_bytes().first() {
                        Some(b':') if segment.len() > 1 => Segment::Param,
                        Some(b'*') if i + 1 == count => Segment::Rest,
                        _ => Segment::Literal(segment.to_owned()),
                    })
                    .collect();
                let literal = segments.iter().all(|s| matches!(s, Segment::Literal(_)));
                Route { template, segments, literal }
            })
            .collect();
        Routes { routes, fallback: Self::DEFAULT_FALLBACK.to_owned() }
    }

    /// Sets the label of paths that match no template (builder style).
    pub fn fallback(mut self, label: impl Into<String>) -> Self {
        self.fallback = label.into();
        self
    }

    /// The first template `path` matches, if any.
    pub fn find(&self, path: &str) -> Option<&str> {
        self.routes.iter().find(|route| route.matches(path)).map(|route| route.template.as_str())
    }
}

impl Route {
    fn matches(&self, path: &str) -> bool {
        if self.literal {
            return path == self.template;
        }
        let mut parts = path.split('/');
        for segment in &self.segments {
            match segment {
                Segment::Rest => return parts.next().is_some(),
                Segment::Param => {
                    if parts.next().is_none_or(str::is_empty) {
                        return false;
                    }
                }
                Segment::Literal(literal) => {
                    if parts.next() != Some(literal.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

impl RouteTemplate for Routes {
    fn template<'a>(&'a self, path: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(self.find(path).unwrap_or(&self.fallback))
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes")
            .field("templates", &self.routes.iter().map(|r| r.template.as_str()).collect::<Vec<_>>())
            .field("fallback", &self.fallback)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_param_and_rest_segments() {
        let routes = Routes::new(["/demo/person", "/demo/person/:id", "/files/*path", "/"]);
        assert_eq!(routes.find("/demo/person"), Some("/demo/person"));
        assert_eq!(routes.find("/demo/person/42"), Some("/demo/person/:id"));
        assert_eq!(routes.find("/demo/person/"), None, "an empty segment is no id");
        assert_eq!(routes.find("/demo/person/42/x"), None);
        assert_eq!(routes.find("/demo"), None);
        assert_eq!(routes.find("/files"), None);
        assert_eq!(routes.find("/files/"), Some("/files/*path"));
        assert_eq!(routes.find("/files/a/b/c"), Some("/files/*path"));
        assert_eq!(routes.find("/"), Some("/"));
        assert_eq!(routes.find(""), None);
    }

    #[test]
    fn first_match_wins_and_fallback_is_constant() {
        let routes = Routes::new(["/a/new", "/a/:id"]).fallback("other");
        assert_eq!(routes.template("/a/new"), "/a/new");
        assert_eq!(routes.template("/a/7"), "/a/:id");
        assert_eq!(routes.template("/nope/1"), "other");
        assert_eq!(routes.template("/nope/2"), "other");
        // A `*` that is not last, and a bare `:`, are literal.
        let routes = Routes::new(["/*/x", "/:"]);
        assert_eq!(routes.find("/*/x"), Some("/*/x"));
        assert_eq!(routes.find("/y/x"), None);
        assert_eq!(routes.find("/:"), Some("/:"));
        assert_eq!(routes.find("/z"), None);
    }

    #[test]
    fn closures_are_templates() {
        fn strip_ids(path: &str) -> Cow<'_, str> {
            match path.strip_prefix("/users/") {
                Some(_) => Cow::Borrowed("/users/:id"),
                None => Cow::Borrowed(path),
            }
        }
        let hook: Box<dyn RouteTemplate> = Box::new(strip_ids);
        assert_eq!(hook.template("/users/9"), "/users/:id");
        assert_eq!(hook.template("/other"), "/other");
        // A closure needs a bound that names the signature to get its
        // higher-ranked lifetime (as `RespTimeLayer::route_fn` has).
        fn boxed(f: impl Fn(&str) -> Cow<'_, str> + Send + Sync + 'static) -> Box<dyn RouteTemplate> {
            Box::new(f)
        }
        let lower = boxed(|path| Cow::Owned(path.to_lowercase()));
        assert_eq!(lower.template("/A"), "/a");
    }
}
