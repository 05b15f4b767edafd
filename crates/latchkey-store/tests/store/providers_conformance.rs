//! The messaging-provider store conformance suite ([`ProviderStore`]): one set of test
//! bodies, run on SQLite and on PostgreSQL with the harness of `common`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use latchkey_core::messaging_config::{ProviderStore, StoredProvider, provider_aad};
use latchkey_core::store::{SealedItem, SealedKind, Store, StoreError};
use latchkey_store::SqlStore;

use crate::common::*;

conformance!(
    nothing_stored_means_the_file_applies,
    a_replacement_is_whole_ordered_audited_and_versioned,
    rotation_reseals_provider_credentials_bound_to_the_name,
    clearing_returns_to_the_file_and_versions_are_never_reused,
    concurrent_replacements_each_count_and_never_mix,
);

fn provider(name: &str, kind: &str, secret: Option<&str>) -> StoredProvider {
    StoredProvider {
        name: name.to_owned(),
        kind: kind.to_owned(),
        settings: format!(r#"{{"type":"{kind}","n":"{name}"}}"#),
        secrets_sealed: secret.map(sealed),
    }
}

async fn head_seq(s: &SqlStore) -> i64 {
    s.find_audit_head().await.unwrap().seq
}

async fn provider_items(s: &SqlStore) -> Vec<SealedItem> {
    s.list_sealed()
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == SealedKind::MessagingProvider)
        .collect()
}

mod cases {
    use super::*;

    pub async fn nothing_stored_means_the_file_applies(db: &mut TestDb) {
        let s = &db.store;
        assert_eq!(s.find_provider_version().await.unwrap(), None);
        assert_eq!(s.list_providers().await.unwrap(), None);
        assert!(provider_items(s).await.is_empty());
    }

    pub async fn a_replacement_is_whole_ordered_audited_and_versioned(db: &mut TestDb) {
        let s = &db.store;
        let before = head_seq(s).await;
        let first = vec![
            provider("tw", "twilio", Some("tw")),
            provider("ob", "outbox", None),
            provider("kn", "kannel", Some("kn")),
        ];
        assert_eq!(
            s.replace_providers(&first, &draft("messaging.providers.set", "p"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(head_seq(s).await, before + 1);
        let got = s.list_providers().await.unwrap().unwrap();
        assert_eq!(got.version, 1);
        assert_eq!(got.providers, first);

        let second = vec![
            provider("kn", "kannel", Some("kn2")),
            provider("new", "outbox", None),
        ];
        assert_eq!(
            s.replace_providers(&second, &draft("messaging.providers.set", "p"))
                .await
                .unwrap(),
            2
        );
        db.restart().await;
        let s = &db.store;
        assert_eq!(s.find_provider_version().await.unwrap(), Some(2));
        assert_eq!(s.list_providers().await.unwrap().unwrap().providers, second);
        // A duplicate name is refused as a whole: the stored list is untouched.
        let dup = vec![provider("a", "outbox", None), provider("a", "outbox", None)];
        let e = s
            .replace_providers(&dup, &draft("messaging.providers.set", "p"))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        assert_eq!(s.find_provider_version().await.unwrap(), Some(2));
        assert_eq!(s.list_providers().await.unwrap().unwrap().providers, second);
        assert_eq!(head_seq(s).await, before + 2);
    }

    pub async fn rotation_reseals_provider_credentials_bound_to_the_name(db: &mut TestDb) {
        let s = &db.store;
        let list = vec![
            provider("tw", "twilio", Some("old")),
            provider("ob", "outbox", None),
        ];
        s.replace_providers(&list, &draft("messaging.providers.set", "p"))
            .await
            .unwrap();
        let items = provider_items(s).await;
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].aad, provider_aad("tw"));
        assert_eq!(items[0].sealed, sealed("old"));

        let wrong = SealedItem {
            aad: provider_aad("other"),
            sealed: sealed("wrong"),
            ..items[0].clone()
        };
        let e = s
            .update_sealed(&[wrong], &draft("key.reseal", "master-key"))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
        assert_eq!(provider_items(s).await[0].sealed, sealed("old"));

        let new = SealedItem {
            sealed: sealed("new"),
            ..items[0].clone()
        };
        s.update_sealed(&[new], &draft("key.reseal", "master-key"))
            .await
            .unwrap();
        let got = s.list_providers().await.unwrap().unwrap();
        assert_eq!(got.providers[0].secrets_sealed, Some(sealed("new")));
        // Re-sealing is not a change of the list.
        assert_eq!(got.version, 1);
    }

    pub async fn clearing_returns_to_the_file_and_versions_are_never_reused(db: &mut TestDb) {
        let s = &db.store;
        let list = vec![provider("tw", "twilio", Some("t"))];
        s.replace_providers(&list, &draft("messaging.providers.set", "p"))
            .await
            .unwrap();
        s.replace_providers(&list, &draft("messaging.providers.set", "p"))
            .await
            .unwrap();
        let seq = head_seq(s).await;
        assert!(
            s.clear_providers(&draft("messaging.providers.clear", "p"))
                .await
                .unwrap()
        );
        assert_eq!(head_seq(s).await, seq + 1);
        assert_eq!(s.find_provider_version().await.unwrap(), None);
        assert_eq!(s.list_providers().await.unwrap(), None);
        assert!(provider_items(s).await.is_empty());
        // Nothing to clear: no change and no record.
        assert!(
            !s.clear_providers(&draft("messaging.providers.clear", "p"))
                .await
                .unwrap()
        );
        assert_eq!(head_seq(s).await, seq + 1);
        // Set again: version 4 (1, 2, cleared as 3), not 1.
        assert_eq!(
            s.replace_providers(&list, &draft("messaging.providers.set", "p"))
                .await
                .unwrap(),
            4
        );
    }

    pub async fn concurrent_replacements_each_count_and_never_mix(db: &mut TestDb) {
        let s = &db.store;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let list = vec![
                    provider(&format!("a{i}"), "outbox", None),
                    provider(&format!("b{i}"), "twilio", Some(&format!("s{i}"))),
                ];
                s.replace_providers(&list, &draft("messaging.providers.set", "p"))
                    .await
                    .unwrap()
            }));
        }
        let mut versions = Vec::new();
        for t in tasks {
            versions.push(t.await.unwrap());
        }
        versions.sort_unstable();
        assert_eq!(versions, (1..=8).collect::<Vec<_>>());
        let got = s.list_providers().await.unwrap().unwrap();
        assert_eq!(got.version, 8);
        assert_eq!(got.providers.len(), 2);
        let i = got.providers[0].name.trim_start_matches('a').to_owned();
        assert_eq!(got.providers[1].name, format!("b{i}"));
    }
}
