#!/usr/bin/perl

# A request waiting in backoff costs the worker what nginx's own limit_req
# costs to hold one.  The same 1500 requests are held, all at once, three
# ways, each in a freshly started gateway (glibc keeps what a worker
# frees, so a second batch in the same worker would reuse the first's
# memory): by limit_req, delaying them before they are proxied, and by
# fireworks_pass after a first attempt answered 429, or after a fifth
# one, the four before answered 503.  The worker's RSS
# growth per held request must stay within 1.1 times limit_req's.
#
# Freeing the attempt is not enough for that: an attempt's memory taken
# from the heap, between requests that go on waiting, stays resident as
# holes; that cost 1.2-1.5 KB more per request (1.15-1.19 times), which
# this test catches.  bench/waiting.pl measures the same at 10,000.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw/WNOHANG/;
use Time::HiRes qw/time sleep/;
use FW qw/json/;

plan(skip_all => 'memory under a sanitizer') if $ENV{TEST_NGINX_SANITIZE};

my $n = 1500;
my $t = FW->new();

my $conf = $t->gateway(connections => 4096,
    http => <<'EOF', locations => <<'EOF');
    limit_req_zone $request_method zone=one:1m rate=1r/m;
EOF
        access_log off;

        # every request past the first waits its turn, a minute apart
        location /limit/ {
            limit_req zone=one burst=100000;
            proxy_pass http://api/v1/chat/completions;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location /hold/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_jitter 0;
        }

        # four attempts answered 503 at once, the fifth 429
        location /hold5/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 6;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
        }

        location = /status {
            stub_status;
        }
EOF

my (%per, %script);

%script = (
    limit => '429;ra=20,200',
    hold => '429;ra=20,200',
    hold5 => '503,503,503,503,429;ra=20,200',
);

for my $v (qw/limit hold hold5/) {
    $t->run($conf);
    $per{$v} = held($v);
    $t->stop;
}

diag(sprintf "RSS per held request: limit_req %.2f KB, fireworks_pass "
    . "after attempt 1 %.2f KB (%.3f), after attempt 5 %.2f KB (%.3f)",
    $per{limit}, $per{hold}, $per{hold} / $per{limit},
    $per{hold5}, $per{hold5} / $per{limit});

cmp_ok($per{limit}, '>', 4, 'limit_req holds its requests in memory');
cmp_ok($per{hold} / $per{limit}, '<=', 1.1,
    'a request waiting after attempt 1 holds at most 1.1 x limit_req');
cmp_ok($per{hold5} / $per{limit}, '<=', 1.1,
    'a request waiting after attempt 5 holds at most 1.1 x limit_req');

$t->finish;
done_testing;

# N requests held by V's location: the worker's RSS growth per request,
# from after a warm-up to all of them held

sub held {
    my ($v) = @_;
    my ($worker) = $t->worker_pids;
    ok($worker, "$v: the worker is found") or return 0;

    # the same warm-up for both: 100 requests at once through
    # fireworks_pass, which fills the worker's cache of attempt pools

    my $w = load(n => 100, c => 100, path => '/hold/x', prefix => "w$v-");
    is($w->{statuses}{200}, 100, "$v: warm-up answered");
    sleep 0.3;
    my $rss0 = $t->worker_rss($worker);

    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', $t->dir . "/$v.json" or exit 1;
        exec('node', "$FindBin::Bin/lib/load.js", '--port', $t->nginx_port,
            '--n', $n, '--c', $n, '--rate', 5000, '--path', "/$v/x",
            '--script', $script{$v}, '--prefix', "$v-");
        exit 1;
    }

    # limit_req lets the first request through at once

    my $held = $v eq 'limit' ? $n - 1 : $n;
    my $end = time + 20;
    sleep 0.1 until time > $end || waiting($v) >= $held;
    cmp_ok(waiting($v), '>=', $held, "$v: all $held held");

    # the attempt pools a burst leaves are unmapped after 1 to 2 s idle

    sleep 2.5;

    my $rss1 = $t->worker_rss($worker);
    diag("$v: worker RSS $rss0 -> $rss1 KB with $n held");
    is(waitpid($pid, WNOHANG), 0, "$v: the client still waits")
        or diag($t->read_file("$v.json"));

    # the client leaves: the worker ends every held request at once

    kill 'TERM', $pid;
    waitpid($pid, 0);

    $end = time + 10;
    sleep 0.1 until time > $end || active() <= 1;
    is(active(), 1, "$v: all ended when the client left");

    return ($rss1 - $rss0) / $n;
}

# held: limit_req's once their connections are open; fireworks_pass's
# once the attempt answered 429 (the first or the fifth) was made

sub waiting {
    my ($v) = @_;
    return active() - 1 if $v eq 'limit';
    my $k = $v eq 'hold' ? 1 : 5;
    my $log = $t->read_file('attempts.jsonl');
    my @n = $log =~ /"id":"$v-\d+","n":$k,/g;
    return scalar @n;
}

sub active {
    my $r = $t->http(uri => '/status');
    return $r->{body} =~ /Active connections: (\d+)/ ? $1 : -1;
}

sub load {
    my (%o) = @_;
    my $args = join ' ', map { "--$_ '$o{$_}'" } sort keys %o;
    my $out = `node $FindBin::Bin/lib/load.js --port ${\ $t->nginx_port} $args`;
    return json($out || '{}');
}
