//! What push publishes (DESIGN §3).

use gonggu_kernel::events::Event;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// These users' 알림 inboxes changed (a new notice, or notices read): their open tabs refresh
/// the 🔔 badge (chat's socket tells them). Not for chat notices: the chat frames that go with
/// them already do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticesChanged {
    pub user_ids: Vec<Uuid>,
}

impl Event for NoticesChanged {
    const TYPE: &'static str = "NoticesChanged";
    const SOURCE: &'static str = "push";
}

/// Users per event: a keyword alert can reach thousands at once, and an event stays small.
pub const USERS_PER_EVENT: usize = 1000;
