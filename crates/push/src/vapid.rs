//! VAPID (RFC 8292): the server's P-256 key, and the signed JWT push services check. One key
//! for every instance: from configuration, else made at first start and kept in push's
//! database (the data dir in one process, the shared schema when scaled).

use std::{collections::HashMap, sync::Mutex};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Duration, Utc};
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};

pub struct Vapid {
    encoding: jsonwebtoken::EncodingKey,
    /// Uncompressed point, base64url: the browser's `applicationServerKey`.
    public_key: String,
    /// The `sub` claim: how a push service reaches the operator.
    contact: String,
    /// Signed tokens per push-service origin, reused until an hour before they expire.
    tokens: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
}

/// A token lives 12 h (RFC 8292 allows up to 24 h).
const TOKEN_LIFE: Duration = Duration::hours(12);

/// A fresh private key, PKCS#8 DER.
pub fn generate() -> Vec<u8> {
    let rng = ring::rand::SystemRandom::new();
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("P-256 key generation").as_ref().to_vec()
}

impl Vapid {
    /// From a PKCS#8 DER private key.
    pub fn from_pkcs8(der: &[u8], contact: &str) -> anyhow::Result<Self> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| anyhow::anyhow!("the VAPID private key is not a P-256 PKCS#8 key: {e}"))?;
        Ok(Self {
            encoding: jsonwebtoken::EncodingKey::from_ec_der(der),
            public_key: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            contact: contact.to_owned(),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization` header for a push to `origin`: `vapid t=<jwt>, k=<public key>`.
    pub fn authorization(&self, origin: &str, now: DateTime<Utc>) -> anyhow::Result<String> {
        let mut tokens = self.tokens.lock().expect("vapid tokens");
        let token = match tokens.get(origin) {
            Some((t, exp)) if *exp - Duration::hours(1) > now => t.clone(),
            _ => {
                let exp = now + TOKEN_LIFE;
                let claims = serde_json::json!({ "aud": origin, "exp": exp.timestamp(), "sub": self.contact });
                let t = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256), &claims, &self.encoding)?;
                tokens.insert(origin.to_owned(), (t.clone(), exp));
                t
            }
        };
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_verifies_with_the_public_key_and_is_reused_per_origin() {
        let v = Vapid::from_pkcs8(&generate(), "https://gonggu.example").unwrap();
        let now = Utc::now();
        let a = v.authorization("https://push.example.com", now).unwrap();
        assert_eq!(a, v.authorization("https://push.example.com", now + Duration::hours(2)).unwrap(), "cached");
        assert_ne!(a, v.authorization("https://other.example.com", now).unwrap());
        assert_ne!(
            a,
            v.authorization("https://push.example.com", now + Duration::hours(11) + Duration::minutes(1)).unwrap(),
            "renewed before expiry"
        );
        let (t, k) = a.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        let point = URL_SAFE_NO_PAD.decode(k).unwrap();
        assert_eq!(point.len(), 65);
        let key =
            jsonwebtoken::DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(&point[1..33]), &URL_SAFE_NO_PAD.encode(&point[33..]))
                .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&["https://push.example.com"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(t, &key, &validation).unwrap().claims;
        assert_eq!(claims["sub"], "https://gonggu.example");
    }
}
