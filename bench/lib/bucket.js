#!/usr/bin/env node
// The rate-limited stand-in API of bench/storm.pl: a token bucket of
// --rate tokens per second holding at most --burst tokens, full at the
// start.  An attempt that finds a token is answered 200 with a chat
// completion; one that finds none is answered 429 with the API's JSON
// error at once.  Like Fireworks by default: every answer carries the
// limits Fireworks documents (x-ratelimit-limit-tokens-prompt,
// -cache-adjusted-prompt and -generated, tokens per second), a 429 says
// nothing about when to come back (no Retry-After, no remaining counts).
// With --retry-after 1 (or /_reset?retry_after=1) the 429 carries what
// the stand-in once sent: Retry-After (whole seconds, rounded up: RFC
// 9110's delay-seconds) and, with --ms 1, retry-after-ms (exact) set to
// the time until the next token, and x-ratelimit-remaining-requests and
// -reset-requests.  During an outage every attempt is answered 503 (no
// Retry-After: a Fireworks 503 is load shedding and says nothing about
// when to come back), and uses no token.
//
//   node bucket.js --port P --rate 50 [--burst 50] [--ms 0]
//                  [--retry-after 0]
//
// Control, on the same port:
//   GET /_reset?outage_in=MS&outage_for=MS&retry_after=0|1   refill the
//       bucket, forget the attempts; optionally an outage starting MS
//       from now; optionally the 429s' kind
//   GET /_stats   {t0, outage: [start, end], attempts: [[ms, status], ...]}
//       the attempts since the reset, ms since the reset (one clock:
//       Date.now() here and in the client)
'use strict';

const http = require('http');

const a = process.argv.slice(2);
const o = {};
for (let i = 0; i < a.length; i += 2) o[a[i].replace(/^--/, '')] = a[i + 1];

const port = parseInt(o.port, 10);
const rate = parseFloat(o.rate || '50');
const burst = parseFloat(o.burst || String(rate));
const ms = o.ms === '1';
let retryAfter = o['retry-after'] === '1';

const completion = JSON.stringify({
  id: 'chatcmpl-8f1c2a', object: 'chat.completion', created: 1731000000,
  model: 'accounts/fireworks/models/llama-v3p1-8b-instruct',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?' },
              finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
});
const limited = JSON.stringify({ error: { object: 'error', type: 'rate_limit_error',
  code: 'rate_limit_exceeded', message: 'Rate limit exceeded, please retry later' } });
const shed = JSON.stringify({ error: { object: 'error', type: 'server_error',
  code: 'service_unavailable', message: 'The server is overloaded, please retry later' } });

let tokens, last, t0, outage, attempts;

function reset(url) {
  t0 = Date.now();
  tokens = burst;
  last = t0;
  attempts = [];
  const inMs = parseFloat(url.searchParams.get('outage_in') || '');
  const forMs = parseFloat(url.searchParams.get('outage_for') || '');
  outage = inMs >= 0 && forMs > 0 ? [inMs, inMs + forMs] : null;
  const ra = url.searchParams.get('retry_after');
  if (ra !== null) retryAfter = ra === '1';
}

reset(new URL('http://x/'));

// the bucket's state now: tokens refilled since the last look

function refill(now) {
  tokens = Math.min(burst, tokens + (now - last) * rate / 1000);
  last = now;
}

function answer(res, status, headers, body) {
  headers['Content-Type'] = 'application/json';
  headers['Content-Length'] = Buffer.byteLength(body);
  res.writeHead(status, headers);
  res.end(body);
}

function attempt(req, res) {
  const now = Date.now();
  const t = now - t0;

  if (outage && t >= outage[0] && t < outage[1]) {
    attempts.push([t, 503]);
    answer(res, 503, {}, shed);
    return;
  }

  refill(now);

  // Fireworks' documented limits, tokens per second: 12 prompt and 9
  // generated tokens per completion here
  const headers = {
    'x-ratelimit-limit-tokens-prompt': String(Math.round(rate * 12)),
    'x-ratelimit-limit-tokens-cache-adjusted-prompt': String(Math.round(rate * 12)),
    'x-ratelimit-limit-tokens-generated': String(Math.round(rate * 9)),
  };
  if (retryAfter) headers['x-ratelimit-limit-requests'] = String(Math.round(rate * 60));

  if (tokens >= 1) {
    tokens -= 1;
    if (retryAfter) headers['x-ratelimit-remaining-requests'] = String(Math.floor(tokens));
    attempts.push([t, 200]);
    answer(res, 200, headers, completion);
    return;
  }

  if (retryAfter) {
    // the time until the next token, at least 1 ms
    const wait = Math.max(1, Math.ceil((1 - tokens) * 1000 / rate));
    headers['x-ratelimit-remaining-requests'] = '0';
    headers['x-ratelimit-reset-requests'] = (wait / 1000).toFixed(3) + 's';
    headers['x-ratelimit-over-limit'] = 'yes';
    headers['Retry-After'] = String(Math.ceil(wait / 1000));
    if (ms) headers['retry-after-ms'] = String(wait);
  }
  attempts.push([t, 429]);
  answer(res, 429, headers, limited);
}

http.createServer({ keepAliveTimeout: 120000 }, (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/_reset') {
    reset(url);
    res.end('ok');
    return;
  }
  if (url.pathname === '/_stats') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ t0, outage, attempts }));
    return;
  }
  // read the request body whole before answering, as the API does
  req.on('data', () => {});
  req.on('end', () => attempt(req, res));
}).listen(port, '127.0.0.1');
