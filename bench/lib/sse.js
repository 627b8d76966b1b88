#!/usr/bin/env node
// Streams chat completions through each of several URLs in turn, one at a
// time, and times them: time to the response header, to the first body
// byte, and for every
// SSE event the delay between the stand-in writing it ("fw_sent", the
// same clock: both processes read performance.timeOrigin + now()) and the
// event arriving here.
//
//   node sse.js --urls http://..,http://.. --rounds 20 --script 'sse;n=20;ms=20;ts=1'
//
// Prints one JSON object: per URL, the lists header, ttfb and delay (ms).
'use strict';

const http = require('http');

const a = process.argv.slice(2);
const o = {};
for (let i = 0; i < a.length; i += 2) o[a[i].replace(/^--/, '')] = a[i + 1];

const urls = o.urls.split(',');
const rounds = parseInt(o.rounds || '10', 10);
const script = o.script || 'sse;n=20;ms=20;ts=1';
const body = '{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",'
  + '"stream":true,"messages":[{"role":"user","content":"hi"}]}';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const now = () => performance.timeOrigin + performance.now();
const out = {};
let seq = 0;

function one(url) {
  return new Promise((resolve, reject) => {
    const start = now();
    const r = out[url] = out[url] || { header: [], ttfb: [], delay: [], events: 0 };
    const req = http.request(url, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'x-fw-script': script,
                 'x-fw-id': 's' + process.pid + '-' + (seq++) },
    }, (res) => {
      let first = true, buf = '';
      r.header.push(now() - start);
      res.setEncoding('utf8');
      res.on('data', (d) => {
        const t = now();
        if (first) { r.ttfb.push(t - start); first = false; }
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const m = ev.match(/"fw_sent":([\d.]+)/);
          if (m) { r.delay.push(t - parseFloat(m[1])); r.events++; }
        }
      });
      res.on('end', () => res.statusCode === 200 ? resolve() : reject(new Error('status ' + res.statusCode)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

(async () => {
  // one unrecorded round first: connections, caches and the JIT warm up
  for (const u of urls) await one(u);
  for (const u of urls) delete out[u];

  for (let k = 0; k < rounds; k++) {
    for (const u of (k % 2 ? urls.slice().reverse() : urls)) await one(u);
  }
  console.log(JSON.stringify(out));
  agent.destroy();
})().catch((e) => { console.error(e.message); process.exit(1); });
