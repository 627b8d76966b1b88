// The openai Node SDK with a long prompt (over 200 KB), streamed and not,
// through a gateway location that echoes $fireworks_model and
// $fireworks_stream in the X-Model and X-Stream response headers.
//
//   node bodies.mjs BASE_URL
//
// Prints one JSON line per scenario: the headers seen and the text.

import OpenAI from 'openai';

const [base] = process.argv.slice(2);
const model = 'accounts/fireworks/models/deepseek-r1';
const prompt = 'Summarise this: ' + 'All work and no play. '.repeat(10000);
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

function seen(response) {
  return {
    model: response.headers.get('x-model'),
    stream: response.headers.get('x-stream'),
    length: prompt.length,
  };
}

await scenario('long', async () => {
  const { data, response } = await oa.chat.completions.create(
    { messages: [{ role: 'user', content: prompt }], model },
    { headers: hdr('503,200', 'sdk-long') }).withResponse();
  return { ...seen(response), content: data.choices[0].message.content };
});

await scenario('long-stream', async () => {
  const { data, response } = await oa.chat.completions.create(
    { messages: [{ role: 'user', content: prompt }], model, stream: true },
    { headers: hdr('503,sse;n=3;ms=10', 'sdk-long-stream') }).withResponse();
  let text = '';
  for await (const c of data) {
    text += c.choices[0]?.delta?.content ?? '';
  }
  return { ...seen(response), content: text };
});
