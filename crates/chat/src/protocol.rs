//! The socket's frames (`GET /ws`), JSON with a `type` field. See `docs/chat-protocol.md`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{domain::RoomState, MessageView};

/// What a client sends.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// The first frame of a client without the session cookie (API clients).
    Auth {
        access_token: String,
    },
    /// A message: `body`, or the key of a photo uploaded to media first (`POST /api/v1/media`).
    Send {
        room_id: Uuid,
        client_id: String,
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        image_key: Option<String>,
    },
    Read {
        room_id: Uuid,
        seq: i64,
    },
    /// The newest seq the client has of each room: everything after it is sent, then live.
    Resume {
        rooms: HashMap<Uuid, i64>,
    },
    Typing {
        room_id: Uuid,
    },
    /// The room this tab shows on a visible screen now (`null`: none), so no push is sent for
    /// what arrives there.
    Viewing {
        #[serde(default)]
        room_id: Option<Uuid>,
    },
}

/// What the server sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Who the socket belongs to, once authenticated, and where they stand in each room (for
    /// unread badges: `last_seq − read_seq` each).
    Hello {
        login_id: String,
        rooms: Vec<RoomPosition>,
    },
    /// The client's message is stored as `seq`.
    Ack {
        client_id: String,
        room_id: Uuid,
        seq: i64,
    },
    Message(MessageView),
    /// `login_id` has read `room_id` up to `seq`.
    Read {
        room_id: Uuid,
        login_id: String,
        seq: i64,
    },
    Typing {
        room_id: Uuid,
        login_id: String,
    },
    /// The room changed for this user: `left` (no longer a member) or its state.
    Room {
        room_id: Uuid,
        state: RoomFrameState,
    },
    /// The host pinned a notice at the top of the room (`null`: took it down).
    Pin {
        room_id: Uuid,
        pin: Option<crate::store::Pin>,
    },
    /// The user's 알림 inbox changed (a notice came, or notices were read elsewhere): refresh
    /// the 🔔 badge from `GET /notifications/unread`.
    Notices,
    Error {
        code: String,
        message: String,
        /// The `send` it answers, when it answers one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoomPosition {
    pub room_id: Uuid,
    pub last_seq: i64,
    pub read_seq: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum RoomFrameState {
    Open,
    Closed,
    Left,
}

impl From<RoomState> for RoomFrameState {
    fn from(s: RoomState) -> Self {
        match s {
            RoomState::Open => RoomFrameState::Open,
            RoomState::Closed => RoomFrameState::Closed,
        }
    }
}

/// Close codes beyond the standard ones.
pub mod close {
    /// No valid session or token.
    pub const UNAUTHORIZED: u16 = 4401;
    /// The session was revoked or logged out elsewhere.
    pub const SESSION_ENDED: u16 = 4403;
    /// The client did not keep up with its frames; resume from the last seq.
    pub const TOO_SLOW: u16 = 4408;
    /// No frame or pong within the heartbeat window.
    pub const TIMED_OUT: u16 = 4000;
    /// The server could not read the user's rooms (storage unavailable); reconnect later.
    pub const UNAVAILABLE: u16 = 1011;
}
