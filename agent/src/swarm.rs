//! What the Swarm says about this node and its services, read through the
//! Docker API (DESIGN: "Where a rule is evaluated").
//!
//! Every agent asks its engine whether it is in a Swarm and, on managers,
//! whether it is the leader. Only the leader reads the services: their
//! `com.df.*` labels (`Spec.Labels`, which workers cannot see) and their
//! desired replicas (`R` of the `@replicas_*` shortcuts). The leader is
//! the one agent that scrapes every task and every agent and evaluates
//! the cluster rules.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{LocalNodeState, Node, Service, SystemInfo};
use bollard::query_parameters::ListServicesOptions;
use sonde_exporter::container::docker::{DockerConfig, client};

/// The prefix of the service labels Sonde reads.
const LABEL_PREFIX: &str = "com.df.";

/// This node's part in the Swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not in a Swarm (or not yet known): the node is the whole cluster.
    Standalone,
    /// A worker: it evaluates node rules only.
    Worker,
    /// A manager that is not the leader: node rules only, like a worker.
    Manager,
    /// The Swarm leader: node rules, and the cluster rules over every task
    /// and every agent.
    Leader,
}

impl Role {
    /// The name in log lines and in `sonde_swarm_role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Worker => "worker",
            Role::Manager => "manager",
            Role::Leader => "leader",
        }
    }

    /// Whether this agent evaluates the cluster rules: on the leader, and
    /// outside a Swarm where the node is the cluster.
    pub fn evaluates_cluster_rules(self) -> bool {
        matches!(self, Role::Standalone | Role::Leader)
    }
}

/// One Swarm service, as the leader reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmService {
    /// `Spec.Name`.
    pub name: String,
    /// Its `com.df.*` labels (`Spec.Labels`).
    pub labels: BTreeMap<String, String>,
    /// The desired replicas of a replicated service; `None` for a global
    /// service (or a job), which has no such number.
    pub replicas: Option<u64>,
}

impl SwarmService {
    /// The value of one label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// What one look at the engine found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmView {
    /// This node's role.
    pub role: Role,
    /// The services, sorted by name; read on the leader only (empty elsewhere).
    pub services: Vec<SwarmService>,
}

impl SwarmView {
    /// No Swarm: the view before the engine has answered, or without one.
    pub fn standalone() -> Self {
        SwarmView { role: Role::Standalone, services: Vec::new() }
    }
}

/// Why the engine could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwarmError {
    /// No client could be made for `--docker.host`.
    #[error("cannot reach Docker: {0}")]
    Connect(String),
    /// A call failed or timed out.
    #[error("{call}: {reason}")]
    Call {
        /// What was asked (`GET /info`).
        call: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// Reads the Swarm through one engine, each call under the Docker deadline.
#[derive(Debug, Clone)]
pub struct SwarmClient {
    docker: Docker,
    timeout: Duration,
}

impl SwarmClient {
    /// A client for `config`; nothing is sent yet.
    pub fn new(config: &DockerConfig) -> Result<Self, SwarmError> {
        let docker = client(config).map_err(SwarmError::Connect)?;
        Ok(SwarmClient { docker, timeout: config.timeout })
    }

    /// Asks the engine for this node's role and, on the leader, the services.
    pub async fn observe(&self) -> Result<SwarmView, SwarmError> {
        let info = self.call("GET /info", self.docker.info()).await?;
        let Some((node_id, manager)) = membership(&info) else { return Ok(SwarmView::standalone()) };
        if !manager {
            return Ok(view_of(Role::Worker, &[]));
        }
        let node = self.call("GET /nodes/{id}", self.docker.inspect_node(node_id)).await?;
        if !is_leader(&node) {
            return Ok(view_of(Role::Manager, &[]));
        }
        let services =
            self.call("GET /services", self.docker.list_services(Some(ListServicesOptions::default()))).await?;
        Ok(view_of(Role::Leader, &services))
    }

    async fn call<T>(
        &self,
        call: &'static str,
        request: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, SwarmError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(err)) => Err(SwarmError::Call { call, reason: err.to_string() }),
            Err(_) => Err(SwarmError::Call { call, reason: format!("no answer within {:?}", self.timeout) }),
        }
    }
}

/// This node's id and whether it is a manager, when it is in a Swarm.
fn membership(info: &SystemInfo) -> Option<(&str, bool)> {
    let swarm = info.swarm.as_ref()?;
    if swarm.local_node_state != Some(LocalNodeState::ACTIVE) {
        return None;
    }
    let node_id = swarm.node_id.as_deref().filter(|id| !id.is_empty())?;
    Some((node_id, swarm.control_available == Some(true)))
}

