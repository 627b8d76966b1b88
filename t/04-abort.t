#!/usr/bin/perl

# A client that leaves stops all work for it: no further attempt, no timer
# left behind, a healthy worker.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw/time sleep/;
use FW;

my $t = FW->new();

$t->run($t->gateway(locations => <<'EOF'));
        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_backoff 10s;
            fireworks_jitter 0;
            fireworks_deadline 0;
        }

        location /short/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_backoff 300ms;
            fireworks_jitter 0;
        }
EOF

sub send_and_leave {
    my ($id, $script, $after, $rst) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->nginx_port)
        or die "connect: $!\n";
    my $body = '{"model":"m"}';
    print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "X-FW-Script: $script\r\nX-FW-Id: $id\r\n"
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    sleep $after;
    setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_LINGER(),
        pack('ii', 1, 0)) if $rst;
    close $s;
}

# the client leaves during a 10 s backoff wait

send_and_leave('wait', '503,200', 0.5);
sleep 0.5;
is(scalar @{$t->attempts('wait')}, 1, 'one attempt before the client left');

# the same with a reset instead of a close

send_and_leave('wait-rst', '503,200', 0.5, 1);
sleep 0.5;
is(scalar @{$t->attempts('wait-rst')}, 1, 'reset: one attempt');

# the client leaves during an attempt that hangs: no retry either

send_and_leave('hang', 'hang,200', 0.5);
sleep 0.5;

# the worker is healthy: the next request is fine

my $r = $t->http(uri => '/short/x', body => '{}', script => '503,200',
    id => 'next');
is($r->{status}, 200, 'next request fine');

# no timer outlives its request: a quit exits at once, long before the 10 s
# waits of the requests that left would have ended

my $t0 = time;
$t->stop;
cmp_ok(time - $t0, '<', 3, 'quit is not held by a stale timer');

is(scalar @{$t->attempts('wait')}, 1, 'still one attempt after the wait');
is(scalar @{$t->attempts('hang')}, 1, 'hang: one attempt');

my $l = $t->log_line('wait');
is($l->[0], 499, 'log: 499');
is($l->[4], 'client_closed', 'log: outcome client_closed');
like($l->[3], qr/^0\.[4-9]|^1\./, 'log: time waited until the client left');
is($t->log_line('wait-rst')->[4], 'client_closed', 'reset: client_closed');
is($t->log_line('hang')->[4], 'client_closed', 'hang: client_closed');

# the API never answered the attempt the client left: no status for it

is($l->[2], '503', 'log: the status of the attempt made');
is($t->log_line('hang')->[2], '-', 'hang: no status listed for it');

$t->finish;
done_testing;
