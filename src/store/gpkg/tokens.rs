//! Access tokens in a GeoPackage store (`zoneatlas_tokens`, SHA-256 hashes
//! only): added and revoked by the command line, read by the server on its
//! own read-only connection so that a token check never waits for a commit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use super::{now_rfc3339, sql_err, GpkgStore};
use crate::store::{Role, StoreError, TokenReader, TokenRecord};

impl GpkgStore {
    /// Add a token; returns nothing (the caller holds the secret).
    pub fn add_token(&mut self, name: &str, role: Role, hash: &[u8; 32]) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO zoneatlas_tokens(name, role, hash, created) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.name(), crate::hex::encode(hash), now_rfc3339()],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Unavailable(format!("a token named {name:?} exists already"))
                }
                e => sql_err(&self.path)(e),
            })?;
        Ok(())
    }

    /// Remove a token by name; false when there was none.
    pub fn revoke_token(&mut self, name: &str) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "DELETE FROM zoneatlas_tokens WHERE name = ?1",
                params![name],
            )
            .map(|n| n > 0)
            .map_err(sql_err(&self.path))
    }

    /// A reader of the tokens on its own read-only connection.
    pub(super) fn token_reader_connection(&self) -> Result<Box<dyn TokenReader>, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| self.corrupt(format!("cannot open the tokens for reading: {e}")))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| self.corrupt(e.to_string()))?;
        Ok(Box::new(Tokens {
            conn,
            path: self.path.clone(),
        }))
    }
}

/// The tokens' reader (WAL: it reads the last committed state and never
/// blocks the writer).
struct Tokens {
    conn: Connection,
    path: PathBuf,
}

impl TokenReader for Tokens {
    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        read(&self.conn, &self.path)
    }
}

pub(super) fn read(conn: &Connection, path: &Path) -> Result<Vec<TokenRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT name, role, hash, created FROM zoneatlas_tokens ORDER BY name")
        .map_err(sql_err(path))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(sql_err(path))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, role, hash, created) = row.map_err(sql_err(path))?;
        if let (Some(role), Some(hash)) = (Role::parse(&role), crate::hex::decode32(&hash)) {
            out.push(TokenRecord {
                name,
                role,
                hash,
                created,
            });
        }
    }
    Ok(out)
}
