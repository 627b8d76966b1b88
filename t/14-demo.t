#!/usr/bin/perl

# ./build.sh demo: it runs, reports what the gateway did for each request
# and leaves nothing behind.

use warnings;
use strict;

use FindBin;
use File::Temp qw/tempdir/;
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
like($out, qr/data: \{"id":"stream"/, 'stream shown');

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
