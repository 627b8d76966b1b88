#!/usr/bin/perl

# Benchmark 1: the cost of fireworks_pass on the
# success path, against plain proxy_pass and the peers (a Lua retry loop,
# HAProxy), all in front of the same fast upstream.
#
#   perl bench/overhead.pl [--smoke] [--out DIR] [--rounds N] [--seconds S]
#                          [--features]
#
# --features runs only the comparison of the module's features against
# fireworks_pass alone (metrics, inspection, usage).
#
# Rounds alternate the variants (the order rotates every round); the
# report gives the median of the rounds and each median's ratio to plain
# proxy_pass, for throughput and for the serving process's CPU time per
# request.  Then perf, where the kernel lets it, samples the gateway
# worker under proxy_pass and under fireworks_pass: the difference per
# request, by function, is where the module's cost goes.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Getopt::Long;
use Bench;
use Peers;

my %o = (out => "$FindBin::Bin/../docs", rounds => 7, seconds => 5, c => 32);
GetOptions(\%o, 'smoke', 'out=s', 'rounds=i', 'seconds=i', 'c=i', 'features')
    or exit 2;
%o = (%o, rounds => 1, seconds => 1) if $o{smoke};

my $bench = Bench->new(name => 'overhead', %o);
my $urls = Peers::start($bench);
my @variants = Peers::variants();

if ($o{features}) {
    $bench->report(features($bench));
    $bench->stop;
    exit 0;
}

# warm up every path: keepalive pools, the Lua code cache

$bench->wrk(url => $urls->{$_}, d => 1) for @variants;

my $runs = Bench::rounds($o{rounds}, \@variants, sub {
    my ($v, $round) = @_;
    my $r = $bench->wrk(url => $urls->{$v}, d => $o{seconds}, c => $o{c},
        cpu => Peers::server_pid($bench, $v));
    printf STDERR "round %d %-8s %9.0f req/s %6.1f us/req CPU\n",
        $round, $v, $r->{rps}, $r->{cpu_us};
    return $r;
});

# Ratios are paired: each round's variant against that round's proxy_pass,
# then the median of those; the machine's drift between rounds cancels.

my %med;
for my $v (@variants) {
    $med{$v}{$_} = Bench::median_of($runs, $v, $_) for qw/rps cpu_us p50 p99/;
    $med{$v}{"${_}_ratio"} = Bench::paired_ratio($runs, $v, 'proxy', $_)
        for qw/rps cpu_us/;
}

my $md = "## 1. Success-path overhead, and the peers\n\n"
    . "POST of a 130-byte chat completion request, answered 200 at once by"
    . " an nginx upstream (`return 200`, 370-byte JSON).  wrk: 1 thread,"
    . " $o{c} keepalive connections, $o{seconds} s per variant per round,"
    . " $o{rounds} rounds alternating the variants; medians of the rounds."
    . "  The ratios are paired: the median over the rounds of each round's"
    . " value against proxy_pass's in the same round.  CPU/request is the serving process's (gateway worker or HAProxy)"
    . " user+system time divided by the requests it served.\n\n";

$md .= Bench::table(
    ['variant', 'req/s', 'ratio to proxy_pass', 'CPU µs/request',
     'CPU ratio', 'p50 ms', 'p99 ms'],
    map { [ $Peers::LABEL{$_}, fmt($med{$_}{rps}, 0),
            fmt($med{$_}{rps_ratio}, 3),
            fmt($med{$_}{cpu_us}, 1),
            fmt($med{$_}{cpu_us_ratio}, 3),
            fmt($med{$_}{p50}, 2), fmt($med{$_}{p99}, 2) ] } @variants);

# per-round ratios show how much of the spread is the machine

my @pairs = map { ratio($runs->{fw}[$_]{rps}, $runs->{proxy}[$_]{rps}) }
    0 .. $o{rounds} - 1;
$md .= "\nfireworks_pass / proxy_pass throughput, round by round: "
    . join(', ', @pairs) . ".\n";

# the plot: req/s of each variant, round by round

my $dat = '';
for my $i (0 .. $o{rounds} - 1) {
    $dat .= join(' ', $i + 1, map { $runs->{$_}[$i]{rps} } @variants) . "\n";
}
$bench->write_file("$o{out}/overhead.dat", "# round " . join(' ', @variants)
    . "\n$dat");

my $col = 1;
my $plots = join(', ', map { $col++;
    "'$o{out}/overhead.dat' using 1:$col with linespoints title '$_'" }
    @variants);
if ($bench->plot('overhead.png', <<"EOF")) {
set title 'Success path: requests/s per round (higher is better)'
set xlabel 'round'
set ylabel 'requests/s'
set yrange [0:*]
set key bottom right
set grid ytics
plot $plots
EOF
    $md .= "\n![requests/s per round](overhead.png)\n";
}

