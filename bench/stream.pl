#!/usr/bin/perl

# Benchmark 5: what the module adds to a stream.  The stand-in API streams
# a chat completion (SSE events 20 ms apart, each stamped with its write
# time); the client takes it through plain proxy_pass and through
# fireworks_pass, alternately, and measures the time to the first byte and
# each event's delay from the API's write to the client's read.
#
#   perl bench/stream.pl [--smoke] [--out DIR] [--rounds N]

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Getopt::Long;
use JSON::PP;
use Bench;

my %o = (out => "$FindBin::Bin/../docs", rounds => 40, events => 50);
GetOptions(\%o, 'smoke', 'out=s', 'rounds=i', 'events=i') or exit 2;
%o = (%o, rounds => 2, events => 5) if $o{smoke};

my $bench = Bench->new(name => 'stream', %o);
$bench->fakeapi;

$bench->nginx('gw', Bench::gateway_conf(
    http => "    proxy_buffering off;\n"));

my $port = $bench->port('gw');
my %url = map { $_ => "http://127.0.0.1:$port/$_/v1/chat/completions" }
    qw/proxy fw/;

my $out = `taskset -c 1 node $FindBin::Bin/lib/sse.js --urls $url{proxy},$url{fw} --rounds $o{rounds} --script 'sse;n=$o{events};ms=20;ts=1'`;
die "sse.js failed: $out\n" if $? != 0;
my $res = decode_json($out);

my %s;
for my $v (qw/proxy fw/) {
    my $r = $res->{$url{$v}};
    die "$v: " . ($r->{events} || 0) . " events\n"
        unless $r->{events} == $o{rounds} * $o{events};
    $s{$v} = {
        ttfb50 => pct(0.5, @{$r->{ttfb}}), ttfb99 => pct(0.99, @{$r->{ttfb}}),
        d50 => pct(0.5, @{$r->{delay}}), d99 => pct(0.99, @{$r->{delay}}),
    };
}

my $diff = sub { sprintf '%+.3f', $s{fw}{$_[0]} - $s{proxy}{$_[0]} };

my $md = "## 5. Streaming latency\n\n"
    . "The stand-in API streams $o{events} SSE events 20 ms apart, each"
    . " stamped with its write time; the client (Node, one keepalive"
    . " connection) reads $o{rounds} streams through each path,"
    . " alternating, both with `proxy_buffering off`.  Time to first byte"
    . " is from sending the request to the first byte of the response; the"
    . " event delay is from the API writing an event to the client reading"
    . " it (" . $o{rounds} * $o{events} . " events per path).\n\n"
    . Bench::table(['measure (ms)', 'proxy_pass', 'fireworks_pass',
        'added by the module'],
        [ 'time to first byte, p50', fmt($s{proxy}{ttfb50}, 3),
          fmt($s{fw}{ttfb50}, 3), $diff->('ttfb50') ],
        [ 'time to first byte, p99', fmt($s{proxy}{ttfb99}, 3),
          fmt($s{fw}{ttfb99}, 3), $diff->('ttfb99') ],
        [ 'event delay, p50', fmt($s{proxy}{d50}, 3), fmt($s{fw}{d50}, 3),
          $diff->('d50') ],
        [ 'event delay, p99', fmt($s{proxy}{d99}, 3), fmt($s{fw}{d99}, 3),
          $diff->('d99') ],
    );

$md .= "\nThe module cannot make a stream faster: a negative difference,"
    . " and any difference of the same size, is this machine's noise"
    . " between the rounds (the two processes of the stand-in and the"
    . " client share CPU 1 with each other).\n";

$bench->report($md);
$bench->stop;
