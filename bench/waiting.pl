#!/usr/bin/perl

# Benchmark 3: many requests held at once, and what holding one costs the
# gateway worker.  Three ways of holding the same requests, side by side:
#
#   limit    nginx's own limit_req delays each request in PREACCESS for
#            the wait, then proxies it: the anchor, what nginx itself
#            needs to hold a request on a timer
#   after1   fireworks_pass waits after attempt 1 (answered 429 with
#            Retry-After)
#   after5   fireworks_pass waits after attempt 5 (fireworks_tries 6;
#            attempts 1-4 answered 503, 1 ms backoff; attempt 5 429 with
#            Retry-After)
#
# While all N requests wait: the worker's RSS growth per request, its CPU
# use, and how close to the wait each request goes on.
#
#   perl bench/waiting.pl [--smoke] [--out DIR] [--n 10000] [--wait 20]
#                         [--rounds 3] [--only limit,after1,after5]
#
# Each run of a variant has an nginx gateway and an nginx upstream of its
# own, freshly started from the same configuration (only the ports
# differ): glibc keeps the memory a worker freed, so a second variant in
# the same worker would reuse the first one's and look cheaper.  The same
# client (bench/lib/hold.js) sends the same requests to every variant:
# per request, a GET of /prime/ with the request's X-Bench-Id, then the
# POST, each on a connection of its own.  limit_req's key is that id at
# one request per wait: the GET passes at once, the POST that follows is
# delayed until the wait has passed since the GET (a leaky bucket), so
# every request waits the same time, as behind fireworks_pass.  The GET
# runs in every variant, so that the zone and the connections are the
# same in all three.
#
# The upstream answers by the location and the attempt number the
# gateway sends ($fireworks_attempt) and logs $msec per request: a
# request's wait starts with its GET (limit) or its 429 (after1, after5)
# and ends with the next request of its id; the time between the two,
# minus the wait asked for, is the timer's error.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Getopt::Long;
use JSON::PP;
use Time::HiRes qw/time sleep/;
use Bench;

my %o = (out => "$FindBin::Bin/../docs", n => 10000, wait => 20, rounds => 3);
GetOptions(\%o, 'smoke', 'out=s', 'n=i', 'wait=i', 'rounds=i', 'only=s')
    or exit 2;
%o = (%o, n => 200, wait => 1, rounds => 1) if $o{smoke};

# how long after all are held the memory is read: the attempt pools that
# a burst of attempts left, the module unmaps once idle for 1 to 2 s

my $settle = $o{wait} >= 10 ? 2.5 : 0.2;

# limit_req's rate is whole requests per minute, kept in thousandths of a
# request per second: only these waits come out exact

die "--wait must be 1, 2, 4, 5, 10 or 20 (s)\n"
    if $o{wait} < 1 || 60 % $o{wait} || 1000 % $o{wait};

my @variants = qw/limit after1 after5/;
@variants = grep { $o{only} =~ /\b$_\b/ } @variants if $o{only};
die "--only: limit, after1 or after5 (limit for the ratios)\n" unless @variants;
my %label = (
    limit => '`limit_req` (a)',
    after1 => '`fireworks_pass`, after attempt 1 (b)',
    after5 => '`fireworks_pass`, after attempt 5 (c)',
);

# the upstream's log: where a request's wait starts and where it ends

my %starts = (
    limit => sub { $_[0]{uri} =~ m{^/prime/} },
    after1 => sub { $_[0]{status} == 429 },
    after5 => sub { $_[0]{status} == 429 },
);
my %ends = (
    limit => sub { $_[0]{uri} =~ m{^/limit/} },
    after1 => sub { $_[0]{attempt} eq '2' },
    after5 => sub { $_[0]{attempt} eq '6' },
);

my $bench = Bench->new(name => 'waiting', %o);
my $nofile = Bench::nofile();
my $conns = $nofile - 100;
my $warm = $o{smoke} ? 20 : 100;

# glibc's account of the heap, where gdb can ask for it and the wait
# leaves time for the moment it stops the worker

my $heap = Bench::have('gdb') && $o{wait} >= 10;

die "the open file limit ($nofile) is too low for $o{n} requests\n"
    if $o{n} + 200 > $conns;