$md .= features($bench);
$md .= trim($bench) unless $o{smoke};
$md .= profile($bench, $urls) unless $o{smoke};

$bench->report($md);
$bench->stop;

# What the metrics zone, the body's inspection and the answer's usage
# add: three more gateways like the first, one without a zone and with a
# location whose workload follows $fireworks_model, one with a zone (every
# fireworks_pass location counts into it), one without a zone where a
# log_format names the usage variables (every answer is read for its
# usage); their variants alternate like the others.

sub features {
    my ($bench) = @_;
    my $url = sub { "http://127.0.0.1:" . $bench->port($_[0]) . $_[1] };
    my $fwi = <<'EOF';
        location /fwi/ {
            fireworks_pass /_fw$uri;
            fireworks_workload $fw_workload;
            fireworks_inspect_size unlimited;
        }
EOF
    my $map = <<'EOF';
    # the map makes every location scan its body: not the base one
    fireworks_inspect_size 0;

    map $fireworks_model $fw_workload {
        ~*thinking  long_context;
        default     interactive;
    }
EOF

    $bench->nginx('gwb', Bench::gateway_conf(upstream => 'up',
        listen => 'gwb', keepalive => 64, connections => 4096,
        http => $map, server => $fwi));
    $bench->nginx('gwm', Bench::gateway_conf(upstream => 'up',
        listen => 'gwm', keepalive => 64, connections => 4096,
        http => "    fireworks_zone bench 1m;\n",
        server => "        location = /metrics { fireworks_metrics; }\n"));

    # the log_format alone turns the reading on; one location logs it,
    # to check afterwards that the answers were read

    my $usage_log = $bench->dir . '/usage.log';
    $bench->nginx('gwu', Bench::gateway_conf(upstream => 'up',
        listen => 'gwu', keepalive => 64, connections => 4096,
        http => "    log_format usage '\$fireworks_prompt_tokens "
            . "\$fireworks_completion_tokens \$fireworks_ttft "
            . "\$fireworks_generation_time';\n",
        server => "        location /fwv/ { fireworks_pass /_fw\$uri; "
            . "access_log $usage_log usage; }\n"));

    my %url = (base => $url->('gwb', '/fw/v1/chat/completions'),
               inspect => $url->('gwb', '/fwi/v1/chat/completions'),
               metrics => $url->('gwm', '/fw/v1/chat/completions'),
               usage => $url->('gwu', '/fw/v1/chat/completions'));
    my %pid = (base => $bench->nginx_worker($bench->dir . '/gwb'),
               metrics => $bench->nginx_worker($bench->dir . '/gwm'),
               usage => $bench->nginx_worker($bench->dir . '/gwu'));
    $pid{inspect} = $pid{base};
    my @v = qw/base inspect metrics usage/;

    $bench->wrk(url => $url{$_}, d => 1) for @v;

    my $runs = Bench::rounds($o{rounds}, \@v, sub {
        my ($v, $round) = @_;
        my $r = $bench->wrk(url => $url{$v}, d => $o{seconds}, c => $o{c},
            cpu => $pid{$v});
        printf STDERR "features, round %d %-8s %9.0f req/s %6.1f us/req\n",
            $round, $v, $r->{rps}, $r->{cpu_us};
        return $r;
    });

    # the zone counted the requests: the variant measured what it says

    my $metrics = $url->('gwm', '/metrics');
    my $m = `curl -s $metrics`;
    die "the metrics gateway counted nothing:\n$m\n"
        unless $m =~ /^fireworks_requests_total\{[^}]*\} [1-9]/m;

    # and the usage gateway read the answers' usage

    my $check = $url->('gwu', '/fwv/v1/chat/completions');
    `curl -s -o /dev/null -d '{"model":"m"}' $check`;
    select(undef, undef, undef, 0.3);
    my $line = -f $usage_log ? $bench->read_file($usage_log) : '';
    die "the usage gateway read no usage: '$line'\n"
        unless $line =~ /^\d+ \d+ \d+\.\d{3} \d+\.\d{3}$/m;

    my %label = (base => '`fireworks_pass`',
        inspect => '`fireworks_pass`, workload from `$fireworks_model`',
        metrics => '`fireworks_pass`, counted in a `fireworks_zone`',
        usage => '`fireworks_pass`, answers read for their usage');
    my $row = sub {
        my ($v) = @_;
        return [ $label{$v}, fmt(Bench::median_of($runs, $v, 'rps'), 0),
            fmt(Bench::paired_ratio($runs, $v, 'base', 'rps'), 3),
            fmt(Bench::median_of($runs, $v, 'cpu_us'), 1),
            fmt(Bench::paired_ratio($runs, $v, 'base', 'cpu_us'), 3) ];
    };
    my $each = sub {
        my ($v) = @_;
        return join ', ', map { ratio($runs->{$v}[$_]{cpu_us},
                                      $runs->{base}[$_]{cpu_us}) }
            0 .. $#{$runs->{$v}};
    };

    return "\n### With metrics, with the body inspected, with usage\n\n"
        . "Three more gateways like the first: one without a zone, where a"
        . " second location takes its workload from a `map` on"
        . " `\$fireworks_model` (the body is scanned for `\"model\"` on"
        . " every request, as it is read; `fireworks_inspect_size 0` keeps"
        . " the first location from it), one with `fireworks_zone`, where"
        . " every"
        . " request is counted (requests, attempts, durations, in-flight"
        . " gauges, and the answer's usage, which the zone reads), and one"
        . " without a zone whose `log_format` names `\$fireworks_prompt_tokens`"
        . " and the other usage variables, so that every answer is read for"
        . " its usage (not logged).  Same load, $o{rounds} rounds alternating"
        . " the four,"
        . " paired ratios against `fireworks_pass` with none of them.  The goal"
        . " is 2 % or less.\n\n"
        . Bench::table(['variant', 'req/s', 'ratio', 'CPU µs/request',
            'CPU ratio'], map { $row->($_) } @v)
        . "\nCPU ratio to `fireworks_pass` with neither, round by round:"
        . " inspection " . $each->('inspect') . "; metrics "
        . $each->('metrics') . "; usage " . $each->('usage') . ".\n";
}

