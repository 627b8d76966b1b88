#!/usr/bin/env node
// A mixed, misbehaving load for t/34-chaos.t.
//
//   node chaos.js --port P --api A --seconds S --c C --out FILE
//
// C clients, each on connections of its own, send chat completions for S
// seconds with scripts drawn from a mix: successes, retried 503 and 429
// with Retry-After, slow answers, SSE streams, streams cut mid-way, hangs
// the gateway cuts; some clients leave during a wait, an attempt or a
// stream.  Then it reads from the stand-in (A) what was sent for each
// request, and writes one JSON line per request: what the client got,
// and what the stand-in's last attempt sent.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

const a = process.argv.slice(2);
const o = {};
for (let i = 0; i < a.length; i += 2) o[a[i].replace(/^--/, '')] = a[i + 1];

const port = parseInt(o.port, 10);
const seconds = parseFloat(o.seconds || '30');
const c = parseInt(o.c || '20', 10);
const body = JSON.stringify({ model: 'accounts/fireworks/models/llama-v3p1-8b-instruct',
                              messages: [{ role: 'user', content: 'hi' }] });

// script, weight, what the client does: wait out the answer, or leave
// after ms milliseconds, or after the first event
const mix = [
  ['200', 18], ['503,200', 14], ['429;ra=1,200', 10], ['503;ra=0.5,503,200', 5],
  ['slow;ms=700', 5], ['sse;n=6;ms=60', 10], ['503,sse;n=6;ms=60', 10],
  ['cut;n=3;ms=40', 5, 'cut'], ['hang,200', 4], ['400', 4],
  ['503;ra=2,200', 6, 'leave', 300], ['sse;n=30;ms=50', 5, 'leave-stream'],
  ['hang', 4, 'leave', 400],
];
const total = mix.reduce((s, m) => s + m[1], 0);

function pick() {
  let r = Math.random() * total;
  for (const m of mix) { if ((r -= m[1]) < 0) return m; }
  return mix[0];
}

const results = [];
let n = 0;
const end = Date.now() + seconds * 1000;

function one(done) {
  const [script, , how, after] = pick();
  const id = 'chaos-' + (n++);
  const rec = { id, script, how: how || 'wait', status: 0, len: 0, complete: false };
  const hash = crypto.createHash('sha256');
  const t0 = Date.now();
  let finished = false;
  const finish = (what) => {
    if (finished) return;
    finished = true;
    rec.result = what;
    rec.sha256 = hash.digest('hex');
    rec.ms = Date.now() - t0;
    results.push(rec);
    done();
  };
  const req = http.request({ port, host: '127.0.0.1', path: '/v1/chat/completions', method: 'POST',
    agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
                             'x-fw-script': script, 'x-fw-id': id } }, (res) => {
    rec.status = res.statusCode;
    res.on('data', (d) => {
      hash.update(d);
      rec.len += d.length;
      if (how === 'leave-stream' && /data: \{/.test(d.toString())) { req.destroy(); finish('left'); }
    });
    res.on('end', () => { rec.complete = !res.aborted; finish('end'); });
    res.on('aborted', () => finish('aborted'));
    res.on('error', () => finish('aborted'));
    res.on('close', () => finish(rec.complete ? 'end' : 'closed'));
  });
  req.on('error', (e) => { rec.error = e.code || String(e); finish('error'); });
  if (how === 'leave') setTimeout(() => { req.destroy(); finish('left'); }, after);
  req.end(body);
}

function client() {
  if (Date.now() >= end) { if (--running === 0) report(); return; }

  // no gateway to talk to (after the quit): ask again a little later
  one(() => {
    const last = results[results.length - 1];
    setTimeout(client, last && last.result === 'error' ? 200 : 0);
  });
}

let running = c;
for (let i = 0; i < c; i++) client();

function report() {
  // what the stand-in sent, by id: its last attempt for each
  http.get({ port: parseInt(o.api, 10), host: '127.0.0.1', path: '/_attempts?prefix=chaos-' }, (res) => {
    let raw = '';
    res.on('data', (d) => { raw += d; });
    res.on('end', () => {
      const last = new Map();
      for (const at of JSON.parse(raw)) {
        const p = last.get(at.id);
        if (!p || at.n > p.n) last.set(at.id, at);
      }
      const out = results.map((r) => {
        const at = last.get(r.id) || {};
        return JSON.stringify({ ...r, attempts: at.n || 0, sent_len: at.resp_len,
                                sent_sha256: at.resp_sha256 });
      });
      fs.writeFileSync(o.out, out.join('\n') + '\n');
      process.exit(0);
    });
  });
}
