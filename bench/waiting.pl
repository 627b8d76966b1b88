#!/usr/bin/perl

# Benchmark 3: many requests held in backoff at once.  Each request's first
# attempt is answered 429 with "Retry-After: 5", the second 200; while all
# of them wait, how much memory and CPU does the gateway worker use, and
# how close to the 5 s does each retry leave?
#
#   perl bench/waiting.pl [--smoke] [--out DIR] [--n 10000] [--wait 5]
#
# The upstream is an nginx that answers by the attempt number the gateway
# sends it ($fireworks_attempt) and logs $msec per attempt: the time
# between a request's two attempts, minus the wait asked for, is the
# timer's error (plus a loopback round trip).  fireworks_jitter is 0 so
# the wait asked for is exactly Retry-After.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Getopt::Long;
use Time::HiRes qw/time sleep/;
use Bench;

my %o = (out => "$FindBin::Bin/../docs", n => 10000, wait => 5);
GetOptions(\%o, 'smoke', 'out=s', 'n=i', 'wait=i') or exit 2;
%o = (%o, n => 200, wait => 2) if $o{smoke};

my $bench = Bench->new(name => 'waiting', %o);
my $nofile = Bench::nofile();
my $conns = $nofile - 100;

die "the open file limit ($nofile) is too low for $o{n} requests\n"
    if $o{n} + 200 > $conns;

my $c = $Bench::COMPLETION;

my $up = $bench->nginx('up', <<"EOF");
worker_processes 1;
worker_cpu_affinity 10;
worker_rlimit_nofile %%NOFILE%%;
error_log %%PREFIX%%/logs/error.log warn;
pid %%PREFIX%%/logs/nginx.pid;
events { worker_connections $conns; }
http {
    log_format attempts '\$msec \$http_x_bench_id \$http_x_fw_attempt \$status';
    access_log %%PREFIX%%/logs/attempts.log attempts;
    map "\$http_x_fw_attempt:\$http_x_bench_id" \$first {
        ~^1:h    1;
        default  "";
    }
    server {
        listen 127.0.0.1:%%PORT_UP%% backlog=4096;
        keepalive_requests 1000000;
        location / {
            default_type application/json;
            if (\$first) {
                add_header Retry-After $o{wait} always;
                return 429 '{"error":{"object":"error","type":"rate_limit_error","code":"rate_limit_exceeded","message":"Rate limit exceeded, please retry later"}}';
            }
            return 200 '$c';
        }
    }
}
EOF

my $gw = $bench->nginx('gw', <<"EOF");
load_module %%MODULE%%;
worker_processes 1;
worker_cpu_affinity 01;
worker_rlimit_nofile %%NOFILE%%;
error_log %%PREFIX%%/logs/error.log warn;
pid %%PREFIX%%/logs/nginx.pid;
events { worker_connections $conns; }
http {
    access_log off;
    upstream api {
        server 127.0.0.1:%%PORT_UP%%;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:%%PORT_GW%% backlog=4096;
        location /v1/ {
            fireworks_pass /_fw\$uri;
            fireworks_tries 2;
            fireworks_jitter 0;
        }
        location /_fw/ {
            internal;
            proxy_pass http://api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-FW-Attempt \$fireworks_attempt;
        }
    }
}
EOF

my $worker = $bench->nginx_worker($gw);
my $port = $bench->port('gw');

# warm up: the worker's first requests allocate what it keeps for good
# (without X-Bench-Id these are answered 200 at once)

system("curl -s -o /dev/null -X POST -d '{}' http://127.0.0.1:$port/v1/x")
    for 1 .. 3;
sleep 0.5;

my $rss0 = Bench::rss_kb($worker);
my $t0 = time;

my $client = $bench->spawn('hold', 'sh', '-c', "ulimit -n $nofile; exec "
    . "taskset -c 1 node $FindBin::Bin/lib/hold.js --port $port"
    . " --path /v1/chat/completions --n $o{n} --batch 500 --every 50");

# all first attempts answered: every request now waits on its timer

my $first = 0;
while (time - $t0 < $o{wait} + 30) {
    $first = () = $bench->read_file("$up/logs/attempts.log") =~ / 1 429$/mg;
    last if $first >= $o{n};
    sleep 0.05;
}
my $t1 = time;
die "only $first of $o{n} first attempts seen\n" if $first < $o{n};

# CPU and memory while they all wait, until the first retry is due

