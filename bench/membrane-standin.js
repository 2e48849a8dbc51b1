#!/usr/bin/env node
// A stand-in for Membrane's CLI (`membrane request ...`) for benchmarks: a real Node process per
// call, so its start-up cost is real, forwarding each request to the emulator's HTTP server.
//
//   STANDIN_API_URL     the emulator's API root (ends in /v2); STANDIN_TOKEN its token
//   STANDIN_STARTUP_MS  CPU milliseconds the process spends before it sends anything, counted
//                       from its own start (Node's boot included): the real CLI loads and compiles
//                       its bundle first. Default 300.
//   STANDIN_HOP_MS      milliseconds added to each answer: the round trip through Membrane's
//                       service to ClickTime and back. Default 150.
//   STANDIN_LOG         a file that gets one line per call (method, path, exit status)
//
// It prints what the tool assumes the real CLI prints (reconciler/clicktime/membrane/assumptions.py):
// ClickTime's body as JSON on success; for an answer of 400 or more, Membrane's error object on
// stderr with exit status 1. `--version` and `connection list --json` are answered too.
"use strict";

const http = require("http");
const fs = require("fs");

function burn(cpuMs) {
  // Work rather than sleep: a CLI's start-up competes for the processor with everything else.
  let sink = 0;
  while (true) {
    const used = process.cpuUsage();
    if ((used.user + used.system) / 1000 >= cpuMs) return sink;
    for (let i = 0; i < 20000; i++) sink = (sink * 31 + i) % 1000003;
  }
}

function parse(argv) {
  const positionals = [];
  const flags = { query: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-X") flags.method = argv[++i];
    else if (arg === "-d") flags.data = argv[++i];
    else if (arg === "--query") flags.query.push(argv[++i]);
    else if (arg === "--json" || arg === "--version") flags[arg.slice(2)] = true;
    else if (arg.startsWith("-")) flags.unknown = arg;
    else positionals.push(arg);
  }
  return { positionals, flags };
}

function fail(error) {
  out(process.stderr, JSON.stringify(error) + "\n", 1);
}

function out(stream, text, code, method, path) {
  // Exit only once the pipe has taken everything: process.exit() would cut a long answer short.
  stream.write(text, () => finish(code, method, path));
}

function finish(code, method, path) {
  if (process.env.STANDIN_LOG) {
    fs.appendFileSync(process.env.STANDIN_LOG, `${method || "-"} ${path || "-"} ${code}\n`);
  }
  process.exit(code);
}

function request(connection, path, flags) {
  const method = (flags.method || "GET").toUpperCase();
  const url = new URL(process.env.STANDIN_API_URL.replace(/\/$/, "") + path);
  for (const item of flags.query) {
    const at = item.indexOf("=");
    // Membrane's request API takes the query as a string-to-string record: a repeated key keeps its last value.
    url.searchParams.set(item.slice(0, at), item.slice(at + 1));
  }
  const body = flags.data === undefined ? undefined : Buffer.from(flags.data);
  const headers = { Authorization: `Token ${process.env.STANDIN_TOKEN}`, Accept: "application/json" };
  if (body) {
    headers["Content-Type"] = "application/json";
    headers["Content-Length"] = body.length;
  }
  const sent = http.request(url, { method, headers }, (answer) => {
    const chunks = [];
    answer.on("data", (chunk) => chunks.push(chunk));
    answer.on("end", () => {
      setTimeout(() => {
        const text = Buffer.concat(chunks).toString("utf8");
        const status = answer.statusCode;
        if (status >= 400) {
          let data = text;
          try { data = JSON.parse(text); } catch (e) { /* passed on as text */ }
          out(process.stderr, JSON.stringify({
            type: "dependency_error", message: `Request failed with status code ${status}`,
            data: { request: { url: `/connections/${connection}/proxy${path}`, method },
                    response: { status, data, headers: answer.headers } } }) + "\n", 1, method, path);
        } else {
          out(process.stdout, text.trim() ? (text.endsWith("\n") ? text : text + "\n") : "", 0, method, path);
        }
      }, Number(process.env.STANDIN_HOP_MS ?? 150));
    });
  });
  sent.on("error", (error) => fail({ type: "internal", message: String(error) }));
  if (body) sent.write(body);
  sent.end();
}

const { positionals, flags } = parse(process.argv.slice(2));
burn(Number(process.env.STANDIN_STARTUP_MS ?? 300));
if (flags.unknown) {
  fail({ type: "bad_request", message: `Unknown option ${flags.unknown}` });
} else if (flags.version && positionals.length === 0) {
  out(process.stdout, "1.18.0\n", 0);
} else if (positionals[0] === "connection" && positionals[1] === "list") {
  out(process.stdout, JSON.stringify({ items: [{ id: "con_standin", name: "ClickTime", state: "READY",
    disconnected: false, integration: { key: "clicktime", name: "ClickTime" } }] }) + "\n", 0);
} else if (positionals[0] === "request" && positionals.length === 3) {
  request(positionals[1], positionals[2], flags);
} else {
  fail({ type: "bad_request", message: `Unknown command: ${positionals.join(" ")}` });
}
