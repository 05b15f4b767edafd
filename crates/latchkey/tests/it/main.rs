//! Integration tests: the real `latchkey` binary on free ports, driven by its own CLI and by
//! third-party tools (`oathtool`, PostgreSQL). One test binary, no order dependence.

// A failed expectation in a test should stop the test loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// An end-to-end scenario reads best as one story.
#![allow(clippy::too_many_lines)]

mod common;

mod authn;
mod cli_flow;
mod config_errors;
mod console;
mod emergency;
mod messaging;
mod oath;
mod offline_hosts;
mod offline_pam;
mod phone;
mod radius;
mod restart;
mod tls;
