//! What chat publishes (DESIGN §3).

use gonggu_kernel::events::Event;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A member's message was stored in a room; push tells the other members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessagePosted {
    pub room_id: Uuid,
    pub seq: i64,
    pub sender_id: Uuid,
    pub sender_login_id: String,
    /// The deal's title.
    pub title: String,
    /// The message's first line, shortened (`사진` for an image).
    pub preview: String,
    /// Everyone in the room, the sender included.
    pub member_ids: Vec<Uuid>,
    /// Members who have the room open on a visible screen now (on any instance): they saw the
    /// message arrive and need no push for it.
    #[serde(default)]
    pub viewing_ids: Vec<Uuid>,
}

impl Event for ChatMessagePosted {
    const TYPE: &'static str = "ChatMessagePosted";
    const SOURCE: &'static str = "chat";
}
