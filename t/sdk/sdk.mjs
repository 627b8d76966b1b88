// Real clients through the gateway: the official openai SDK and the Vercel
// AI SDK's Fireworks provider, both with their own retries off, so every
// retry seen is the gateway's.
//
//   node sdk.mjs BASE_URL SHORT_BASE_URL CLIENT_RETRY_BASE_URL
//
// BASE_URL is a fireworks_pass location with the default 5 tries,
// SHORT_BASE_URL one with 2, CLIENT_RETRY_BASE_URL one with 2 and
// fireworks_client_retry on.  Prints one JSON line per scenario.  The
// "default retries" scenarios use the openai SDK as it comes: it retries
// 429 and 5xx twice unless told "x-should-retry: false".

import OpenAI from 'openai';
import { createFireworks } from '@ai-sdk/fireworks';
import { generateText, streamText } from 'ai';

const [base, short, clientRetry] = process.argv.slice(2);
const model = 'accounts/fireworks/models/llama-v3p1-8b-instruct';
const messages = [{ role: 'user', content: 'Say hello' }];

function hdr(script, id) {
  return { 'x-fw-script': script, 'x-fw-id': id };
}

function report(name, fields) {
  console.log(JSON.stringify({ name, ...fields }));
}

function errFields(e) {
  return {
    error: e?.constructor?.name,
    status: e?.status ?? e?.statusCode ?? null,
    message: String(e?.message ?? e),
  };
}

async function scenario(name, fn) {
  try {
    report(name, await fn());
  } catch (e) {
    report(name, errFields(e));
  }
}

const oa = (url) => new OpenAI({ baseURL: url, apiKey: 'fw-test', maxRetries: 0 });

await scenario('openai-plain', async () => {
  const r = await oa(base).chat.completions.create(
    { model, messages }, { headers: hdr('429;ra=0,503,200', 'oa-plain') });
  return { content: r.choices[0].message.content };
});

await scenario('openai-stream', async () => {
  const s = await oa(base).chat.completions.create(
    { model, messages, stream: true },
    { headers: hdr('503,sse;n=4;ms=20', 'oa-stream') });
  let text = '';
  let chunks = 0;
  for await (const c of s) {
    chunks++;
    text += c.choices[0]?.delta?.content ?? '';
  }
  return { chunks, content: text };
});

await scenario('openai-exhausted', async () => {
  await oa(short).chat.completions.create(
    { model, messages }, { headers: hdr('503', 'oa-out') });
  return { content: 'no error' };
});

await scenario('openai-default-retries', async () => {
  const client = new OpenAI({ baseURL: short, apiKey: 'fw-test' });
  await client.chat.completions.create(
    { model, messages }, { headers: hdr('503', 'oa-amp') });
  return { content: 'no error' };
});

await scenario('openai-default-retries-on', async () => {
  const client = new OpenAI({ baseURL: clientRetry, apiKey: 'fw-test' });
  await client.chat.completions.create(
    { model, messages }, { headers: hdr('503', 'oa-amp-on') });
  return { content: 'no error' };
});

await scenario('openai-400', async () => {
  await oa(base).chat.completions.create(
    { model, messages }, { headers: hdr('400,200', 'oa-400') });
  return { content: 'no error' };
});

const fw = (url, script, id) => createFireworks({
  baseURL: url, apiKey: 'fw-test', headers: hdr(script, id),
});

await scenario('ai-plain', async () => {
  const r = await generateText({
    model: fw(base, '429;ra=0,503,200', 'ai-plain')(model),
    prompt: 'Say hello', maxRetries: 0,
  });
  return { content: r.text };
});

await scenario('ai-stream', async () => {
  const r = streamText({
    model: fw(base, '503,sse;n=4;ms=20', 'ai-stream')(model),
    prompt: 'Say hello', maxRetries: 0,
    onError: () => {},
  });
  let text = '';
  let chunks = 0;
  for await (const d of r.textStream) {
    chunks++;
    text += d;
  }
  return { chunks, content: text };
});

await scenario('ai-exhausted', async () => {
  await generateText({
    model: fw(short, '503', 'ai-out')(model),
    prompt: 'Say hello', maxRetries: 0,
  });
  return { content: 'no error' };
});

await scenario('ai-400', async () => {
  await generateText({
    model: fw(base, '400,200', 'ai-400')(model),
    prompt: 'Say hello', maxRetries: 0,
  });
  return { content: 'no error' };
});