my $rate = 60 / $o{wait};
my $ra = '{"error":{"object":"error","type":"rate_limit_error","code":'
    . '"rate_limit_exceeded","message":"Rate limit exceeded, please retry'
    . ' later"}}';
my $busy = '{"error":{"object":"error","type":"server_error","code":'
    . '"service_unavailable","message":"The server is overloaded, please'
    . ' retry later"}}';

sub upstream_conf {
    my ($k) = @_;
    return Bench::upstream_conf(listen => "up$k", connections => $conns,
        access_log => '%%PREFIX%%/logs/attempts.log attempts',
        http => <<"EOF",
    log_format attempts '\$msec \$http_x_bench_id \$http_x_fw_attempt \$status \$uri';
    map "\$uri:\$http_x_fw_attempt" \$answer {
        ~^/after1/.*:1\$        429;
        ~^/after5/.*:[1-4]\$    503;
        ~^/after5/.*:5\$        429;
        default                200;
    }
    map \$http_x_bench_id \$retry_after {
        ~^w                    1;
        default                $o{wait};
    }
EOF
        answer => <<"EOF",
            if (\$answer = 429) {
                add_header Retry-After \$retry_after always;
                return 429 '$ra';
            }
            if (\$answer = 503) {
                return 503 '$busy';
            }
EOF
        server => <<'EOF');
        location /prime/ {
            default_type application/json;
            return 200 '{}';
        }
EOF
}

sub gateway_conf {
    my ($k) = @_;
    return Bench::gateway_conf(upstream => "up$k", listen => "gw$k",
        keepalive => 64, nofile => 1, connections => $conns,
        http => <<"EOF",
    map \$http_x_bench_id \$hold {
        ~^w                    "";
        default                \$http_x_bench_id;
    }
    map \$http_x_bench_id \$warm {
        ~^w                    \$http_x_bench_id;
        default                "";
    }
    limit_req_zone \$hold zone=hold:32m rate=${rate}r/m;
    limit_req_zone \$warm zone=warm:1m rate=60r/m;
    limit_req_log_level info;
EOF
        locations => <<'EOF',
        location /prime/ {
            limit_req zone=hold burst=5;
            limit_req zone=warm burst=5;
            proxy_pass http://api/prime/;
        }
        location /limit/ {
            limit_req zone=hold burst=5;
            limit_req zone=warm burst=5;
            proxy_pass http://api/limit/;
        }
        location /after1/ {
            fireworks_pass /_fw$uri;
            fireworks_tries 2;
            fireworks_jitter 0;
        }
        location /after5/ {
            fireworks_pass /_fw$uri;
            fireworks_tries 6;
            fireworks_backoff 1ms;
            fireworks_jitter 0;
        }
        location = /_status {
            stub_status;
        }
EOF
        internal => '            proxy_set_header X-FW-Attempt $fireworks_attempt;');
}

# requests the gateway holds: stub_status's Writing, less its own

sub writing {
    my ($port) = @_;
    my $s = `curl -s http://127.0.0.1:$port/_status`;
    return $1 - 1 if $s =~ /Writing: (\d+)/;
    die "the gateway's stub_status does not answer: $s\n";
}

# hold.js: N requests to a variant's location, ids PREFIX0 .. PREFIXn-1

sub hold {
    my ($k, $port, $v, $n, $prefix) = @_;
    return $bench->hold("hold-$k-$prefix", port => $port, n => $n,
        prefix => $prefix, path => "/$v/v1/chat/completions",
        prime => '/prime/v1/models');
}

sub held_result {
    my ($k, $prefix, $pid, $n) = @_;
    return $bench->hold_result("hold-$k-$prefix", $pid, $n);
}

# the upstream log's lines since the last call, of ids starting with "r"

sub log_reader {
    my ($file) = @_;
    my ($off, $rest) = (0, '');
    return sub {
        open my $fh, '<', $file or return ();
        seek $fh, $off, 0;
        local $/;
        my $new = <$fh> // '';
        $off += length $new;
        close $fh;
        $new = $rest . $new;
        $new =~ s/([^\n]*)\z//;
        $rest = $1;
        return map {
            my ($t, $id, $attempt, $status, $uri) = split ' ';
            $id =~ /^r/ ? { t => $t, id => $id, attempt => $attempt,
                            status => $status, uri => $uri } : ();
        } split /\n/, $new;
    };
}

