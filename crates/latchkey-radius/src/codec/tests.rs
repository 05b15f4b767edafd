//! Codec tests: the RFC 2865 §7.1 example exchange, Message-Authenticator vectors computed
//! independently (Python's `hmac` module), every refusal of the decoder, and the committed fuzz
//! corpus fed through the decoder.

use super::*;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

/// RFC 2865 §7.1: "nemo" logs in with "arctangent", shared secret "xyzzy5461".
const RFC_SECRET: &[u8] = b"xyzzy5461";
const RFC_REQUEST: &str = "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
    98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
    93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
    01 10 05 06 00 00 00 03";
const RFC_ACCEPT: &str = "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
    9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
    0e 06 c0 a8 01 03";
const RFC_HIDDEN: &str = "0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee";

/// The RFC request with a Message-Authenticator appended, and its value from Python's
/// `hmac.new(b"xyzzy5461", packet_with_zeroed_ma, hashlib.md5)`.
const MA_REQUEST: &str = "0100003e0f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d\
                          93d413ce3196e43f782a0aee501261df374483be2872a88d9586b7a3dcf4";
/// An Access-Accept to it with Message-Authenticator first and Reply-Message "ok", signed the
/// same independent way.
const MA_REPLY: &str = "0200002a85ce184242a7142c3ee5e5670a8a2ed750123e9deff9b1d44caf7f02a0\
                        0a827f421812046f6b";

fn rfc_authenticator() -> [u8; 16] {
    unhex("0f403f9473978057bd83d5cb98f4227a")
        .try_into()
        .unwrap()
}

#[test]
fn rfc2865_example_request_decodes_and_reencodes() {
    let bytes = unhex(RFC_REQUEST);
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(p.code, Code::ACCESS_REQUEST);
    assert_eq!(p.identifier, 0);
    assert_eq!(p.first(attr::USER_NAME), Some(&b"nemo"[..]));
    assert_eq!(p.first(attr::NAS_IP_ADDRESS), Some(&[192, 168, 1, 16][..]));
    assert_eq!(p.first(5), Some(&[0, 0, 0, 3][..]));
    assert_eq!(p.encode().unwrap(), bytes);
    let pw = unhide_password(
        p.first(attr::USER_PASSWORD).unwrap(),
        RFC_SECRET,
        &p.authenticator,
    )
    .unwrap();
    assert_eq!(pw.expose(), b"arctangent");
    assert_eq!(
        p.check_request_authenticator(RFC_SECRET),
        MessageAuthenticatorCheck::Absent
    );
}

#[test]
fn rfc2865_example_password_hiding() {
    let hidden = hide_password(b"arctangent", RFC_SECRET, &rfc_authenticator()).unwrap();
    assert_eq!(hidden, unhex(RFC_HIDDEN));
}

#[test]
fn rfc2865_example_reply_verifies() {
    let reply = unhex(RFC_ACCEPT);
    let p = Packet::verify_reply(&reply, &rfc_authenticator(), RFC_SECRET, false).unwrap();
    assert_eq!(p.code, Code::ACCESS_ACCEPT);
    assert_eq!(p.first(6), Some(&[0, 0, 0, 1][..]));
    assert_eq!(
        Packet::verify_reply(&reply, &rfc_authenticator(), RFC_SECRET, true),
        Err(CodecError::MissingMessageAuthenticator)
    );
    assert_eq!(
        Packet::verify_reply(&reply, &rfc_authenticator(), b"xyzzy5462", false),
        Err(CodecError::WrongAuthenticator)
    );
    let mut other = rfc_authenticator();
    other[0] ^= 1;
    assert_eq!(
        Packet::verify_reply(&reply, &other, RFC_SECRET, false),
        Err(CodecError::WrongAuthenticator)
    );
}

#[test]
fn message_authenticator_matches_an_independent_implementation() {
    let bytes = unhex(MA_REQUEST);
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(
        p.check_request_authenticator(RFC_SECRET),
        MessageAuthenticatorCheck::Valid
    );
    assert_eq!(
        p.check_request_authenticator(b"wrong-secret"),
        MessageAuthenticatorCheck::Invalid
    );
    // Any altered octet, header or attribute, breaks it.
    for i in [1, 5, 24, 30, 50] {
        let mut t = bytes.clone();
        t[i] ^= 0x20;
        let q = Packet::decode(&t).unwrap();
        assert_eq!(
            q.check_request_authenticator(RFC_SECRET),
            MessageAuthenticatorCheck::Invalid,
            "octet {i}"
        );
    }
    // Signing the same request with a zeroed Message-Authenticator gives the same bytes.
    let mut unsigned = p.clone();
    for a in &mut unsigned.attributes {
        if a.kind == attr::MESSAGE_AUTHENTICATOR {
            a.value = vec![0; 16];
        }
    }
    assert_eq!(unsigned.sign_request(RFC_SECRET).unwrap(), bytes);
}

