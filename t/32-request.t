#!/usr/bin/perl

# The request body, looked at: $fireworks_model and $fireworks_stream from
# the top-level keys of real-shaped JSON bodies (nested "model" keys never
# count; escapes, unicode, bodies in temp files, chunked bodies, invalid
# and deeply nested JSON), the body itself passed on untouched; a map on
# $fireworks_model choosing the workload per request, with the attempt's
# limits following it; the metrics' model label, bounded.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw/sha256_hex/;
use FW;

my $t = FW->new();

$t->run($t->gateway(http => <<'EOF1', locations => <<'EOF2'));
    fireworks_zone fireworks 1m;

    map $fireworks_model $fw_workload {
        ~*(deepseek-r1|qwq|thinking)        long_context;
        ~*^accounts/[^/]+/deployedModels/   agentic;
        "not-a-workload"                    chat;
        default                             interactive;
    }
EOF1
        client_max_body_size 8m;
        client_body_buffer_size 16k;
        fireworks_backoff 10ms;
        fireworks_jitter 0;

        location = /metrics {
            fireworks_metrics;
        }

        location /v1/ {
            fireworks_pass /_fireworks$uri;
            add_header X-Model "[$fireworks_model]" always;
            add_header X-Stream "[$fireworks_stream]" always;
        }

        location /big/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_inspect_size 64k;
            add_header X-Model "[$fireworks_model]" always;
        }

        location /mirrored/ {
            mirror /_mirror;
            fireworks_pass /_fireworks/v1/chat/completions;
            add_header X-Model "[$fireworks_model]" always;
            add_header X-Stream "[$fireworks_stream]" always;
        }

        location = /_mirror {
            internal;
            return 204;
        }

        location /mem/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            client_body_buffer_size 4m;
            add_header X-Model "[$fireworks_model]" always;
            add_header X-Stream "[$fireworks_stream]" always;
        }

        location /models/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_workload $fw_workload;
            fireworks_metrics_model on;
            fireworks_route models;
            add_header X-Workload $fireworks_workload always;
        }

        location /plain/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route plain;
        }
EOF2