sub run {
    my ($v, $round) = @_;
    my $k = "$v$round";
    my $up = $bench->nginx("up$k", upstream_conf($k));
    my $gw = $bench->nginx("gw$k", gateway_conf($k));
    my $port = $bench->port("gw$k");
    my $worker = $bench->nginx_worker($gw);

    # warm-up: the same requests, fewer, waiting 1 s (ids "w...": their
    # own limit_req zone, Retry-After: 1); the worker's first requests
    # allocate what it keeps for good, the code is paged in

    held_result($k, 'w', hold($k, $port, $v, $warm, 'w'), $warm);
    sleep 0.5;

    my $rss0 = Bench::rss_kb($worker);
    my @heap0 = $heap ? Bench::heap_kb($worker, "$gw/logs/error.log") : ();
    my $next = log_reader("$up/logs/attempts.log");
    my (%start, %end);
    my $scan = sub {
        for my $l ($next->()) {
            $start{$l->{id}} //= $l->{t} if $starts{$v}->($l);
            $end{$l->{id}} //= $l->{t} if $ends{$v}->($l);
        }
    };

    my $t0 = time;
    my $client = hold($k, $port, $v, $o{n}, 'r');

    # all N requests held: every wait has started and the gateway holds N

    my $held = 0;
    while (time - $t0 < $o{wait} + 60) {
        $scan->();
        $held = keys(%start) < $o{n} ? 0 : writing($port);
        last if $held >= $o{n};
        sleep 0.05;
    }
    my $t1 = time;
    die "$v: " . keys(%start) . " waits started, $held of $o{n} requests"
        . " held\n" if $held < $o{n};

    # memory and CPU while they all wait, until the first is due; the
    # attempt pools a burst left are unmapped after 1 to 2 s idle

    sleep $settle;
    my $rss1 = Bench::rss_kb($worker);
    my @heap1 = @heap0 ? Bench::heap_kb($worker, "$gw/logs/error.log") : ();
    $scan->();
    die "$v: " . keys(%end) . " requests went on before all were held;"
        . " a longer --wait is needed\n" if keys %end;

    my $first = (sort { $a <=> $b } values %start)[0];
    my $cpu0 = Bench::cpu_ticks($worker);
    my $w0 = time;
    my $window = $first + $o{wait} - 0.3 - $w0;
    sleep $window if $window > 0;
    my $cpu1 = Bench::cpu_ticks($worker);
    my $w1 = time;
    $scan->();
    my $retried = keys %end;

    my $res = held_result($k, 'r', $client, $o{n});
    my $rss2 = Bench::rss_kb($worker);
    die "$v: the worker changed during the run\n"
        if $bench->nginx_worker($gw) != $worker;
    die "$v: the worker's RSS did not grow ($rss0 -> $rss1 KB) while"
        . " $o{n} requests waited: not measuring what it should\n"
        if $rss1 <= $rss0;

    $scan->();
    my @err = map { ($end{$_} - $start{$_} - $o{wait}) * 1000 }
        grep { defined $end{$_} } keys %start;
    die "$v: " . @err . " of $o{n} waits seen to end\n" if @err != $o{n};

    $bench->stop_nginx($gw);
    $bench->stop_nginx($up);

    my %r = (rss0 => $rss0, rss1 => $rss1, rss2 => $rss2,
        kb => ($rss1 - $rss0) / $o{n}, held => $t1 - $t0,
        cpu => $w1 - $w0 > 0.5 ? ($cpu1 - $cpu0) / ($w1 - $w0) : undef,
        window => $w1 - $w0, retried => $retried, err => \@err,
        p50 => $res->{p50}, p99 => $res->{p99}, ok => $res->{statuses}{200});
    if (@heap1) {
        $r{heap_use} = ($heap1[1] - $heap0[1]) / $o{n};
        $r{heap_free} = ($heap1[0] - $heap1[1] - $heap0[0] + $heap0[1])
            / $o{n};
    }

    printf STDERR "round %d %-6s %6.2f KB/request (RSS %d -> %d KB),"
        . " CPU %s %%, timer error p50 %s ms\n", $round, $v, $r{kb},
        $rss0, $rss1, fmt($r{cpu}, 2), fmt(pct(0.5, @err), 0);
    return \%r;
}

