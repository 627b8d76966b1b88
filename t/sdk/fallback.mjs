// The openai Node SDK through a location with fireworks_fallback: the
// primary answers 503 until its tries are spent, the fallback answers.
// The stand-in's answer names the model of the body it got.
//
//   node fallback.mjs BASE_URL
//
// Prints one JSON line per scenario.

import OpenAI from 'openai';

const [base] = process.argv.slice(2);
const model = 'accounts/me/deployedModels/dedicated-1';
const messages = [{ role: 'user', content: 'Say hello' }];
const oa = new OpenAI({ baseURL: base, apiKey: 'fw-test', maxRetries: 0 });

function hdr(script, id) {
  return { 'x-fw-script': script, 'x-fw-id': id };
}

async function scenario(name, fn) {
  try {
    console.log(JSON.stringify({ name, ...(await fn()) }));
  } catch (e) {
    console.log(JSON.stringify({ name, error: String(e?.message ?? e) }));
  }
}

await scenario('plain', async () => {
  const r = await oa.chat.completions.create(
    { messages, model }, { headers: hdr('503,503,503,200', 'sdk-fb') });
  return { model: r.model, content: r.choices[0].message.content };
});

await scenario('stream', async () => {
  const s = await oa.chat.completions.create(
    { messages, model, stream: true },
    { headers: hdr('503,503,503,sse;n=3;ms=10', 'sdk-fb-stream') });
  let text = '';
  let m = null;
  for await (const c of s) {
    m = c.model;
    text += c.choices[0]?.delta?.content ?? '';
  }
  return { model: m, content: text };
});