sub model_of {
    my ($body, %o) = @_;
    my $id = 'm' . int(rand(1e9));
    my $r = $t->http(uri => $o{uri} || '/v1/chat/completions', body => $body,
        script => '503,200', id => $id, headers => $o{headers});
    my $a = $t->attempts($id);
    is($a->[1]{body_sha256}, sha256_hex($o{raw} // $body),
        "$o{name}: the body passed on untouched") if $o{name};
    my ($m) = ($r->{headers}{'x-model'} // '') =~ /^\[(.*)\]$/s;
    my ($s) = ($r->{headers}{'x-stream'} // '') =~ /^\[(.*)\]$/s;
    return ($m, $s, $r);
}

my $msgs = '"messages":[{"role":"user","content":"hi"}]';

my @cases = (
    ['chat', qq({"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",$msgs}),
        'accounts/fireworks/models/llama-v3p1-8b-instruct', ''],
    ['completion', '{"model":"m1","prompt":"Once upon","max_tokens":5}', 'm1', ''],
    ['embeddings', '{"input":["a","b"],"model":"nomic-ai/nomic-embed-text-v1.5"}',
        'nomic-ai/nomic-embed-text-v1.5', ''],
    ['stream', qq({"model":"m2","stream":true,$msgs}), 'm2', '1'],
    ['stream false', qq({"stream":false,"model":"m3",$msgs}), 'm3', ''],
    ['nested model and stream keys',
        '{"messages":[{"role":"user","content":"{\"model\":\"fake\"}",'
        . '"model":"nested","stream":true}],"tools":[{"type":"function",'
        . '"function":{"name":"f","parameters":{"type":"object","properties":'
        . '{"model":{"type":"string","default":"schema"}}}}}],'
        . '"response_format":{"type":"json_schema","json_schema":{"schema":'
        . '{"model":"s"}}},"model":"real"}', 'real', ''],
    ['escapes', '{"model":"accounts\/fireworks\/models\/x\u002dy\"z"}',
        'accounts/fireworks/models/x-y"z', ''],
    ['unicode', '{"model":"\u6a21\u578b-\ud83d\ude00"}',
        "\xe6\xa8\xa1\xe5\x9e\x8b-\xf0\x9f\x98\x80", ''],
    ['last key wins', '{"model":"a","model":"b"}', 'b', ''],
    ['not JSON', 'model=m4&stream=true', '', ''],
    ['invalid JSON', '{"model":"m5",', '', ''],
    ['not an object', '["model","m6"]', '', ''],
    ['model not a string', '{"model":42}', '', ''],
    ['trailing garbage', '{"model":"m7"} x', '', ''],
    ['10,000 deep', '{"model":"m8","x":' . ('[' x 10000) . (']' x 10000) . '}',
        '', ''],
);

for my $c (@cases) {
    my ($name, $body, $model, $stream) = @$c;
    my ($m, $s) = model_of($body, name => $name);
    is($m, $model, "$name: \$fireworks_model");
    is($s, $stream, "$name: \$fireworks_stream");
}

# no body, no inspection

my $r = $t->http(uri => '/v1/models', script => '200', id => 'get');
is($r->{headers}{'x-model'}, '[]', 'no body: $fireworks_model empty');

# a 1 MB messages array before "model": found by default (the body is in
# a temp file), not with fireworks_inspect_size 64k

my $huge = '{"messages":[' . join(',', ('{"role":"user","content":"'
    . ('x' x 1000) . '"}') x 1000) . '],"model":"after-a-megabyte"}';
my ($m) = model_of($huge, name => 'model after 1 MB');
is($m, 'after-a-megabyte', 'model after 1 MB: found by default');
($m) = model_of($huge, uri => '/big/x', name => 'model after 1 MB, 64k');
is($m, '', 'model after 1 MB: not within inspect_size 64k');
like($t->error_log, qr/a client request body is buffered to a temporary/,
    'the body was in a temp file');

# Real clients' bodies, in each one's own key order, with a 200 KB+
# prompt: openai-python (and LiteLLM, LangChain's ChatOpenAI through it)
# and the fireworks-ai SDK write "messages" first, then "model", then the
# other parameters ("stream" among them); old httpx spaced its JSON,
# httpx >= 0.28 is compact and writes UTF-8 as it is; the Vercel AI SDK
# writes "model" first and "stream" after "messages".  Each in memory
# (client_body_buffer_size 4m) and in a temp file (16k), with
# Content-Length and chunked in pieces that split keys and values; and
# read by another module first (mirror), so read back from its file.

my $prompt = join('', map { "Line $_ of a long document: "
    . '\\"model\\": \\"not-this\\", caf\\u00e9 \\ud83d\\ude00 \\n' } 1 .. 3000);
my $utf8 = "caf\xc3\xa9 \xe6\xa8\xa1\xe5\x9e\x8b " x 30000;
my $long = 'accounts/fireworks/models/deepseek-r1';
my $tools = '[{"type":"function","function":{"name":"f","parameters":'
    . '{"type":"object","properties":{"model":{"type":"string"}}}}}]';

my %clients = (
    'openai-python, old httpx' => '{"messages": [{"role": "system", '
        . '"content": "You are helpful."}, {"role": "user", "content": "'
        . $prompt . '"}], "model": "' . $long . '", "max_tokens": 512, '
        . '"stream": true, "temperature": 0.2}',
    'openai-python, httpx 0.28' => '{"messages":[{"role":"user","content":"'
        . $utf8 . '"}],"model":"' . $long . '","stream":true,'
        . '"stream_options":{"include_usage":true},"tools":' . $tools . '}',
    'fireworks-ai' => '{"messages":[{"role":"user","content":"' . $prompt
        . '"}],"model":"' . $long . '","max_tokens":4096,"stream":true,'
        . '"temperature":0.6,"top_k":40}',
    'litellm' => '{"messages":[{"role":"user","content":"' . $prompt
        . '"}],"model":"' . $long . '","stream":true,'
        . '"stream_options":{"include_usage":true},"user":"u1"}',
    'langchain ChatOpenAI' => '{"messages":[{"content":"' . $prompt
        . '","role":"user"}],"model":"' . $long . '","stream":true,'
        . '"n":1,"temperature":0.7}',
    'vercel ai sdk' => '{"model":"' . $long . '","max_tokens":1024,'
        . '"messages":[{"role":"user","content":"' . $prompt . '"}],'
        . '"tools":' . $tools . ',"stream":true,'
        . '"stream_options":{"include_usage":true}}',
);

for my $client (sort keys %clients) {
    my $body = $clients{$client};
    cmp_ok(length $body, '>', 200_000, "$client: a body over 200 KB");

    for my $where ('/mem/x', '/v1/chat/completions', '/mirrored/x') {
        my $n = "$client, $where";
        my ($m, $s) = model_of($body, uri => $where, name => $n);
        is($m, $long, "$n: \$fireworks_model");
        is($s, '1', "$n: \$fireworks_stream");

        # chunks of 7919 bytes: every key and value split somewhere

        my $raw = '';
        for (my $i = 0; $i < length $body; $i += 7919) {
            my $c = substr($body, $i, 7919);
            $raw .= sprintf("%x\r\n%s\r\n", length $c, $c);
        }
        $raw .= "0\r\n\r\n";

        ($m, $s) = model_of($raw, raw => $body, uri => $where,
            name => "$n, chunked", headers => ['Transfer-Encoding: chunked',
            'Content-Type: application/json']);
        is($m, $long, "$n, chunked: \$fireworks_model");
        is($s, '1', "$n, chunked: \$fireworks_stream");
    }
}

# the openai Node SDK for real, a 220 KB prompt, streamed and not

SKIP: {
    my $sdk = "$FindBin::Bin/sdk";
    skip 'openai SDK not installed (npm ci in t/sdk)', 6
        unless -d "$sdk/node_modules/openai";

    my $port = $t->nginx_port;
    my $out = `node $sdk/bodies.mjs http://127.0.0.1:$port/v1 2>&1`;
    my %r = map { my $j = eval { FW::json($_) }; $j ? ($j->{name} => $j) : () }
        split /\n/, $out;
    diag($out) unless keys %r == 2;

    for my $c ('long', 'long-stream') {
        my $x = $r{$c} || {};
        cmp_ok($x->{length} || 0, '>', 200_000, "openai SDK, $c: 200 KB+");
        is($x->{model}, "[$long]", "openai SDK, $c: \$fireworks_model")
            or diag explain $x;
    }
    is($r{long}{stream}, '[]', 'openai SDK, long: no stream');
    is($r{'long-stream'}{stream}, '[1]', 'openai SDK, long-stream: stream');
}

# "model" first in a body longer than the limit counts: the valid prefix

($m) = model_of('{"model":"first","messages":[' . join(',',
    ('"' . ('y' x 1000) . '"') x 100) . ']}', name => 'model first, 100 KB');
is($m, 'first', 'model first in a body past the limit');

# a chunked body

my $chunked = qq({"model":"chunky",$msgs});
my $raw = sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 10,
    substr($chunked, 0, 10), length($chunked) - 10, substr($chunked, 10));
($m, undef, $r) = model_of($raw, raw => $chunked, name => 'chunked',
    headers => ['Transfer-Encoding: chunked', 'Content-Type: application/json']);
is($m, 'chunky', 'chunked: model');

# the workload follows the model, per request, and the attempt's limit
# with it (30 s interactive, 10 min long context, 5 min agentic)

my %wl = ('accounts/fireworks/models/deepseek-r1' => ['long_context', 600000],
    'accounts/x/deployedModels/y' => ['agentic', 300000],
    'llama' => ['interactive', 30000]);

for my $model (sort keys %wl) {
    my $id = 'wl-' . $wl{$model}[0];
    my $r = $t->http(uri => '/models/x', body => qq({"model":"$model"}),
        script => '200', id => $id);
    is($r->{headers}{'x-workload'}, $wl{$model}[0], "$model: workload");
}

# the limits themselves, from the debug log, per request in order; an
# nginx built without --with-debug (the compatibility runs') writes none

SKIP: {
    skip 'nginx without --with-debug: no debug log to read the limits', 1
        unless `$t->{binary} -V 2>&1` =~ /--with-debug/;

    my @limits = $t->error_log =~ /fireworks attempt 1: "\/_fireworks\/v1\/chat\/completions\?", limit (\d+)ms/g;
    is_deeply([@limits[-3 .. -1]], [map { $wl{$_}[1] } sort keys %wl],
        'the attempts\' limits followed the workloads');
}

# a value that names no workload: warned about, the location's own applies

$r = $t->http(uri => '/models/x', body => '{"model":"not-a-workload"}',
    script => '200', id => 'wl-bad');
is($r->{headers}{'x-workload'}, 'interactive', 'bad workload: the static one');
my @warned = $t->error_log =~ /"chat" is not a workload, "interactive" applies/g;
is(scalar @warned, 1, 'bad workload: warned once');

# the model label, bounded: 16 models per route, the rest as "other"

for my $i (1 .. 20) {
    $t->http(uri => '/models/x', body => qq({"model":"label-$i"}),
        script => '200', id => "label-$i");
}
$t->http(uri => '/plain/x', body => '{"model":"unlabelled"}', script => '200',
    id => 'plain');
my $metrics = $t->http(uri => '/metrics')->{body};
my %seen = map { $_ => 1 }
    $metrics =~ /fireworks_requests_total\{route="models",model="([^"]+)"/g;
is(scalar keys %seen, 16 + 1, 'model label: 16 models and "other"');
ok($seen{other}, 'model label: "other"');
like($metrics, qr/fireworks_requests_total\{route="models",model="other",workload="interactive",outcome="done"\} \d+/,
    'model label: the rest counted as other');
like($metrics, qr/fireworks_requests_total\{route="plain",workload="interactive",outcome="done"\} 1/,
    'no model label where fireworks_metrics_model is off');

$t->finish(allow => [qr/is not a workload/]);
done_testing;