my $runs = Bench::rounds($o{rounds}, \@variants, \&run);

my (%m, %err);
for my $v (@variants) {
    $m{$v}{$_} = Bench::median_of($runs, $v, $_)
        for qw/kb rss0 rss1 rss2 held cpu window p50 p99 heap_use heap_free/;
    $m{$v}{ratio} = Bench::paired_ratio($runs, $v, 'limit', 'kb')
        if $runs->{limit};
    $err{$v} = [ sort { $a <=> $b } map { @{$_->{err}} } @{$runs->{$v}} ];
}

my $retried = 0;
$retried += $_->{retried} for map { @{$runs->{$_}} } @variants;

my $row = sub {
    my ($name, $f) = @_;
    return [ $name, map { $f->($_) } @variants ];
};

my $md = "## 3. $o{n} requests waiting at once\n\n"
    . "The same $o{n} requests held three ways by one gateway worker:"
    . " (a) nginx's own `limit_req` delays each in its PREACCESS phase"
    . " for $o{wait} s, then proxies it: the anchor, what nginx itself"
    . " needs to hold a request on a timer; (b) `fireworks_pass` waits"
    . " after attempt 1, answered 429 with `Retry-After: $o{wait}`;"
    . " (c) `fireworks_pass` waits after attempt 5 (`fireworks_tries 6`;"
    . " attempts 1-4 answered 503 at once, backoff 1 ms; attempt 5 answered"
    . " 429 with `Retry-After: $o{wait}`).  `fireworks_jitter 0`, so each"
    . " request waits exactly $o{wait} s.  The client (`bench/lib/hold.js`,"
    . " Node) sends, per request, a GET with the request's id, then the"
    . " POST of a chat completion request, each on a connection of its own,"
    . " in batches of 500 every 50 ms; `limit_req`'s key is the id at one"
    . " request per $o{wait} s, so the GET passes at once and the POST is"
    . " delayed until $o{wait} s after it.  The GET is sent in all three"
    . " variants alike.  `worker_connections $conns`,"
    . " `worker_rlimit_nofile $nofile` (this machine's hard limit of open"
    . " files).\n\n"
    . "Memory per request is the worker's RSS growth while all $o{n}"
    . " wait, divided by $o{n}: RSS (VmRSS) $settle s after every wait has"
    . " started and stub_status shows the $o{n} requests held (a burst of"
    . " attempts leaves attempt pools that the module unmaps once idle for"
    . " 1 to 2 s), minus RSS after a"
    . " warm-up of $warm such requests.  Each variant runs in a fresh"
    . " gateway and upstream nginx, started the same way from the same"
    . " configuration (only the ports differ), one after the other, never"
    . " two at once: glibc keeps what a worker frees, so a variant measured"
    . " after another in the same worker would reuse its memory and look"
    . " cheaper.  $o{rounds} rounds, the order rotating; medians, and"
    . " ratios paired by round.  The script fails rather than report a"
    . " reading of the wrong process, a worker that changed, an RSS that"
    . " did not grow, or a request that went on before all were held."
    . ($heap ? "  The glibc rows split the growth: gdb calls"
        . " `malloc_stats()` in the worker at the same two moments; *in use*"
        . " is what the held requests' allocations take, *freed but kept*"
        . " is heap that was freed (by the GETs, by the attempts' upstream"
        . " connections) and not given back to the kernel, because memory"
        . " still in use lies above it.  The attempts' pools are not on the"
        . " heap: each is a mapping of its own, which the worker keeps for"
        . " the next attempts and unmaps once idle for a second"
        . " (`ngx_http_fireworks_pool.c`); from the heap, the holes they left"
        . " between waiting requests stayed resident, 1.2-1.7 KB per request"
        . " (1.14-1.19 times `limit_req`)." : '')
    . "\n\n"
    . Bench::table(['measure', map { $label{$_} } @variants],
        $row->('requests answered 200', sub {
            ($runs->{$_[0]}[0]{ok} || 0) . " of $o{n}" }),
        $row->('all waiting after', sub { fmt($m{$_[0]}{held}, 2) . ' s' }),
        $row->('worker RSS before / while all wait / after', sub {
            join(' / ', map { fmt($m{$_[0]}{$_}, 0) } qw/rss0 rss1 rss2/)
            . ' KB' }),
        $row->('memory per waiting request (RSS delta / N)', sub {
            fmt($m{$_[0]}{kb}, 2) . ' KB' }),
        $row->('ratio to limit_req', sub { fmt($m{$_[0]}{ratio}, 3) }),
        (grep { defined $m{$_}{heap_use} } @variants) ? (
        $row->('glibc heap in use, per request', sub {
            fmt($m{$_[0]}{heap_use}, 2) . ' KB' }),
        $row->('glibc heap freed but kept, per request', sub {
            fmt($m{$_[0]}{heap_free}, 2) . ' KB' })) : (),
        $row->('worker CPU while all wait', sub {
            fmt(defined $m{$_[0]}{cpu} ? $m{$_[0]}{cpu} * 100 : undef, 2)
            . ' % of a core over ' . fmt($m{$_[0]}{window}, 1) . ' s' }),
        $row->('timer error (end of wait - start - wait), p50', sub {
            fmt(pct(0.5, @{$err{$_[0]}}), 0) . ' ms' }),
        $row->('timer error p99 / max', sub {
            fmt(pct(0.99, @{$err{$_[0]}}), 0) . ' / '
            . fmt(pct(1, @{$err{$_[0]}}), 0) . ' ms' }),
        $row->('client latency p50 / p99', sub {
            fmt($m{$_[0]}{p50}, 1) . ' / ' . fmt($m{$_[0]}{p99}, 1) . ' ms' }),
    );

