//! The RADIUS server of Latchkey (PRODUCT.md §7): VPN concentrators, firewalls and Linux hosts
//! with `pam_radius_auth` authenticate users through the same engine as the REST agent API.
//!
//! Layers, each depending only on the one before it:
//! - [`codec`]: bytes ↔ packets, User-Password hiding, Response Authenticator and
//!   Message-Authenticator. Pure and fuzzed.
//! - [`handler`]: one datagram in, one reply (or nothing) out — client lookup, the
//!   Message-Authenticator policy, duplicate detection, and the mapping onto
//!   [`latchkey_core::authn::AuthnService`]. It never touches a socket.
//! - [`server`]: the tokio UDP loop around the handler.
//!
//! Invariants: no input makes anything here panic; a packet that is malformed, from an unknown
//! client, or fails its Message-Authenticator gets no answer at all; every answer carries a
//! Message-Authenticator; shared secrets and passwords appear in no log line and no error.
//! Design notes: `docs/design/radius.md`. The `server` feature (default) adds everything but the
//! codec; the fuzz target builds without it.

pub mod codec;

#[cfg(feature = "server")]
pub mod clients;
#[cfg(feature = "server")]
pub mod dedup;
#[cfg(feature = "server")]
pub mod handler;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod stats;

#[cfg(feature = "server")]
pub use handler::Handler;
#[cfg(feature = "server")]
pub use server::RadiusServer;

/// Runs one input through every codec path with fixed secrets and checks the codec's
/// invariants: the entry point of the fuzz target and of the corpus unit test. Returns whether
/// the input decoded as a packet.
///
/// # Panics
///
/// When an invariant is broken — which is what the fuzzer is looking for: a decoded packet
/// that does not re-encode to the octets it came from, a signed request whose
/// Message-Authenticator does not verify, a signed reply that its client would refuse.
pub fn fuzz_check(data: &[u8]) -> bool {
    use codec::{Code, MessageAuthenticatorCheck, Packet, attr, unhide_password};
    const SECRET: &[u8] = b"fuzzing-secret";
    // Reading a reply never panics, whatever the bytes.
    let _ = Packet::verify_reply(data, &[7; 16], SECRET, false);
    let Ok(p) = Packet::decode(data) else {
        return false;
    };
    let encoded = p.encode();
    assert!(
        encoded.as_deref().ok() == data.get(..encoded.as_ref().map_or(0, Vec::len)),
        "decode then encode changed the packet"
    );
    assert_eq!(
        encoded.as_deref().map(Packet::decode).ok(),
        Some(Ok(p.clone())),
        "re-encoded packet decodes differently"
    );
    let _ = p.check_request_authenticator(SECRET);
    if let Some(hidden) = p.first(attr::USER_PASSWORD) {
        let _ = unhide_password(hidden, SECRET, &p.authenticator);
    }
    // Signing the request (Message-Authenticator zeroed, as a client sends it) must verify.
    let mut req = p.clone();
    for a in &mut req.attributes {
        if a.kind == attr::MESSAGE_AUTHENTICATOR {
            a.value = vec![0; 16];
        }
    }
    if let Ok(signed) = req.sign_request(SECRET) {
        let again = Packet::decode(&signed);
        let check = again
            .as_ref()
            .map(|q| q.check_request_authenticator(SECRET));
        let expected = if p.first(attr::MESSAGE_AUTHENTICATOR).is_some() {
            MessageAuthenticatorCheck::Valid
        } else {
            MessageAuthenticatorCheck::Absent
        };
        assert_eq!(check, Ok(expected), "a signed request does not verify");
    }
    // A reply carrying the request's Proxy-State must verify as its client would check it.
    let mut reply = Packet::new(Code::ACCESS_REJECT, p.identifier, [0; 16]);
    for v in p.all(attr::PROXY_STATE) {
        reply.push(attr::PROXY_STATE, v);
    }
    if let Ok(bytes) = reply.sign_reply(&p.authenticator, SECRET) {
        assert!(
            Packet::verify_reply(&bytes, &p.authenticator, SECRET, true).is_ok(),
            "a signed reply does not verify"
        );
    }
    true
}
