#!/usr/bin/perl

# The benchmarks do not rot: every script of bench/ runs with tiny settings
# (--smoke) against the real processes and writes its part of the report,
# which bench/run.pl puts together.  The numbers of a smoke run mean
# nothing; what is checked is that each benchmark ran to the end and
# reported what it should, that the goals it judges agree with its own
# numbers, and that every nginx it started kept its temp files in its own
# prefix (never in /var/lib/nginx, which belongs to the machine's nginx
# and its user).  Each script itself fails on an alert or crit in the
# error logs, a failed request, or a retried body that differs from the
# client's.  Each benchmark is a subtest of its own: one that fails fails
# its subtest, and the others still run.

use warnings;
use strict;

use FindBin;
use File::Temp qw/tempdir/;
use Test::More;
use lib "$FindBin::Bin/lib";
use Files qw/read_file/;

my $root = "$FindBin::Bin/..";

for my $tool (qw/wrk haproxy gnuplot node taskset/) {
    plan(skip_all => "$tool not installed (./build.sh test installs it)")
        unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

$ENV{BENCH_MODULE} = $ENV{TEST_NGINX_MODULE} if $ENV{TEST_NGINX_MODULE};
$ENV{BENCH_NGINX} = $ENV{TEST_NGINX_BINARY} if $ENV{TEST_NGINX_BINARY};

my $out = tempdir('fireworks-bench-smoke-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# The benchmarks' peers run in the nginx under test: the Lua retry loop is
# Debian's libnginx-mod-http-lua (with the NDK), which loads only into an
# nginx of the version and build signature Debian built it for, and the
# waiting benchmark reads stub_status.  Another nginx (./build.sh compat,
# --sanitize) runs the suite without them.

my $nginx = $ENV{BENCH_NGINX} || '/usr/sbin/nginx';
my $lua = '/usr/lib/nginx/modules';

# (nginx -t makes the temp paths too: these, not /var/lib/nginx's)
my $temp = join '', map { "    ${_}_temp_path $out/peers-$_;\n" }
    qw/client_body proxy fastcgi uwsgi scgi/;
open my $cf, '>', "$out/peers.conf" or die "$out/peers.conf: $!\n";
print $cf <<"EOF";
load_module $lua/ndk_http_module.so;
load_module $lua/ngx_http_lua_module.so;
pid $out/peers.pid;
events { }
http {
$temp
    server { location = /_status { stub_status; } }
}
EOF
close $cf;

my $peers = `$nginx -t -p $out/ -c $out/peers.conf -e $out/peers.log 2>&1`;
if ($? != 0) {
    my ($why) = $peers =~ /\[emerg\] (.*)/;
    plan(skip_all => "the benchmarks' peers do not run in $nginx: "
        . ($why || $peers));
}
unlink "$out/peers.conf", "$out/peers.log";

my @benchmarks = qw/overhead faults waiting bodies stream storm/;

my %check = (
    overhead => \&check_overhead,
    faults => \&check_faults,
    waiting => \&check_waiting,
    bodies => \&check_bodies,
    stream => \&check_stream,
    storm => \&check_storm,
);

for my $name (@benchmarks) {
    subtest "bench/$name.pl --smoke" => sub { smoke($name) };
}

done_testing;

# One benchmark through bench/run.pl (--only NAME), its scratch
# directories kept (BENCH_LEAVE) in a directory of its own, so that the
# configurations of the nginx it started can be read afterwards.

sub smoke {
    my ($name) = @_;
    my $tmp = "$out/tmp-$name";
    mkdir $tmp or die "$tmp: $!\n";
    unlink "$out/benchmarks.md";

    local $ENV{TMPDIR} = $tmp;
    local $ENV{BENCH_LEAVE} = 1;
    my $log = `perl $root/bench/run.pl --smoke --out $out --only $name 2>&1`;
    is($?, 0, "bench/$name.pl ran to the end") or diag $log;

    my $md = read_file("$out/benchmarks.md", '');
    like($md, qr/^## The machine and the method/m,
        'run.pl wrote benchmarks.md with the machine section');

    own_temp_paths($name, $tmp);

    $check{$name}->($md) if length $md;
}

# Every nginx.conf the benchmark wrote (one per nginx, in its prefix)
# sets each temp path to a directory of that prefix, which nginx made.

sub own_temp_paths {
    my ($name, $tmp) = @_;
    my @confs = glob("$tmp/fireworks-bench-*/*/nginx.conf");
    ok(scalar @confs, "$name: nginx configurations found") or return;
    for my $conf (@confs) {
        (my $prefix = $conf) =~ s{/nginx\.conf$}{};
        my $text = read_file($conf);
        my $rel = substr($conf, length $tmp);
        for my $kind (qw/client_body proxy fastcgi uwsgi scgi/) {
            my ($path) = $text =~ /^\s*${kind}_temp_path\s+(\S+?);/m;
            ok(defined $path && index($path, "$prefix/") == 0 && -d $path,
                "$rel: ${kind}_temp_path in its prefix")
                or diag($path // "no ${kind}_temp_path");
        }
    }
}

sub check_overhead {
    my ($md) = @_;
    like($md, qr/^## 1\. Success-path overhead/m, 'overhead section');

    # each variant measured, with its ratio to proxy_pass
    for my $v ('plain `proxy_pass`', '`fireworks_pass`',
        'Lua retry loop (`ngx.location.capture`)', 'HAProxy 2.6 `retry-on`')
    {
        like($md, qr/^\| \Q$v\E \| \d+ \| \d\.\d{3} \| [\d.]+ \| \d\.\d{3} \|/m,
            "overhead: $v measured");
    }
    like($md, qr/^\| `fireworks_pass`, counted in a `fireworks_zone` \| \d+ \| \d\.\d{3} \|/m,
        'overhead: metrics on against off');
    like($md, qr/^\| `fireworks_pass`, workload from `\$fireworks_model` \| \d+ \| \d\.\d{3} \|/m,
        'overhead: inspection on against off');
    ok(-s "$out/overhead.png", 'overhead plot');
}

# under faults the retrying gateways succeed where proxy_pass cannot

sub check_faults {
    my ($md) = @_;
    like($md, qr/^## 2\. Under faults/m, 'faults section');
    my ($fw_ok) = $md =~ /^\| `fireworks_pass` \| ([\d.]+) \|/m;
    my ($px_ok) = $md =~ /^\| plain `proxy_pass` \| ([\d.]+) \|/m;
    cmp_ok($fw_ok // 0, '>=', 97, 'faults: fireworks_pass succeeds');
    cmp_ok($px_ok // 100, '<', 90, 'faults: proxy_pass passes the 503s on');
}

# limit_req, fireworks_pass after attempt 1 and after attempt 5 hold the
# same requests; each holding costs memory, and the ratios are there

sub check_waiting {
    my ($md) = @_;
    like($md, qr/^## 3\. \d+ requests waiting at once/m, 'waiting section');
    like($md, qr/^\| measure \| `limit_req` \(a\) \| `fireworks_pass`, after attempt 1 \(b\) \| `fireworks_pass`, after attempt 5 \(c\) \|/m,
        'waiting: the three variants');
    like($md, qr/^\| requests answered 200 \| (\d+) of \1 \| \1 of \1 \| \1 of \1 \|/m,
        'waiting: every request answered 200');
    my @kb = $md =~ /^\| memory per waiting request \(RSS delta \/ N\) \| ([\d.]+) KB \| ([\d.]+) KB \| ([\d.]+) KB \|/m;
    is(scalar(grep { $_ > 0 } @kb), 3, 'waiting: memory per request, > 0 for each')
        or diag "@kb";
    like($md, qr/^\| ratio to limit_req \| 1\.000 \| \d+\.\d{3} \| \d+\.\d{3} \|/m,
        'waiting: ratios to limit_req');
    like($md, qr/^\| timer error \(end of wait - start - wait\), p50 \| -?\d+ ms \| -?\d+ ms \| -?\d+ ms \|/m,
        'waiting: timer error');
    ok(-s "$out/waiting.png", 'waiting plot');
}

sub check_bodies {
    my ($md) = @_;
    like($md, qr/^## 4\. Large bodies, retried/m, 'bodies section');
    is(() = $md =~ /^\| [\d.]+ MB \| fireworks_pass, 3 attempts/mg, 2,
        'bodies: both sizes retried');
    like($md, qr/^\| 1 MB \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/m,
        'bodies: the scan measured on 1 MB');
}

sub check_stream {
    my ($md) = @_;
    like($md, qr/^## 5\. Streaming latency/m, 'stream section');
    like($md, qr/^\| event delay, p50 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [-+][\d.]+ \| [-+][\d.]+ \|/m,
        'stream: event delay compared');
    like($md, qr/^\| time to the header, p50 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [-+][\d.]+ \| [-+][\d.]+ \|/m,
        'stream: time to the header, with and without the hold');
}

# the storm: every variant of each part measured, and the goals judged
# as the numbers of the same report say

sub check_storm {
    my ($md) = @_;
    like($md, qr/^## 6\. Retry storms/m, 'storm section');
    my ($storm) = $md =~ /^(## 6\..*)/ms;
    $storm //= '';
    for my $v ('(a) no gateway, clients retry (seed recipe)',
        '(b) `fireworks_pass`, no guard',
        '(c) `fireworks_pass`, `fireworks_gate on` + budget',
        '(d) `fireworks_pass`, `fireworks_gate all` + budget')
    {
        is(() = $storm =~ /^\| \Q$v\E \| \d+(?:\.\d)? \| [\d.]+ \| [\d.]+ \|/mg, 3,
            "storm: $v measured in both rate limits and the outage");
    }
    is(() = $storm =~ /^\| \(e\) as \(d\), no warm-up \| \d+ \| [\d.]+ \|/mg,
        2, 'storm: the cold gate measured in both rate limits');
    like($storm, qr/^\| requests answered 200 \| (\d+) of \1 \| \1 of \1 \|/m,
        'storm: every held request answered 200');
    like($storm, qr/^\| held by the gate \| 0 \| (\d+) \|/m,
        'storm: the gate held them');

    my @rates = $storm =~ /^(### Rate limit.*?)(?=^### )/msg;
    is(scalar @rates, 2, 'storm: two rate limits');
    like($rates[0] // '', qr/^### Rate limit, the API's 429 as Fireworks sends it/,
        'storm: the 429 as Fireworks sends it');
    like($rates[1] // '', qr/^### Rate limit, the API's 429 with `Retry-After`/,
        'storm: the 429 with Retry-After');
    my ($outage) = $storm =~ /^(### Outage.*?)^### /ms;
    my ($memory) = $storm =~ /^(### \d+ requests held by the gate.*)/ms;
    my ($R) = $storm =~ /\bR = (\d+) requests\/s/;
    rate_goals($_, $R) for @rates;
    outage_goals($outage // '');
    memory_goals($memory // '');
    ok(-s "$out/storm.png", 'storm plot');
}

# A markdown table of TEXT whose first header cell is FIRST: the header's
# cells, and the rows as hashes by header cell, keyed by the first cell's
# "(x)" label

sub table {
    my ($text, $first) = @_;
    my ($block) = $text =~ /^(\| \Q$first\E \|.*?\n)(?!\|)/ms;
    return ([], {}) unless $block;
    my @lines = grep { !/^\| ---/ } split /\n/, $block;
    my @head = cells(shift @lines);
    my %rows;
    for (@lines) {
        my @c = cells($_);
        my ($key) = $c[0] =~ /^(\([a-z]\))/ or next;
        @{$rows{$key}}{@head} = @c;
    }
    return (\@head, \%rows);
}

sub cells {
    my ($line) = @_;
    $line =~ s/^\|\s*|\s*\|\s*$//g;
    return split /\s*\|\s*/, $line;
}

# A verdict is "met (VALUE...)" or "not met (VALUE...)"; it must be "met"
# exactly when VALUE is within BOUND.  A value within half a unit of its
# last digit of the bound may be judged either way (the verdict is made
# on the unrounded number).

sub verdict {
    my ($what, $cell, $value, $op, $bound) = @_;
    my ($says) = ($cell // '') =~ /^(met|not met) \(/;
    ok(defined $says, "$what: judged") or return diag($cell // 'no cell');
    return fail("$what: no value or no bound to judge")
        unless defined $value && defined $bound;
    my ($decimals) = $value =~ /\.(\d+)$/;
    my $half = 0.5 * 10 ** -length($decimals // '');
    return pass("$what: at the bound, either way")
        if abs($value - $bound) <= $half;
    my $met = $op eq '<=' ? $value <= $bound : $value >= $bound;
    is($says, $met ? 'met' : 'not met', "$what: $value $op $bound is "
        . ($met ? 'met' : 'not met'));
}

sub same {
    my ($what, $got, $want, $tolerance) = @_;
    ok(defined $got && defined $want && $got =~ /^[\d.]+$/
        && $want =~ /^[\d.]+$/ && abs($got - $want) <= ($tolerance // 0),
        "$what: the verdict's value is the table's")
        or diag(($got // 'none') . ' against ' . ($want // 'none'));
}

# A goal's cell, "met (VALUE)" or "met (VALUE (RATIO of (b)))": its
# value is the table's (COLUMN of the variant), its verdict follows the
# bound, and its ratio is the value over (b)'s in the same run.

sub goal_cell {
    my ($what, $cell, $data, $k, $column, $op, $bound) = @_;
    my ($v) = ($cell // '') =~ /^(?:met|not met) \(([\d.]+)/;
    my $d = $data->{$k}{$column} // '';
    if ($d !~ /^[\d.]+$/) {
        like($cell // '', qr/^not met/, "$what: not measured, not met");
        return;
    }
    same($what, $v, $d);
    verdict($what, $cell, $v, $op, $bound);
    my $b = $data->{'(b)'}{$column} // '';
    return unless $b =~ /^[\d.]+$/ && $b > 0 && defined $v;
    my ($ratio) = $cell =~ /\(([\d.]+) of \(b\)\)\)$/;
    ok(defined $ratio && abs($ratio - $v / $b) <= 0.01 * $v / $b + 0.011,
        "$what: the ratio to (b) is $v / $b") or diag $cell;
}

# rate limit: success % >= 95, attempts per success <= 1.2, successes/s
# >= 0.95 R, each bound read from the goal table's header

sub rate_goals {
    my ($text, $R) = @_;
    my ($head, $data) = table($text, 'variant');
    my ($ghead, $goals) = table($text, 'guard');
    my ($api) = $text =~ /^### Rate limit, the API's 429 (\S+)/;
    $api = "rate limit $api";
    is(scalar keys %$goals, 3, "$api: (c), (d), (e) judged");
    my ($okpct, $aps, $okps) = @$ghead[1 .. 3];
    my ($pct_bound) = ($okpct // '') =~ /^success % >= ([\d.]+)$/;
    my ($aps_bound) = ($aps // '') =~ /^attempts per success <= ([\d.]+)$/;
    my ($okps_f) = ($okps // '') =~ /^successes\/s >= ([\d.]+) R$/;
    ok(defined $pct_bound && defined $aps_bound && defined $okps_f
        && defined $R, "$api: the goals and R named")
        or return diag "@$ghead; R " . ($R // 'none');
    for my $k (sort keys %$goals) {
        my $g = $goals->{$k};
        goal_cell("$api $k success %", $g->{$okpct}, $data, $k,
            'success %', '>=', $pct_bound);
        goal_cell("$api $k attempts per success", $g->{$aps}, $data, $k,
            'attempts per success', '<=', $aps_bound);
        goal_cell("$api $k successes/s", $g->{$okps}, $data, $k,
            'successes/s', '>=', $okps_f * $R);
    }
}

# the outage: success % >= 95, attempts per client request arriving in it
# <= 1.5, the API back at 0.75 R within 2 s

sub outage_goals {
    my ($text) = @_;
    my ($head, $data) = table($text, 'variant');
    my ($ghead, $goals) = table($text, 'guard');
    is(scalar keys %$goals, 2, 'outage: (c), (d) judged');
    my ($okpct, $per, $back) = @$ghead[1 .. 3];
    my ($pct_bound) = ($okpct // '') =~ /^success % >= ([\d.]+)$/;
    my ($per_bound) = ($per // '')
        =~ /^attempts per request in the outage <= ([\d.]+)$/;
    my ($s_bound) = ($back // '') =~ /^back <= ([\d.]+) s$/;
    ok(defined $pct_bound && defined $per_bound && defined $s_bound,
        'outage: the goals named') or return diag "@$ghead";
    for my $k (sort keys %$goals) {
        my $g = $goals->{$k};
        goal_cell("outage $k success %", $g->{$okpct}, $data, $k,
            'success % (all)', '>=', $pct_bound);
        goal_cell("outage $k attempts per request", $g->{$per}, $data, $k,
            'attempts per client request', '<=', $per_bound);
        my $d = $data->{$k}{'API back at 0.75 R after, s'} // '';
        if ($d =~ /^[\d.]+$/) {
            my ($v) = ($g->{$back} // '') =~ /\(([\d.]+) s\)$/;
            same("outage $k back", $v, $d);
            verdict("outage $k back", $g->{$back}, $v, '<=', $s_bound);
        } else {
            like($g->{$back} // '', qr/^not met/,
                "outage $k back: not back, not met");
        }
    }
}

# the gate's hold against plain backoff: the ratio is the table's memory
# per request, gate over plain; memory met within 5 %, CPU within 0.5 %
# of a core

sub memory_goals {
    my ($text) = @_;
    my $kb = qr/^\| memory per waiting request \(RSS delta \/ N\)/m;
    my $cpu_row = qr/^\| worker CPU while all wait/m;
    my $cpu_cell = qr/([\d.]+) % of a core over [\d.]+ s/;
    my ($kb_plain, $kb_gate) = $text =~ /$kb \| ([\d.]+) KB \| ([\d.]+) KB \|/;
    my ($cpu_plain, $cpu_gate) = $text =~ /$cpu_row \| $cpu_cell \| $cpu_cell/;
    my $held = qr/held by the gate against plain backoff: (\d+\.\d{3})\./;
    my $judged = qr/memory (met|not met) \(within 5 %[^)]*\), CPU (met|not met)/;
    my ($ratio, $mem, $cpu) = $text =~
        /^Memory per request, $held\s+The goal, [^:]*: $judged \(within 0\.5 %/m;
    ok(defined $ratio && defined $kb_plain && defined $cpu_plain,
        'storm memory: measured and judged') or return;
    ok($kb_plain > 0
        && abs($ratio - $kb_gate / $kb_plain) <= 0.002 * $ratio + 0.001,
        "storm memory: the ratio $ratio is $kb_gate KB / $kb_plain KB");
    verdict('storm memory: within 5 %', "$mem (", $ratio, '<=', 1.05);
    verdict('storm memory: CPU within 0.5 % of a core', "$cpu (", $cpu_gate,
        '<=', $cpu_plain + 0.5);
}
