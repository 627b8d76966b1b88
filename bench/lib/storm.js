#!/usr/bin/env node
// The clients of bench/storm.pl: open-loop arrivals, one new client
// request every 1/--rate s for --duration s whatever happened to the
// others (users do not wait for each other), each POSTing a chat
// completion request to --port --path.  With --warm S, the first S s
// offer --warm-rate/s instead (the route as it was before the surge).
//
// With --tries 1 a client request is one HTTP request (behind a gateway,
// which retries).  With more, each client retries on its own as the
// seed's recipe says: after a 429, 500, 502, 503 or 504 or a failed
// connection, wait base * 2^attempt + U(0, jitter) (attempt = 0 after the
// first try: 1 s, 2 s, 4 s, 8 s with the defaults) and try again, up to
// --tries tries.  Retry-After is ignored: the recipe is backoff.  No
// wait starts that would end past --deadline (ms from the client
// request's start); an HTTP request still running at the deadline is
// cut (status 0).
//
//   node storm.js --port P --path /x --rate 100 --duration 30
//                 [--warm 6 --warm-rate 50] [--reset URL]
//
// With --reset, GETs URL first (the stand-in's /_reset), so that its
// clock and schedule start with the clients, not with this process.
//                 [--tries 5] [--base 1000] [--jitter 1000] [--deadline 60000]
//
// Prints one JSON object: t0 (Date.now() at the start: the stand-in's
// clock too), and per client request [start ms, end ms, status, tries].
'use strict';

const http = require('http');

const a = process.argv.slice(2);
const o = {};
for (let i = 0; i < a.length; i += 2) o[a[i].replace(/^--/, '')] = a[i + 1];

const port = parseInt(o.port, 10);
const path = o.path || '/v1/chat/completions';
const rate = parseFloat(o.rate || '100');
const duration = parseFloat(o.duration || '30') * 1000;
const warm = parseFloat(o.warm || '0') * 1000;
const warmRate = parseFloat(o['warm-rate'] || '0');
const tries = parseInt(o.tries || '1', 10);
const base = parseFloat(o.base || '1000');
const jitter = parseFloat(o.jitter || '1000');
const deadline = parseFloat(o.deadline || '60000');
const retryable = new Set([429, 500, 502, 503, 504]);
const body = '{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",'
  + '"messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}';

// keepalive, as an SDK's client does; no cap on connections: a capped
// pool would queue requests in the client and close the open loop
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

let t0 = Date.now();
const now = () => Date.now() - t0;
const results = [];
let pending = 0;
let started = 0;
const warmTotal = Math.round(warmRate * warm / 1000);
const total = warmTotal + Math.round(rate * duration / 1000);

function send(timeout, cb) {
  let done = false;
  const end = (status) => { if (!done) { done = true; cb(status); } };
  const req = http.request({ port, host: '127.0.0.1', path, method: 'POST', agent,
    headers: { 'Content-Type': 'application/json', 'Content-Length': body.length,
               Authorization: 'Bearer fw_bench_key' } }, (res) => {
    res.on('data', () => {});
    res.on('end', () => end(res.statusCode));
    res.on('error', () => end(0));
  });
  req.setTimeout(Math.max(1, timeout), () => { req.destroy(); end(0); });
  req.on('error', () => end(0));
  req.end(body);
}

function client() {
  const start = now();
  let attempt = 0;
  pending++;
  const go = () => {
    send(start + deadline - now(), (status) => {
      attempt++;
      const delay = base * 2 ** (attempt - 1) + Math.random() * jitter;
      if ((status === 0 || retryable.has(status)) && attempt < tries
          && now() + delay < start + deadline) {
        setTimeout(go, delay);
        return;
      }
      results.push([start, now(), status, attempt]);
      if (--pending === 0 && started === total) finish();
    });
  };
  go();
}

// arrivals on a fixed schedule: request i at i / rate s, late ones
// caught up at once, so that a busy moment does not thin the load

function tick() {
  const t = now();
  const due = Math.min(total, t < warm
    ? Math.floor(t * warmRate / 1000) + 1
    : warmTotal + Math.floor((t - warm) * rate / 1000) + 1);
  while (started < due) { started++; client(); }
  if (started < total) setTimeout(tick, 1);
}

function finish() {
  process.stdout.write(JSON.stringify({ t0, warm, rate, duration, results }) + '\n');
  process.exit(0);
}

if (o.reset) {
  http.get(o.reset, (res) => {
    res.resume();
    res.on('end', () => { t0 = Date.now(); tick(); });
  }).on('error', (e) => { console.error(e.message); process.exit(1); });
} else {
  tick();
}
