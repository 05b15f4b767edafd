//! The store's integration tests, in one test binary (one link instead of six keeps the test
//! build small): each module is one part of the store contract, run on SQLite and on
//! PostgreSQL with the harness of `common`.
//!
//! SQLite runs always, on a fresh file in a temporary directory. PostgreSQL runs when
//! `LATCHKEY_TEST_POSTGRES_URL` names a server (each test gets its own fresh database, dropped
//! afterwards); without it the PostgreSQL tests are skipped, or fail when
//! `LATCHKEY_REQUIRE_TOOLS=1`.
//!
//! Run one part: `cargo test -p latchkey-store --test store authn_conformance::`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    missing_docs
)]

#[macro_use]
mod common;

mod authn_conformance;
mod conformance;
mod console_conformance;
mod emergency_conformance;
mod group_commit;
mod providers_conformance;
