#!/usr/bin/env node
// A small concurrent HTTP client for the load tests and benchmarks.
//
//   node load.js --port P [--path /v1/chat/completions] [--n 1000] [--c 50]
//                [--script 503,200] [--ids unique|same] [--body JSON]
//                [--rate R]
//
// Sends n POST requests, c at a time, over keep-alive connections; each
// request gets its own x-fw-id (so the stand-in runs its script afresh).
// Prints one JSON line: statuses seen, errors, elapsed seconds and
// per-request latency percentiles in ms (0.01 ms resolution).  With --rate,
// the first c requests start at R per second, not all at once.
'use strict';

const http = require('http');

const a = process.argv.slice(2);
const o = {};
for (let i = 0; i < a.length; i += 2) o[a[i].replace(/^--/, '')] = a[i + 1];

const port = parseInt(o.port, 10);
const path = o.path || '/v1/chat/completions';
const n = parseInt(o.n || '1000', 10);
const c = parseInt(o.c || '50', 10);
const script = o.script || '200';
const body = o.body || '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
const prefix = o.prefix || ('r' + process.pid + '-');
const agent = new http.Agent({ keepAlive: true, maxSockets: c });

const statuses = {};
const lat = [];
let errors = 0, sent = 0, done = 0;
const t0 = Date.now();

function one() {
  if (sent >= n) return;
  const i = sent++;
  const start = process.hrtime.bigint();
  const req = http.request({
    port, host: '127.0.0.1', path, method: 'POST', agent,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
               'x-fw-script': script, 'x-fw-id': o.ids === 'same' ? prefix : prefix + i },
  }, (res) => {
    res.on('data', () => {});
    res.on('end', () => {
      statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
      lat.push(Number(process.hrtime.bigint() - start) / 1e6);
      finish();
    });
  });
  req.on('error', () => { errors++; finish(); });
  req.end(body);
}

function finish() {
  done++;
  if (done === n) {
    lat.sort((x, y) => x - y);
    const p = (q) => lat.length
      ? +lat[Math.min(lat.length - 1, Math.floor(q * lat.length))].toFixed(2) : 0;
    console.log(JSON.stringify({ n, statuses, errors, elapsed: (Date.now() - t0) / 1000,
                                 p50: p(0.5), p99: p(0.99), max: p(1) }));
    agent.destroy();
    return;
  }
  one();
}

const first = Math.min(c, n);
const rate = parseInt(o.rate || '0', 10);

if (rate > 0) {
  // a few every 10 ms, so that the gateway's answers to each do not pile up
  let started = 0;
  const step = Math.max(1, Math.round(rate / 100));
  const timer = setInterval(() => {
    for (let k = 0; k < step && started < first; k++, started++) one();
    if (started >= first) clearInterval(timer);
  }, 10);
} else {
  for (let i = 0; i < first; i++) one();
}
