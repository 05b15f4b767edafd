//! Serde for secrets held in [`SecretString`]: `latchkey-crypto` keeps its secret types free
//! of serde on purpose, so the (de)serialisation is spelled out here, where the provider
//! configuration documents that its serialised form holds secrets in clear and must be
//! sealed before it is stored (see [`crate::ProviderSettings::secrets_mut`]).

use std::collections::BTreeMap;

use latchkey_crypto::secret::SecretString;
use serde::{Deserialize, Deserializer, Serializer};
use zeroize::Zeroizing;

/// `#[serde(with = "secret_serde::string")]` for one [`SecretString`].
pub mod string {
    use super::{Deserialize, Deserializer, SecretString, Serializer, Zeroizing};

    /// Writes the secret in clear (the caller seals the document).
    pub fn serialize<S: Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.expose())
    }

    /// Reads the secret; the intermediate buffer is wiped.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        Ok(SecretString::new(s.as_str().to_owned()))
    }
}

/// `#[serde(with = "secret_serde::map")]` for a name → secret map (HTTP headers).
pub mod map {
    use super::{BTreeMap, Deserialize, Deserializer, SecretString, Serializer, Zeroizing};
    use serde::ser::SerializeMap;

    /// Writes the map with values in clear (the caller seals the document).
    pub fn serialize<S: Serializer>(
        v: &BTreeMap<String, SecretString>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(v.len()))?;
        for (k, secret) in v {
            m.serialize_entry(k, secret.expose())?;
        }
        m.end()
    }

    /// Reads the map; values become secrets.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, SecretString>, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        Ok(raw
            .into_iter()
            .map(|(k, v)| {
                let v = Zeroizing::new(v);
                (k, SecretString::new(v.as_str().to_owned()))
            })
            .collect())
    }
}