#[test]
fn signed_reply_matches_an_independent_implementation() {
    let mut reply = Packet::new(Code::ACCESS_ACCEPT, 0, [0; 16]);
    reply.push(attr::REPLY_MESSAGE, &b"ok"[..]);
    let bytes = reply.sign_reply(&rfc_authenticator(), RFC_SECRET).unwrap();
    assert_eq!(bytes, unhex(MA_REPLY));
    let p = Packet::verify_reply(&bytes, &rfc_authenticator(), RFC_SECRET, true).unwrap();
    assert_eq!(
        p.attributes.first().map(|a| a.kind),
        Some(attr::MESSAGE_AUTHENTICATOR)
    );
    // A reply that already had a Message-Authenticator somewhere gets exactly one, first.
    let mut twice = Packet::new(Code::ACCESS_REJECT, 9, [0; 16]);
    twice.push(attr::REPLY_MESSAGE, &b"no"[..]);
    twice.push(attr::MESSAGE_AUTHENTICATOR, vec![7; 16]);
    let bytes = twice.sign_reply(&rfc_authenticator(), RFC_SECRET).unwrap();
    let p = Packet::verify_reply(&bytes, &rfc_authenticator(), RFC_SECRET, true).unwrap();
    assert_eq!(p.all(attr::MESSAGE_AUTHENTICATOR).count(), 1);
    assert_eq!(p.attributes[0].kind, attr::MESSAGE_AUTHENTICATOR);
    // A reply whose Message-Authenticator is altered (and Response Authenticator recomputed
    // by a forger who does not know the secret) is refused.
    let mut forged = bytes.clone();
    forged[22] ^= 1;
    assert_eq!(
        Packet::verify_reply(&forged, &rfc_authenticator(), RFC_SECRET, true),
        Err(CodecError::WrongAuthenticator)
    );
}

#[test]
fn password_hiding_round_trips_every_length() {
    let ra = [0x5au8; 16];
    for len in 0..=128usize {
        let pw: Vec<u8> = (0..len)
            .map(|i| u8::try_from(i % 250 + 1).unwrap())
            .collect();
        let hidden = hide_password(&pw, b"s3cret!!", &ra).unwrap();
        assert_eq!(hidden.len(), len.div_ceil(16).max(1) * 16);
        assert_eq!(
            unhide_password(&hidden, b"s3cret!!", &ra).unwrap().expose(),
            pw.as_slice()
        );
        assert_ne!(
            unhide_password(&hidden, b"other-secret", &ra)
                .unwrap()
                .expose(),
            pw.as_slice(),
            "length {len}"
        );
    }
    assert_eq!(
        hide_password(&[b'x'; 129], b"s", &ra),
        Err(CodecError::BadPasswordLength)
    );
    for bad in [0usize, 15, 17, 144] {
        assert_eq!(
            unhide_password(&vec![1; bad], b"s", &ra).map(|_| ()),
            Err(CodecError::BadPasswordLength),
            "{bad}"
        );
    }
}

#[test]
fn decoder_refuses_malformed_packets() {
    let good = unhex(RFC_REQUEST);
    assert_eq!(Packet::decode(&[]), Err(CodecError::TooShort(0)));
    assert_eq!(Packet::decode(&good[..19]), Err(CodecError::TooShort(19)));
    // Header length below 20, above 4096, above what arrived.
    let mut t = good.clone();
    t[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(Packet::decode(&t), Err(CodecError::BadLength(19)));
    t[2..4].copy_from_slice(&4097u16.to_be_bytes());
    assert_eq!(Packet::decode(&t), Err(CodecError::BadLength(4097)));
    assert_eq!(
        Packet::decode(&good[..40]),
        Err(CodecError::Truncated {
            length: 56,
            received: 40
        })
    );
    // An attribute running past the header length (the length cut inside the last one).
    let mut t = good.clone();
    t[2..4].copy_from_slice(&54u16.to_be_bytes());
    assert_eq!(
        Packet::decode(&t),
        Err(CodecError::AttributeOverrun { offset: 50 })
    );
    // A lone type octet at the end.
    let mut t = good.clone();
    t.push(5);
    t[2..4].copy_from_slice(&57u16.to_be_bytes());
    assert_eq!(
        Packet::decode(&t),
        Err(CodecError::AttributeOverrun { offset: 56 })
    );
    // Attribute length 0 and 1.
    for l in [0u8, 1] {
        let mut t = good.clone();
        t[21] = l;
        assert_eq!(
            Packet::decode(&t),
            Err(CodecError::AttributeTooShort {
                kind: 1,
                offset: 20,
                length: l
            })
        );
    }
    // Type 0.
    let mut t = good.clone();
    t[20] = 0;
    assert_eq!(
        Packet::decode(&t),
        Err(CodecError::AttributeTypeZero { offset: 20 })
    );
    // Message-Authenticator of the wrong size, or twice.
    let mut p = Packet::decode(&good).unwrap();
    p.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 15]);
    assert_eq!(
        Packet::decode(&p.encode().unwrap()),
        Err(CodecError::BadMessageAuthenticator)
    );
    let mut p = Packet::decode(&good).unwrap();
    p.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
    p.push(attr::MESSAGE_AUTHENTICATOR, vec![0; 16]);
    assert_eq!(
        Packet::decode(&p.encode().unwrap()),
        Err(CodecError::BadMessageAuthenticator)
    );
}

