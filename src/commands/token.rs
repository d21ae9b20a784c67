//! `zoneatlas token add|list|revoke`: access tokens in a store (the
//! secret is printed once; the store keeps its SHA-256).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::auth::{token_hash, Role};
use crate::config::TokenCommand;
use crate::store::{display_name, open_existing, Store};

/// The store a token command names; it must exist.
fn open(store: &Path) -> anyhow::Result<Box<dyn Store>> {
    open_existing(store)
        .with_context(|| format!("opening {}", display_name(store)))?
        .with_context(|| {
            format!(
                "{}: no such store (serve it once to create it)",
                display_name(store)
            )
        })
}

/// `zoneatlas token add|list|revoke`.
pub fn run(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Add { store, role, name } => {
            let mut s = open(&store)?;
            let role = Role::parse(&role).context("role must be viewer, editor or admin")?;
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
            let secret = format!("za_{}", crate::hex::encode(&bytes));
            s.add_token(&name, role, &token_hash(&secret))?;
            say!(
                "token {name:?} ({}) added to {}; keep the secret below, it is not stored:",
                role.name(),
                crate::store::display_name(&store)
            );
            say!("{secret}");
        }
        TokenCommand::List { store } => {
            for t in open(&store)?.tokens()? {
                say!("{}\t{}\tcreated {}", t.name, t.role.name(), t.created);
            }
        }
        TokenCommand::Revoke { store, name } => {
            if !open(&store)?.revoke_token(&name)? {
                anyhow::bail!(
                    "no token named {name:?} in {}",
                    crate::store::display_name(&store)
                );
            }
            say!("token {name:?} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
