#!/usr/bin/perl

# Benchmark 6: the storm guard (issue #12).  What retries do to an API
# that is rate-limited or down, with and without the guard, side by side
# in one run:
#
#   1. rate limit   the stand-in API (bench/lib/bucket.js) accepts R
#                   requests/s, a token bucket answering 429 at once
#                   when empty; clients offer 2R/s, open loop.  Twice:
#                   the 429 as Fireworks sends it (no Retry-After, no
#                   remaining counts), and with Retry-After
#   2. outage       the API answers 503 (no Retry-After) to everything
#                   for a while, then recovers; clients offer 0.8R
#   3. memory       N requests held by the gate against the same requests
#                   waiting in plain backoff: the worker's RSS and CPU
#
# Variants of 1 and 2, each with a fresh gateway nginx:
#
#   seed   no gateway: each client retries on its own, the seed's recipe
#          (1 s * 2^attempt + U(0, 1 s), 5 tries, Retry-After ignored)
#   pass   fireworks_pass, defaults (5 tries, 1 s backoff, 1 s jitter,
#          Retry-After honoured), no guard
#   on     fireworks_pass, fireworks_gate on and fireworks_retry_budget
#   all    fireworks_pass, fireworks_gate all and fireworks_retry_budget
#   cold   (part 1 only) "all" without the warm-up at R/s before the
#          surge: the gate's first pace is the rate the API accepted
#          lately, and a fresh route has none
#
#   perl bench/storm.pl [--smoke] [--out DIR] [--rate 40] [--seconds 20]
#                       [--warm 6] [--outage 10] [--n 10000] [--wait 20]
#                       [--rounds 1] [--budget 20] [--only rate,outage,memory]
#                       [--ms] [--apis fireworks,retry-after] [--workers 2]
#                       [--variants seed,pass,on,all,cold]
#
# --ms: the stand-in's Retry-After variant sends retry-after-ms (exact)
# besides Retry-After (whole seconds); --budget: fireworks_retry_budget's
# percent (min=3); --apis: which 429s the rate limit part is run with
# (fireworks: none of Retry-After; retry-after: the stand-in's old
# behaviour); --variants: a subset of the variants, for a short run.
#
# The stand-in and the clients (bench/lib/storm.js) share CPU 1, the
# gateway has 2 workers (--workers), not pinned.  One round by default: a round of
# parts 1 and 2 is minutes long, and each is a time series whose shape
# matters more than a median; --rounds repeats them and reports medians.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Getopt::Long;
use JSON::PP;
use Time::HiRes qw/time sleep/;
use Bench;

my %o = (out => "$FindBin::Bin/../docs", rate => 40, seconds => 20,
    warm => 6, outage => 10, n => 10000, wait => 20, rounds => 1,
    budget => 20, deadline => 60, apis => 'fireworks,retry-after',
    workers => 2, variants => 'seed,pass,on,all,cold');
GetOptions(\%o, 'smoke', 'out=s', 'rate=f', 'seconds=f', 'warm=f',
    'outage=f', 'n=i', 'wait=i', 'rounds=i', 'only=s', 'ms', 'budget=i',
    'apis=s', 'workers=i', 'variants=s')
    or exit 2;

# the smoke run: every part and variant, a second or two each; the
# deadline shrinks with it, so that no request outlives its run by long

%o = (%o, rate => 20, seconds => 1, warm => 0.5, outage => 0.5, n => 200,
    wait => 2, rounds => 1, deadline => 1) if $o{smoke};
my ($pre, $post) = $o{smoke} ? (0.5, 1) : (5, 10);

my @parts = grep { !$o{only} || $o{only} =~ /\b$_\b/ } qw/rate outage memory/;
die "--only: rate, outage or memory\n" unless @parts;

# part 1 has a fifth variant: "all" without the warm-up (below)

my %chosen = map { $_ => 1 } split /,/, $o{variants};
my @variants = grep { $chosen{$_} } qw/seed pass on all/;
my @rate_variants = grep { $chosen{$_} } (qw/seed pass on all/, 'cold');
my @apis = grep { $o{apis} =~ /\b$_\b/ } qw/fireworks retry-after/;
die "--apis: fireworks or retry-after\n" unless @apis;
my %api_label = (fireworks => 'the API\'s 429 as Fireworks sends it: no'
    . ' `Retry-After`', 'retry-after' => 'the API\'s 429 with `Retry-After`');
my %label = (
    seed => '(a) no gateway, clients retry (seed recipe)',
    pass => '(b) `fireworks_pass`, no guard',
    on => '(c) `fireworks_pass`, `fireworks_gate on` + budget',
    all => '(d) `fireworks_pass`, `fireworks_gate all` + budget',
    cold => '(e) as (d), no warm-up',
);
my $budget = "$o{budget}% min=3";
my %guard = (
    seed => '',
    pass => '',
    on => "fireworks_gate on;\n            fireworks_retry_budget $budget;",
    all => "fireworks_gate all;\n            fireworks_retry_budget $budget;",
);
$guard{cold} = $guard{all};

