#!/usr/bin/perl

# The benchmarks do not rot: every script of bench/ runs with tiny settings
# (--smoke) against the real processes and writes its part of the report.
# The numbers of a smoke run mean nothing; what is checked is that each
# benchmark ran to the end and reported what it should.  Each script
# itself fails on an alert or crit in the error logs, a failed request, or
# a retried body that differs from the client's.

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

open my $cf, '>', "$out/peers.conf" or die "$out/peers.conf: $!\n";
print $cf <<"EOF";
load_module $lua/ndk_http_module.so;
load_module $lua/ngx_http_lua_module.so;
pid $out/peers.pid;
events { }
http {
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

my $log = `perl $root/bench/run.pl --smoke --out $out 2>&1`;
is($?, 0, 'bench/run.pl --smoke ran every benchmark') or diag $log;

my $md = read_file("$out/benchmarks.md", undef);
BAIL_OUT("no benchmarks.md") unless defined $md;

like($md, qr/^## The machine and the method/m, 'machine section');
like($md, qr/^## 1\. Success-path overhead/m, 'overhead section');
like($md, qr/^## 2\. Under faults/m, 'faults section');
like($md, qr/^## 3\. \d+ requests waiting at once/m, 'waiting section');
like($md, qr/^## 4\. Large bodies, retried/m, 'bodies section');
like($md, qr/^## 5\. Streaming latency/m, 'stream section');
like($md, qr/^## 6\. Retry storms/m, 'storm section');

# each variant of benchmark 1 measured, with its ratio to proxy_pass

for my $v ('plain `proxy_pass`', '`fireworks_pass`',
    'Lua retry loop (`ngx.location.capture`)', 'HAProxy 2.6 `retry-on`')
{
    like($md, qr/^\| \Q$v\E \| \d+ \| \d\.\d{3} \| [\d.]+ \| \d\.\d{3} \|/m,
        "overhead: $v measured");
}

# under faults the retrying gateways succeed where proxy_pass cannot

my ($faults) = $md =~ /^(## 2\..*?)^## 3\./ms;
my ($fw_ok) = ($faults // '') =~ /^\| `fireworks_pass` \| ([\d.]+) \|/m;
my ($px_ok) = ($faults // '') =~ /^\| plain `proxy_pass` \| ([\d.]+) \|/m;
cmp_ok($fw_ok // 0, '>=', 97, 'faults: fireworks_pass succeeds');
cmp_ok($px_ok // 100, '<', 90, 'faults: proxy_pass passes the 503s on');

# limit_req, fireworks_pass after attempt 1 and after attempt 5 hold the
# same requests; each holding costs memory, and the ratios are there

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

is(() = $md =~ /^\| [\d.]+ MB \| fireworks_pass, 3 attempts/mg, 2,
    'bodies: both sizes retried');

like($md, qr/^\| event delay, p50 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [-+][\d.]+ \| [-+][\d.]+ \|/m,
    'stream: event delay compared');
like($md, qr/^\| time to the header, p50 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [-+][\d.]+ \| [-+][\d.]+ \|/m,
    'stream: time to the header, with and without the hold');
like($md, qr/^\| `fireworks_pass`, counted in a `fireworks_zone` \| \d+ \| \d\.\d{3} \|/m,
    'overhead: metrics on against off');
like($md, qr/^\| `fireworks_pass`, workload from `\$fireworks_model` \| \d+ \| \d\.\d{3} \|/m,
    'overhead: inspection on against off');

# the storm: every variant of each part measured, the goals judged

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
like($storm, qr/^### Rate limit, the API's 429 as Fireworks sends it/m,
    'storm: the rate limit with the 429 as Fireworks sends it');
like($storm, qr/^### Rate limit, the API's 429 with `Retry-After`/m,
    'storm: the rate limit with Retry-After');

# every goal of every guarded variant judged on a number, and the ratio
# to plain fireworks_pass given where there is one

my $judged = qr/(?:met|not met) \((?:[\d.]+|n\/a)(?: s)?(?: \([\d.]+ of \(b\)\))?\)/;
is(() = $storm =~ /^\| \([cde]\) [^|]+ \| $judged \| $judged \| $judged \|$/mg,
    8, 'storm: the goals judged on numbers');
like($storm, qr/^\| requests answered 200 \| (\d+) of \1 \| \1 of \1 \|/m,
    'storm: every held request answered 200');
like($storm, qr/^\| held by the gate \| 0 \| (\d+) \|/m,
    'storm: the gate held them');
like($storm, qr/^Memory per request, held by the gate against plain backoff: \d+\.\d{3}\./m,
    'storm: the memory ratio');

ok(-s "$out/overhead.png", 'overhead plot');
ok(-s "$out/waiting.png", 'waiting plot');
ok(-s "$out/storm.png", 'storm plot');

done_testing;
