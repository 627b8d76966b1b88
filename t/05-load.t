#!/usr/bin/perl

# Concurrency and memory: 200 concurrent retried requests, no growth over
# 10,000 retried requests, and waiting requests never block the worker.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw/time sleep/;
use FW qw/json/;

my $t = FW->new();

$t->run($t->gateway(connections => 4096, locations => <<'EOF'));
        access_log off;

        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_backoff 5ms;
            fireworks_jitter 5ms;
        }

        location /slow/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_backoff 3s;
            fireworks_jitter 0;
        }

        location = /plain {
            return 200 "plain\n";
        }
EOF

sub load {
    my (%o) = @_;
    my $args = join ' ', map { "--$_ '$o{$_}'" } sort keys %o;
    my $out = `node $FindBin::Bin/lib/load.js --port ${\ $t->nginx_port} $args`;
    return json($out || '{}');
}

# 200 concurrent requests, each retried once

my $r = load(n => 200, c => 200, script => '503,200', prefix => 'c200-');
is($r->{statuses}{200}, 200, '200 concurrent retried requests succeed')
    or diag explain $r;
is($r->{errors}, 0, 'no client errors');
my $a = $t->attempts('c200-7');
is(scalar @$a, 2, 'each was retried once');

# memory: warm up, then 10,000 retried requests

my ($worker) = $t->worker_pids;
load(n => 2000, c => 50, script => '503,200', prefix => 'warm-');
my $rss0 = $t->worker_rss($worker);
$r = load(n => 10000, c => 50, script => '503,200', prefix => 'm-');
my $rss1 = $t->worker_rss($worker);
is($r->{statuses}{200}, 10000, '10,000 retried requests succeed')
    or diag explain $r;
my $growth = $rss1 - $rss0;
diag("worker RSS ${rss0} KB -> ${rss1} KB over 10,000 retried requests");
cmp_ok($growth, '<', 4096, "worker memory does not grow ($growth KB)");

# 100 requests waiting 3 s in backoff; an unrelated request is answered
# at once by the same (only) worker

my $pid = fork();
die "fork: $!\n" unless defined $pid;
if ($pid == 0) {
    my $r = load(n => 100, c => 100, path => '/slow/x', script => '503,200',
        prefix => 'wait-');
    open my $fh, '>', $t->dir . '/wait.json';
    print $fh JSON::PP::encode_json($r);
    close $fh;
    exit 0;
}

# wait until all 100 sit in backoff

my $end = time + 10;
sleep 0.1 until time > $end
    || scalar(@{$t->attempts('wait-99')}) && scalar(@{$t->attempts('wait-0')});
sleep 0.3;

my $t0 = time;
my $p = $t->http(uri => '/plain');
my $took = time - $t0;
is($p->{body}, "plain\n", 'unrelated request answered');
cmp_ok($took, '<', 1, sprintf('... at once while 100 wait (%.3f s)', $took));

waitpid($pid, 0);
$r = json($t->read_file('wait.json') || '{}');
is($r->{statuses}{200}, 100, 'the 100 waiting requests then succeed');
cmp_ok($r->{p50}, '>=', 2900, 'after their wait');

$t->finish;
done_testing;