my $bench = Bench->new(name => 'storm', %o);
my %runs;
my $R = $o{rate};

# the stand-in API, for parts 1 and 2

my $api;
if (grep { $_ ne 'memory' } @parts) {
    $api = $bench->port('api');
    $bench->spawn('bucket', 'taskset', '-c', '1', 'node',
        "$FindBin::Bin/lib/bucket.js", '--port', $api, '--rate', $R,
        '--ms', $o{ms} ? 1 : 0);
    Ports::wait_port($api) or die "bucket.js did not start\n";
}

sub get {
    my ($url) = @_;
    my $out = `curl -s -m 10 '$url'`;
    die "$url: no answer\n" if $? != 0;
    return $out;
}

# A gateway in front of the stand-in, for variant V of run K: one
# location, route "storm", the interactive workload (its 60 s deadline,
# shorter in a smoke run), the guard of the variant.  Returns its prefix.

sub storm_gateway {
    my ($v, $k) = @_;
    my $deadline = $o{smoke} ? "\n            fireworks_deadline $o{deadline}s;"
                             : '';
    return $bench->nginx("gw$k", Bench::gateway_conf(
        listen => "gw$k", keepalive => 64, connections => 4096, nofile => 1,
        workers => $o{workers},
        http => "    fireworks_zone storm 1m;\n",
        fw => <<"EOF",
            fireworks_route storm;
            fireworks_workload interactive;$deadline
            $guard{$v}
EOF
        server => "        location = /metrics { fireworks_metrics; }\n"));
}

# the gateway's counters of the route: outcome => requests, and the time
# the gate was closed

sub metrics {
    my ($port) = @_;
    my $m = get("http://127.0.0.1:$port/metrics");
    my %r;
    $r{outcome}{$1} += $2
        while $m =~ /^fireworks_requests_total\{[^}]*outcome="(\w+)"[^}]*\} (\d+)/mg;
    ($r{closed}) = $m =~ /^fireworks_gate_closed_seconds_total\{[^}]*\} ([\d.]+)/m;
    return \%r;
}

# One run of the clients against variant V: the stand-in is reset (with
# an outage when OUTAGE is [in, for] in ms), storm.js offers RATE/s for
# SECONDS, after WARM s at R/s; returns the clients' results, the
# stand-in's attempts (both in ms of the same clock) and the gateway's
# counters.  Behind a gateway the clients wait 5 s past the deadline, so
# that the gateway's deadline is the one that ends a request.

