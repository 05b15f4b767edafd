//! Integration tests of the HTTP API: one binary, one fresh SQLite database per test.
//!
//! The modules are marked `cfg(test)` so that clippy treats the helpers, not only the
//! `#[test]` functions, as test code (unwrap and indexing are fine here).

#![allow(
    clippy::too_many_lines,
    reason = "scenario tests read best top to bottom in one function"
)]

#[cfg(test)]
#[path = "../common/mod.rs"]
mod common;

#[cfg(test)]
mod audit_keys;
#[cfg(test)]
mod authn;
#[cfg(test)]
mod bad_input;
#[cfg(test)]
mod cloud;
#[cfg(test)]
mod console;
#[cfg(test)]
mod emergency;
#[cfg(test)]
mod http_basics;
#[cfg(test)]
mod offline;
#[cfg(test)]
mod openapi;
#[cfg(test)]
mod providers;
#[cfg(test)]
mod scope;
#[cfg(test)]
mod secrets;
#[cfg(test)]
mod tokens;
