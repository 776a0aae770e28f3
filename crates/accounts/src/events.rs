//! Events `accounts` publishes through its outbox.

use gonggu_kernel::events::Event;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Neighborhood;

/// A new account exists (wallet opens one for it, push prepares preferences).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub login_id: String,
    pub neighborhood: Option<Neighborhood>,
}
impl Event for UserRegistered {
    const TYPE: &'static str = "UserRegistered";
    const SOURCE: &'static str = "accounts";
}

/// Sessions ended (logout, revoke, password change, refresh-token reuse): every context drops
/// access tokens of these sessions, chat closes their sockets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionsRevoked {
    pub user_id: Uuid,
    pub session_ids: Vec<Uuid>,
    /// `logout`, `revoked`, `others_revoked`, `password_changed`, `password_reset`, `token_reuse`.
    pub reason: String,
}
impl Event for SessionsRevoked {
    const TYPE: &'static str = "SessionsRevoked";
    const SOURCE: &'static str = "accounts";
}

/// The user's interest keywords changed (push uses them for keyword alerts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordsChanged {
    pub user_id: Uuid,
    pub login_id: String,
    pub keywords: Vec<String>,
}
impl Event for KeywordsChanged {
    const TYPE: &'static str = "KeywordsChanged";
    const SOURCE: &'static str = "accounts";
}

/// The user's neighbourhoods changed: set, cleared, switched, or their reach (deals' feed and
/// push's keyword alerts follow the active one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighborhoodChanged {
    pub user_id: Uuid,
    /// The active one.
    pub neighborhood: Option<Neighborhood>,
    /// The other one kept to switch to.
    #[serde(default)]
    pub second: Option<Neighborhood>,
}
impl Event for NeighborhoodChanged {
    const TYPE: &'static str = "NeighborhoodChanged";
    const SOURCE: &'static str = "accounts";
}
