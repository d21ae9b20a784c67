//! Access tokens and roles: a bearer token's secret is checked against the
//! stored SHA-256 hashes, comparing every one in constant time. Tokens are
//! read on their own connection (`Store::token_reader`), so a check never
//! waits for the writer; they are re-read at most once a second (a
//! revocation takes effect within a second) and on an unknown secret (a
//! token just added works at once).
//!
//! Must not: know about HTTP (the API maps the answers to 401/403/503).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub use crate::store::Role;
use crate::store::{StoreError, TokenReader, TokenRecord};

/// How long tokens read from the store are trusted before a re-read.
const TOKENS_FRESH: Duration = Duration::from_secs(1);

/// SHA-256 of a token's secret, as stored.
pub fn token_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The token with this hash, comparing against every token so the time
/// taken says nothing of which one (if any) matched.
fn find_token(tokens: &[TokenRecord], hash: &[u8; 32]) -> Option<(String, Role)> {
    let mut found = None;
    for t in tokens {
        if constant_time_eq(&t.hash, hash) {
            found = Some((t.name.clone(), t.role));
        }
    }
    found
}

/// Equality that takes the same time wherever the first difference is.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Tokens as last read, and when.
struct Cache {
    read_at: Instant,
    tokens: Vec<TokenRecord>,
}

/// The server's view of the access tokens.
pub struct Tokens {
    cache: Mutex<Cache>,
    /// `None`: a store without tokens (a data folder).
    reader: Option<Mutex<Box<dyn TokenReader>>>,
}

impl Tokens {
    /// Tokens as read at start-up, and their reader.
    pub fn new(tokens: Vec<TokenRecord>, reader: Option<Box<dyn TokenReader>>) -> Tokens {
        Tokens {
            cache: Mutex::new(Cache {
                read_at: Instant::now(),
                tokens,
            }),
            reader: reader.map(Mutex::new),
        }
    }

    /// The name and role of the token with this secret, if any; an error
    /// when the secret is not among the tokens already read and they cannot
    /// be read now (a database out of reach, or another check reading them
    /// this instant): "cannot check", not "invalid".
    pub fn check(&self, secret: &str) -> Result<Option<(String, Role)>, StoreError> {
        let hash = token_hash(secret);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = find_token(&cache.tokens, &hash);
        let stale = cache.read_at.elapsed() > TOKENS_FRESH;
        if !(stale || found.is_none()) {
            return Ok(found);
        }
        let Some(reader) = &self.reader else {
            return Ok(found);
        };
        match reader.try_lock().ok().map(|mut r| r.tokens()) {
            Some(Ok(tokens)) => {
                cache.tokens = tokens;
                cache.read_at = Instant::now();
                found = find_token(&cache.tokens, &hash);
            }
            Some(Err(e)) if found.is_none() => return Err(e),
            Some(Err(e)) => tracing::warn!(error = %e, "cannot read the access tokens"),
            None if found.is_none() => {
                return Err(StoreError::Unavailable(
                    "the tokens are being read and this one is not among those already read".into(),
                ))
            }
            None => {}
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<TokenRecord>);
    impl TokenReader for Fixed {
        fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
            Ok(self.0.clone())
        }
    }

    fn record(name: &str, role: Role, secret: &str) -> TokenRecord {
        TokenRecord {
            name: name.into(),
            role,
            hash: token_hash(secret),
            created: String::new(),
        }
    }

    #[test]
    fn a_token_added_after_start_up_works_at_once_and_others_do_not() {
        let later = vec![
            record("alice", Role::Editor, "s1"),
            record("bob", Role::Admin, "s2"),
        ];
        let t = Tokens::new(later[..1].to_vec(), Some(Box::new(Fixed(later))));
        assert_eq!(t.check("s1").unwrap(), Some(("alice".into(), Role::Editor)));
        assert_eq!(t.check("s2").unwrap(), Some(("bob".into(), Role::Admin)));
        assert_eq!(t.check("nope").unwrap(), None);
    }
}
