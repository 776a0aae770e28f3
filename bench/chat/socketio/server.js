// The socket.io 4 baseline of bench/chat.sh: what a real chat does, minimally.
//
// A client connects (websocket transport only), emits `join` (a room name, acknowledged) and
// then `send` ({room, client_id, body}, acknowledged); the server numbers the message per room
// and hands it to everyone in the room with `io.to(room).emit("message", …)`, the sender
// included, as gonggu does. It stores nothing: gonggu writes each message to its database
// before it acknowledges or broadcasts it.
//
// PORT (required); REDIS_URL set: @socket.io/redis-adapter, so several processes share rooms.
// GET /healthz answers "ok" once the adapter is connected.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT);
if (!port) {
  console.error("PORT is required");
  process.exit(2);
}

const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  } else {
    res.writeHead(404);
    res.end();
  }
});

const io = new Server(httpServer, {
  transports: ["websocket"],
  serveClient: false,
  cors: { origin: false },
});

const seqs = new Map();

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    if (typeof room !== "string" || room.length === 0) return;
    socket.join(room);
    if (typeof ack === "function") ack(true);
  });
  socket.on("send", (m, ack) => {
    if (!m || typeof m.room !== "string" || typeof m.body !== "string" || !socket.rooms.has(m.room)) return;
    const seq = (seqs.get(m.room) || 0) + 1;
    seqs.set(m.room, seq);
    io.to(m.room).emit("message", {
      room: m.room,
      seq,
      kind: "text",
      client_id: m.client_id,
      sender: { id: socket.id },
      body: m.body,
      sent_at: new Date().toISOString(),
    });
    if (typeof ack === "function") ack({ client_id: m.client_id, seq });
  });
});

async function main() {
  if (process.env.REDIS_URL) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    pub.on("error", (e) => console.error("redis:", e.message));
    sub.on("error", (e) => console.error("redis:", e.message));
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub, { key: process.env.REDIS_KEY || "socket.io" }));
  }
  httpServer.listen(port, "127.0.0.1", () => console.log(`socket.io on 127.0.0.1:${port}`));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
