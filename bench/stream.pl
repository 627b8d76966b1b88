#!/usr/bin/perl

# Benchmark 5: what the module adds to a stream.  The stand-in API streams
# a chat completion (SSE events 20 ms apart, each stamped with its write
# time); the client takes it through plain proxy_pass, through
# fireworks_pass, through fireworks_pass with fireworks_hold_header on and
# through fireworks_pass on a gateway that reads each answer's usage (a
# log_format names the usage variables), alternately, and measures the time to the first byte and each event's
# delay from the API's write to the client's read.
#
#   perl bench/stream.pl [--smoke] [--out DIR] [--rounds N]

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Getopt::Long;
use JSON::PP;
use Bench;

my %o = (out => "$FindBin::Bin/../docs", rounds => 40, events => 50,
    first => 100);
GetOptions(\%o, 'smoke', 'out=s', 'rounds=i', 'events=i', 'first=i')
    or exit 2;
%o = (%o, rounds => 2, events => 5) if $o{smoke};

my $bench = Bench->new(name => 'stream', %o);
$bench->fakeapi;

$bench->nginx('gw', Bench::gateway_conf(
    http => "    proxy_buffering off;\n",
    server => "        location /hold/ {\n"
        . "            fireworks_pass /_fw\$uri;\n"
        . "            fireworks_hold_header on;\n"
        . "        }\n"));

$bench->nginx('gwu', Bench::gateway_conf(listen => 'gwu',
    http => "    proxy_buffering off;\n"
        . "    log_format usage '\$fireworks_prompt_tokens "
        . "\$fireworks_completion_tokens \$fireworks_ttft';\n"));

my $port = $bench->port('gw');
my @v = qw/proxy fw hold usage/;
my %url = map { $_ => "http://127.0.0.1:$port/$_/v1/chat/completions" } @v;
$url{usage} = "http://127.0.0.1:" . $bench->port('gwu')
    . "/fw/v1/chat/completions";
my $urls = join ',', map { $url{$_} } @v;

my $out = `taskset -c 1 node $FindBin::Bin/lib/sse.js --urls $urls --rounds $o{rounds} --script 'sse;n=$o{events};ms=20;ts=1;first=$o{first}'`;
die "sse.js failed: $out\n" if $? != 0;
my $res = decode_json($out);

my %s;
for my $v (@v) {
    my $r = $res->{$url{$v}};
    die "$v: " . ($r->{events} || 0) . " events\n"
        unless $r->{events} == $o{rounds} * $o{events};
    $s{$v} = {
        h50 => pct(0.5, @{$r->{header}}), h99 => pct(0.99, @{$r->{header}}),
        ttfb50 => pct(0.5, @{$r->{ttfb}}), ttfb99 => pct(0.99, @{$r->{ttfb}}),
        d50 => pct(0.5, @{$r->{delay}}), d99 => pct(0.99, @{$r->{delay}}),
    };
}

my $diff = sub { sprintf '%+.3f', $s{$_[1]}{$_[0]} - $s{proxy}{$_[0]} };
my $row = sub {
    my ($label, $k) = @_;
    return [ $label, map({ fmt($s{$_}{$k}, 3) } qw/proxy fw hold/),
             $diff->($k, 'fw'), $diff->($k, 'hold'), fmt($s{usage}{$k}, 3),
             $diff->($k, 'usage') ];
};

my $md = "## 5. Streaming latency\n\n"
    . "The stand-in API sends the header, then after $o{first} ms (its"
    . " time to first token) $o{events} SSE events 20 ms apart, each"
    . " stamped with its write time; the client (Node, one keepalive"
    . " connection) reads $o{rounds} streams through each path,"
    . " alternating, all with `proxy_buffering off`; the third path has"
    . " `fireworks_hold_header on`, which holds the header until the first"
    . " event; the fourth is `fireworks_pass` on a second, identical"
    . " gateway whose `log_format` names the usage variables, so that"
    . " every event is read for its usage as it passes.  The times to the header and to the first event (the first"
    . " body byte) are from sending the request; the event delay is from the API writing an"
    . " event to the client reading it (" . $o{rounds} * $o{events}
    . " events per path).\n\n"
    . Bench::table(['measure (ms)', 'proxy_pass', 'fireworks_pass',
        'with hold', 'added by the module', 'added with hold',
        'with usage read', 'added with usage'],
        $row->('time to the header, p50', 'h50'),
        $row->('time to the header, p99', 'h99'),
        $row->('time to the first event, p50', 'ttfb50'),
        $row->('time to the first event, p99', 'ttfb99'),
        $row->('event delay, p50', 'd50'),
        $row->('event delay, p99', 'd99'),
    );

$md .= "\nThe hold moves the header to the first event: it adds the"
    . " API's own time from its header to its first token ($o{first} ms"
    . " here) to the time to the header, and nothing to the time to the"
    . " first event, which the client waits for anyway; the events that"
    . " follow are not held.\n";

$md .= "\nThe module cannot make a stream faster: a negative difference,"
    . " and any difference of the same size, is this machine's noise"
    . " between the rounds (the two processes of the stand-in and the"
    . " client share CPU 1 with each other).\n";

$bench->report($md);
$bench->stop;
