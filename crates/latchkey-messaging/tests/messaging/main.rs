//! The providers over real sockets, in one test binary: `http_providers` against a local
//! receiver, `kannel` against a real Kannel. (`tests/no_secrets.rs` stays a binary of its own:
//! it installs a global tracing subscriber.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod common;

mod http_providers;
mod kannel;
