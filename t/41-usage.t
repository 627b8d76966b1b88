#!/usr/bin/perl

# Usage and timing of answers (issue 24): $fireworks_prompt_tokens,
# $fireworks_completion_tokens, $fireworks_ttft, $fireworks_generation_time
# in the access log, and fireworks_tokens_total, the time to first token
# and per output token, and the OpenTelemetry GenAI names in the metrics.
# Real-shaped answers from the stand-in: JSON with usage, without, with
# "usage" keys nested in the message that must not count; streams with
# usage in the last event, without, cut before it; gzip-encoded answers
# and other encoded answers (not read); the openai SDK with stream_options.include_usage.  The
# counts after a known mix over 2 workers are exact; promtool passes.
# Without a zone and without the variables, answers are not read at all.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw/time sleep/;
use FW;

my $t = FW->new();
my $d = $t->dir;

$t->run($t->gateway(workers => 2, http => <<'EOF', locations => <<'EOF2'));
    fireworks_zone fireworks 1m;

    log_format usage '$http_x_fw_id | $fireworks_prompt_tokens | '
                     '$fireworks_completion_tokens | $fireworks_ttft | '
                     '$fireworks_generation_time | $status | $pid';
EOF
        fireworks_backoff 10ms;
        fireworks_jitter 0;
        access_log %%TESTDIR%%/usage.log usage;

        location = /metrics {
            fireworks_metrics;
            fireworks_metrics_otel on;
        }

        location = /metrics-openai {
            fireworks_metrics;
            fireworks_metrics_otel on;
            fireworks_metrics_otel_provider openai;
        }

        location = /metrics-plain {
            fireworks_metrics;
        }

        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_route one;
            fireworks_tries 1;
        }

        location /mix/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route mix;
            fireworks_metrics_model on;
            fireworks_tries 1;
        }
EOF2

sub line {
    my ($id) = @_;
    my $end = time + 5;
    while (time < $end) {
        for (split /\n/, $t->read_file('usage.log')) {
            my @f = split / \| /, $_, -1;
            return \@f if $f[0] eq $id;
        }
        sleep 0.05;
    }
    return [];
}

sub parse {
    my ($text) = @_;
    my %m;
    for (split /\n/, $text) {
        next if /^#/ || !/\S/;
        my ($k, $v) = /^(\S+(?:\{.*\})?) (\S+)$/ or next;
        $m{$k} = $v;
    }
    return \%m;
}

my $body = '{"messages":[{"role":"user","content":"hi"}],"model":"m"}';

# one request of each shape: the log line's tokens and times

my @cases = (
    [ 'json', '200;pt=11;ct=7;cached=3', 11, 7 ],
    [ 'json-chunked', '200;chunked=1;pt=13;ct=2', 13, 2 ],
    [ 'json-none', '200;usage=0', '', '' ],
    [ 'json-nested', '200;nested=1;pt=5;ct=4', 5, 4 ],
    [ 'json-split', '200;nested=1;split=3;pt=17;ct=19;cached=2', 17, 19 ],
    [ 'json-gzip', '200;gzip=1;pt=11;ct=7', '', '' ],
    [ 'json-encoded', '200;hdr=Content-Encoding:br;pt=11;ct=7', '', '' ],
    [ 'json-identity', '200;hdr=Content-Encoding:identity;pt=4;ct=3', 4, 3 ],
    [ 'sse', 'sse;n=4;ms=30;pt=9', 9, 4 ],
    [ 'sse-every', 'sse;n=4;ms=5;every=1;pt=6;ct=9', 6, 9 ],
    [ 'sse-split', 'sse;n=3;ms=5;split=2;pt=8;ct=14;cached=5', 8, 14 ],
    [ 'sse-none', 'sse;n=3;ms=10;usage=0', '', '' ],
    [ 'sse-cut', 'cut;n=3;ms=10', '', '' ],
    [ 'sse-cut-usage', 'cut;n=3;ms=10;cutusage=1', '', '' ],
    [ 'error', '400', '', '' ],
);

