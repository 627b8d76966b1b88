#!/usr/bin/env node
// A scriptable stand-in for the Fireworks (OpenAI-compatible) API.
//
//   node fakeapi.js --port 8081 [--log attempts.jsonl]
//
// Each request follows a script given in its "x-fw-script" header (or the
// "script" query argument): steps separated by commas, one per attempt,
// the last one repeating.  Attempts are counted per "x-fw-id" header (or
// "id" argument), so concurrent clients each run their own script.
//
// A step is KIND[;key=value]...:
//   200                 a chat completion (JSON, Content-Length)
//   200;chunked=1       the same without Content-Length
//   4xx / 5xx           an error JSON body like the real API's; options:
//                       ra=V (Retry-After: V), ram=V (retry-after-ms: V),
//                       radate=S (Retry-After as an HTTP-date S s ahead)
//   204                 no content
//   sse;n=N;ms=M        N chat.completion.chunk events M ms apart, [DONE];
//                       ts=1 adds "fw_sent", the write time (epoch ms,
//                       fractional) to each event, for the benchmarks;
//                       first=F waits F ms between the header and the
//                       first event (the API's time to first token)
//   stall;n=N;ms=M      N events, then silence with the connection open
//   cut;n=N;ms=M        N events, then the connection is closed
//                       sse, stall and cut take cl=1 (Content-Length of
//                       the whole stream, N events and [DONE], so that a
//                       cut one ends short of it) and gzip=1 (the stream
//                       gzipped, Content-Encoding: gzip, flushed after
//                       each event; no Content-Length)
//   slow;ms=M           wait M ms, then a chat completion
//   hang                accept and never answer
//   close               close the connection without an answer
//   reset               reset the connection without an answer
//   badchunk;status=S   S with Transfer-Encoding: chunked and an invalid
//                       chunk, then the connection closes
//   stallbody;status=S  S with Content-Length, half of the body, silence
//   big;mb=N            200, N MB of JSON with Content-Length, written
//                       as fast as the client takes it
//   koi                 200, text/plain in KOI8-R ("Привет, мир")
//   garbage             a response that is not HTTP, then the close
//   sseerr;status=S     200 text/event-stream whose first event is an
//                       error object carrying status S, then the end
//   ssebad              200 text/event-stream whose first event's data is
//                       broken JSON ({"error":{"detail":{]},...}), then
//                       one more event and the end
// Options of any status step: gzip=1 (the body gzipped, Content-Encoding),
// hdr=Name:Value|Name:Value (extra response headers).
//
// Control: GET /_attempts?id=X (JSON list of recorded attempts;
// ?prefix=P: those of every id that starts with P),
// GET /_health.  Each attempt records its arrival time, method, URL,
// headers, body length and SHA-256, and the client's port (the same port
// means the same keep-alive connection); once its answer is over, what
// the stand-in sent of the answer's body: resp_len and resp_sha256.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const zlib = require('zlib');

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];

const port = parseInt(opt.port || '8081', 10);
const logFile = opt.log || null;
const counters = new Map();
const attempts = new Map();

const reasons = {
  400: ['invalid_request_error', 'bad_request', 'Invalid request: messages must not be empty'],
  401: ['authentication_error', 'unauthorized', 'The API key you provided is invalid.'],
  404: ['not_found_error', 'model_not_found', 'Model not found, inaccessible, and/or not deployed'],
  408: ['timeout_error', 'request_timeout', 'Request timed out'],
  422: ['invalid_request_error', 'unprocessable_entity', 'Unprocessable entity'],
  429: ['rate_limit_error', 'rate_limit_exceeded', 'Rate limit exceeded, please retry later'],
  500: ['server_error', 'internal_error', 'Internal server error'],
  502: ['server_error', 'bad_gateway', 'Bad gateway'],
  503: ['server_error', 'service_unavailable', 'The server is overloaded, please retry later'],
  504: ['server_error', 'gateway_timeout', 'Gateway timeout'],
};

function parseStep(s) {
  const parts = s.trim().split(';');
  const step = { kind: parts[0] };
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    step[p.slice(0, eq)] = decodeURIComponent(p.slice(eq + 1));
  }
  return step;
}

function model(body) {
  try { return JSON.parse(body).model || 'accounts/fireworks/models/llama-v3p1-8b-instruct'; }
  catch (e) { return 'accounts/fireworks/models/llama-v3p1-8b-instruct'; }
}

function completion(id, m) {
  return JSON.stringify({
    id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: m,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the stand-in.' },
                finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 },
  });
}

