//! Which Docker labels become series labels, and under what name.
//!
//! cAdvisor copies every Docker label (and, on request, environment
//! variables) into `container_label_<key>`, which multiplies series and
//! leaks whatever people put in labels. Sonde copies only the keys an
//! allowlist admits (`--container.labels`), by default the ones Swarm
//! dashboards and `com.df.*` rules use.

use sonde_instrument::Label;

/// The default `--container.labels`.
pub const DEFAULT_LABEL_ALLOWLIST: &[&str] = &["com.docker.swarm.*", "com.docker.stack.namespace", "com.df.*"];

/// A set of Docker label keys: exact keys, or prefixes written `prefix*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelAllowlist {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl Default for LabelAllowlist {
    fn default() -> Self {
        LabelAllowlist::new(DEFAULT_LABEL_ALLOWLIST.iter().copied())
    }
}

impl LabelAllowlist {
    /// Builds an allowlist from patterns: `key` admits that key, `prefix*`
    /// every key starting with `prefix`, `*` every key. Empty patterns are
    /// ignored, so an empty flag value admits nothing.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        let mut list = LabelAllowlist { exact: Vec::new(), prefixes: Vec::new() };
        for pattern in patterns.into_iter().map(str::trim) {
            match pattern.strip_suffix('*') {
                Some(prefix) => list.prefixes.push(prefix.to_owned()),
                None if !pattern.is_empty() => list.exact.push(pattern.to_owned()),
                None => {}
            }
        }
        list
    }

    /// Whether the Docker label `key` is copied.
    pub fn admits(&self, key: &str) -> bool {
        self.exact.iter().any(|e| e == key) || self.prefixes.iter().any(|p| key.starts_with(p))
    }

    /// The `container_label_<key>` labels of the admitted keys, sorted by
    /// key. Two keys that sanitize to the same name (`a.b` and `a-b`) would
    /// make an invalid series, so the first in key order wins.
    pub fn series_labels(&self, labels: &[(String, String)]) -> Vec<Label> {
        let mut admitted: Vec<&(String, String)> = labels.iter().filter(|(key, _)| self.admits(key)).collect();
        admitted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<Label> = Vec::with_capacity(admitted.len());
        for (key, value) in admitted {
            let name = series_label_name(key);
            if !out.iter().any(|l| l.name == name) {
                out.push(Label::new(name, value.as_str()));
            }
        }
        out
    }
}

/// cAdvisor's name for a Docker label: `container_label_` and the key with
/// every character outside `[a-zA-Z0-9_]` turned into `_`.
pub fn series_label_name(key: &str) -> String {
    let mut name = String::with_capacity("container_label_".len() + key.len());
    name.push_str("container_label_");
    name.extend(key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn default_admits_swarm_stack_and_df_labels_only() {
        let list = LabelAllowlist::default();
        assert!(list.admits("com.docker.swarm.service.name"));
        assert!(list.admits("com.docker.swarm.task.id"));
        assert!(list.admits("com.docker.stack.namespace"));
        assert!(list.admits("com.df.alertIf.1"));
        assert!(!list.admits("com.docker.stack.image"));
        assert!(!list.admits("maintainer"));
        assert!(!list.admits("com.dfx"));
    }

    #[test]
    fn patterns_exact_prefix_everything_and_nothing() {
        let list = LabelAllowlist::new(["team", " app.* ", ""]);
        assert!(list.admits("team"));
        assert!(!list.admits("teams"));
        assert!(list.admits("app.tier"));
        assert!(LabelAllowlist::new(["*"]).admits("anything"));
        assert!(!LabelAllowlist::new([""]).admits("anything"));
    }

    #[test]
    fn names_are_sanitized_like_cadvisor() {
        assert_eq!(
            series_label_name("com.docker.swarm.service-name/ü"),
            "container_label_com_docker_swarm_service_name__"
        );
    }

    #[test]
    fn colliding_keys_keep_the_first_in_key_order() {
        let list = LabelAllowlist::new(["*"]);
        let labels = list.series_labels(&pairs(&[("a.b", "dot"), ("a-b", "dash"), ("c", "3")]));
        let got: Vec<(&str, &str)> = labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(got, [("container_label_a_b", "dash"), ("container_label_c", "3")]);
    }
}
