// The Node peer of the benchmark (bench/loadgen.py --target node).
//
// socket.io with @socket.io/redis-adapter: every room broadcast is published to Redis, so
// the same workload would work across any number of nodes. The workload is ours: a visitor
// and an agent join the room of their conversation (`join`, acked), and each `msg` is
// relayed to the rest of the room and acked to its sender.
//
//   node server.js --port 8001 --redis redis://127.0.0.1:6379/0
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main() {
  const port = Number(arg("--port", "8001"));
  const host = arg("--host", "127.0.0.1");
  const url = arg("--redis", "redis://127.0.0.1:6379/0");
  const prefix = arg("--prefix", "socket.io");

  const pub = createClient({ url });
  const sub = pub.duplicate();
  pub.on("error", (err) => console.error("redis pub:", err.message));
  sub.on("error", (err) => console.error("redis sub:", err.message));
  await Promise.all([pub.connect(), sub.connect()]);

  const server = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    res.writeHead(404);
    res.end();
  });
  const io = new Server(server, {
    serveClient: false,
    transports: ["websocket"],
    perMessageDeflate: false,
    maxHttpBufferSize: 2 * 1024 * 1024,
    cors: { origin: "*" },
    adapter: createAdapter(pub, sub, { key: prefix }),
  });

  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(String(room));
      if (typeof ack === "function") ack({ ok: true });
    });
    socket.on("msg", (data, ack) => {
      socket.to(String(data.room)).emit("msg", data);
      if (typeof ack === "function") ack({ ok: true });
    });
  });

  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  server.listen(port, host, () => {
    console.log(`ready node socket.io ${require("socket.io/package.json").version} on ${host}:${port}`);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
