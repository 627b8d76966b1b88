#!/usr/bin/perl

# fireworks_fallback: when the primary's attempts end in a retryable
# answer, the request goes on to a second internal location, its body's
# top-level "model" replaced and every other byte unchanged; not after a
# 400; within the same deadline; streamed; through the openai Node SDK;
# not held by the primary route's gate; counted.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw/sha256_hex/;
use Time::HiRes qw/time/;
use FW qw/json/;

my $t = FW->new();

my $serverless = 'accounts/fireworks/models/llama-v3p3-70b-instruct';

$t->run($t->gateway(http => <<'EOF1', locations => <<EOF2));
    fireworks_zone fireworks 1m;
EOF1
        client_max_body_size 8m;
        client_body_buffer_size 16k;
        fireworks_backoff 10ms;
        fireworks_jitter 0;
        add_header X-Fallback "[\$fireworks_fallback]" always;
        add_header X-Statuses "[\$fireworks_statuses]" always;
        add_header X-Outcome "[\$fireworks_outcome]" always;

        location = /metrics {
            fireworks_metrics;
        }

        location /v1/ {
            fireworks_pass /_fireworks\$uri;
            fireworks_tries 3;
            fireworks_fallback /_serverless\$uri model=$serverless;
            fireworks_route dedicated;
        }

        location /weird/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 1;
            fireworks_fallback /_serverless/v1/chat/completions
                               "model=we\\"ird\\\\/\\tname";
        }

        location /nomodel/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 2;
            fireworks_fallback /_serverless/v1/chat/completions tries=3;
            fireworks_route nomodel;
        }

        location /deadline/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 2;
            fireworks_deadline 1500ms;
            fireworks_retry_after_max 5s;
            fireworks_fallback /_serverless/v1/chat/completions;
        }

        location /gate/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 3;
            fireworks_gate on;
            fireworks_retry_after_max 1s;
            fireworks_route gated;
            fireworks_fallback /_serverless/v1/chat/completions;
        }

        location /held/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 2;
            fireworks_hold_header on;
            fireworks_fallback /_serverless/v1/chat/completions;
        }

        location /unsafe/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 1;
            fireworks_fallback /_serverless/\$arg_p;
        }

        location /_serverless/ {
            internal;
            proxy_pass http://api/serverless/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
EOF2

sub header {
    my ($r, $name) = @_;
    my ($v) = ($r->{headers}{$name} // '') =~ /^\[(.*)\]$/s;
    return $v;
}

my $dedicated = 'accounts\/me\/deployedModels\/dedicated-1';
my $prompt = join('', map { "Line $_: " . '\\"model\\": \\"nested\\" caf\\u00e9\\n' }
    1 .. 5000);
my $head = '{"messages": [{"role": "user", "content": "' . $prompt . '"}], '
    . '"model": ';
my $tail = ', "stream": false, "tools": [{"type": "function", "function": '
    . '{"name": "f", "parameters": {"properties": {"model": {"type": '
    . '"string"}}}}}], "temperature": 0.2}';
my $body = $head . qq("$dedicated") . $tail;
my $want = $head . qq("$serverless") . $tail;

cmp_ok(length $body, '>', 200_000, 'the body is over 200 KB');

# primary 503 x 3, then the fallback's 200: with Content-Length (a temp
# file) and chunked in 7919-byte chunks (the model split across two)

for my $chunked (0, 1) {
    my $n = $chunked ? 'chunked' : 'Content-Length';
    my $id = "fb-$chunked";
    my $raw = $body;
    my @h;

    if ($chunked) {
        $raw = '';
        for (my $i = 0; $i < length $body; $i += 7919) {
            my $c = substr($body, $i, 7919);
            $raw .= sprintf("%x\r\n%s\r\n", length $c, $c);
        }
        $raw .= "0\r\n\r\n";
        @h = ('Transfer-Encoding: chunked', 'Content-Type: application/json');
    }

    my $r = $t->http(uri => '/v1/chat/completions', body => $raw,
        script => '503,503,503,200', id => $id, headers => \@h);
    is($r->{status}, 200, "$n: the fallback's 200");
    like($r->{body}, qr/Hello from the stand-in/, "$n: its answer");
    is(header($r, 'x-fallback'), '1', "$n: \$fireworks_fallback");
    is(header($r, 'x-statuses'), '503, 503, 503, 200',
        "$n: \$fireworks_statuses lists both");

    my $a = $t->attempts($id);
    is(scalar @$a, 4, "$n: 3 + 1 attempts");
    is_deeply([map { $_->{url} } @$a], [('/v1/chat/completions') x 3,
        '/serverless/v1/chat/completions'], "$n: the fallback's uri");
    is_deeply([map { $_->{body_sha256} } @$a[0 .. 2]],
        [(sha256_hex($body)) x 3], "$n: the primary's bodies untouched");
    is($a->[3]{body_len}, length $want, "$n: the fallback's Content-Length");
    is($a->[3]{body_sha256}, sha256_hex($want),
        "$n: the fallback's body, model replaced, the rest byte for byte");
}

# a model that needs escaping in JSON

{
    my $r = $t->http(uri => '/weird/x', body => '{"model":"m","x":1}',
        script => '503,200', id => 'weird');
    is($r->{status}, 200, 'escaped model: 200');
    my $a = $t->attempts('weird');
    is($a->[1]{body_sha256}, sha256_hex('{"model":"we\"ird\\\\/\tname","x":1}'),
        'escaped model: JSON-escaped in the body') or diag explain $a->[1];
}

# no model to replace: not JSON, no top-level model; sent unchanged

for my $c (['not JSON', 'hello'], ['no model', '{"messages":[],"x":{"model":"n"}}'],
           ['model not a string', '{"model":null}'])
{
    my ($n, $b) = @$c;
    my $id = "unchanged-$n";
    $id =~ s/ /-/g;
    my $r = $t->http(uri => '/v1/chat/completions', body => $b,
        script => '503,503,503,200', id => $id);
    is($r->{status}, 200, "$n: the fallback still happens");
    my $a = $t->attempts($id);
    is($a->[3]{body_sha256}, sha256_hex($b), "$n: its body unchanged");
}

# a 400 (and a 401, 404, 422) from the primary goes to the client

for my $s (400, 401, 404, 422) {
    my $r = $t->http(uri => '/v1/chat/completions', body => $body,
        script => "$s,200", id => "no-$s");
    is($r->{status}, $s, "$s: the primary's answer");
    is(header($r, 'x-fallback'), '', "$s: no fallback");
    is(scalar @{$t->attempts("no-$s")}, 1, "$s: one attempt");
}

# tries=3 and no model=: 2 + 3 attempts, the last answer the fallback's

{
    my $r = $t->http(uri => '/nomodel/x', body => $body, script => '503',
        id => 'tries');
    is($r->{status}, 503, 'tries=3: the fallback\'s last 503');
    is(header($r, 'x-statuses'), '503, 503, 503, 503, 503', 'tries=3: 2 + 3');
    is(header($r, 'x-outcome'), 'tries', 'tries=3: outcome tries');
    is(header($r, 'x-fallback'), '1', 'tries=3: from the fallback');
    my $a = $t->attempts('tries');
    is_deeply([map { $_->{body_sha256} } @$a], [(sha256_hex($body)) x 5],
        'no model=: the body unchanged');
}

# the deadline is shared: the primary's 503 with Retry-After: 1 takes a
# second of the 1.5 s, the fallback's hanging attempt is cut at 1.5 s

{
    my $t0 = time;
    my $r = $t->http(uri => '/deadline/x', body => '{"model":"m"}',
        script => '503;ra=1,503;ra=1,hang', id => 'deadline');
    my $took = time - $t0;
    is($r->{status}, 504, 'deadline: 504');
    is(header($r, 'x-statuses'), '503, 503, 504',
        'deadline: two of the primary, one of the fallback');
    is(header($r, 'x-outcome'), 'deadline', 'deadline: outcome deadline');
    cmp_ok($took, '>=', 1.4, "deadline: took ${took}s, at least 1.4 s");
    cmp_ok($took, '<', 2.4, 'deadline: ... and no fresh deadline (< 2.4 s)');
}

# a stream from the fallback

{
    my $r = $t->http(uri => '/v1/chat/completions',
        body => qq({"messages":[],"model":"$dedicated","stream":true}),
        script => '503,503,503,sse;n=4;ms=10', id => 'stream');
    is($r->{status}, 200, 'stream: 200');
    like($r->{headers}{'content-type'}, qr/text\/event-stream/,
        'stream: an event stream');
    my @events = $r->{body} =~ /^data: /mg;
    is(scalar @events, 5, 'stream: 4 events and [DONE]');
    like($r->{body}, qr/data: \[DONE\]/, 'stream: ends with [DONE]');
    is(header($r, 'x-fallback'), '1', 'stream: from the fallback');
    my $a = $t->attempts('stream');
    is($a->[3]{body_sha256},
        sha256_hex(qq({"messages":[],"model":"$serverless","stream":true})),
        'stream: the fallback\'s model');
}

# fireworks_hold_header: streams cut before their first event, nothing
# sent yet, then the fallback's stream

{
    my $r = $t->http(uri => '/held/x', body => '{"model":"m","stream":true}',
        script => 'cut;n=0,cut;n=0,sse;n=3;ms=10', id => 'held');
    is($r->{status}, 200, 'held: 200');
    my @events = $r->{body} =~ /^data: /mg;
    is(scalar @events, 4, 'held: the fallback\'s 3 events and [DONE]');
    my $a = $t->attempts('held');
    is_deeply([map { $_->{url} } @$a], [('/v1/chat/completions') x 2,
        '/serverless/v1/chat/completions'], 'held: two cut, then the fallback');
}

# the first byte sent ends all fallback: a stream cut after two events

{
    my $r = $t->http(uri => '/v1/chat/completions',
        body => qq({"messages":[],"model":"$dedicated","stream":true}),
        script => 'cut;n=2;ms=10,200', id => 'cut');
    my @events = $r->{body} =~ /^data: /mg;
    is(scalar @events, 2, 'cut stream: the two events sent');
    is(scalar @{$t->attempts('cut')}, 1, 'cut stream: no fallback after it');
}

# the gate the primary's 429 closed (Retry-After 5 s, over the 1 s max)
# holds the primary's retries, not the fallback's attempts

{
    my $t0 = time;
    my $r = $t->http(uri => '/gate/x', body => '{"model":"m"}',
        script => '429;ra=5,200', id => 'gate');
    my $took = time - $t0;
    is($r->{status}, 200, 'gate: the fallback\'s 200');
    is(header($r, 'x-statuses'), '429, 200', 'gate: one each');
    cmp_ok($took, '<', 2, "gate: not held ($took s)");
}

# the openai Node SDK through it: the answer's model is the fallback's

SKIP: {
    my $sdk = "$FindBin::Bin/sdk";
    skip 'openai SDK not installed (npm ci in t/sdk)', 4
        unless -d "$sdk/node_modules/openai";

    my $port = $t->nginx_port;
    my $out = `node $sdk/fallback.mjs http://127.0.0.1:$port/v1 2>&1`;
    my %r = map { my $j = eval { json($_) }; $j ? ($j->{name} => $j) : () }
        split /\n/, $out;
    diag($out) unless keys %r == 2;

    is($r{plain}{model}, $serverless, 'openai SDK: the fallback\'s model')
        or diag explain $r{plain};
    like($r{plain}{content} // '', qr/Hello from the stand-in/,
        'openai SDK: its answer');
    is($r{stream}{model}, $serverless, 'openai SDK stream: the fallback\'s model')
        or diag explain $r{stream};
    like($r{stream}{content} // '', qr/tok0 tok1 tok2/,
        'openai SDK stream: its text');
}

# a ".." in the fallback's uri: refused, logged, 500

{
    my $r = $t->http(uri => '/unsafe/x?p=../_fireworks/x', body => '{}',
        script => '503,200', id => 'unsafe');
    is($r->{status}, 500, 'unsafe fallback uri: 500');
    is(scalar @{$t->attempts('unsafe')}, 1, 'unsafe fallback uri: not tried');
    like($t->error_log, qr/unsafe uri "\/_serverless\/\.\.\/_fireworks\/x" in fireworks_fallback/,
        'unsafe fallback uri: logged');
}

# counted: the switches by reason, the fallback's attempts apart

my $m = $t->http(uri => '/metrics')->{body};
like($m, qr/^fireworks_fallbacks_total\{route="dedicated",reason="tries"\} \d+$/m,
    'metrics: fireworks_fallbacks_total');
like($m, qr/^fireworks_attempts_total\{route="dedicated",target="fallback",result="200"\} \d+$/m,
    'metrics: the fallback\'s attempts with target="fallback"');
like($m, qr/^fireworks_attempts_total\{route="nomodel",target="fallback",result="503"\} 3$/m,
    'metrics: the fallback\'s 503s');
like($m, qr/^fireworks_attempts_total\{route="nomodel",result="503"\} 2$/m,
    'metrics: the primary\'s 503s');
like($m, qr/^fireworks_fallbacks_total\{route="gated",reason="retry_after"\} 1$/m,
    'metrics: a fallback after a Retry-After over the max');

$t->finish(allow => [qr/unsafe uri .* in fireworks_fallback/,
    qr/upstream prematurely closed connection/]);
done_testing;
