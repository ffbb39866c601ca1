//! Shared helpers for Sonde's end-to-end tests.
