package Ports;

# Free TCP ports on 127.0.0.1 and waiting for a listener: shared by the
# test harness (t/lib/FW.pm) and the benchmarks (bench/lib/Bench.pm).
# Core Perl only, no Test::More.

use warnings;
use strict;

use Exporter qw/import/;
use IO::Socket::INET;
use Time::HiRes qw/time sleep/;

our @EXPORT_OK = qw/free_port wait_port/;

# A port nobody listens on, not among TAKEN (a hash of name => port).
# Below Linux's ephemeral ports (32768 and up), where the connections of
# the tests themselves would take it.

sub free_port {
    my ($taken) = @_;

    for (1 .. 100) {
        my $p = 10000 + int(rand(22000));
        next if grep { defined && $_ == $p } values %$taken;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => $p, Listen => 1, ReuseAddr => 1) or next;
        close $s;
        return $p;
    }

    die "no free port\n";
}

# True once something accepts connections on PORT, false after TIMEOUT s.

sub wait_port {
    my ($port, $timeout) = @_;
    my $end = time + ($timeout || 10);
    while (time < $end) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        if ($s) { close $s; return 1 }
        sleep 0.05;
    }
    return 0;
}

1;