sleep 0.2;
my $rss1 = Bench::rss_kb($worker);
my $cpu0 = Bench::cpu_ticks($worker);
my $w0 = time;
my $window = $t0 + $o{wait} - 0.3 - $w0;
sleep $window if $window > 0;
my $cpu1 = Bench::cpu_ticks($worker);
my $w1 = time;
my $retried = () = $bench->read_file("$up/logs/attempts.log") =~ / 2 \d+$/mg;

waitpid($client, 0);
@{$bench->{procs}} = grep { $_ != $client } @{$bench->{procs}};
my $res = JSON::PP::decode_json($bench->read_file('hold.out'));
my $rss2 = Bench::rss_kb($worker);

# timer error per request: second attempt minus first minus the wait

my %at;
for (split /\n/, $bench->read_file("$up/logs/attempts.log")) {
    my ($t, $id, $n) = split ' ';
    $at{$id}[$n] = $t if $id && $id ne '-';
}
my @err = map { ($at{$_}[2] - $at{$_}[1]) * 1000 - $o{wait} * 1000 }
          grep { $at{$_}[1] && $at{$_}[2] } keys %at;

my $ok = $res->{statuses}{200} || 0;
my $cpu_pct = $w1 > $w0 ? ($cpu1 - $cpu0) / 100 / ($w1 - $w0) * 100 : undef;

printf STDERR "waiting: %d/%d 200, rss %d -> %d KB, cpu %.2f%%, "
    . "timer error p50 %s p99 %s ms\n", $ok, $o{n}, $rss0, $rss1,
    $cpu_pct // -1, fmt(pct(0.5, @err), 0), fmt(pct(0.99, @err), 0);

my $md = "## 3. $o{n} requests waiting at once\n\n"
    . "$o{n} clients each send one POST (batches of 500 every 50 ms, one"
    . " connection each).  The upstream answers every first attempt 429"
    . " with `Retry-After: $o{wait}` and every second attempt 200;"
    . " `fireworks_jitter 0`, so each request waits exactly $o{wait} s on"
    . " its timer.  One gateway worker; `worker_connections $conns` and"
    . " `worker_rlimit_nofile $nofile` (this machine's hard limit of open"
    . " files; the client raises its own to the same).\n\n"
    . Bench::table(['measure', 'value'],
        ['requests answered 200', "$ok of $o{n}"
            . ($res->{errors} ? " ($res->{errors} connection errors)" : '')],
        ['all first attempts answered after', fmt($t1 - $t0, 2) . ' s'],
        ['worker RSS before / while all wait / after',
            "$rss0 / $rss1 / $rss2 KB"],
        ['memory per waiting request (RSS delta / N)',
            fmt(($rss1 - $rss0) / $o{n}, 2) . ' KB'],
        ['worker CPU while all wait', fmt($cpu_pct, 2) . ' % of a core over '
            . fmt($w1 - $w0, 1) . ' s'
            . ($retried ? " ($retried retries had started)" : '')],
        ['timer error (second attempt - first - wait), p50',
            fmt(pct(0.5, @err), 0) . ' ms'],
        ['timer error p99 / max', fmt(pct(0.99, @err), 0) . ' / '
            . fmt(pct(1, @err), 0) . ' ms'],
        ['client latency p50 / p99', "$res->{p50} / $res->{p99} ms"],
    );

$md .= "\nThe timer error includes nginx's millisecond clock"
    . " (`\$msec` has millisecond resolution) and the time the gateway"
    . " takes to start each retry: the timers of requests that came in"
    . " together expire in the same event loop iteration, and each starts"
    . " a subrequest and connects to the upstream in turn.\n";

my @sorted = sort { $a <=> $b } @err;
my $dat = join '', map { sprintf "%.1f %.4f\n", $sorted[$_],
    ($_ + 1) / @sorted } 0 .. $#sorted;
$bench->write_file("$o{out}/waiting.dat", "# timer_error_ms cdf\n$dat");
if (@sorted && $bench->plot('waiting.png', <<"EOF")) {
set title 'Timer accuracy, $o{n} requests waiting $o{wait} s: actual - scheduled wait'
set xlabel 'ms late'
set ylabel 'share of requests'
set yrange [0:1]
set grid
set key off
plot '$o{out}/waiting.dat' using 1:2 with lines lw 2
EOF
    $md .= "\n![timer error CDF](waiting.png)\n";
}

$bench->report($md);

die "not all requests succeeded\n" if $ok != $o{n};
$bench->stop;
