//! What accounts brings to a process (see `gonggu_kernel::module`).

use std::{sync::Arc, time::Duration};

use gonggu_kernel::{
    db::SqliteTuning,
    events::OutboxSignal,
    module::{Job, Module, Platform},
};

use crate::{api::AccountsState, mail::Mailer, password::PasswordHasher, service::Limits, Accounts};

/// The parts of accounts' set-up that come from the process's settings.
pub struct AccountsConfig {
    pub mailer: Mailer,
    pub hasher: PasswordHasher,
    /// Keys the hashes of one-time codes (derived from the process secret).
    pub code_pepper: Vec<u8>,
}

pub const NAME: &str = "accounts";

pub async fn module(platform: &Platform, config: AccountsConfig) -> anyhow::Result<(Arc<Accounts>, Module)> {
    use anyhow::Context as _;
    let db = platform.database(NAME, SqliteTuning::default()).await?;
    let signal = OutboxSignal::default();
    let store = crate::store::open(&db, signal.clone()).await.context("accounts migrations failed")?;
    let accounts = Arc::new(Accounts {
        store,
        auth: platform.auth.clone(),
        hasher: config.hasher,
        mailer: config.mailer,
        clock: platform.clock.clone(),
        limits: Limits::default(),
        profiles: Default::default(),
        code_pepper: config.code_pepper,
    });
    // Revocations live in memory; those still within an access token's lifetime come back at start.
    accounts.load_revocations().await.context("cannot load revoked sessions")?;
    let pruned = accounts.clone();
    let module = Module::new(NAME)
        .api(crate::api::router(AccountsState { accounts: accounts.clone(), auth: platform.auth.clone() }))
        .pages(crate::pages::router(accounts.clone()))
        .database_with_outbox(db, signal, None)
        .job(Job::every("accounts-limit-pruner", Duration::from_secs(300), false, move || {
            pruned.limits.prune();
            async { Ok(()) }
        }));
    Ok((accounts, module))
}
