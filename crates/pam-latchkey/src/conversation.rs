//! The module's logic, without PAM: ask for the passcode, ask the agent, answer challenges,
//! and map the outcome to a PAM code.
//!
//! Mapping (documented in README and docs/design/offline-agent.md):
//! - agent `success` → `PAM_SUCCESS`;
//! - agent `fail` → `PAM_AUTH_ERR` — also for an unknown user: neither the server nor the
//!   agent says whether a user exists, so `PAM_USER_UNKNOWN` is never returned;
//! - agent socket missing, refused, timed out → `PAM_AUTHINFO_UNAVAIL`;
//! - the application's conversation failed → `PAM_CONV_ERR`;
//! - the agent answered `error` or something that is not the protocol → `PAM_SYSTEM_ERR`.

use crate::protocol::{MAX_PASSCODE, MAX_RHOST, Outcome, Passcode, Request, Response};

/// The first prompt.
pub const PASSCODE_PROMPT: &str = "Passcode: ";

/// Most challenges answered in one login (new PIN, confirm, next tokencode, …).
pub const MAX_ROUNDS: usize = 6;

/// The application's conversation function, as a trait.
pub trait Conversation {
    /// Shows `prompt` and returns what the user typed.
    fn ask(&mut self, prompt: &str, echo: bool) -> Result<Passcode, ConvError>;
}

/// The application's conversation failed (or returned nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvError;

/// The agent connection, as a trait.
pub trait AgentLink {
    /// Sends one request and reads its answer.
    fn exchange(&mut self, req: &Request) -> Result<Response, LinkError>;
}

/// Why the agent could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// No agent at the socket, or it did not answer in time.
    Unreachable(String),
    /// The agent answered something that is not the protocol.
    Protocol(String),
}

/// The PAM outcome of an authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PamResult {
    /// `PAM_SUCCESS`.
    Success,
    /// `PAM_AUTH_ERR`.
    AuthErr,
    /// `PAM_AUTHINFO_UNAVAIL`.
    AuthinfoUnavail,
    /// `PAM_CONV_ERR`.
    ConvErr,
    /// `PAM_SYSTEM_ERR`.
    SystemErr,
}

/// The outcome and a line for the system log (never a passcode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// PAM outcome.
    pub result: PamResult,
    /// What happened, for the log.
    pub log: String,
}

fn decide(result: PamResult, log: impl Into<String>) -> Decision {
    Decision {
        result,
        log: log.into(),
    }
}

/// Authenticates `user`: asks for the passcode, then lets the agent decide, answering its
/// challenges. `connect` is called once, after the passcode was typed.
pub fn authenticate<L: AgentLink>(
    user: &str,
    rhost: Option<&str>,
    conv: &mut dyn Conversation,
    connect: impl FnOnce() -> Result<L, LinkError>,
) -> Decision {
    let Ok(passcode) = conv.ask(PASSCODE_PROMPT, false) else {
        return decide(
            PamResult::ConvErr,
            "conversation failed at the passcode prompt",
        );
    };
    if passcode.expose().is_empty() || passcode.char_len() > MAX_PASSCODE {
        return decide(PamResult::AuthErr, "empty or over-long passcode");
    }
    let mut link = match connect() {
        Ok(l) => l,
        Err(e) => return link_error(&e),
    };
    let mut req = Request::Authenticate {
        user: user.to_owned(),
        passcode,
        // Only for the audit log: a long host name (sshd with `UseDNS yes`) is cut to what
        // the agent and the server accept rather than failing the login.
        rhost: rhost.map(|r| r.chars().take(MAX_RHOST).collect()),
    };
    for _ in 0..=MAX_ROUNDS {
        let resp = match link.exchange(&req) {
            Ok(r) => r,
            Err(e) => return link_error(&e),
        };
        match resp.result {
            Outcome::Success => return decide(PamResult::Success, "agent: success"),
            Outcome::Fail => return decide(PamResult::AuthErr, "agent: access denied"),
            Outcome::Error => {
                return decide(
                    PamResult::SystemErr,
                    format!(
                        "agent refused the request: {}",
                        resp.message.unwrap_or_default()
                    ),
                );
            }
            Outcome::Challenge => {
                let (Some(attempt_id), Some(prompt)) = (resp.attempt_id, resp.prompt) else {
                    return decide(
                        PamResult::SystemErr,
                        "agent sent a challenge without attempt",
                    );
                };
                let Ok(answer) = conv.ask(&prompt, resp.echo) else {
                    return decide(PamResult::ConvErr, "conversation failed at a challenge");
                };
                if answer.char_len() > MAX_PASSCODE {
                    return decide(PamResult::AuthErr, "over-long challenge answer");
                }
                req = Request::Respond {
                    attempt_id,
                    response: answer,
                };
            }
        }
    }
    decide(PamResult::AuthErr, "too many challenges")
}

