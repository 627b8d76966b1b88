#!/usr/bin/env node
// Opens N connections, each sending one POST with its own x-bench-id, in
// batches (so the listen queue never overflows), and waits for all the
// answers.  With --prime PATH, each POST is preceded by a GET of PATH
// with the same x-bench-id on a connection of its own, answered before
// the POST is sent.  Prints one JSON line: statuses of the POSTs, errors,
// the time the last POST was sent and the last answer came (s from
// start), the POSTs' latency percentiles in ms.
//
//   node hold.js --port P --path /x --n 10000 [--batch 500] [--every 50]
//                [--prime /y] [--prefix h]
'use strict';

const net = require('net');

const a = process.argv.slice(2);
const o = {};
for (let i = 0; i < a.length; i += 2) o[a[i].replace(/^--/, '')] = a[i + 1];

const port = parseInt(o.port, 10);
const path = o.path || '/v1/chat/completions';
const n = parseInt(o.n || '1000', 10);
const batch = parseInt(o.batch || '500', 10);
const every = parseInt(o.every || '50', 10);
const prefix = o.prefix || 'h';
const body = '{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",'
  + '"messages":[{"role":"user","content":"hi"}]}';

const statuses = {};
const lat = [];
let errors = 0, started = 0, done = 0, lastSent = 0;
const t0 = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - t0) / 1e6;

// One request on a connection of its own (raw sockets: no agent limits
// or pooling); cb(status or null) once the whole answer came.

function request(head, payload, cb) {
  const s = net.connect(port, '127.0.0.1');
  let buf = '';
  let finished = false;
  const end = (status) => {
    if (finished) return;
    finished = true;
    s.destroy();
    cb(status);
  };
  s.setEncoding('latin1');
  s.on('connect', () => {
    s.write(head + payload);
    if (payload) lastSent = now();
  });
  s.on('data', (d) => {
    buf += d;
    const m = buf.match(/^HTTP\/1\.1 (\d+)[^]*?\r\n\r\n/);
    if (m) {
      const cl = buf.match(/\r\ncontent-length: *(\d+)/i);
      const head = buf.indexOf('\r\n\r\n') + 4;
      if (cl && buf.length - head >= parseInt(cl[1], 10)) end(m[1]);
    }
  });
  s.on('end', () => { const m = buf.match(/^HTTP\/1\.1 (\d+)/); end(m ? m[1] : null); });
  s.on('error', () => end(null));
}

function one(i) {
  const id = prefix + i;
  const post = () => {
    const start = now();
    request(`POST ${path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n`
      + `Content-Length: ${body.length}\r\nX-Bench-Id: ${id}\r\nConnection: close\r\n\r\n`,
      body, (status) => {
        if (status) {
          statuses[status] = (statuses[status] || 0) + 1;
          lat.push(now() - start);
        } else {
          errors++;
        }
        if (++done === n) report();
      });
  };
  if (!o.prime) return post();
  request(`GET ${o.prime} HTTP/1.1\r\nHost: bench\r\nX-Bench-Id: ${id}\r\n`
    + 'Connection: close\r\n\r\n', '', (status) => {
    if (status === '200') return post();
    errors++;
    if (++done === n) report();
  });
}

function report() {
  lat.sort((x, y) => x - y);
  const p = (q) => lat.length ? +lat[Math.min(lat.length - 1, Math.floor(q * lat.length))].toFixed(1) : 0;
  console.log(JSON.stringify({ n, statuses, errors, sent: +(lastSent / 1000).toFixed(3),
    elapsed: +(now() / 1000).toFixed(3), p50: p(0.5), p99: p(0.99), max: p(1) }));
  process.exit(0);
}

function next() {
  for (let k = 0; k < batch && started < n; k++) one(started++);
  if (started < n) setTimeout(next, every);
}

next();