fn is_leader(node: &Node) -> bool {
    node.manager_status.as_ref().and_then(|m| m.leader) == Some(true)
}

/// The view for `role` from the services the engine listed.
pub fn view_of(role: Role, services: &[Service]) -> SwarmView {
    let mut services: Vec<SwarmService> = services.iter().filter_map(service_of).collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    SwarmView { role, services }
}

fn service_of(service: &Service) -> Option<SwarmService> {
    let spec = service.spec.as_ref()?;
    let name = spec.name.clone().filter(|n| !n.is_empty())?;
    let labels = spec.labels.as_ref().map(com_df_labels).unwrap_or_default();
    let replicas = spec
        .mode
        .as_ref()
        .and_then(|mode| mode.replicated.as_ref())
        .map(|replicated| replicated.replicas.map_or(1, |n| u64::try_from(n).unwrap_or(0)));
    Some(SwarmService { name, labels, replicas })
}

fn com_df_labels(labels: &HashMap<String, String>) -> BTreeMap<String, String> {
    labels.iter().filter(|(k, _)| k.starts_with(LABEL_PREFIX)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ManagerStatus, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, SwarmInfo};

    fn info(state: LocalNodeState, manager: bool) -> SystemInfo {
        SystemInfo {
            swarm: Some(SwarmInfo {
                node_id: Some("n1".into()),
                local_node_state: Some(state),
                control_available: Some(manager),
                ..SwarmInfo::default()
            }),
            ..SystemInfo::default()
        }
    }

    #[test]
    fn membership_follows_the_local_node_state() {
        assert_eq!(membership(&SystemInfo::default()), None);
        assert_eq!(membership(&info(LocalNodeState::INACTIVE, false)), None);
        assert_eq!(membership(&info(LocalNodeState::PENDING, true)), None);
        assert_eq!(membership(&info(LocalNodeState::ACTIVE, false)), Some(("n1", false)));
        assert_eq!(membership(&info(LocalNodeState::ACTIVE, true)), Some(("n1", true)));
    }

    #[test]
    fn the_leader_is_said_by_the_manager_status() {
        let node = |leader: Option<bool>| Node {
            manager_status: Some(ManagerStatus { leader, ..ManagerStatus::default() }),
            ..Node::default()
        };
        assert!(is_leader(&node(Some(true))));
        assert!(!is_leader(&node(Some(false))));
        assert!(!is_leader(&node(None)));
        assert!(!is_leader(&Node::default()));
    }

    #[test]
    fn services_keep_their_com_df_labels_and_replicas() {
        let service = |name: &str, mode: ServiceSpecMode, labels: &[(&str, &str)]| Service {
            spec: Some(ServiceSpec {
                name: Some(name.into()),
                labels: Some(labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
                mode: Some(mode),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        let replicated = |n: Option<i64>| ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: n }),
            ..ServiceSpecMode::default()
        };
        let global = ServiceSpecMode { global: Some(HashMap::new()), ..ServiceSpecMode::default() };
        let listed = [
            service("web", replicated(Some(3)), &[("com.df.scrapePort", "8080"), ("owner", "me")]),
            service("agent", global, &[("com.df.alertIf", "@node_fs_limit:0.8")]),
            service("one", replicated(None), &[]),
            Service::default(),
        ];
        let view = view_of(Role::Leader, &listed);
        assert_eq!(view.role, Role::Leader);
        let names: Vec<&str> = view.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["agent", "one", "web"]);
        assert_eq!(view.services[0].replicas, None);
        assert_eq!(view.services[0].label("com.df.alertIf"), Some("@node_fs_limit:0.8"));
        // Docker's default for a replicated service without a count is 1.
        assert_eq!(view.services[1].replicas, Some(1));
        assert_eq!(view.services[2].replicas, Some(3));
        assert_eq!(view.services[2].labels.len(), 1, "only com.df.* labels are kept");
    }

    #[test]
    fn only_the_leader_and_a_lone_node_evaluate_cluster_rules() {
        assert!(Role::Standalone.evaluates_cluster_rules());
        assert!(Role::Leader.evaluates_cluster_rules());
        assert!(!Role::Worker.evaluates_cluster_rules());
        assert!(!Role::Manager.evaluates_cluster_rules());
    }
}