# The same pair on a second gateway whose glibc never gives memory back
# to the kernel: how much of the difference is the heap's doing.

sub trim {
    my ($bench) = @_;
    my $env = 'GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456';
    my $urls = Peers::start($bench, gateway => 'gwt', env => $env);
    my $pid = $bench->nginx_worker($bench->dir . '/gwt');
    my $rounds = $o{rounds} < 5 ? $o{rounds} : 5;

    $bench->wrk(url => $urls->{$_}, d => 1) for qw/proxy fw/;

    my $runs = Bench::rounds($rounds, [qw/proxy fw/], sub {
        my ($v, $round) = @_;
        my $r = $bench->wrk(url => $urls->{$v}, d => $o{seconds}, c => $o{c},
            cpu => $pid);
        printf STDERR "trim off, round %d %-6s %9.0f req/s\n",
            $round, $v, $r->{rps};
        return $r;
    });

    my $row = sub {
        my ($v) = @_;
        return [ $Peers::LABEL{$v}, fmt(Bench::median_of($runs, $v, 'rps'), 0),
            fmt(Bench::paired_ratio($runs, $v, 'proxy', 'rps'), 3),
            fmt(Bench::median_of($runs, $v, 'cpu_us'), 1),
            fmt(Bench::paired_ratio($runs, $v, 'proxy', 'cpu_us'), 3) ];
    };

    return "\n### The same pair with glibc's heap trimming off\n\n"
        . "A second gateway, identical but started with `$env`, so that"
        . " freed memory is never returned to the kernel (brk) between"
        . " requests; $rounds rounds alternating, medians, paired ratios.\n\n"
        . Bench::table(['variant', 'req/s', 'ratio to proxy_pass',
            'CPU µs/request', 'CPU ratio'], $row->('proxy'), $row->('fw'));
}

# perf samples of the gateway worker per 1000 requests, by function; and
# those in glibc giving heap back to the kernel and taking it again

