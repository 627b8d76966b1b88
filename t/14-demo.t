#!/usr/bin/perl

# ./build.sh demo: it runs, shows the configuration it runs, says before
# each request what the stand-in API will do and what the gateway should
# make of it, then what it did (bodies and stream whole), explains each
# outcome once, reports what the gateway did for each request and leaves
# nothing behind.

use warnings;
use strict;

use FindBin;
use File::Temp qw/tempdir/;
use JSON::PP;
use Test::More;

my $root = "$FindBin::Bin/..";
plan(skip_all => 'module not built') unless -f ($ENV{TEST_NGINX_MODULE}
    || "$root/build/ngx_http_fireworks_module.so");

my $dir = tempdir('fireworks-demo-test-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
my $out = `FIREWORKS_DEMO_DIR=$dir/run $root/demo/demo.sh 2>&1`;
is($? >> 8, 0, 'demo exits 0') or diag $out;

my %row = map { my @f = split ' '; ($f[0] => \@f) }
    grep { /^\S+\s+\d{3}\s/ } split /\n/, $out;

is_deeply([@{$row{plain} || []}[1 .. 3]], [200, 1, 200], 'plain: one attempt');
is_deeply([@{$row{'rate-limited'} || []}[1, 2]], [200, 2], 'rate limited');
# Retry-After: 2, plus the jitter, U(0, 1 s): from 2 s to just over 3 s

my ($waited) = ($row{'rate-limited'}[4] || '') =~ /^(\d+\.\d+)s$/;
ok(defined $waited && $waited >= 2 && $waited < 3.2,
    'waited Retry-After: 2, and the jitter (' . ($waited // 'none') . ')');
is_deeply([@{$row{overloaded} || []}[1, 2]], [200, 3], 'overloaded');
is($row{stream}[1], 200, 'stream');
is_deeply([@{$row{'bad-request'} || []}[1, 2]], [400, 1], 'bad request');
is($row{'still-overloaded'}[5], 'tries', 'tries ran out');

# the configuration it runs is shown: each location's fireworks_* lines,
# and the defaults that apply where nothing is set

my ($conf) = $out =~ /^(server \{\n.*?^\})$/ms;
$conf //= '';
like($conf, qr/location \/v1\/ \{\s+fireworks_pass \S+;\s+fireworks_workload interactive;/,
    'config: the chat location shown');
like($conf, qr/location \/short\/v1\/ \{[^}]*fireworks_tries 2;/,
    'config: the short leash shown');
like($conf, qr/#\s+fireworks_tries 5;/, 'config: the default tries named');
like($conf, qr/location ~ \^\/_fireworks\S* \{\s+internal;\s+proxy_pass http:\/\/127\.0\.0\.1:\d+/,
    'config: the internal location shown');

# each request: what the API will do and what the gateway should make of
# it, said before it runs, then what it did, as the access log says

my @blocks = split /^--- \d+\. /m, $out;
shift @blocks;
is(scalar @blocks, 7, 'seven requests, each announced');
my %block = map { /^(\S+):/ ? ($1 => $_) : () } @blocks;
for my $name (sort keys %row) {
    my $b = $block{$name} // '';
    like($b, qr/^\S+: POST \S+, X-FW-Script: \S+\n    the API will: +\S.*?\n    the gateway should: +\S.*?\n    it did: +HTTP (\d{3}) after [\d.]+ s: (\d+) attempts? \(([\d, ]+)\),\n +waited ([\d.]+) s in all, outcome (\w+)\n/s,
        "$name: announced, then what it did");
    my @did = $b =~ /it did: +HTTP (\d{3}) .*?: (\d+) attempts? \(([\d, ]+)\),\n +waited ([\d.]+) s in all, outcome (\w+)/s;
    $did[2] =~ s/, /,/g if @did;
    my @r = @{$row{$name}};
    is_deeply(\@did, [ @r[1 .. 3], $r[4] =~ s/s$//r, $r[5] ],
        "$name: what it did is the access log's");
    # what was announced came true
    my ($should) = $b =~ /the gateway should: +(.*?)\n    it did:/s;
    my ($n) = ($should // '') =~ /\b(\d+) attempts?\b/;
    is($n, $r[2], "$name: the attempts announced were made");
}

# each outcome explained once, where it is first seen

for my $o (qw/done tries/) {
    is(() = $out =~ /^    outcome $o: +\S/mg, 1, "outcome $o explained once");
}
like($block{plain} // '', qr/^    outcome done: /m, 'done: explained at its first request');
like($block{'still-overloaded'} // '', qr/^    header: x-should-retry: false$/m,
    'still-overloaded: x-should-retry: false shown');

# the bodies whole: each JSON answer and each event of the stream parses

for my $name (qw/plain rate-limited overloaded slow bad-request still-overloaded/) {
    my ($json) = ($block{$name} // '') =~ /^    \| (\{.*)$/m;
    ok(defined $json && eval { decode_json($json); 1 }, "$name: the whole body shown")
        or diag($json // 'no body');
}
my @events = ($block{stream} // '') =~ /^    \| data: (.*)$/mg;
is(scalar @events, 6, 'stream: 5 events and [DONE] shown');
is($events[-1] // '', '[DONE]', 'stream: [DONE] last');
is(scalar(grep { eval { decode_json($_)->{object} eq 'chat.completion.chunk' } }
    @events[0 .. 4]), 5, 'stream: each event whole');

# the demo's own error.log: there, and no alert, crit or crash in it

ok(-f "$dir/run/error.log", "the demo's error.log exists");
my $log = -f "$dir/run/error.log" ? `cat $dir/run/error.log` : '';
unlike($log, qr/\[(alert|crit|emerg)\]|exited on signal|runtime error/,
    "no alert, crit or crash in the demo's error.log");

# --serve with FIREWORKS_API_KEY: the configuration for the real API passes
# nginx -t (the demo tests it before it starts) and nginx starts; this
# machine cannot reach the API, so no request is sent

$out = `FIREWORKS_API_KEY=fw-test timeout -s INT 4 $root/demo/demo.sh --serve 2>&1`;
like($out, qr{-> +https://api\.fireworks\.ai/inference/v1}, 'serve: real API')
    or diag $out;
like($out, qr/Ctrl-C stops it/, 'serve: config passed nginx -t, running');
is(`ps -eo args | grep -c '[n]ginx: master.*fireworks-demo'` + 0, 0,
    'serve: Ctrl-C stops nginx');

done_testing;
