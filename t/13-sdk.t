#!/usr/bin/perl

# The clients people use, end to end: the official openai Node SDK and the
# Vercel AI SDK's Fireworks provider, their own retries off.  They succeed
# through 429/503, raise their normal API error with the upstream's status
# and message when tries run out, and a bad-request error for a 400.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FW qw/json/;

my $sdk = "$FindBin::Bin/sdk";
plan(skip_all => 'SDKs not installed (npm ci in t/sdk)')
    unless -d "$sdk/node_modules/openai" && -d "$sdk/node_modules/ai";

my $t = FW->new();

$t->run($t->gateway(locations => <<'EOF'));
        fireworks_backoff 20ms;
        fireworks_jitter 10ms;

        location /v1/ {
            fireworks_pass /_fireworks$uri;
        }

        location ~ ^/short/v1/(.*)$ {
            fireworks_pass /_fireworks/v1/$1;
            fireworks_tries 2;
        }

        location ~ ^/client-retry/v1/(.*)$ {
            fireworks_pass /_fireworks/v1/$1;
            fireworks_tries 2;
            fireworks_client_retry on;
        }
EOF

my $port = $t->nginx_port;
my $out = `node $sdk/sdk.mjs http://127.0.0.1:$port/v1 http://127.0.0.1:$port/short/v1 http://127.0.0.1:$port/client-retry/v1 2>&1`;
my %r = map { my $j = eval { json($_) }; $j ? ($j->{name} => $j) : () }
    split /\n/, $out;
diag($out) unless keys %r == 10;

for my $c ('openai', 'ai') {
    my $p = $r{"$c-plain"} || {};
    like($p->{content} || '', qr/Hello from the stand-in/,
        "$c: completion through 429 and 503") or diag explain $p;
    is(scalar @{$t->attempts("$c" eq 'openai' ? 'oa-plain' : 'ai-plain')}, 3,
        "$c: three attempts");

    my $s = $r{"$c-stream"} || {};
    cmp_ok($s->{chunks} || 0, '>=', 4, "$c: stream through 503")
        or diag explain $s;
    like($s->{content} || '', qr/tok0 tok1 tok2 tok3/, "$c: streamed text");

    my $e = $r{"$c-exhausted"} || {};
    is($e->{status}, 503, "$c: API error with the upstream's status")
        or diag explain $e;
    like($e->{message} || '', qr/overloaded, please retry later/,
        "$c: ... and the upstream's message");

    my $b = $r{"$c-400"} || {};
    is($b->{status}, 400, "$c: bad request error") or diag explain $b;
    like($b->{message} || '', qr/messages must not be empty/,
        "$c: ... with the upstream's message");
}

like($r{'openai-400'}{error} || '', qr/BadRequestError/,
    'openai: BadRequestError class');
like($r{'ai-exhausted'}{error} || '', qr/APICallError|RetryError/,
    'ai: APICallError class');
is(scalar @{$t->attempts('oa-400')}, 1, 'openai 400: one attempt');
is(scalar @{$t->attempts('ai-400')}, 1, 'ai 400: one attempt');
is(scalar @{$t->attempts('oa-out')}, 2, 'openai exhausted: two attempts');

# the SDK's own retries left on: told "x-should-retry: false", one call
# makes fireworks_tries attempts; with fireworks_client_retry on, the SDK
# retries the gateway's answer twice, each retry tried twice again

is($r{'openai-default-retries'}{status}, 503,
    'openai, default retries: the 503') or diag explain $r{'openai-default-retries'};
is(scalar @{$t->attempts('oa-amp')}, 2,
    'openai, default retries: no more attempts than fireworks_tries');
is($r{'openai-default-retries-on'}{status}, 503,
    'openai, default retries, client_retry on: the 503');
is(scalar @{$t->attempts('oa-amp-on')}, 6,
    'openai, default retries, client_retry on: the SDK multiplies attempts');

$t->finish;
done_testing;
