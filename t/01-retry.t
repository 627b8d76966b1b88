#!/usr/bin/perl

# Retries: which statuses are retried, backoff spacing, body replay, and
# what the client gets when tries run out.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FW;

my $t = FW->new();

$t->run($t->gateway(http => <<'EOF0', locations => <<'EOF'));
    log_format attempt '[$fireworks_outcome] $fireworks_attempt';
EOF0
        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_backoff 200ms 1s;
            fireworks_jitter 50ms;
            add_header X-Attempts $fireworks_attempts always;
            add_header X-Statuses $fireworks_statuses always;
            add_header X-Outcome $fireworks_outcome always;
        }

        location /tries2/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 2;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
        }

        location /inside/ {
            fireworks_pass /_logged$uri;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
        }

        location /_logged/ {
            internal;
            log_subrequest on;
            access_log %%TESTDIR%%/attempts.log attempt;
            proxy_pass http://api/;
        }

        location /buffered/ {
            fireworks_pass /_buffered$uri;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
        }

        location /_buffered/ {
            internal;
            proxy_pass http://api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }

        location /refused/ {
            fireworks_pass /_refused;
            fireworks_tries 3;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            add_header X-Statuses $fireworks_statuses always;
        }

        # giving up without an answer: the client location's error page
        location /refused-page/ {
            fireworks_pass /_refused;
            fireworks_tries 2;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            error_page 502 /oops.json;
        }

        location = /oops.json {
            internal;
            default_type application/json;
            return 200 '{"error":"the gateway cannot reach the API"}';
        }

        location /_refused {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_CLOSED%%;
        }
EOF

my $body = '{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",'
    . '"messages":[{"role":"user","content":"hi"}]}';

# 503, 503, 200: three attempts, spaced by about base and 2 * base

my $r = $t->http(body => $body, script => '503,503,200', id => 'basic');
is($r->{status}, 200, 'retried to 200');
like($r->{body}, qr/"chat\.completion"/, 'completion body');
is($r->{headers}{'x-attempts'}, 3, 'three attempts');
is($r->{headers}{'x-statuses'}, '503, 503, 200', 'statuses');
is($r->{headers}{'x-outcome'}, 'done', 'outcome done');

my $a = $t->attempts('basic');
is(scalar @$a, 3, 'stand-in saw 3 attempts');
my $gap1 = ($a->[1]{t} - $a->[0]{t}) / 1000;
my $gap2 = ($a->[2]{t} - $a->[1]{t}) / 1000;
cmp_ok($gap1, '>=', 0.19, "first wait >= base ($gap1)");
cmp_ok($gap1, '<', 0.6, "first wait < base + jitter + slack ($gap1)");
cmp_ok($gap2, '>=', 0.39, "second wait >= 2 * base ($gap2)");
cmp_ok($gap2, '<', 0.9, "second wait < 2 * base + jitter + slack ($gap2)");
is_deeply([map { $_->{method} } @$a], [qw/POST POST POST/], 'method kept');
is_deeply([map { $_->{url} } @$a], [('/v1/chat/completions') x 3],
    'uri kept');
is_deeply([map { $_->{body_len} } @$a], [(length $body) x 3], 'body length');
is(scalar(keys %{{ map { $_->{body_sha256} => 1 } @$a }}), 1, 'same body');
is_deeply([map { $_->{headers}{'x-retry-attempt'} } @$a], [1, 2, 3],
    '$fireworks_attempt per attempt');

# a discarded answer is read to its end: the upstream connection is reused

is(scalar(keys %{{ map { $_->{peer_port} => 1 } @$a }}), 1,
    'all attempts on one keep-alive upstream connection');

# each retryable status is retried; the others go out after one attempt

for my $s (429, 500, 502, 503, 504) {
    my $r = $t->http(body => $body, script => "$s;ra=0,200", id => "retry$s");
    is($r->{status}, 200, "$s retried");
    is(scalar @{$t->attempts("retry$s")}, 2, "$s: two attempts");
}

for my $s (400, 401, 404, 422) {
    my $r = $t->http(body => $body, script => "$s,200", id => "final$s");
    is($r->{status}, $s, "$s forwarded");
    like($r->{body}, qr/"error"/, "$s: upstream error body");
    is(scalar @{$t->attempts("final$s")}, 1, "$s: one attempt");
}

# the variables in the internal location, as each attempt sees them: the
# outcome is empty (not "not found") while attempts run

$r = $t->http(uri => '/inside/x', body => $body, script => '503,200',
    id => 'inside');
is($r->{status}, 200, 'internal location: 200');
is($t->read_file("attempts.log"), "[] 1\n[done] 2\n",
    'internal location: attempt numbers; the outcome empty until decided');

# a retryable answer whose body breaks while it is discarded is retried

for my $loc ('v1', 'buffered') {
    my $r = $t->http(uri => "/$loc/chat/completions", body => $body,
        script => 'badchunk;status=503,200', id => "badchunk-$loc");
    is($r->{status}, 200, "broken discarded body, $loc: retried to 200");
    like($r->{body}, qr/"chat\.completion"/, "broken discarded body, $loc: body");
    is(scalar @{$t->attempts("badchunk-$loc")}, 2,
        "broken discarded body, $loc: two attempts");
}

# tries run out: the last upstream answer, unchanged

$r = $t->http(uri => '/tries2/x', body => $body,
    script => '503,429;ra=0', id => 'out');
is($r->{status}, 429, 'last status after tries');
is($r->{headers}{'content-type'}, 'application/json', 'content type kept');
is($r->{headers}{'x-ratelimit-remaining-requests'}, '0', 'x-ratelimit kept');
is($r->{headers}{'retry-after'}, '0', 'retry-after kept');
like($r->{body}, qr/"rate_limit_exceeded"/, 'upstream body kept');
is($r->{headers}{'content-length'}, length $r->{body}, 'content length');
unlike($r->{body}, qr/nginx/, 'no nginx error page');

# connection refused: nginx's own 502 after the tries

$r = $t->http(uri => '/refused/x', body => $body);
is($r->{status}, 502, 'refused gives 502');
like($r->{body}, qr/502 Bad Gateway/, 'nginx error page');
is($r->{headers}{'x-statuses'}, '502, 502, 502', 'refused retried');

$r = $t->http(uri => '/refused-page/x', body => $body);
is($r->{status}, 502, 'error_page: status kept');
like($r->{body}, qr/the gateway cannot reach the API/,
    "error_page of the client location applies");

$t->stop;
my $basic = $t->log_line('basic');
is($basic->[0], 200, 'access log line');
is($basic->[1], 3, 'log: attempts');
is($basic->[2], '503, 503, 200', 'log: statuses');
like($basic->[3], qr/^0\.[2-9]\d\d$|^1\.\d\d\d$/, 'log: backoff seconds');
is($basic->[4], 'done', 'log: outcome');
is($basic->[5], '503, 503, 200', 'log: $upstream_status lists attempts');
is($t->log_line('out')->[4], 'tries', 'log: outcome tries');

$t->finish(allow => [qr/connect\(\) failed \(111: Connection refused\)/,
    qr/upstream sent invalid chunked response/]);
done_testing;