sub profile {
    my ($bench, $urls) = @_;
    return '' unless have('perf');

    my $pid = Peers::server_pid($bench, 'fw');
    my (%per, %n, %heap, %total);

    my $runs = Bench::rounds(2, [qw/proxy fw/], sub {
        my ($v, $round) = @_;
        my $data = $bench->dir . "/perf.$v.$round";
        # perf covers all of wrk's 4 s: the samples match the requests
        my $perf = $bench->spawn("perf-$v", 'perf', 'record', '-g',
            '-F', '2999', '-p', $pid, '-o', $data, '--', 'sleep', '4.5');
        sleep 0.2;
        my $r = $bench->wrk(url => $urls->{$v}, d => 4, c => $o{c});
        $bench->reap($perf);
        $r->{data} = $data;
        return $r;
    });

    for my $v (qw/proxy fw/) {
        my @data = grep { -s } map { $_->{data} } @{$runs->{$v}};
        return '' unless @data == 2;
        my $n = 0;
        $n += $_->{n} for @{$runs->{$v}};

        for my $data (@data) {
            for (`perf report -i $data --no-children --sort dso,sym -F sample,dso,sym 2>/dev/null`) {
                next if /^#/ || !/^\s*(\d+)\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$/;
                my ($s, $dso, $sym) = ($1, $2, $4);
                $sym = "(kernel)" if $3 eq 'k';
                $sym = "(other $dso)" if $sym =~ /^0x/;
                $per{$v}{$sym} += $s * 1000 / $n;
                $total{$v} += $s * 1000 / $n;
            }

            # call chains: a sample under brk() or a page fault
            local $/ = '';
            for (`perf script -i $data -F ip,sym 2>/dev/null`) {
                $heap{$v} += 1000 / $n if /\b__brk\b|\bexc_page_fault\b/;
            }
        }
    }

    my %all = map { $_ => 1 } keys %{$per{proxy}}, keys %{$per{fw}};
    my @rows = sort { $b->[3] <=> $a->[3] }
        map { [ $_, $per{proxy}{$_} || 0, $per{fw}{$_} || 0,
                ($per{fw}{$_} || 0) - ($per{proxy}{$_} || 0) ] } keys %all;
    my %user = map { my $v = $_; $v => $total{$v} - ($per{$v}{'(kernel)'} || 0) }
        qw/proxy fw/;

    my @top = grep { abs($_->[3]) >= 0.1 && $_->[0] ne '(kernel)' } @rows;
    splice @top, 12 if @top > 12;

    my $own = 0;
    $own += $_->[2] for grep { $_->[0] =~ /^ngx_http_fireworks_/ } @rows;
    my $row = sub { [ $_[0], fmt($_[1], 2), fmt($_[2], 2),
                      sprintf('%+.2f', $_[2] - $_[1]) ] };

    return "\n### Where the time goes\n\n"
        . "`perf record -g -F 2999` of the gateway worker, 4 s under each"
        . " variant, twice, alternating; samples per 1000 requests."
        . "  Total: proxy_pass " . fmt($total{proxy}, 1) . ", fireworks_pass "
        . fmt($total{fw}, 1) . " (" . ratio($total{fw}, $total{proxy})
        . "x); in nginx and its libraries: " . fmt($user{proxy}, 1) . " and "
        . fmt($user{fw}, 1) . " (" . ratio($user{fw}, $user{proxy})
        . "x).  The kernel's share is one row; under it, inclusive, the"
        . " samples in glibc giving heap back to the kernel (`brk`) and"
        . " taking it again (page faults).  The functions whose share"
        . " differs most:\n\n"
        . Bench::table(['function', 'proxy_pass', 'fireworks_pass', 'difference'],
            $row->('(kernel)', $per{proxy}{'(kernel)'} || 0,
                   $per{fw}{'(kernel)'} || 0),
            $row->('of which `brk` and page faults', $heap{proxy} || 0,
                   $heap{fw} || 0),
            map { [ "`$_->[0]`", fmt($_->[1], 2), fmt($_->[2], 2),
                    sprintf('%+.2f', $_->[3]) ] } @top)
        . "\nThe module's own functions (`ngx_http_fireworks_*`) account for "
        . fmt($own, 2) . " of the " . fmt($total{fw}, 1) . " samples per 1000"
        . " requests.\n\n" . bound();
}

sub bound {
    return <<'EOF';
### What bounds it

The difference is the price of running each attempt as a subrequest in
a pool of its own.  For every attempt nginx allocates a second request
(the request, its module contexts, the variables' values, its header
lists), looks up the internal location and runs its phases, escapes the
URI for the proxy module (it always does for an internal URI), and the
response passes the filter chain twice: as the attempt's, then as the
client's, whose header the module builds from the attempt's.  The
module's own work per request is small: one ctx, one timer added and
deleted (the attempt's limit), the status decision, the header copy.

The attempt's pool is what lets a request that waits hold no memory of
the attempts it made (section 3).  It is a mapping of its own, 64 KB of
address space outside glibc's heap (`ngx_http_fireworks_pool.c`), so
that what an attempt frees goes back to the kernel at once instead of
staying resident as a hole between requests that live on; the
upstream's buffers fit in it too, where a pool from `ngx_create_pool()`
takes them from the heap.  Mapping and unmapping it per attempt would
cost system calls, page faults and TLB flushes on every request, so a
worker keeps the pools its attempts give back, reset, for the next
ones, and unmaps those that idled for a second beyond the first 64; the
row "of which `brk` and page faults" shows what is left of the
allocator's cost, and the gateway with trimming off what glibc's
trimming still costs either way.

A design without a subrequest would cost what proxy_pass costs:
retrying inside the upstream module, the way `proxy_next_upstream`
moves to the next server.  But the upstream module retries at once from
a static function: it cannot wait a backoff or a `Retry-After` on a
timer, and it never retries a single server.  Backoff needs the request
to leave the upstream module and come back, which is what a subrequest
is.  The Lua loop is built the same way and costs more, as it also
buffers every answer whole.
EOF
}