$md .= "\nMemory per request, round by round (KB, a / b / c): "
    . join('; ', map { my $i = $_; join(' / ',
        map { fmt($runs->{$_}[$i]{kb}, 2) } @variants) } 0 .. $o{rounds} - 1)
    . ".  CPU is the worker's user+system time from then until 0.3 s before"
    . " the first wait ends" . ($retried ? " ($retried requests had gone on"
        . " by its end)" : '') . ".\n";

$md .= "\nThe timer error is the time between the upstream seeing the"
    . " request that starts a wait (the GET for `limit_req`, the 429's"
    . " attempt for `fireworks_pass`) and the next one of the same id,"
    . " less the wait.  It includes nginx's millisecond clock (`\$msec`)"
    . " and the time the gateway takes to go on with each request: the"
    . " timers of requests that came in together expire in the same event"
    . " loop iteration, and each connects to the upstream in turn.  It can"
    . " be below 0: nginx reads the clock once per event loop iteration, so"
    . " a timer set late in a long iteration (a batch of connections coming"
    . " in) counts from the iteration's start, and `limit_req` counts from"
    . " the moment it let the GET pass, before the upstream saw it.\n";

my $dat = '';
for my $i (0 .. $#variants) {
    my @e = @{$err{$variants[$i]}};
    $dat .= "\n\n" if $i;
    $dat .= join '', map { sprintf "%.1f %.4f\n", $e[$_], ($_ + 1) / @e }
        0 .. $#e;
}
$bench->write_file("$o{out}/waiting.dat", "# timer_error_ms cdf, by variant\n"
    . $dat);
my $plots = join ', ', map { "'$o{out}/waiting.dat' index $_ using 1:2"
    . " with lines lw 2 title '" . ('a: limit_req', 'b: after attempt 1',
    'c: after attempt 5')[$_] . "'" } 0 .. $#variants;
if ($bench->plot('waiting.png', <<"EOF")) {
set title 'Timer accuracy, $o{n} requests waiting $o{wait} s: actual - scheduled wait'
set xlabel 'ms late'
set ylabel 'share of requests'
set yrange [0:1]
set grid
set key bottom right
plot $plots
EOF
    $md .= "\n![timer error CDF](waiting.png)\n";
}

$bench->report($md);
$bench->stop;
