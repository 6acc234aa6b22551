//! Secrets at rest: the master key, authenticated encryption of stored credentials, API
//! token generation and hashing, and keyed fingerprints.
//!
//! Stored ciphertext is `v1:<base64 nonce>:<base64 ciphertext>` sealed with
//! XChaCha20-Poly1305 under the master key, with the row's identity as associated data so a
//! ciphertext copied onto another row does not decrypt. Fingerprints are HMAC-SHA256 under a
//! key derived from the master key, so a fingerprint cannot be used to guess a weak password
//! offline.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("master key must be 32 bytes encoded as base64")]
    BadKey,
    #[error("stored secret could not be decrypted (wrong master key or tampered row)")]
    Decrypt,
    #[error("key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
}

/// The key that seals every secret the daemon stores.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = B64.decode(text.trim()).map_err(|_| SecretError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(Self { key })
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self { key }
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.key)
    }

    /// Reads the key from `path`, or creates it there (mode 0600) when the file is absent.
    /// Returns the key and whether it was generated.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), SecretError> {
        let io = |source| SecretError::KeyFile { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::from_base64(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private_file(path, key.to_base64().as_bytes()).map_err(io)?;
                Ok((key, true))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Seals `plaintext`; `context` (the row's identity) must be given again to open it.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        format!("v1:{}:{}", B64.encode(nonce), B64.encode(sealed))
    }

    pub fn open(&self, context: &str, stored: &str) -> Result<Vec<u8>, SecretError> {
        let mut parts = stored.splitn(3, ':');
        let (Some("v1"), Some(nonce), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretError::Decrypt);
        };
        let nonce = B64.decode(nonce).map_err(|_| SecretError::Decrypt)?;
        let body = B64.decode(body).map_err(|_| SecretError::Decrypt)?;
        if nonce.len() != 24 {
            return Err(SecretError::Decrypt);
        }
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        cipher
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &body, aad: context.as_bytes() })
            .map_err(|_| SecretError::Decrypt)
    }

    /// A short keyed fingerprint: equal secrets give equal fingerprints, and it reveals
    /// nothing that helps guess the secret without the master key.
    pub fn fingerprint(&self, data: &[u8]) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.derive(b"fingerprint")).expect("HMAC takes keys of any length");
        mac.update(data);
        let out = mac.finalize().into_bytes();
        format!("hmac-sha256:{}", hex::encode(&out[..12]))
    }

    fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"fluidform-derive:");
        h.update(purpose);
        h.update(self.key);
        h.finalize().into()
    }
}

/// Writes a file readable only by its owner.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

/// A new API token: `ff_` and 32 random bytes, URL-safe base64.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("ff_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Tokens are random and long, so a plain SHA-256 is a sufficient one-way hash.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_context_binding() {
        let key = MasterKey::generate();
        let sealed = key.seal("cluster:a", b"hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open("cluster:a", &sealed).unwrap(), b"hunter2");
        assert!(matches!(key.open("cluster:b", &sealed), Err(SecretError::Decrypt)));
        let other = MasterKey::generate();
        assert!(matches!(other.open("cluster:a", &sealed), Err(SecretError::Decrypt)));
    }

    #[test]
    fn fingerprint_is_keyed_and_stable() {
        let key = MasterKey::generate();
        assert_eq!(key.fingerprint(b"x"), key.fingerprint(b"x"));
        assert_ne!(key.fingerprint(b"x"), key.fingerprint(b"y"));
        assert_ne!(key.fingerprint(b"x"), MasterKey::generate().fingerprint(b"x"));
    }

    #[test]
    fn bad_keys_are_rejected() {
        assert!(MasterKey::from_base64("short").is_err());
        let key = MasterKey::generate();
        assert!(MasterKey::from_base64(&key.to_base64()).is_ok());
    }
}
