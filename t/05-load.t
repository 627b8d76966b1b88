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

        # held in backoff after the first attempt or after the fifth
        location /hold/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 6;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            fireworks_retry_after_max 10s;
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
ok($worker, 'the worker is found') or BAIL_OUT('no worker pid');
load(n => 2000, c => 50, script => '503,200', prefix => 'warm-');
my $rss0 = $t->worker_rss($worker);
cmp_ok($rss0, '>', 1000, "the worker's memory is read ($rss0 KB)");
$r = load(n => 10000, c => 50, script => '503,200', prefix => 'm-');
my $rss1 = $t->worker_rss($worker);
is($r->{statuses}{200}, 10000, '10,000 retried requests succeed')
    or diag explain $r;
my $growth = $rss1 - $rss0;
diag("worker RSS ${rss0} KB -> ${rss1} KB over 10,000 retried requests");

# AddressSanitizer's quarantine keeps what is freed: memory is measured
# with nginx's own allocator only (./build.sh test --sanitize sets it)

my $sanitized = $ENV{TEST_NGINX_SANITIZE};

SKIP: {
    skip 'memory under a sanitizer', 1 if $sanitized;
    cmp_ok($growth, '<', 4096, "worker memory does not grow ($growth KB)");
}

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
sleep 0.1 until time > $end || first_attempts('wait-') >= 100;
is(first_attempts('wait-'), 100, 'all 100 have made their first attempt');
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

# A request waiting after its fifth attempt holds no more memory than one
# waiting after its first: each attempt's memory is freed when it ends.
# 300 requests wait 4 s after attempt 1, then 300 others 4 s after
# attempt 5; the second batch reuses what the first left free, so with
# memory kept per attempt (about 11 KB each) it would grow by 13 MB.

my $n = 300;
my $rss_a = hold('a-', '429;ra=4,200');
my $rss_b = hold('b-', '503,503,503,503,429;ra=4,200');
diag("$n requests waiting: worker RSS $rss_a KB after attempt 1, "
    . "$rss_b KB after attempt 5");

SKIP: {
    skip 'memory under a sanitizer', 1 if $sanitized;
    cmp_ok($rss_b - $rss_a, '<', 1536,
        'waiting after attempt 5 holds what waiting after attempt 1 does');
}

$t->finish;
done_testing;

# the first attempts of the requests whose id starts with PREFIX

sub first_attempts {
    my ($prefix) = @_;
    my $log = $t->read_file('attempts.jsonl');
    my @first = $log =~ /"id":"\Q$prefix\E\d+","n":1,/g;
    return scalar @first;
}

# N requests to /hold/ with SCRIPT, the worker's RSS while all of them wait
# for their last attempt, and all of them answered 200 in the end

sub hold {
    my ($prefix, $script) = @_;
    my $waits = () = $script =~ /,/g;
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        my $r = load(n => $n, c => $n, path => '/hold/x', script => $script,
            prefix => $prefix);
        open my $fh, '>', $t->dir . "/$prefix.json";
        print $fh JSON::PP::encode_json($r);
        close $fh;
        exit 0;
    }

    my $end = time + 15;
    sleep 0.1 until time > $end || attempts_n($prefix, $waits) >= $n;
    is(attempts_n($prefix, $waits), $n, "$prefix: all $n wait");
    sleep 0.3;
    my $rss = $t->worker_rss($worker);

    waitpid($pid, 0);
    my $r = json($t->read_file("$prefix.json") || '{}');
    is($r->{statuses}{200}, $n, "$prefix: all answered 200 after the wait");
    return $rss;
}

sub attempts_n {
    my ($prefix, $k) = @_;
    my $log = $t->read_file('attempts.jsonl');
    my @n = $log =~ /"id":"\Q$prefix\E\d+","n":$k,/g;
    return scalar @n;
}