fn link_error(e: &LinkError) -> Decision {
    match e {
        LinkError::Unreachable(why) => decide(
            PamResult::AuthinfoUnavail,
            format!("latchkey-agent unreachable: {why}"),
        ),
        LinkError::Protocol(why) => decide(
            PamResult::SystemErr,
            format!("latchkey-agent protocol error: {why}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A scripted user: answers in order, records the prompts.
    struct User {
        answers: VecDeque<Option<&'static str>>,
        prompts: Vec<(String, bool)>,
    }

    impl User {
        fn new(answers: &[Option<&'static str>]) -> Self {
            Self {
                answers: answers.iter().copied().collect(),
                prompts: Vec::new(),
            }
        }
    }

    impl Conversation for User {
        fn ask(&mut self, prompt: &str, echo: bool) -> Result<Passcode, ConvError> {
            self.prompts.push((prompt.to_owned(), echo));
            match self.answers.pop_front() {
                Some(Some(a)) => Ok(Passcode::new(a.to_owned())),
                _ => Err(ConvError),
            }
        }
    }

    /// A scripted agent: answers in order, records what it was sent (as JSON).
    struct Agent {
        answers: VecDeque<Result<Response, LinkError>>,
        sent: Vec<serde_json::Value>,
    }

    impl AgentLink for &mut Agent {
        fn exchange(&mut self, req: &Request) -> Result<Response, LinkError> {
            self.sent.push(serde_json::to_value(req).unwrap());
            self.answers
                .pop_front()
                .unwrap_or(Err(LinkError::Unreachable("closed".into())))
        }
    }

    fn agent(answers: Vec<Result<Response, LinkError>>) -> Agent {
        Agent {
            answers: answers.into(),
            sent: Vec::new(),
        }
    }

    #[test]
    fn success_after_new_pin_and_next_tokencode_challenges() {
        let mut user = User::new(&[Some("123456"), Some("2468"), Some("2468"), Some("654321")]);
        let mut a = agent(vec![
            Ok(Response::challenge("a1".into(), "Enter a new PIN: ".into())),
            Ok(Response::challenge(
                "a1".into(),
                "Confirm the new PIN: ".into(),
            )),
            Ok(Response::challenge("a1".into(), "Next tokencode: ".into())),
            Ok(Response::success("ok")),
        ]);
        let d = authenticate("ann", Some("10.0.0.1"), &mut user, || Ok(&mut a));
        assert_eq!(d.result, PamResult::Success);
        assert_eq!(
            user.prompts,
            [
                ("Passcode: ".to_owned(), false),
                ("Enter a new PIN: ".to_owned(), false),
                ("Confirm the new PIN: ".to_owned(), false),
                ("Next tokencode: ".to_owned(), false),
            ]
        );
        assert_eq!(
            a.sent[0],
            serde_json::json!({"op":"authenticate","user":"ann","passcode":"123456","rhost":"10.0.0.1"})
        );
        assert_eq!(
            a.sent[3],
            serde_json::json!({"op":"respond","attempt_id":"a1","response":"654321"})
        );
        assert!(!d.log.contains("123456"));
    }

    #[test]
    fn a_long_remote_host_is_cut_not_fatal() {
        let long = format!("{}.example.org", "h".repeat(100));
        let mut user = User::new(&[Some("1234567890")]);
        let mut a = agent(vec![Ok(Response::success("ok"))]);
        let d = authenticate("ann", Some(&long), &mut user, || Ok(&mut a));
        assert_eq!(d.result, PamResult::Success);
        let sent = crate::protocol::to_line(&a.sent[0]).unwrap();
        let line = &sent[..sent.len() - 1];
        assert!(crate::protocol::parse_request(line).is_ok());
        assert_eq!(a.sent[0]["rhost"], "h".repeat(MAX_RHOST));
    }

    #[test]
    fn outcomes_map_to_pam_codes() {
        let cases: Vec<(Result<Response, LinkError>, PamResult)> = vec![
            (Ok(Response::fail()), PamResult::AuthErr),
            (Ok(Response::error("garbage")), PamResult::SystemErr),
            (
                Err(LinkError::Unreachable("timeout".into())),
                PamResult::AuthinfoUnavail,
            ),
            (
                Err(LinkError::Protocol("not json".into())),
                PamResult::SystemErr,
            ),
            (
                Ok(Response {
                    attempt_id: None,
                    ..Response::challenge("x".into(), "p".into())
                }),
                PamResult::SystemErr,
            ),
        ];
        for (answer, want) in cases {
            let mut user = User::new(&[Some("1234567890")]);
            let mut a = agent(vec![answer]);
            assert_eq!(
                authenticate("ann", None, &mut user, || Ok(&mut a)).result,
                want
            );
        }
    }

    #[test]
    fn no_agent_is_authinfo_unavail_and_conversation_errors_are_conv_err() {
        let mut user = User::new(&[Some("1234567890")]);
        let d = authenticate::<&mut Agent>("ann", None, &mut user, || {
            Err(LinkError::Unreachable("no socket".into()))
        });
        assert_eq!(d.result, PamResult::AuthinfoUnavail);

        // The application's conversation fails at the first prompt: the agent is not asked.
        let mut user = User::new(&[None]);
        let mut a = agent(vec![]);
        let d = authenticate("ann", None, &mut user, || Ok(&mut a));
        assert_eq!(d.result, PamResult::ConvErr);
        assert!(a.sent.is_empty());

        // ... or at a challenge.
        let mut user = User::new(&[Some("1234567890"), None]);
        let mut a = agent(vec![Ok(Response::challenge("a".into(), "Next: ".into()))]);
        let d = authenticate("ann", None, &mut user, || Ok(&mut a));
        assert_eq!(d.result, PamResult::ConvErr);
    }

    #[test]
    fn empty_passcode_and_endless_challenges_are_refused() {
        let mut user = User::new(&[Some("")]);
        let mut a = agent(vec![]);
        assert_eq!(
            authenticate("ann", None, &mut user, || Ok(&mut a)).result,
            PamResult::AuthErr
        );
        assert!(a.sent.is_empty());

        let mut user = User::new(&[Some("1"); 20]);
        let mut a = agent(
            (0..20)
                .map(|_| Ok(Response::challenge("a".into(), "Again: ".into())))
                .collect(),
        );
        let d = authenticate("ann", None, &mut user, || Ok(&mut a));
        assert_eq!(d.result, PamResult::AuthErr);
        assert_eq!(a.sent.len(), MAX_ROUNDS + 1);
    }
}
