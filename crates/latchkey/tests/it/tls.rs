//! HTTPS with certificate files: the server serves TLS, the CLI trusts a private CA.

use std::path::Path;
use std::process::Command;

use crate::common::{Server, have_tool};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn https_with_certificate_files() {
    if !have_tool("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    // A private CA and a leaf certificate for 127.0.0.1 signed by it.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Latchkey test CA",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let data = d.join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::write(
        data.join("latchkey.toml"),
        format!(
            "[server]\ntls_cert_file = {:?}\ntls_key_file = {:?}\n",
            d.join("server.pem"),
            d.join("server.key")
        ),
    )
    .expect("config");
    let srv = Server::start(&data, &[]);
    assert!(srv.url.starts_with("https://"), "{}", srv.url);
    let ca = d.join("ca.pem");
    let listed = srv
        .cli(&[
            "--ca-cert",
            ca.to_str().expect("utf-8"),
            "domain",
            "list",
            "--json",
        ])
        .json();
    assert_eq!(listed[0]["name"], "root");
    // Without trusting the CA the CLI refuses the server's certificate.
    let untrusted = srv.cli(&["domain", "list"]);
    assert_eq!(untrusted.code, 7, "{}", untrusted.stderr);
}
