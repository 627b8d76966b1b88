#!/usr/bin/perl

# Gauges by state: a request enters every state of the flow (attempt,
# discard, hold, backoff, gate held, forward) and leaves it every way it
# can (its answer, the client leaving, the deadline, a reload's shutdown,
# an error_page to another pass); after each, every gauge of the route
# (fireworks_waiting, fireworks_in_flight, fireworks_gate_held) reads 0,
# and the retry budget's count is back to 0 too: a retry under
# "fireworks_retry_budget 1% min=1" is still allowed.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw/time sleep/;
use FW;

my $t = FW->new();

$t->run($t->gateway(main => 'worker_shutdown_timeout 3s;',
    http => <<'EOF0', locations => <<'EOF'));
    fireworks_zone fireworks 1m;
EOF0
        location /metrics {
            fireworks_metrics;
        }

        location /g/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route g;
            fireworks_backoff 100ms;
            fireworks_jitter 0;
            fireworks_retry_budget 1% min=1;
        }

        location /gate/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route g;
            fireworks_backoff 100ms;
            fireworks_jitter 0;
            fireworks_gate on;
        }

        location /slow/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route g;
            fireworks_backoff 10s;
            fireworks_jitter 0;
            fireworks_deadline 0;
        }

        location /deadline/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route g;
            fireworks_backoff 100ms;
            fireworks_jitter 0;
            fireworks_deadline 600ms;
        }

        location /hold/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route g;
            fireworks_hold_header on;
            fireworks_backoff 100ms;
            fireworks_jitter 0;
        }

        location /again/ {
            fireworks_pass /_refused;
            fireworks_route g;
            fireworks_tries 2;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            error_page 502 = @again;
        }

        location @again {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route g;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
        }

        location /_refused {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_REFUSED%%;
        }
EOF

my $body = '{"messages":[{"role":"user","content":"hi"}],"model":"m"}';

sub gauges {
    my %m;
    my $r = $t->http(uri => '/metrics');
    for my $g (qw/fireworks_waiting fireworks_in_flight fireworks_gate_held/)
    {
        ($m{$g}) = $r->{body} =~ /^\Q$g\E\{route="g"\} (\S+)$/m;
    }
    return \%m;
}

# every gauge of the route back to 0 within a few seconds of the request's
# end, as seen from outside; a gauge left counted stays up for good

sub all_zero {
    my ($what) = @_;
    my $m;
    for (1 .. 50) {
        $m = gauges();
        last if !grep { !defined || $_ != 0 } values %$m;
        sleep 0.1;
    }
    my @up = map { "$_=" . ($m->{$_} // 'none') }
        grep { !defined $m->{$_} || $m->{$_} != 0 } sort keys %$m;
    ok(!@up, "$what: every gauge back to 0") or diag("@up");
}

# a request in its own process; the client leaves after AFTER seconds

sub leave_after {
    my ($uri, $id, $script, $after) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->nginx_port)
        or die "connect: $!\n";
    print $s "POST $uri HTTP/1.1\r\nHost: x\r\nX-FW-Script: $script\r\n"
        . "X-FW-Id: $id\r\nContent-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    my $data = '';
    my $end = time + $after;
    while (time < $end) {
        my $sel = IO::Select->new($s);
        last unless $sel->can_read($end - time);
        sysread($s, my $buf, 4096) or last;
        $data .= $buf;
    }
    close $s;
    return $data;
}

# a gauge that is up while the state lasts: the test sees each state

sub seen_up {
    my ($g, $what) = @_;
    for (1 .. 50) {
        my $v = gauges()->{$g};
        if (defined $v && $v > 0) {
            pass("$what: $g up while it lasts");
            return;
        }
        sleep 0.05;
    }
    fail("$what: $g up while it lasts");
}

# attempt, discard, backoff, attempt, forward: the answer

my $r = $t->http(uri => '/g/x', body => $body, id => 'ok',
    script => '503,200');
is($r->{status}, 200, 'answered after a retry');
all_zero('answered');

# backoff, left by the client

my $pid = fork() // die;
if (!$pid) { leave_after('/slow/x', 'wait', '503,200', 1.5); exit 0 }
seen_up('fireworks_waiting', 'backoff');
waitpid($pid, 0);
all_zero('the client left a backoff');

# an attempt, left by the client

leave_after('/slow/x', 'hang', 'hang', 0.5);
all_zero('the client left an attempt');

# a held header, left by the client before the first event

leave_after('/hold/x', 'held', 'sse;first=3000', 0.5);
all_zero('the client left a held header');

# a stream being forwarded, left by the client

my $got = leave_after('/g/x', 'fwd', 'sse;n=50;ms=100', 1);
like($got, qr/^HTTP\/1\.1 200/, 'the stream was forwarded');
all_zero('the client left a forwarded stream');

# the deadline: a wait that does not fit, and an attempt cut

$r = $t->http(uri => '/deadline/x', body => $body, id => 'dl1',
    script => '503;ra=2,200');
is($r->{status}, 503, 'a wait past the deadline: the 503');
all_zero('the deadline refused a wait');

$r = $t->http(uri => '/deadline/x', body => $body, id => 'dl2',
    script => 'slow;ms=3000');
is($r->{status}, 504, 'an attempt cut at the deadline: 504');
all_zero('the deadline cut an attempt');

# the gate: closed by a 429 with Retry-After, a retry held, then let go

$pid = fork() // die;
if (!$pid) {
    $t->http(uri => '/gate/x', body => $body, id => 'gate1',
        script => '429;ra=2,200', timeout => 10);
    exit 0;
}
sleep 0.3;
my $pid2 = fork() // die;
if (!$pid2) { leave_after('/gate/x', 'gate2', '503,200', 1); exit 0 }
seen_up('fireworks_gate_held', 'a retry held by the closed gate');
waitpid($pid2, 0);
waitpid($pid, 0);
all_zero('a gate held a retry, its client left');

# error_page to another pass

$r = $t->http(uri => '/again/x', body => $body, id => 'again',
    script => '200');
is($r->{status}, 200, 'error_page to another pass: 200');
all_zero('error_page to another pass');

# a reload while a request waits: the old worker ends it, shutting down

$pid = fork() // die;
if (!$pid) {
    $t->http(uri => '/slow/x', body => $body, id => 'reload',
        script => '503,200', timeout => 10);
    exit 0;
}
seen_up('fireworks_waiting', 'before the reload');
$t->reload;
waitpid($pid, 0);
all_zero('a reload ended a waiting request');

# the budget's count of retrying requests is back to 0 too: with min=1,
# one more retry is allowed

$r = $t->http(uri => '/g/x', body => $body, id => 'last',
    script => '503,200');
is($r->{status}, 200, 'a retry is still within the budget');
is(scalar @{$t->attempts('last')}, 2, 'it was retried');

$t->finish(allow => [qr/connect\(\) failed \(111: Connection refused\)/]);

done_testing();
