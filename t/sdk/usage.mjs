// The openai SDK streams with stream_options.include_usage through the
// gateway: prints, as one JSON line, the text it read and the usage its
// last chunk told.
//
//   node usage.mjs BASE_URL ID

import OpenAI from 'openai';

const [base, id] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base, apiKey: 'fw-test', maxRetries: 0 });

try {
  const s = await client.chat.completions.create(
    { model: 'accounts/fireworks/models/llama-v3p1-8b-instruct',
      messages: [{ role: 'user', content: 'Say hello' }],
      stream: true, stream_options: { include_usage: true } },
    { headers: { 'x-fw-script': 'sse;n=5;ms=20;pt=21;cached=8', 'x-fw-id': id } });
  let text = '';
  let usage = null;
  for await (const c of s) {
    text += c.choices[0]?.delta?.content ?? '';
    if (c.usage) usage = c.usage;
  }
  console.log(JSON.stringify({ content: text, usage }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e?.message ?? e) }));
}
