//! The integration tests, one binary: real processes on 127.0.0.x, real clients (tests/common).
//! Each module is one area; cargo links this once and runs every module's tests in parallel.

mod common;

mod alarm;
mod auth;
mod backups;
mod bench;
mod binary_keys;
mod boot;
mod check_perf;
mod cluster;
mod cluster_compare;
mod config_errors;
mod ctl_differential;
mod differential;
mod discovery;
mod durability;
mod fault_campaign;
mod flags;
mod gateway;
mod hardening;
mod image;
mod layers;
mod lease;
mod linearizability;
mod lock;
mod long_keys;
mod memory;
mod metrics;
mod migrate;
mod mirror;
mod notify;
mod pki;
mod release;
mod snapshot;
mod stream_errors;
mod tls;
mod v2auth;
mod v2cluster;
mod v2keys;
mod watch;
mod watch_fragment;
