//! Configuration problems are clear startup errors that change nothing.

use crate::common::cli;

fn serve_with(config: &str) -> crate::common::Run {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("bad.toml");
    std::fs::write(&file, config).expect("write");
    let data = tmp.path().join("data");
    let run = cli(&data, &["serve", "--config", file.to_str().expect("utf-8")]);
    assert!(
        !data.exists(),
        "a refused start must not create the data directory"
    );
    run
}

#[test]
fn malformed_configuration_is_refused_with_the_reason() {
    let r = serve_with("[server]\nhttp_listn = \"127.0.0.1:1\"\n");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("http_listn"), "{}", r.stderr);

    let r = serve_with("[server\n");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("bad.toml"), "{}", r.stderr);

    let r = serve_with("[log]\nformat = \"xml\"\n");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("log.format"), "{}", r.stderr);
}

#[test]
fn network_listen_without_tls_is_refused_unless_allowed() {
    let r = serve_with("[server]\nhttp_listen = \"0.0.0.0:0\"\n");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("TLS"), "{}", r.stderr);
}

#[test]
fn example_configuration_checks() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/latchkey.toml");
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = cli(tmp.path(), &["check-config", "--config", example]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("127.0.0.1:8080"));
}

#[test]
fn cli_without_a_server_says_how_to_start_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = cli(tmp.path(), &["user", "list"]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("serve"), "{}", r.stderr);
}
