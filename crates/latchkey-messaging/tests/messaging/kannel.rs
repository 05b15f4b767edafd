//! The Kannel provider against a real Kannel: bearerbox + smsbox with a fake SMSC
//! (`fakesmsc` from kannel-extras), started by `scripts/kannel-standin.sh` on free ports in
//! a temporary directory. The SMS must reach the fake SMSC with the right number, sender
//! and text; a wrong password must be a permanent failure that is not retried.
//!
//! Kannel missing: skipped with a message, or a failure under `LATCHKEY_REQUIRE_TOOLS=1`
//! (CI), so the suite never passes without having run it there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use latchkey_core::ports::{Messenger, PhoneChannel, PhoneMessage};
use latchkey_crypto::secret::SecretString;
use latchkey_messaging::MessagingConfig;

const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kannel-standin.sh")
}

fn have(bin: &str) -> bool {
    Command::new("sh")
        .args([
            "-c",
            &format!("command -v {bin} || test -x /usr/sbin/{bin}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether Kannel is installed; panics instead of answering false when tools are required.
fn kannel_available() -> bool {
    let present = have("bearerbox") && have("smsbox") && Path::new(FAKESMSC).exists();
    if !present {
        assert!(
            std::env::var("LATCHKEY_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "LATCHKEY_REQUIRE_TOOLS=1 but Kannel is missing: apt-get install kannel kannel-extras \
             (scripts/install-test-deps.sh does it)"
        );
        eprintln!("skipped: Kannel (bearerbox, smsbox, {FAKESMSC}) not installed");
    }
    present
}

/// A running stand-in; stopped on drop, also when the test fails.
struct Kannel {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl Kannel {
    fn start() -> Kannel {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("kannel");
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&run)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kannel-standin.sh start failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(run.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Kannel { dir, env }
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("kannel")
    }

    fn settings(&self, password: &str) -> latchkey_messaging::ProviderSettings {
        settings(&format!(
            r#"{{"type":"kannel","url":"{}","username":"{}","password":"{password}","from":"+15005550006"}}"#,
            self.env["SENDSMS_URL"], self.env["SENDSMS_USER"]
        ))
    }

    /// The messages fakesmsc printed: (sender, receiver, text).
    fn received(&self) -> Vec<(String, String, String)> {
        let out = std::fs::read_to_string(self.run_dir().join("fakesmsc.out")).unwrap_or_default();
        out.lines()
            .filter_map(|l| l.split_once("Got message ").map(|(_, rest)| rest))
            .filter_map(|rest| {
                let inner = rest.split_once(": <")?.1.strip_suffix('>')?;
                let mut parts = inner.splitn(4, ' ');
                let (from, to, kind, text) =
                    (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                let text = match kind {
                    "text" => text.to_owned(),
                    // UCS-2 arrives URL-encoded, UTF-16BE.
                    "ucs-2" => {
                        let bytes: Vec<u8> =
                            percent_encoding::percent_decode_str(&text.replace('+', " ")).collect();
                        let units: Vec<u16> = bytes
                            .chunks(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .collect();
                        String::from_utf16(&units).ok()?
                    }
                    _ => return None,
                };
                Some((from.to_owned(), to.to_owned(), text))
            })
            .collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<(String, String, String)> {
        for _ in 0..100 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "fakesmsc did not receive {n} message(s); it printed:\n{}",
            std::fs::read_to_string(self.run_dir().join("fakesmsc.out")).unwrap_or_default()
        );
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.run_dir())
            .output();
    }
}

#[tokio::test]
async fn kannel_delivers_to_the_fake_smsc() {
    if !kannel_available() {
        return;
    }
    let k = Kannel::start();
    let svc = service(&[("kannel", k.settings(&k.env["SENDSMS_PASSWORD"]))]);
    let m = PhoneMessage {
        channel: PhoneChannel::Sms,
        to: "+4915112345678".to_owned(),
        code: SecretString::from("482139"),
        valid_minutes: 5,
    };
    let d = svc.deliver(&m).await;
    assert!(d.delivered(), "{d:?}");
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].detail, "HTTP 202: 0: Accepted for delivery");

    let got = k.wait_for(1).await;
    assert_eq!(
        got,
        [(
            "+15005550006".to_owned(),
            "+4915112345678".to_owned(),
            "Your Latchkey code is 482139. It expires in 5 minutes.".to_owned()
        )]
    );

    // A template with characters outside GSM 7-bit ('ó') arrives as written (as UCS-2).
    let config = MessagingConfig {
        sms_template: "Código Latchkey: {code} (gültig {minutes} min)".to_owned(),
        ..fast_config()
    };
    let svc = service_with(
        &config,
        &[("kannel", k.settings(&k.env["SENDSMS_PASSWORD"]))],
    );
    assert!(svc.deliver(&m).await.delivered());
    let got = k.wait_for(2).await;
    assert_eq!(got[1].2, "Código Latchkey: 482139 (gültig 5 min)");
}

#[tokio::test]
async fn kannel_wrong_password_is_permanent() {
    if !kannel_available() {
        return;
    }
    let k = Kannel::start();
    let svc = service(&[("kannel", k.settings("not-the-password"))]);
    let d = svc.deliver(&message(PhoneChannel::Sms)).await;
    assert!(!d.delivered());
    assert_eq!(d.attempts.len(), 1, "a 403 is not retried: {d:?}");
    assert!(!d.attempts[0].transient);
    assert_eq!(
        d.attempts[0].detail,
        "HTTP 403: Authorization failed for sendsms"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(k.received().is_empty());
}