function chunk(id, m, i, n, ts) {
  const ev = {
    id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: m,
    choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content: 'tok0 ' } : { content: 'tok' + i + ' ' },
                finish_reason: i === n - 1 ? 'stop' : null }],
  };
  if (ts) ev.fw_sent = performance.timeOrigin + performance.now();
  return 'data: ' + JSON.stringify(ev) + '\n\n';
}

// What a stream's events are written through: the response itself, or
// with gzip=1 a gzip stream flushed after each event (as an API that
// compresses SSE must, or its events would wait in the compressor).
function encoder(res, gzip) {
  if (!gzip) {
    return { write: (s, cb) => { res.write(s); cb(); }, end: (s) => res.end(s) };
  }
  const gz = zlib.createGzip();
  const drain = () => { let d; while ((d = gz.read()) !== null) res.write(d); };
  return {
    write: (s, cb) => {
      gz.write(s);
      gz.flush(zlib.constants.Z_SYNC_FLUSH, () => { drain(); cb(); });
    },
    end: (s) => {
      gz.on('readable', drain);
      gz.on('end', () => res.end());
      gz.end(s);
    },
  };
}

function stream(req, res, step, id, m, end) {
  const n = parseInt(step.n || '5', 10);
  const ms = parseInt(step.ms || '50', 10);
  const gzip = step.gzip === '1';
  const headers = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache',
                    'x-request-id': id };
  let events = null;
  if (gzip) headers['Content-Encoding'] = 'gzip';
  if (step.cl === '1' && !gzip) {
    // the length of the whole stream, as if it were to complete
    events = [];
    for (let i = 0; i < n; i++) events.push(chunk(id, m, i, n, step.ts === '1'));
    headers['Content-Length'] = Buffer.byteLength(events.join('') + 'data: [DONE]\n\n');
  }
  res.writeHead(200, headers);
  res.flushHeaders();
  const out = encoder(res, gzip);
  let i = 0;
  const first = parseInt(step.first || '0', 10);
  const tick = () => {
    if (res.destroyed) return;
    if (i < n) {
      const ev = events ? events[i] : chunk(id, m, i, n, step.ts === '1');
      i++;
      out.write(ev, () => setTimeout(tick, ms));
      return;
    }
    if (end === 'done') { out.end('data: [DONE]\n\n'); }
    else if (end === 'cut') { res.socket.destroy(); }
    // 'stall': leave it open
  };
  if (first > 0) setTimeout(tick, first);
  else tick();
}

function answer(req, res, step, body, id) {
  const m = model(body);
  const k = step.kind;
  const status = /^\d{3}$/.test(k) ? parseInt(k, 10) : 0;

  if (k === 'hang') return;
  if (k === 'close') { req.socket.destroy(); return; }
  if (k === 'reset') { req.socket.resetAndDestroy(); return; }
  if (k === 'sse') return stream(req, res, step, id, m, 'done');
  if (k === 'stall') return stream(req, res, step, id, m, 'stall');
  if (k === 'cut') return stream(req, res, step, id, m, 'cut');
  if (k === 'badchunk') {
    const st = parseInt(step.status || '503', 10);
    req.socket.end('HTTP/1.1 ' + st + ' Error\r\nContent-Type: application/json\r\n'
                   + 'Transfer-Encoding: chunked\r\n\r\n5\r\n{"err\r\nzz\r\nbroken\r\n');
    return;
  }
  if (k === 'stallbody') {
    const st = parseInt(step.status || '503', 10);
    const out = JSON.stringify({ error: { object: 'error', type: 'server_error', code: 'x', message: 'stalled' } });
    res.writeHead(st, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) });
    res.write(out.slice(0, 10));
    return;
  }
  if (k === 'big') {
    const size = Math.round(parseFloat(step.mb || '1') * 1048576);
    const chunk = Buffer.alloc(65536, 'x');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': size });
    let left = size;
    const more = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { res.once('drain', more); return; }
      }
      res.end();
    };
    more();
    return;
  }
  if (k === 'sseerr') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'x-request-id': id });
    res.end('data: {"error":{"object":"error","type":"rate_limit_error","code":'
            + (step.status || '429') + ',"message":"Rate limit exceeded"}}\n\n');
    return;
  }
  if (k === 'ssebad') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'x-request-id': id });
    res.end('data: {"error":{"detail":{]},"code":503}}\n\ndata: {"a":[}]}\n\n');
    return;
  }
  if (k === 'garbage') { req.socket.end('HELLO, I AM NOT HTTP\r\n\r\n'); return; }
  if (k === 'koi') {
    const out = Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x2c, 0x20, 0xcd, 0xc9, 0xd2]);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': out.length });
    res.end(out);
    return;
  }
  if (k === 'slow') {
    setTimeout(() => answer(req, res, { kind: step.status || '200' }, body, id),
               parseInt(step.ms || '1000', 10));
    return;
  }
  if (!status) { res.writeHead(500); res.end('bad script step ' + k); return; }

  const headers = { 'x-request-id': id };
  if (status === 204) { res.writeHead(204, headers); res.end(); return; }

  let out;
  if (status < 300) {
    out = completion(id, m);
    headers['Content-Type'] = 'application/json';
  } else {
    const r = reasons[status] || ['error', 'error', 'Error ' + status];
    out = JSON.stringify({ error: { object: 'error', type: r[0], code: r[1], message: r[2] } });
    headers['Content-Type'] = 'application/json';
    if (status === 429) {
      headers['x-ratelimit-limit-requests'] = '60';
      headers['x-ratelimit-remaining-requests'] = '0';
      headers['x-ratelimit-reset-requests'] = '1s';
    }
  }
  if (step.ra !== undefined) headers['Retry-After'] = step.ra;
  if (step.ram !== undefined) headers['retry-after-ms'] = step.ram;
  if (step.radate !== undefined) {
    headers['Retry-After'] = new Date(Date.now() + parseFloat(step.radate) * 1000).toUTCString();
  }
  if (step.hdr !== undefined) {
    for (const h of step.hdr.split('|')) {
      const i = h.indexOf(':');
      headers[h.slice(0, i)] = h.slice(i + 1);
    }
  }
  if (step.gzip) {
    out = zlib.gzipSync(Buffer.from(out));
    headers['Content-Encoding'] = 'gzip';
  }
  if (!step.chunked) headers['Content-Length'] = Buffer.byteLength(out);
  res.writeHead(status, headers);
  res.end(out);
}