for my $c (@cases) {
    my ($id, $script, $pt, $ct) = @$c;
    my $r = $t->http(body => $body, script => $script, id => "u-$id");
    my $l = line("u-$id");
    is($l->[1], $pt, "$id: \$fireworks_prompt_tokens '$pt'")
        or diag explain $l;
    is($l->[2], $ct, "$id: \$fireworks_completion_tokens '$ct'");
    like($l->[3] // '', qr/^\d+\.\d{3}$/, "$id: \$fireworks_ttft");
    like($l->[4] // '', qr/^\d+\.\d{3}$/, "$id: \$fireworks_generation_time");
}

# the body went out as the API sent it, usage and all

my $r = $t->http(body => $body, script => '200;nested=1;pt=5;ct=4',
    id => 'u-body');
like($r->{body}, qr/"usage":\{"prompt_tokens":5,.*"usage":\{"prompt_tokens":999/,
    'nested: the answer is unchanged');

# times: a comment at once, the first event 400 ms later, 4 more follow
# 50 ms apart

$r = $t->http(body => $body, script => 'sse;n=5;ms=50;first=400;ping=1',
    id => 'u-slow');
my $l = line('u-slow');
cmp_ok($l->[3], '>=', 0.4, "stream: ttft >= 0.4 s ($l->[3])");
cmp_ok($l->[3], '<', 3, 'stream: ttft < 3 s');
cmp_ok($l->[4], '>=', 0.15, "stream: generation time >= 0.15 s ($l->[4])");
cmp_ok($l->[4], '<', 3, 'stream: generation time < 3 s');

# the openai SDK: stream_options.include_usage, usage in an event of its own

SKIP: {
    my $sdk = "$FindBin::Bin/sdk";
    skip 'openai SDK not installed (npm ci in t/sdk)', 5
        unless -d "$sdk/node_modules/openai";

    my $port = $t->nginx_port;
    my $out = `node $sdk/usage.mjs http://127.0.0.1:$port/v1 u-sdk 2>&1`;
    my $j = eval { FW::json($out) } || {};
    is($j->{content}, 'tok0 tok1 tok2 tok3 tok4 ', 'sdk: streamed text')
        or diag $out;
    is($j->{usage}{prompt_tokens}, 21, 'sdk: the usage it read');
    is($j->{usage}{prompt_tokens_details}{cached_tokens}, 8,
        'sdk: cached tokens');
    $l = line('u-sdk');
    is($l->[1], 21, 'sdk: the gateway read the same prompt tokens');
    is($l->[2], 5, 'sdk: the gateway read the same completion tokens');
}

# a known mix over 2 workers, each on its own connection

my @mix = (
    [ 6, '200;pt=10;ct=5;cached=2' ],
    [ 4, 'sse;n=3;ms=5;pt=7' ],
    [ 3, '200;usage=0' ],
    [ 2, 'sse;n=2;ms=5;usage=0' ],
    [ 2, '200;nested=1;pt=1;ct=1' ],
    [ 2, '200;gzip=1' ],
    [ 2, 'cut;n=2;ms=5' ],
);
my $n = 0;
for my $m (@mix) {
    for my $i (1 .. $m->[0]) {
        $t->http(uri => '/mix/x', body => $body, script => $m->[1],
            id => "mix-" . $n++);
    }
}

my $m;
my $end = time + 5;
while (1) {
    $r = $t->http(uri => '/metrics');
    $m = parse($r->{body});
    my $k = 'fireworks_request_duration_seconds_count{route="mix",'
        . 'model="m",workload="interactive"}';
    last if ($m->{$k} // 0) >= $n || time > $end;
    sleep 0.1;
}

my $s = 'route="mix",model="m"';
my $o = 'route="mix",gen_ai_operation_name="chat",'
    . 'gen_ai_provider_name="fireworks",gen_ai_request_model="m"';
my %want = (
    "fireworks_tokens_total{$s,type=\"prompt\"}" => 90,
    "fireworks_tokens_total{$s,type=\"completion\"}" => 44,
    "fireworks_tokens_total{$s,type=\"cached\"}" => 12,
    "fireworks_time_to_first_token_seconds_count{$s}" => 8,
    "fireworks_time_to_first_token_seconds_bucket{$s,le=\"120.000\"}" => 8,
    "fireworks_time_per_output_token_seconds_count{$s}" => 4,
    "gen_ai_client_token_usage_count{$o,gen_ai_token_type=\"input\"}" => 12,
    "gen_ai_client_token_usage_sum{$o,gen_ai_token_type=\"input\"}" => 90,
    "gen_ai_client_token_usage_bucket{$o,gen_ai_token_type=\"input\",le=\"4\"}"
        => 2,
    "gen_ai_client_token_usage_bucket{$o,gen_ai_token_type=\"input\",le=\"16\"}"
        => 12,
    "gen_ai_client_token_usage_sum{$o,gen_ai_token_type=\"output\"}" => 44,
    "gen_ai_client_operation_duration_seconds_count{$o}" => 21,
    "gen_ai_client_operation_time_to_first_chunk_seconds_count{$o}" => 8,
);
for my $k (sort keys %want) {
    is($m->{$k}, $want{$k}, "mix: $k");
}

my @pids = do {
    my %p = map { (split / \| /)[6] => 1 } grep { /^mix-/ }
        split /\n/, $t->read_file('usage.log');
    keys %p;
};
diag(scalar(@pids) . ' worker(s) answered the mix');

# the route without a model label; the provider's name; otel off

is($m->{'fireworks_tokens_total{route="one",type="prompt"}'},
    11 + 13 + 5 + 17 + 4 + 9 + 6 + 8 + 21 + 12 + 5,
    'route one: prompt tokens');
is($m->{'fireworks_tokens_total{route="one",type="cached"}'}, 3 + 2 + 5 + 8,
    'route one: cached tokens');
$r = $t->http(uri => '/metrics-openai');
like($r->{body}, qr/gen_ai_provider_name="openai"/,
    'fireworks_metrics_otel_provider');
$r = $t->http(uri => '/metrics-plain');
like($r->{body}, qr/^fireworks_tokens_total\{/m, 'otel off: the tokens');
unlike($r->{body}, qr/gen_ai_/, 'otel off: no gen_ai_ family');

# promtool

$r = $t->http(uri => '/metrics');
$t->write_file('metrics.txt', $r->{body});

SKIP: {
    skip 'no promtool', 2 if system('promtool --version >/dev/null 2>&1');

    my $out = `promtool check metrics < $d/metrics.txt 2>&1`;
    is($? >> 8, 0, 'promtool check metrics passes') or diag $out;
    is($out, '', 'promtool: no lint complaint');
}

$t->finish(allow => [qr/upstream prematurely closed connection/]);

# the scanner itself against random answers (t/usage/): whole, byte by
# byte, in random pieces, as JSON and as streams; with the sanitizers
# where the compiler has them

SKIP: {
    my $root = "$FindBin::Bin/..";
    my $objs = "$root/build/objs";
    my ($src) = grep { -f "$_/src/core/ngx_config.h" }
        "$root/build/nginx-dev-src", '/usr/share/nginx/src';
    skip 'no build/objs or nginx headers: ./build.sh first', 2
        unless -f "$objs/ngx_auto_config.h" && $src;
    skip 'no python3', 2 if system('python3 -c 1 2>/dev/null');

    my $inc = join ' ', map { "-I$_" } $objs, "$root/ngx_fireworks_module",
        map { "$src/src/$_" } qw{core event event/modules os/unix http
        http/modules http/v2};
    my $bin = "$d/usage-check";
    my $san = system("cc -fsanitize=address,undefined -x c /dev/null "
        . "-o /dev/null 2>/dev/null") ? '' : '-fsanitize=address,undefined';
    my $out = `cc -O1 -g $san -w $inc $FindBin::Bin/usage/check.c -o $bin 2>&1`;
    is($?, 0, 'usage check: built') or diag $out;

    my ($cases, $fails) = (0, 0);
    for my $seed (1 .. 20) {
        my $r = `python3 $FindBin::Bin/usage/gen.py $seed | ASAN_OPTIONS=detect_leaks=0 $bin 2>&1`;
        my ($n, $f) = $r =~ /^(\d+) cases, (\d+) failures$/m;
        diag $r if !defined $f || $f;
        $cases += $n // 0;
        $fails += $f // 1;
    }
    is($fails, 0, "usage check: $cases random answers, whole, byte by byte, "
        . 'in pieces, as JSON and in streams');
}

# without a zone: the variables alone; without either, nothing is read

for my $vars (1, 0) {
    my $u = FW->new();
    my $format = $vars
        ? q{'$http_x_fw_id | $fireworks_prompt_tokens | '
            '$fireworks_completion_tokens | $fireworks_ttft'}
        : q{'$http_x_fw_id | $status'};
    $u->run($u->gateway(http => <<"EOF", locations => <<"EOF2"));
    log_format usage $format;
EOF
        access_log %%TESTDIR%%/usage.log usage;

        location /v1/ {
            fireworks_pass /_fireworks\$uri;
        }
EOF2

    $u->http(body => $body, script => '200;pt=3;ct=2', id => 'z-json');
    $u->http(body => $body, script => 'sse;n=2;ms=5;pt=4', id => 'z-sse');
    sleep 0.2;
    my $read = () = $u->read_file('error.log') =~ /fireworks usage: read as/g;

    if ($vars) {
        like($u->read_file('usage.log'), qr/^z-json \| 3 \| 2 \| \d+\.\d{3}$/m,
            'no zone, variables used: JSON read');
        like($u->read_file('usage.log'), qr/^z-sse \| 4 \| 2 \| \d+\.\d{3}$/m,
            'no zone, variables used: stream read');
    }

    # whether an answer was read shows in the debug log only: an nginx
    # built without --with-debug (the compatibility runs') writes none

    SKIP: {
        skip 'nginx without --with-debug: no debug log to count reads', 1
            unless `$u->{binary} -V 2>&1` =~ /--with-debug/;

        if ($vars) {
            is($read, 2, 'no zone, variables used: both answers read');

        } else {
            is($read, 0, 'no zone, no variables: no answer read');
        }
    }

    $u->finish;
}

done_testing;