sub storm_run {
    my ($v, $k, $rate, $seconds, $outage, $warm, $ra) = @_;
    my $deadline = $o{deadline} * 1000;
    my ($port, $path, @retry) = ($api, '/v1/chat/completions',
        '--tries', 5, '--base', 1000, '--jitter', 1000);
    my $gw;
    if ($v ne 'seed') {
        $gw = storm_gateway($v, $k);
        ($port, $path, @retry) = ($bench->port("gw$k"),
            '/fw/v1/chat/completions', '--tries', 1);
        $deadline += 5000;
    }
    push @retry, '--warm', $warm, '--warm-rate', $R if $warm;

    # the clients reset the stand-in as they start: one schedule for both
    push @retry, '--reset', "'http://127.0.0.1:$api/_reset?retry_after="
        . ($ra ? 1 : 0)
        . ($outage ? "&outage_in=$outage->[0]&outage_for=$outage->[1]" : '')
        . "'";
    my $pid = $bench->spawn("storm-$k", 'sh', '-c', "exec taskset -c 1 node"
        . " $FindBin::Bin/lib/storm.js --port $port --path $path --rate $rate"
        . " --duration $seconds --deadline $deadline @retry 2>$bench->{dir}/storm-$k.err");
    $bench->reap($pid);
    my $out = $bench->read_file("storm-$k.out");
    die "storm.js: $out " . $bench->read_file("storm-$k.err") . "\n"
        unless $out =~ /^\{/;

    my $c = decode_json($out);
    my $s = decode_json(get("http://127.0.0.1:$api/_stats"));
    my $m = $gw ? metrics($bench->port("gw$k")) : { outcome => {} };
    $bench->stop_nginx($gw) if $gw;

    # one clock, ms since the stand-in's reset
    my $shift = $c->{t0} - $s->{t0};
    my @req = map { { start => $_->[0] + $shift, end => $_->[1] + $shift,
        status => $_->[2], tries => $_->[3] } } @{$c->{results}};
    my @att = map { { t => $_->[0], status => $_->[1] } } @{$s->{attempts}};
    die "$v: no client request\n" unless @req;
    return { req => \@req, att => \@att, outage => $s->{outage},
        metrics => $m, shift => $shift, surge => $shift + ($warm || 0) * 1000 };
}

sub count { scalar grep { $_[0]->($_) } @{$_[1]} }

# part 1: the rate limit

sub rate_limit {
    my ($api, $v, $round) = @_;
    my $ra = $api eq 'retry-after';
    my $run = storm_run($v, ($ra ? 'ratera' : 'ratefw') . "$v$round",
        2 * $R, $o{seconds}, undef, $v eq 'cold' ? 0 : $o{warm}, $ra);

    # the surge only: its client requests, the attempts from its start
    my $from = $run->{surge};
    my $req = [ grep { $_->{start} >= $from } @{$run->{req}} ];
    my $att = [ grep { $_->{t} >= $from } @{$run->{att}} ];
    my $end = $from + $o{seconds} * 1000;
    my @ok = grep { $_->{status} == 200 } @$req;
    my @lat = map { $_->{end} - $_->{start} } @ok;

    my %r = (n => scalar @$req, ok => scalar @ok,
        okpct => @ok / @$req * 100,
        okps => count(sub { $_[0]{end} <= $end }, \@ok) / $o{seconds},
        attempts => scalar @$att,
        aps => @ok ? @$att / @ok : undef,
        p50 => pct(0.5, @lat), p99 => pct(0.99, @lat),
        last => ((sort { $a <=> $b } map { $_->{end} } @$req)[-1] - $from)
            / 1000,
        outcome => $run->{metrics}{outcome}, closed => $run->{metrics}{closed});
    printf STDERR "rate %s, round %d %-4s %5.1f %% ok, %5.1f ok/s, %.2f"
        . " attempts/ok, p50 %s p99 %s ms\n", $api, $round, $v, $r{okpct},
        $r{okps},
        $r{aps} // 0, fmt($r{p50}, 0), fmt($r{p99}, 0);
    return \%r;
}

# part 2: the outage

sub outage {
    my ($v, $round) = @_;
    my $rate = 0.8 * $R;
    my $seconds = $pre + $o{outage} + $post;
    my $run = storm_run($v, "outage$v$round", $rate, $seconds,
        [ $pre * 1000, $o{outage} * 1000 ]);
    my ($req, $att) = @$run{qw/req att/};
    my ($o0, $o1) = @{$run->{outage}};

    # the clients' load and the API's during the outage
    my $during = sub { $_[0] >= $o0 && $_[0] < $o1 };
    my $clients = count(sub { $during->($_[0]{start}) }, $req);
    my $attempts = count(sub { $during->($_[0]{t}) }, $att);

    # normal: successes/s before the outage, less its first fifth (the
    # clients' connections opening)
    my @ok = sort { $a <=> $b } map { $_->{status} == 200 ? $_->{end} : () }
        @$req;
    my $from = $run->{shift} + $pre * 200;
    my $normal = (grep { $_ >= $from && $_ < $o0 } @ok) / (($o0 - $from) / 1000);

    # recovery: the end of the first 1 s window after it in which the API
    # accepted at least 0.75 R attempts (windows 100 ms apart)
    my ($first) = grep { $_ >= $o1 } @ok;
    my @accepted = map { $_->{status} == 200 ? $_->{t} : () } @$att;
    my $back;
    for (my $t = $o1; $t + 1000 <= $o1 + $post * 1000; $t += 100) {
        my $n = grep { $_ >= $t && $_ < $t + 1000 } @accepted;
        if ($n >= 0.75 * $R) { $back = ($t + 1000 - $o1) / 1000; last }
    }

    my %r = (clients => $clients / ($o{outage}), attempts => $attempts
        / $o{outage}, normal => $normal,
        first => defined $first ? ($first - $o1) / 1000 : undef,
        back => $back, okpct => @ok / @$req * 100, n => scalar @$req,
        outcome => $run->{metrics}{outcome});
    $r{per} = $r{clients} ? $r{attempts} / $r{clients} : undef;
    $r{retries} = defined $r{per} ? $r{per} - 1 : undef;
    $r{series} = series($req, $att, $run->{shift});
    printf STDERR "outage, round %d %-4s %5.1f attempts/s for %5.1f"
        . " requests/s, back after %s s\n", $round, $v, $r{attempts},
        $r{clients}, fmt($back, 1);
    return \%r;
}

# per second from the clients' start: successes answered, attempts

sub series {
    my ($req, $att, $shift) = @_;
    my (@ok, @att);
    for (@$req) {
        $ok[int(($_->{end} - $shift) / 1000)]++ if $_->{status} == 200;
    }
    $att[int(($_->{t} - $shift) / 1000)]++ for grep { $_->{t} >= $shift } @$att;
    return [ map { [ $_, $ok[$_] || 0, $att[$_] || 0 ] }
        0 .. ($#ok > $#att ? $#ok : $#att) ];
}


sub med {
    my ($part, $v, $key) = @_;
    return Bench::median_of($runs{$part}, $v, $key);
}

sub outcomes {
    my ($part, $v) = @_;
    my $o = $runs{$part}{$v}[0]{outcome};
    return '-' unless %$o;
    return join(', ', map { "$_ $o->{$_}" } sort { $o->{$b} <=> $o->{$a} }
        grep { $o->{$_} } keys %$o);
}

sub goal {
    my ($ok) = @_;
    return $ok ? 'met' : 'not met';
}

# a ratio against plain fireworks_pass (b) measured in the same run

sub of_pass {
    my ($m, $v, $key) = @_;
    return '' unless $m->{pass} && $m->{pass}{$key} && defined $m->{$v}{$key};
    return ' (' . fmt($m->{$v}{$key} / $m->{pass}{$key}, 2) . ' of (b))';
}

sub rate_report {
    my ($api) = @_;
    my $part = "rate-$api";
    my %m;
    for my $v (@rate_variants) {
        $m{$v}{$_} = med($part, $v, $_) for qw/n ok okpct okps aps p50 p99
            attempts closed last/;
    }
    my $t = "### Rate limit, $api_label{$api}: clients offer 2R = " . 2 * $R
        . " requests/s for $o{seconds} s\n\n"
        . ($api eq 'fireworks'
            ? "The stand-in's 429 is Fireworks': no `Retry-After`, no"
              . " remaining counts, only the limits"
              . " (`x-ratelimit-limit-tokens-*`).  "
            : "The stand-in's 429 carries `Retry-After`, the time until the"
              . " next token rounded up to whole seconds (1 s), as it did"
              . " before Fireworks' behaviour was the default.  ")
        . "Before the surge the clients offer R/s for $o{warm} s, as a route"
        . " that was busy before its clients doubled.  (e) is (d)"
        . " without that warm-up.  The"
        . " warm-up's client requests and the attempts before the surge are"
        . " left out of every number but the gateway's outcomes.  "
        . "Success % is the share of client requests answered 200 (after"
        . " all their retries, up to the deadline); successes/s counts the"
        . " 200s answered while the surge lasted ($o{seconds} s)."
        . "  Upstream attempts per success is every attempt the stand-in saw"
        . " (until the last client request ended) over the successes."
        . "  Latency is the client's, of its successful requests, retries"
        . " and waits included.\n\n"
        . Bench::table(['variant', 'requests', 'success %', 'successes/s',
            'of R', 'upstream attempts', 'attempts per success',
            'p50 ms', 'p99 ms', 'last answer, s after the surge began', 'gateway outcomes'],
        map { my $v = $_; [ $label{$v}, fmt($m{$v}{n}, 0),
            fmt($m{$v}{okpct}, 1), fmt($m{$v}{okps}, 1),
            fmt($m{$v}{okps} / $R, 2), fmt($m{$v}{attempts}, 0),
            fmt($m{$v}{aps}, 2), fmt($m{$v}{p50}, 0), fmt($m{$v}{p99}, 0),
            fmt($m{$v}{last}, 1), outcomes($part, $v) ] } @rate_variants);

    my @guarded = grep { $m{$_} } qw/on all cold/;
    $t .= "\nThe goals, for `fireworks_gate all` + budget (d): >= 95 % of"
        . " requests answered 200, upstream attempts per success <= 1.2,"
        . " successes/s >= 0.95 R; (c) and (e) are judged the same way.  In"
        . " brackets, the measure and its ratio to plain `fireworks_pass`"
        . " (b) in the same run.\n\n"
        . Bench::table(['guard', 'success % >= 95', 'attempts per success <= 1.2',
            'successes/s >= 0.95 R'],
        map { my $v = $_; [ $label{$v},
            goal($m{$v}{okpct} >= 95) . ' (' . fmt($m{$v}{okpct}, 1)
                . of_pass(\%m, $v, 'okpct') . ')',
            goal(defined $m{$v}{aps} && $m{$v}{aps} <= 1.2)
                . ' (' . fmt($m{$v}{aps}, 2) . of_pass(\%m, $v, 'aps') . ')',
            goal($m{$v}{okps} >= 0.95 * $R) . ' (' . fmt($m{$v}{okps}, 1)
                . of_pass(\%m, $v, 'okps') . ')' ] } @guarded);

    $t .= "\nWith `fireworks_gate on` a first attempt is never held: at an"
        . " offered 2R every client request's first attempt goes to the API,"
        . " and about half of them find no token, so attempts per success"
        . " cannot go below about 2 whatever the retries do; the gate only"
        . " paces the retries.  `fireworks_gate all` holds first attempts"
        . " too and starts them at the pace it learned: the API then sees"
        . " about R attempts/s, nearly all accepted, and what the clients"
        . " offer beyond R waits in the gateway, up to its deadline: its"
        . " latency is the queue's.  The pace is learned from the answers"
        . " alone: each 429 cuts it by a fifth (once per round), each"
        . " accepted answer raises it a little"
        . ($api eq 'fireworks' ? '' : '; a `Retry-After` closes the gate'
            . ' for its time instead of cutting the pace')
        . ".  Successes/s can exceed R by up to R / $o{seconds}:"
        . " the bucket is full (R tokens) when the surge starts.\n\n";
    return $t;
}

sub outage_report {
    my %m;
    for my $v (@variants) {
        $m{$v}{$_} = med('outage', $v, $_) for qw/clients attempts per retries
            normal first back okpct n/;
    }
    my $t = "### Outage: the API answers 503 to everything for $o{outage} s\n\n"
        . "The clients offer 0.8R = " . 0.8 * $R . " requests/s for"
        . " $pre + $o{outage} + $post s; after $pre s the stand-in answers"
        . " 503 to every attempt for $o{outage} s (no `Retry-After`: a"
        . " Fireworks 503 is load shedding and does not say when to come"
        . " back), then recovers.  The retry load is the"
        . " attempts the stand-in saw during the outage against the client"
        . " requests that arrived during it.  Normal successes/s is the rate"
        . " of 200s before the outage, its first fifth left out; the API is"
        . " back at the end of the first 1 s window after the outage (windows"
        . " 100 ms apart) in which it accepted at least 0.75 R attempts, so"
        . " never below 1 s.\n\n"
        . Bench::table(['variant', 'client requests/s in the outage',
            'upstream attempts/s in the outage', 'attempts per client request',
            'normal successes/s', 'first success after recovery, s',
            'API back at 0.75 R after, s', 'success % (all)',
            'gateway outcomes'],
        map { my $v = $_; [ $label{$v}, fmt($m{$v}{clients}, 1),
            fmt($m{$v}{attempts}, 1), fmt($m{$v}{per}, 2),
            fmt($m{$v}{normal}, 1), fmt($m{$v}{first}, 2),
            defined $m{$v}{back} ? fmt($m{$v}{back}, 1) : "not within $post",
            fmt($m{$v}{okpct}, 1), outcomes('outage', $v) ] } @variants);

    my @guarded = grep { $m{$_} } qw/on all/;
    $t .= "\nThe goals for the guard: >= 95 % of requests answered 200,"
        . " <= 1.5 upstream attempts per client request arriving during the"
        . " outage, the API back at 0.75 R within 2 s of its recovery.  In"
        . " brackets, the measure and its ratio to plain `fireworks_pass`"
        . " (b) in the same run.\n\n"
        . Bench::table(['guard', 'success % >= 95',
            'attempts per request in the outage <= 1.5', 'back <= 2 s'],
        map { my $v = $_; [ $label{$v},
            goal($m{$v}{okpct} >= 95) . ' (' . fmt($m{$v}{okpct}, 1)
                . of_pass(\%m, $v, 'okpct') . ')',
            goal(defined $m{$v}{per} && $m{$v}{per} <= 1.5)
                . ' (' . fmt($m{$v}{per}, 2) . of_pass(\%m, $v, 'per') . ')',
            goal(defined $m{$v}{back} && $m{$v}{back} <= 2)
                . ' (' . fmt($m{$v}{back}, 1) . ' s)' ] } @guarded);

    # successes and attempts per second through the outage
    my $dat = '';
    for my $i (0 .. $#variants) {
        $dat .= "\n\n" if $i;
        $dat .= join '', map { "@$_\n" }
            @{$runs{outage}{$variants[$i]}[0]{series}};
    }
    $bench->write_file("$o{out}/storm.dat",
        "# second successes attempts, by variant\n$dat");
    my $plots = join ', ', map { "'$o{out}/storm.dat' index $_ using 1:3"
        . " with lines lw 2 title '" . ('a', 'b', 'c', 'd')[$_]
        . ": attempts/s'" } 0 .. $#variants;
    if ($bench->plot('storm.png', <<"EOF")) {
set title 'Outage of $o{outage} s from $pre s: upstream attempts per second'
set xlabel 's'
set ylabel 'attempts/s'
set grid
set key top right
plot $plots
EOF
        $t .= "\n![attempts per second through the outage](storm.png)\n";
    }
    return "$t\n";
}

# Part 3: N requests held by the gate against the same N waiting in
# plain backoff, each variant in a fresh gateway and upstream nginx (as
# in waiting.pl: glibc keeps what a worker frees, so a variant measured
# after another in the same worker would look cheaper).  In both a
# closing request is answered 429 with Retry-After: W first; then each
# of the N gets one attempt: "gate" (fireworks_gate on) answers it 503,
# and its retry, due 1 ms later, is held by the gate that request
# closed; "plain" (no gate) answers it 429 with Retry-After: W, and it
# waits in its own backoff.  The gate's pace is the rate the API accepted
# before it closed: a warm-up of wrk on the route makes it 1 ms, so that
# the N held start within seconds of the gate opening and none is
# answered at once for want of time before its deadline.

my @mem_variants = qw/plain gate/;
my $nofile = Bench::nofile();
my $conns = $nofile - 100;
my $mem_warm = $o{smoke} ? 0 : 100;
my $mem_wrk = $o{smoke} ? 1 : 6;

sub memory_upstream {
    my ($k) = @_;
    return Bench::upstream_conf(listen => "mup$k", connections => $conns,
        http => <<"EOF",
    map "\$uri:\$http_x_fw_attempt:\$http_x_bench_id" \$answer {
        ~^/gate/[^:]*:1:r\\d     503;
        ~^/[a-z]+/[^:]*:1:[crw]  429;
        default                200;
    }
    map \$http_x_bench_id \$retry_after {
        ~^w                    1;
        default                $o{wait};
    }
EOF
        answer => <<'EOF');
            if ($answer = 429) {
                add_header Retry-After $retry_after always;
                return 429 '{"error":{"object":"error","type":"rate_limit_error","code":"rate_limit_exceeded","message":"Rate limit exceeded, please retry later"}}';
            }
            if ($answer = 503) {
                return 503 '{"error":{"object":"error","type":"server_error","code":"service_unavailable","message":"The server is overloaded, please retry later"}}';
            }
EOF
}

sub memory_gateway {
    my ($k) = @_;
    return Bench::gateway_conf(upstream => "mup$k", listen => "mgw$k",
        keepalive => 64, nofile => 1, connections => $conns,
        http => "    fireworks_zone storm 1m;\n",
        locations => <<'EOF',
        location /gate/ {
            fireworks_pass /_fw$uri;
            fireworks_route gate;
            fireworks_gate on;
            fireworks_backoff 1ms;
            fireworks_jitter 0;
        }
        location /plain/ {
            fireworks_pass /_fw$uri;
            fireworks_route plain;
            fireworks_backoff 1ms;
            fireworks_jitter 0;
        }
        location = /metrics {
            fireworks_metrics;
        }
EOF
        internal => '            proxy_set_header X-FW-Attempt $fireworks_attempt;');
}

# a gauge of the route: fireworks_waiting or fireworks_gate_held

sub gauge {
    my ($port, $name, $route) = @_;
    my $m = get("http://127.0.0.1:$port/metrics");
    return $m =~ /^fireworks_\Q$name\E\{route="\Q$route\E"\} (\d+)/m ? $1 : 0;
}

sub wait_gauge {
    my ($port, $name, $route, $n, $until) = @_;
    while (time < $until) {
        return 1 if gauge($port, $name, $route) >= $n;
        sleep 0.05;
    }
    return 0;
}

sub hold {
    my ($k, $port, $v, $n, $prefix) = @_;
    return $bench->hold("hold-$k-$prefix", port => $port, n => $n,
        prefix => $prefix, path => "/$v/v1/chat/completions");
}

sub held_result {
    my ($k, $prefix, $pid, $n) = @_;
    return $bench->hold_result("hold-$k-$prefix", $pid, $n);
}

sub hold_run {
    my ($v, $round) = @_;
    my $k = "$v$round";
    my $up = $bench->nginx("mup$k", memory_upstream($k));
    my $gw = $bench->nginx("mgw$k", memory_gateway($k));
    my $port = $bench->port("mgw$k");
    my $worker = $bench->nginx_worker($gw);
    my $n = $o{n};

    # warm-up: a few requests waiting 1 s (the wait's code paged in, the
    # worker's first allocations made), then wrk at full speed on the
    # route, which sets the gate's pace
    held_result($k, 'w', hold($k, $port, $v, $mem_warm, 'w'), $mem_warm)
        if $mem_warm;
    $bench->wrk(url => "http://127.0.0.1:$port/$v/v1/chat/completions",
        d => $mem_wrk, c => 32);
    my $rss0 = Bench::rss_kb($worker);

    # the closing request: its 429 closes the gate (in "gate")
    my $closer = hold($k, $port, $v, 1, 'c');
    wait_gauge($port, 'waiting', $v, 1, time + 5)
        or die "$v: the closing request does not wait\n";
    my $tc = time;

    my $client = hold($k, $port, $v, $n, 'r');
    my $due = $tc + $o{wait};
    my $ok = wait_gauge($port, 'waiting', $v, $n + 1, $due - 0.5);
    my $t1 = time;
    die "$v: " . gauge($port, 'waiting', $v) . " of $n requests waiting"
        . " before the first wait ends; a longer --wait is needed\n"
        unless $ok;
    my $held = gauge($port, 'gate_held', $v);
    die "$v: $held of $n requests held by the gate\n"
        if $v eq 'gate' && $held != $n;

    sleep 0.2;
    my $rss1 = Bench::rss_kb($worker);
    my $cpu0 = Bench::cpu_ticks($worker);
    my $w0 = time;
    my $window = $due - 0.3 - $w0;
    sleep $window if $window > 0;
    my $cpu1 = Bench::cpu_ticks($worker);
    my $w1 = time;
    my $still = gauge($port, 'waiting', $v);

    held_result($k, 'c', $closer, 1);
    my $res = held_result($k, 'r', $client, $n);
    my $rss2 = Bench::rss_kb($worker);
    die "$v: the worker changed during the run\n"
        if $bench->nginx_worker($gw) != $worker;
    die "$v: the worker's RSS did not grow ($rss0 -> $rss1 KB) while $n"
        . " requests waited: not measuring what it should\n"
        if $rss1 <= $rss0;
    die "$v: only $still of $n requests still waited at the end of the"
        . " CPU window\n" if $still < $n;
    $bench->stop_nginx($gw);
    $bench->stop_nginx($up);

    my %r = (rss0 => $rss0, rss1 => $rss1, rss2 => $rss2,
        kb => ($rss1 - $rss0) / $n, held => $t1 - $tc, gated => $held,
        cpu => $w1 - $w0 > 0.5 ? ($cpu1 - $cpu0) / ($w1 - $w0) : undef,
        window => $w1 - $w0, ok => $res->{statuses}{200},
        elapsed => $res->{elapsed}, p50 => $res->{p50}, p99 => $res->{p99});
    printf STDERR "memory, round %d %-5s %6.2f KB/request (RSS %d -> %d KB),"
        . " CPU %s %%, %d held by the gate\n", $round, $v, $r{kb}, $rss0,
        $rss1, fmt(defined $r{cpu} ? $r{cpu} * 100 : undef, 2), $held;
    return \%r;
}

sub memory {
    die "the open file limit ($nofile) is too low for $o{n} requests\n"
        if $o{n} + 200 > $conns;
    return Bench::rounds($o{rounds}, \@mem_variants, \&hold_run);
}

sub memory_report {
    my %m;
    for my $v (@mem_variants) {
        $m{$v}{$_} = med('memory', $v, $_)
            for qw/kb rss0 rss1 rss2 held gated cpu window ok elapsed/;
    }
    my $ratio = Bench::paired_ratio($runs{memory}, 'gate', 'plain', 'kb');
    my %label = (plain => 'plain backoff (429, `Retry-After: ' . $o{wait}
        . '`)', gate => 'held by the gate (`fireworks_gate on`)');
    my $row = sub {
        my ($name, $f) = @_;
        return [ $name, map { $f->($_) } @mem_variants ];
    };
    my $cpu = sub {
        my $c = $m{$_[0]}{cpu};
        return defined $c ? $c * 100 : undef;
    };

    my $t = "### $o{n} requests held by the gate\n\n"
        . "The same $o{n} requests wait in one gateway worker two ways, each"
        . " after one attempt: in plain backoff (no gate; the attempt is"
        . " answered 429 with `Retry-After: $o{wait}`, `fireworks_jitter 0`)"
        . " or held by the gate (`fireworks_gate on`; the attempt is answered"
        . " 503 and its retry, due after a 1 ms backoff, is held until the"
        . " gate opens).  In both, one request answered 429 with"
        . " `Retry-After: $o{wait}` comes just before them: it closes the"
        . " gate.  The clients (`bench/lib/hold.js`) open a connection per"
        . " request, in batches of 500 every 50 ms.  Before that, in both:"
        . " $mem_warm requests waiting 1 s, then wrk at full speed on the"
        . " route for $mem_wrk s.  The gate releases held retries one pace"
        . " apart, the pace being the rate the API accepted before it"
        . " closed, here 1 ms; without the warm-up it would be 100 ms, a"
        . " retry whose start would pass its deadline is answered at once,"
        . " and only a few hundred could be held.  Memory per request is the"
        . " worker's RSS growth from after the warm-up to the moment all"
        . " $o{n} wait (`fireworks_waiting`, and `fireworks_gate_held` for"
        . " the gate), divided by $o{n}; CPU is the worker's from then until"
        . " 0.3 s before the gate opens or the first wait ends.  Each variant"
        . " in a fresh gateway and upstream nginx; "
        . ($o{rounds} > 1 ? "$o{rounds} rounds, medians, ratios paired by"
            . " round." : "one run.") . "\n\n"
        . Bench::table(['measure', map { $label{$_} } @mem_variants],
        $row->('requests answered 200', sub {
            fmt($m{$_[0]}{ok}, 0) . " of $o{n}" }),
        $row->('held by the gate', sub { fmt($m{$_[0]}{gated}, 0) }),
        $row->('all waiting after', sub { fmt($m{$_[0]}{held}, 2) . ' s' }),
        $row->('worker RSS before / while all wait / after', sub {
            join(' / ', map { fmt($m{$_[0]}{$_}, 0) } qw/rss0 rss1 rss2/)
            . ' KB' }),
        $row->('memory per waiting request (RSS delta / N)', sub {
            fmt($m{$_[0]}{kb}, 2) . ' KB' }),
        $row->('worker CPU while all wait', sub {
            fmt($cpu->($_[0]), 2) . ' % of a core over '
            . fmt($m{$_[0]}{window}, 1) . ' s' }),
        $row->('last answer after (client)', sub {
            fmt($m{$_[0]}{elapsed}, 1) . ' s' }),
    );

    # RSS readings move by a page here and there, CPU by a clock tick
    my $mem_ok = defined $ratio && $ratio <= 1.05;
    my $cpu_ok = defined $cpu->('gate') && defined $cpu->('plain')
        && $cpu->('gate') <= $cpu->('plain') + 0.5;
    $t .= "\nMemory per request, held by the gate against plain backoff: "
        . fmt($ratio, 3) . ".  The goal, no worse than plain backoff: memory "
        . goal($mem_ok) . " (within 5 %, the noise of RSS readings), CPU "
        . goal($cpu_ok) . " (within 0.5 % of a core, a clock tick over the"
        . " window).\n\n";
    return $t;
}

my $md;

if (grep { $_ eq 'rate' } @parts) {
    for my $api (@apis) {
        $runs{"rate-$api"} = Bench::rounds($o{rounds}, \@rate_variants,
            sub { rate_limit($api, @_) });
    }
}
if (grep { $_ eq 'outage' } @parts) {
    $runs{outage} = Bench::rounds($o{rounds}, \@variants, \&outage);
}
if (grep { $_ eq 'memory' } @parts) {
    $runs{memory} = memory();
}

$md = "## 6. Retry storms: a rate-limited API, an outage\n\n"
    . "What retries do to an API that is over its rate limit or down, and"
    . " what the storm guard (`fireworks_gate`, `fireworks_retry_budget`,"
    . " [directives.md](directives.md#fireworks_gate)) changes.  The"
    . " stand-in API (`bench/lib/bucket.js`, Node) is a token bucket of"
    . " R = $R requests/s holding at most R tokens, full at the start: an"
    . " attempt that finds a token is answered 200 with a chat completion,"
    . " one that finds none 429 with the API's JSON error at once.  Like"
    . " Fireworks, every answer carries `x-ratelimit-limit-tokens-prompt`,"
    . " `-cache-adjusted-prompt` and `-generated` and a 429 nothing more;"
    . " the rate limit part is run again with the stand-in's 429 carrying"
    . " `Retry-After` set to the time until the next token, rounded up to"
    . " whole seconds (RFC 9110's delay-seconds)"
    . ($o{ms} ? " and `retry-after-ms` with the exact time" : '')
    . ".  The clients (`bench/lib/storm.js`, Node) arrive open-loop: a new"
    . " client request every 1/rate s whatever happened to the others, each"
    . " a chat completion request over keepalive connections, with the"
    . " interactive workload's deadline ($o{deadline} s).  The variants, each"
    . " run against the same stand-in, one after the other, each gateway a"
    . " fresh nginx with one route: (a) no gateway, each client retrying on its"
    . " own as the seed's recipe says, `1 s * 2^attempt + U(0, 1 s)`"
    . " (1, 2, 4, 8 s), 5 tries, on 429 and 5xx, ignoring `Retry-After`"
    . " (the recipe is backoff), no wait past the deadline; (b)"
    . " `fireworks_pass` with its defaults (`fireworks_workload"
    . " interactive`, 5 tries, backoff 1 s, jitter 1 s, `Retry-After`"
    . " honoured) and no guard; (c) the same with `fireworks_gate on` and"
    . " `fireworks_retry_budget $budget`; (d) the same with"
    . " `fireworks_gate all` and the same budget (and, in the rate-limit"
    . " part, (e): (d) on a route that had no traffic before).  Behind the"
    . " gateway the clients do not retry (the gateway tells them not to:"
    . " `x-should-retry: false`).  The stand-in and the clients share CPU 1;"
    . " the gateway has $o{workers} workers, not pinned, on a machine shared"
    . " with other work: compare the variants of one run, not runs.  "
    . ($o{rounds} > 1 ? "$o{rounds} rounds, the order rotating; medians."
                      : "One run of each: each part is a time series"
        . " minutes long, not a measurement to repeat and take the median"
        . " of; `--rounds` repeats them.")
    . "\n\n";

$md .= rate_report($_) for grep { $runs{"rate-$_"} } @apis;
$md .= outage_report() if $runs{outage};
$md .= memory_report() if $runs{memory};

$bench->report($md);
$bench->stop;