function control(req, res, url) {
  if (url.pathname === '/_health') { res.writeHead(200); res.end('ok'); return; }
  const id = url.searchParams.get('id') || '';
  const prefix = url.searchParams.get('prefix');
  let list = attempts.get(id) || [];
  if (prefix !== null) {
    list = [];
    for (const [k, v] of attempts) if (k.startsWith(prefix)) list.push(...v);
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(list));
}

const server = http.createServer((req, res) => {
  const t = Date.now();
  const url = new URL(req.url, 'http://stand-in');
  if (url.pathname.startsWith('/_')) return control(req, res, url);

  const script = req.headers['x-fw-script'] || url.searchParams.get('script') || '200';
  const id = req.headers['x-fw-id'] || url.searchParams.get('id') || script;
  const hash = crypto.createHash('sha256');
  const chunks = [];
  let len = 0;

  req.on('data', (d) => { hash.update(d); len += d.length; if (len < 65536) chunks.push(d); });
  req.on('end', () => {
    const n = counters.get(id) || 0;
    counters.set(id, n + 1);
    const steps = script.split(',');
    const step = parseStep(steps[Math.min(n, steps.length - 1)]);
    const rec = { t, id, n: n + 1, method: req.method, url: req.url, headers: req.headers,
                  body_len: len, body_sha256: hash.digest('hex'), step: step.kind,
                  peer_port: req.socket.remotePort };
    if (!attempts.has(id)) attempts.set(id, []);
    attempts.get(id).push(rec);

    // what the answer's body is, as sent: whole, cut or none
    const sent = crypto.createHash('sha256');
    let sentLen = 0;
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    const count = (d) => {
      // a slow answer may still be written after its client has gone
      if (rec.resp_sha256 === undefined && d && typeof d !== 'function') {
        const b = Buffer.isBuffer(d) ? d : Buffer.from(d);
        sent.update(b);
        sentLen += b.length;
      }
    };
    res.write = (d, ...a) => { count(d); return write(d, ...a); };
    res.end = (d, ...a) => { count(d); return end(d, ...a); };
    const done = () => {
      if (rec.resp_sha256 === undefined) {
        rec.resp_len = sentLen;
        rec.resp_sha256 = sent.digest('hex');
      }
    };
    res.on('finish', done);
    res.on('close', done);
    if (logFile) fs.appendFileSync(logFile, JSON.stringify(rec) + '\n');
    answer(req, res, step, Buffer.concat(chunks).toString(), id);
  });
  req.on('error', () => {});
  res.on('error', () => {});
});

server.keepAliveTimeout = 120000;
server.headersTimeout = 130000;
server.requestTimeout = 0;
server.maxConnections = 20000;
server.on('clientError', (err, socket) => { socket.destroy(); });
server.listen(port, '127.0.0.1', () => {
  process.stdout.write('listening ' + port + '\n');
});
process.on('SIGTERM', () => process.exit(0));
