//! The Sonde agent: serves metrics, evaluates rules, acts on alerts.
