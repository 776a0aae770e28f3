//! `GET /ws`: one socket per browser tab carrying all of the user's rooms.
//!
//! Authenticated by the session cookie (pages' middleware) when the handshake comes from our own
//! origin, or by an `auth` frame with an access token as the first frame (API clients); never a
//! token in the URL. The server pings every [`PING_EVERY`]; a socket silent for [`SILENT_FOR`]
//! is closed. Frames for a socket wait in a bounded queue ([`crate::hub::QUEUE`]); a client that
//! lets it fill is disconnected and resumes.

use std::{
    collections::HashMap,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use axum::{
    extract::{
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        State,
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use futures::SinkExt;
use gonggu_kernel::{
    auth::{AuthUser, Authenticator},
    web::{origin_allowed, MaybeWebUser, WebSession},
    ApiError,
};
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    hub::Outgoing,
    protocol::{close, ClientFrame, ServerFrame},
    Chat,
};

pub const PING_EVERY: Duration = Duration::from_secs(15);
pub const SILENT_FOR: Duration = Duration::from_secs(30);
/// How long a client without the cookie has to send its `auth` frame.
const AUTH_WITHIN: Duration = Duration::from_secs(10);
/// Messages one resume hands over per room at most (older ones are history pages).
const RESUME_LIMIT: u32 = 500;
/// How long live frames wait for the client's `resume`.
const LIVE_AFTER: Duration = Duration::from_secs(2);
/// The longest client frame read (a 1,000-character message is about 3 KB).
const MAX_FRAME: usize = 16 * 1024;
/// What a socket reads into at once. tungstenite's default is 128 KiB a socket, held for the
/// socket's life; client frames are small, and a longer one grows the buffer while it lasts.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes gathered before a write (a batch longer than this goes out in several).
const WRITE_BUFFER: usize = 8 * 1024;
/// Frames written out together at most, when several are waiting.
const BATCH: usize = 64;

#[derive(Clone)]
pub struct WsState {
    pub chat: Arc<Chat>,
    pub auth: Arc<Authenticator>,
}

/// The upgrade. A signed-in browser must come from our own origin (a page elsewhere could
/// otherwise open a socket with the user's cookie).
pub async fn upgrade(
    State(state): State<WsState>,
    MaybeWebUser(user): MaybeWebUser,
    session: Option<axum::Extension<WebSession>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if user.is_some() {
        let origin = session.as_ref().map(|s| s.public_origin.as_str()).unwrap_or_default();
        if headers.get(axum::http::header::ORIGIN).is_none() || !origin_allowed(&headers, origin) {
            return StatusCode::FORBIDDEN.into_response();
        }
    }
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| serve(state, socket, user))
}

fn json(frame: &ServerFrame) -> Message {
    Message::Text(Utf8Bytes::from(serde_json::to_string(frame).expect("frames serialise")))
}

fn error_frame(e: &ApiError) -> ServerFrame {
    ServerFrame::Error { code: e.code.to_owned(), message: e.message.clone(), client_id: None }
}

async fn close_with(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
}

/// Waits for the `auth` frame of a client that came without the cookie.
async fn authenticate(socket: &mut WebSocket, auth: &Authenticator) -> Option<AuthUser> {
    let first = tokio::time::timeout(AUTH_WITHIN, socket.recv()).await.ok()??.ok()?;
    let Message::Text(text) = first else { return None };
    match serde_json::from_str::<ClientFrame>(&text) {
        Ok(ClientFrame::Auth { access_token }) => auth.verify(&access_token).ok(),
        _ => None,
    }
}

async fn serve(state: WsState, mut socket: WebSocket, user: Option<AuthUser>) {
    let user = match user {
        Some(u) => u,
        None => match authenticate(&mut socket, &state.auth).await {
            Some(u) => u,
            None => return close_with(socket, close::UNAUTHORIZED, "auth").await,
        },
    };
    let mut conn = Conn { chat: state.chat.clone(), user, sent: HashMap::new(), live: false, socket_id: Uuid::now_v7(), viewing: None };
    talk(&mut conn, socket).await;
    if conn.viewing.is_some() {
        let _ = conn.chat.viewing(&conn.user, conn.socket_id, None).await;
    }
}

/// The socket's life once it is signed in.
async fn talk(conn: &mut Conn, mut socket: WebSocket) {
    let (_registration, mut frames, dropped) = conn.chat.hub.register(conn.user.user_id, conn.user.session_id);
    let rooms = match conn.chat.positions(&conn.user).await {
        Ok(r) => r,
        Err(_) => return close_with(socket, close::UNAVAILABLE, "unavailable").await,
    };
    if socket.send(json(&ServerFrame::Hello { login_id: conn.user.login_id.clone(), rooms })).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = Instant::now();
    // Live frames wait until the client's first frame (its `resume`, which replays what it
    // missed), or a moment: then they follow the replay, with no gap and no repeat.
    let live_from = Instant::now() + LIVE_AFTER;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(live_from), if !conn.live => conn.live = true,
            incoming = socket.recv() => {
                let Some(Ok(msg)) = incoming else { return };
                heard = Instant::now();
                match msg {
                    Message::Text(text) => {
                        for frame in conn.handle(&text).await {
                            if socket.send(json(&frame)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Message::Close(_) => return,
                    _ => {}
                }
            }
            frame = frames.recv(), if conn.live => {
                let Some(frame) = frame else {
                    let code = match dropped.load(Ordering::Relaxed) {
                        0 => close::TOO_SLOW,
                        code => code,
                    };
                    return close_with(socket, code, if code == close::SESSION_ENDED { "session ended" } else { "too slow" }).await;
                };
                // Whatever else is already waiting goes out in the same write.
                let mut batch = conn.in_order(frame).await;
                while batch.len() < BATCH {
                    let Ok(more) = frames.try_recv() else { break };
                    batch.extend(conn.in_order(more).await);
                }
                for frame in batch {
                    if socket.feed(Message::Text(frame.text.clone())).await.is_err() {
                        return;
                    }
                }
                if socket.flush().await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_FOR {
                    return close_with(socket, close::TIMED_OUT, "silent").await;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                if conn.viewing.is_some() {
                    conn.chat.still_viewing(conn.socket_id).await;
                }
            }
        }
    }
}

/// One socket's state: who it is, the newest seq it has been sent per room (so a message
/// replayed by a resume and also heard live goes out once, and a hole is noticed).
struct Conn {
    chat: Arc<Chat>,
    user: AuthUser,
    sent: HashMap<Uuid, i64>,
    /// Whether live frames flow yet (see `talk`).
    live: bool,
    /// This socket, for the room it shows (`viewing`).
    socket_id: Uuid,
    viewing: Option<Uuid>,
}

impl Conn {
    /// Whether `frame` is news to this socket (a message it has not been sent yet).
    fn fresh(&mut self, frame: &ServerFrame) -> bool {
        match frame {
            ServerFrame::Message(m) => match self.sent.get(&m.room_id) {
                Some(&newest) if m.seq <= newest => false,
                _ => {
                    self.sent.insert(m.room_id, m.seq);
                    true
                }
            },
            _ => true,
        }
    }

    /// What to send for a frame from the hub. A message this socket has had is dropped; one
    /// that skips seqs (another instance's message overtook it, or a fan-out frame was lost)
    /// brings the hole from storage first, so the client sees every room in seq order.
    async fn in_order(&mut self, frame: Arc<Outgoing>) -> Vec<Arc<Outgoing>> {
        let Some((room_id, seq)) = frame.message else { return vec![frame] };
        match self.sent.get(&room_id).copied() {
            Some(newest) if seq <= newest => vec![],
            Some(newest) if seq > newest + 1 => {
                // Stored before it was handed out, so the hole and this message are in storage.
                let missed = self.chat.since(&self.user, room_id, newest, RESUME_LIMIT).await.unwrap_or_default();
                if let Some(last) = missed.last() {
                    self.sent.insert(room_id, last.seq);
                }
                missed.into_iter().map(|m| Outgoing::new(&ServerFrame::Message(m))).collect()
            }
            _ => {
                self.sent.insert(room_id, seq);
                vec![frame]
            }
        }
    }

    /// The frames this socket answers a client frame with.
    async fn handle(&mut self, text: &str) -> Vec<ServerFrame> {
        let out = self.answer(text).await;
        self.live = true;
        out
    }

    async fn answer(&mut self, text: &str) -> Vec<ServerFrame> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(f) => f,
            Err(e) => {
                return vec![ServerFrame::Error {
                    code: "bad_frame".into(),
                    message: format!("읽을 수 없는 프레임입니다: {e}"),
                    client_id: None,
                }];
            }
        };
        match frame {
            ClientFrame::Auth { .. } => vec![],
            ClientFrame::Send { room_id, client_id, body, image_key } => {
                let posted = match crate::Draft::of(body.as_deref(), image_key.as_deref()) {
                    Ok(draft) => self.chat.post(&self.user, room_id, &client_id, draft).await,
                    Err(e) => Err(e),
                };
                match posted {
                    Ok(answer) => {
                        let ack = ServerFrame::Ack { client_id, room_id, seq: answer.message.seq };
                        // The message itself arrives through the hub (to every member's sockets);
                        // a resend was not handed out again, so this socket gets it here.
                        if answer.replayed {
                            let message = ServerFrame::Message(answer.message);
                            let mut out = vec![ack];
                            if self.fresh(&message) {
                                out.push(message);
                            }
                            out
                        } else {
                            vec![ack]
                        }
                    }
                    Err(e) => vec![ServerFrame::Error { code: e.code.to_owned(), message: e.message, client_id: Some(client_id) }],
                }
            }
            ClientFrame::Read { room_id, seq } => match self.chat.read(&self.user, room_id, seq).await {
                Ok(_) => vec![],
                Err(e) => vec![error_frame(&e)],
            },
            ClientFrame::Viewing { room_id } => match self.chat.viewing(&self.user, self.socket_id, room_id).await {
                Ok(()) => {
                    self.viewing = room_id;
                    vec![]
                }
                Err(e) => {
                    self.viewing = None;
                    vec![error_frame(&e)]
                }
            },
            ClientFrame::Typing { room_id } => match self.chat.typing(&self.user, room_id).await {
                Ok(()) => vec![],
                Err(e) => vec![error_frame(&e)],
            },
            ClientFrame::Resume { rooms } => {
                let mut out = vec![];
                for (room_id, after) in rooms {
                    // Everything the client asks for, even if this socket sent it before; live
                    // frames then skip what the replay covered.
                    match self.chat.since(&self.user, room_id, after.max(0), RESUME_LIMIT).await {
                        Ok(messages) => {
                            let newest = self.sent.entry(room_id).or_insert(after.max(0));
                            for m in messages {
                                *newest = (*newest).max(m.seq);
                                out.push(ServerFrame::Message(m));
                            }
                        }
                        Err(e) => out.push(error_frame(&e)),
                    }
                }
                out
            }
        }
    }
}
