#!/usr/bin/perl

# Valgrind's memcheck on the common scenarios, nginx in one process
# (master_process off): a retry, a Retry-After wait, a client leaving
# during a wait, a stream after a retry, a 5 MB body, a fallback with its
# body's model replaced, metrics.  No invalid
# read or write, no use of uninitialised values, no block definitely lost
# from the module.  Skipped under a sanitizer (a sanitized nginx does not
# run under valgrind) and without valgrind.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw/time sleep/;
use Digest::SHA qw/sha256_hex/;
use FW qw/http_raw/;

plan(skip_all => 'under a sanitizer') if $ENV{TEST_NGINX_SANITIZE};
plan(skip_all => 'no valgrind') if system('valgrind --version >/dev/null 2>&1');

my $t = FW->new();
my $d = $t->dir;

$t->write_conf($t->gateway(main => "daemon off;\nmaster_process off;",
    http => 'fireworks_zone vg 1m;', locations => <<'EOF'));
        client_max_body_size 10m;
        client_body_buffer_size 16k;
        fireworks_backoff 50ms;
        fireworks_jitter 10ms;

        location = /metrics {
            fireworks_metrics;
        }

        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_hold_header on;
            fireworks_workload $http_x_workload;
            add_header X-Model $fireworks_model;
        }

        location /fb/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 2;
            fireworks_fallback /_fireworks/fallback/v1/chat/completions
                               model=fallback-model;
        }
EOF

$t->start_api;

my $pid = fork();
die "fork: $!\n" unless defined $pid;
if ($pid == 0) {
    open STDOUT, '>', "$d/valgrind.out";
    open STDERR, '>&', \*STDOUT;
    exec 'valgrind', '--tool=memcheck', '--leak-check=full',
        '--show-leak-kinds=definite', '--num-callers=30', '--track-fds=no',
        "--log-file=$d/valgrind.log", $t->{binary}, '-p', "$d/", '-c',
        "$d/nginx.conf", '-e', "$d/error.log";
    exit 127;
}

ok(FW::wait_port_of($t->nginx_port, 60), 'nginx runs under valgrind')
    or BAIL_OUT('nginx did not start under valgrind: '
        . $t->read_file('valgrind.log'));

my $body = '{"model":"accounts/fireworks/models/x","stream":true}';
my %o = (body => $body, timeout => 60);

my $r = $t->http(%o, script => '503,429;ra=0,200', id => 'vg-retry');
is($r->{status}, 200, 'retry');
is($r->{headers}{'x-model'}, 'accounts/fireworks/models/x', 'model');

$r = $t->http(%o, script => '429;ra=1,200', id => 'vg-ra');
is($r->{status}, 200, 'Retry-After');

$r = $t->http(%o, script => '503,sse;n=4;ms=20', id => 'vg-sse',
    headers => ['X-Workload: agentic']);
is($r->{status}, 200, 'stream after a retry');
ok($r->{complete}, 'stream complete');

$r = $t->http(%o, script => 'cut;n=0,sse;n=3;ms=20', id => 'vg-hold');
ok($r->{complete}, 'a held stream retried');

my $big = 'x' x (5 * 1024 * 1024);
$r = $t->http(body => $big, script => '502,200', id => 'vg-big', timeout => 120,
    headers => ['Content-Type: application/octet-stream']);
is($r->{status}, 200, '5 MB body');
is($t->attempts('vg-big')->[1]{body_sha256}, sha256_hex($big),
    '5 MB body replayed');

# fireworks_fallback: a 300 KB body from its temp file, chunked, its
# model replaced

my $fb = '{"messages":[{"role":"user","content":"' . ('y' x 300000)
    . '"}],"model":"primary","stream":false}';
my $raw = '';
for (my $i = 0; $i < length $fb; $i += 70001) {
    my $c = substr($fb, $i, 70001);
    $raw .= sprintf("%x\r\n%s\r\n", length $c, $c);
}
$raw .= "0\r\n\r\n";
$r = $t->http(uri => '/fb/x', body => $raw, script => '503,503,200',
    id => 'vg-fb', timeout => 120,
    headers => ['Transfer-Encoding: chunked', 'Content-Type: application/json']);
is($r->{status}, 200, 'fallback');
(my $want = $fb) =~ s/"model":"primary"/"model":"fallback-model"/;
is($t->attempts('vg-fb')->[2]{body_sha256}, sha256_hex($want),
    'fallback: the body with its model replaced');

# a client that leaves during a wait

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->nginx_port)
    or die "connect: $!\n";
print $s "POST /v1/x HTTP/1.1\r\nHost: x\r\nX-FW-Script: 503;ra=3,200\r\n"
    . "X-FW-Id: vg-leave\r\nContent-Length: 2\r\n\r\n{}";
sleep 1;
close $s;
sleep 1;

$r = $t->http(uri => '/metrics', timeout => 60);
like($r->{body}, qr/fireworks_attempts_total\{route="\/v1\/",result="503"\}/,
    'metrics');

# a graceful exit, so that valgrind checks for leaks

kill 'QUIT', $pid;
waitpid($pid, 0);

my $log = $t->read_file('valgrind.log');
my @invalid = $log =~ /^==\d+== (Invalid (?:read|write|free).*|Conditional jump.*uninitialised.*|Use of uninitialised.*)$/mg;
is(scalar @invalid, 0, 'no invalid read, write or uninitialised use')
    or diag $log;

my @lost = grep { /definitely lost in/ && /ngx_http_fireworks_/ }
    split /(?=^==\d+== \S.*definitely lost in)/m, $log;
is(scalar @lost, 0, 'no block definitely lost from the module')
    or diag @lost;
like($log, qr/ERROR SUMMARY: \d+ errors/, 'valgrind ran to the end');
diag(($log =~ /^(==\d+== ERROR SUMMARY: .*)$/m)[0] // '');

$t->{running} = 0;
$t->finish(allow => [qr/upstream prematurely closed connection/]);
done_testing;
