//! Which targets this node's containers name: `com.df.scrapePort` (and
//! `com.df.metricsPath`) on the containers of the metadata cache, as
//! [`Target`]s or [`Rejected`] labels; the types the leader's cluster
//! targets ([`super::cluster`]) are made of too.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use sonde_exporter::container::CachedContainer;
use sonde_exporter::container::metadata::SERVICE_NAME_LABEL;

use super::windows::Window;

/// The container label naming the port to scrape.
pub const SCRAPE_PORT_LABEL: &str = "com.df.scrapePort";
/// The container label naming the path to scrape.
pub const METRICS_PATH_LABEL: &str = "com.df.metricsPath";
/// The path scraped when `com.df.metricsPath` is not set.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";
/// What a target, or a rejection, was found from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A container running on this node, by name.
    Container(String),
    /// A Swarm service whose tasks the leader scrapes (`tasks.<name>`).
    Service(String),
}

impl Origin {
    /// The label naming it in `sonde_scrape_target_label_errors`.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Container(_) => "container",
            Origin::Service(_) => "service",
        }
    }

    /// The container's or the service's name.
    pub fn name(&self) -> &str {
        match self {
            Origin::Container(name) | Origin::Service(name) => name,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// The windows a target's samples go to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feeds {
    /// A container of this node: the node window.
    pub node: bool,
    /// A task or an agent the leader scrapes: the cluster window.
    pub cluster: bool,
}

impl Feeds {
    /// Whether `window` is among them.
    pub fn has(self, window: Window) -> bool {
        match window {
            Window::Node => self.node,
            Window::Cluster => self.cluster,
        }
    }
}

/// One endpoint to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http://<address>:<port><path>`; the windows' source id.
    pub url: String,
    /// The `job` label: the Swarm service, or the container name.
    pub job: String,
    /// The `instance` label: `<address>:<port>`.
    pub instance: String,
    /// Where to connect.
    pub address: SocketAddr,
    /// The path requested.
    pub path: String,
    /// Where it was found, for log lines.
    pub origin: Origin,
    /// Where its samples go.
    pub windows: Feeds,
}

/// A container or service whose scrape labels do not make a target, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rejected {
    /// The container or service.
    pub origin: Origin,
    /// The label at fault.
    pub label: &'static str,
    /// What is wrong, in words.
    pub reason: String,
}

/// The targets among `containers` (sorted by URL) and the containers
/// whose `com.df.scrapePort` or `com.df.metricsPath` cannot be used.
/// Containers without `com.df.scrapePort` are neither.
pub fn discover(containers: &[Arc<CachedContainer>]) -> (Vec<Target>, Vec<Rejected>) {
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    let mut rejected = Vec::new();
    for container in containers {
        match target_of(container) {
            Ok(None) => {}
            Ok(Some(target)) => match targets.get(&target.url) {
                // Two containers at one address (one shares the other's
                // network namespace): the first one listed is scraped.
                Some(first) => rejected.push(Rejected {
                    origin: target.origin.clone(),
                    label: SCRAPE_PORT_LABEL,
                    reason: format!("{} is already scraped for {}", target.url, first.origin),
                }),
                None => {
                    targets.insert(target.url.clone(), target);
                }
            },
            Err(reject) => rejected.push(reject),
        }
    }
    rejected.sort();
    (targets.into_values().collect(), rejected)
}

fn label<'a>(container: &'a CachedContainer, key: &str) -> Option<&'a str> {
    container.rule_labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The port and path a `com.df.scrapePort` value and an optional
/// `com.df.metricsPath` value name, or the label at fault and why.
pub fn port_and_path<'a>(port_text: &str, path: Option<&'a str>) -> Result<(u16, &'a str), (&'static str, String)> {
    let port = match port_text.trim().parse::<u16>() {
        Ok(port) if port > 0 => port,
        _ => return Err((SCRAPE_PORT_LABEL, format!("{port_text:?} is not a port number (1-65535)"))),
    };
    let path = path.map_or(DEFAULT_METRICS_PATH, str::trim);
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err((
            METRICS_PATH_LABEL,
            format!("{path:?} is not a URL path: it must start with / and have no spaces or control characters"),
        ));
    }
    Ok((port, path))
}

/// The target one container describes: `Ok(None)` without `com.df.scrapePort`.
pub fn target_of(container: &CachedContainer) -> Result<Option<Target>, Rejected> {
    let Some(port_text) = label(container, SCRAPE_PORT_LABEL) else { return Ok(None) };
    let name = container.name();
    let reject =
        |label: &'static str, reason: String| Rejected { origin: Origin::Container(name.to_owned()), label, reason };
    let (port, path) = port_and_path(port_text, label(container, METRICS_PATH_LABEL))
        .map_err(|(label, reason)| reject(label, reason))?;
    let Some(ip) = container.address() else {
        return Err(reject(
            SCRAPE_PORT_LABEL,
            "the container has no IP address (host network, or no network); it cannot be scraped".to_owned(),
        ));
    };
    let job = label(container, SERVICE_NAME_LABEL).filter(|s| !s.is_empty()).unwrap_or(name);
    let origin = Origin::Container(name.to_owned());
    Ok(Some(Target::new(SocketAddr::new(ip, port), path, job, origin, Feeds { node: true, cluster: false })))
}

impl Target {
    /// The target at `address` and `path`, with `instance` = the address.
    pub fn new(address: SocketAddr, path: &str, job: &str, origin: Origin, windows: Feeds) -> Self {
        Target {
            url: format!("http://{address}{path}"),
            job: job.to_owned(),
            instance: address.to_string(),
            address,
            path: path.to_owned(),
            origin,
            windows,
        }
    }
}

/// Adds `more` to `targets` (sorted by URL): a URL already there keeps its
/// origin and gains the windows of the new one.
pub fn merge(targets: &mut Vec<Target>, more: Vec<Target>) {
    for target in more {
        match targets.binary_search_by(|t| t.url.cmp(&target.url)) {
            Ok(i) => {
                let known = &mut targets[i].windows;
                known.node |= target.windows.node;
                known.cluster |= target.windows.cluster;
            }
            Err(i) => targets.insert(i, target),
        }
    }
}