#[test]
fn padding_after_the_length_is_ignored_and_unknown_types_kept() {
    let mut t = unhex(RFC_REQUEST);
    t.extend_from_slice(&[0xff; 30]);
    let p = Packet::decode(&t).unwrap();
    assert_eq!(p.encode().unwrap(), unhex(RFC_REQUEST));
    let mut p = p;
    p.push(250, &b"vendor stuff"[..]);
    p.push(26, vec![]);
    let bytes = p.encode().unwrap();
    let q = Packet::decode(&bytes).unwrap();
    assert_eq!(q.first(250), Some(&b"vendor stuff"[..]));
    assert_eq!(q.first(26), Some(&[][..]));
}

#[test]
fn encoder_refuses_what_the_wire_cannot_hold() {
    let mut p = Packet::new(Code::ACCESS_ACCEPT, 1, [0; 16]);
    p.push(attr::REPLY_MESSAGE, vec![b'a'; 254]);
    assert_eq!(
        p.encode(),
        Err(CodecError::ValueTooLong {
            kind: attr::REPLY_MESSAGE,
            len: 254
        })
    );
    let mut p = Packet::new(Code::ACCESS_ACCEPT, 1, [0; 16]);
    for _ in 0..17 {
        p.push(attr::REPLY_MESSAGE, vec![b'a'; 253]);
    }
    assert_eq!(p.encode(), Err(CodecError::PacketTooLong(20 + 17 * 255)));
    let mut p = Packet::new(Code::ACCESS_ACCEPT, 1, [0; 16]);
    for _ in 0..15 {
        p.push(attr::REPLY_MESSAGE, vec![b'a'; 253]);
    }
    p.push(attr::REPLY_MESSAGE, vec![b'a'; 249]);
    let bytes = p.encode().unwrap();
    assert_eq!(bytes.len(), MAX_PACKET_LEN);
    assert_eq!(Packet::decode(&bytes).unwrap(), p);
}

#[test]
fn long_texts_are_split_at_character_boundaries() {
    let mut p = Packet::new(Code::ACCESS_CHALLENGE, 1, [0; 16]);
    let text = "é".repeat(200); // 400 octets, 2 per character
    p.push_text(attr::REPLY_MESSAGE, &text, 4);
    let parts: Vec<&[u8]> = p.all(attr::REPLY_MESSAGE).collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].len(), 252);
    let joined: Vec<u8> = parts.concat();
    assert_eq!(String::from_utf8(joined).unwrap(), text);
    let mut q = Packet::new(Code::ACCESS_CHALLENGE, 1, [0; 16]);
    q.push_text(attr::REPLY_MESSAGE, &"x".repeat(2000), 2);
    assert_eq!(q.all(attr::REPLY_MESSAGE).count(), 2);
    let mut e = Packet::new(Code::ACCESS_CHALLENGE, 1, [0; 16]);
    e.push_text(attr::REPLY_MESSAGE, "", 2);
    assert!(e.attributes.is_empty());
}

#[test]
fn debug_output_hides_the_password() {
    let p = Packet::decode(&unhex(MA_REQUEST)).unwrap();
    let s = format!("{p:?}");
    assert!(s.contains("<16 octets>"), "{s}");
    assert!(!s.contains("13, 190, 112"), "hidden password bytes in {s}");
    let pw = unhide_password(
        p.first(attr::USER_PASSWORD).unwrap(),
        RFC_SECRET,
        &p.authenticator,
    )
    .unwrap();
    assert_eq!(format!("{pw:?}"), "Password(<redacted>)");
    assert_eq!(format!("{:?}", Code(12)), "Status-Server");
    assert_eq!(format!("{:?}", Code(99)), "Code-99");
}

/// The committed fuzz corpus (`fuzz/corpus/radius_codec`) through the decoder, so that plain
/// `cargo test` covers every seed and every crash input ever added there.
#[test]
fn fuzz_corpus_decodes_without_panic_and_round_trips() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/radius_codec");
    let mut seen = 0;
    let mut decoded = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        seen += 1;
        if crate::fuzz_check(&bytes) {
            decoded += 1;
        }
    }
    assert!(seen >= 10, "only {seen} corpus files in {}", dir.display());
    assert!(decoded >= 5, "only {decoded} of {seen} corpus files decode");
}
