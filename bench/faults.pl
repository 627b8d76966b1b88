#!/usr/bin/perl

# Benchmark 2, behaviour under faults: the upstream answers 30 % of its
# requests 503 at random; what does the client see through each gateway?
#
#   perl bench/faults.pl [--smoke] [--out DIR] [--rounds N] [--n N | --seconds S]
#                        [--c C] [--fault F]
#
# Each variant sends --n requests per round (4000), or with --seconds as
# many as it answers in about S seconds, from its rate in a warm-up run.
#
# Same gateways as overhead.pl.  fireworks_pass and the Lua loop make up
# to 5 tries with a backoff of 100 ms * 2^k + U(0, 100 ms) (the guidance's
# 1 s base, scaled down so a run takes seconds); HAProxy retries at once,
# it has no backoff; plain proxy_pass has one server and never retries.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Getopt::Long;
use Bench;
use Peers;

my %o = (out => "$FindBin::Bin/../docs", rounds => 3, n => 4000, c => 32,
    fault => 0.3);
GetOptions(\%o, 'smoke', 'out=s', 'rounds=i', 'n=i', 'seconds=f', 'c=i',
    'fault=f') or exit 2;
%o = (%o, rounds => 1, n => 200) if $o{smoke};
%o = (%o, seconds => 0.5) if $o{smoke} && $o{seconds};

my $bench = Bench->new(name => 'faults', %o);
my $urls = Peers::start($bench, fault => $o{fault}, base => 100,
    jitter => 100);
my @variants = Peers::variants();

# a warm-up run of each variant fills the keepalive pools; with --seconds
# its rate sets how many requests the variant sends per round

my %n;
for my $v (@variants) {
    my $r = $bench->load(url => $urls->{$v},
        n => $o{smoke} ? $o{c} : 10 * $o{c}, c => $o{c});
    my $n = $o{seconds} ? int($r->{n} / $r->{elapsed} * $o{seconds}) : $o{n};
    $n{$v} = $n < $o{c} ? $o{c} : $n;
}

my $runs = Bench::rounds($o{rounds}, \@variants, sub {
    my ($v, $round) = @_;
    my $n = $n{$v};
    my $up0 = Peers::upstream_requests($bench);
    my $r = $bench->load(url => $urls->{$v}, n => $n, c => $o{c});
    my $up = Peers::upstream_requests($bench) - $up0 - 1;

    die "$v: $r->{errors} errors\n" if $r->{errors};

    $r->{ok} = ($r->{statuses}{200} || 0) / $n * 100;
    $r->{rps} = $n / $r->{elapsed};
    $r->{attempts} = $up / $n;
    printf STDERR "round %d %-8s %8.0f req/s %6.2f%% ok p50 %s p99 %s\n",
        $round, $v, $r->{rps}, $r->{ok}, fmt($r->{p50}), fmt($r->{p99});
    return $r;
});

my %med;
for my $v (@variants) {
    $med{$v}{$_} = Bench::median_of($runs, $v, $_)
        for qw/ok p50 p99 rps attempts/;
}

my $pct = $o{fault} * 100;
my $md = "## 2. Under faults: $pct % of upstream answers are 503\n\n"
    . "The same upstream answers 503 to $pct % of its requests at random"
    . " (`split_clients` on `\$request_id`).  The client"
    . " (`t/lib/load.js`, Node) sends "
    . ($o{seconds} ? "as many POST requests as each variant answers in"
        . " about $o{seconds} s (from its rate in a warm-up run: "
        . join(', ', map { "$n{$_} for $_" } @variants) . ")"
      : "$o{n} POST requests")
    . " per variant per round over $o{c} keepalive connections and times"
    . " each one, after a warm-up run;"
    . " $o{rounds} rounds; medians.  Success is the share of client requests"
    . " answered 200; upstream requests per client request show the load"
    . " each gateway puts on the API.  fireworks_pass and the Lua loop:"
    . " 5 tries, backoff 100 ms * 2^k + U(0, 100 ms); HAProxy: `retries 4`,"
    . " immediate; proxy_pass: one server, no retry.  With 5 tries the"
    . " expected success is 1 - $o{fault}^5 = "
    . fmt((1 - $o{fault} ** 5) * 100, 2) . " %.\n\n";

$md .= Bench::table(
    ['variant', 'success %', 'p50 ms', 'p99 ms', 'upstream req per request',
     'req/s'],
    map { [ $Peers::LABEL{$_}, fmt($med{$_}{ok}, 2), fmt($med{$_}{p50}, 2),
            fmt($med{$_}{p99}, 1), fmt($med{$_}{attempts}, 2),
            fmt($med{$_}{rps}, 0) ] } @variants);

$md .= "\nreq/s here is not a speed contest: a gateway that waits before"
    . " retrying answers fewer requests per connection, by design.  The"
    . " gateways that never wait (proxy_pass, HAProxy) answer as fast as"
    . " the client can send, and at those rates the client (Node, one"
    . " thread, sharing CPU 1 with the upstream) queues its own requests:"
    . " their p50 measures the client more than the gateway.\n";

$bench->report($md);
$bench->stop;
