#!/usr/bin/perl

# Benchmark 4: large request bodies retried.  A 1 MB and a 10 MB POST,
# answered 200 at once or only on the third attempt (503, 503, 200): time
# and the gateway worker's memory, against one attempt and against plain
# proxy_pass.  The body is read once (to a temp file, past
# client_body_buffer_size) and every attempt sends it from there: no copy
# per attempt.  The stand-in API reads each attempt's body whole before
# answering and records its SHA-256, which is checked against the file.
#
# Then what scanning the body for "model" costs the worker (--scan: that
# part alone).
#
#   perl bench/bodies.pl [--smoke] [--scan] [--out DIR] [--rounds N]
#                        [--seconds S]

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Getopt::Long;
use Digest::SHA qw/sha256_hex/;
use JSON::PP;
use Time::HiRes qw/sleep/;
use Bench;

my %o = (out => "$FindBin::Bin/../docs", rounds => 5, seconds => 3);
GetOptions(\%o, 'smoke', 'scan', 'out=s', 'rounds=i', 'seconds=i')
    or exit 2;
%o = (%o, rounds => 1, seconds => 1) if $o{smoke};

my @sizes = $o{smoke} ? (65536, 262144) : (1 << 20, 10 << 20);

my $bench = Bench->new(name => 'bodies', %o);
my $api = $bench->fakeapi;

my $gw = $bench->nginx('gw', Bench::gateway_conf(
    http => "    client_max_body_size 64m;\n"
        . "    map \$fireworks_model \$fw_model { default 0; }\n",
    fw => "            fireworks_backoff 10ms;\n            fireworks_jitter 0;\n",
    server => <<'EOF'));
        location /noscan/ {
            fireworks_pass /_fw$uri;
            fireworks_inspect_size 0;
        }
EOF

my $worker = $bench->nginx_worker($gw);
my $port = $bench->port('gw');
my $can_reset = Bench::reset_hwm($worker);

# name => [ location, the stand-in's script, attempts ]

my @variants = (
    'proxy_pass, 1 attempt',
    'fireworks_pass, 1 attempt',
    'fireworks_pass, 3 attempts (503, 503, 200)',
);
my %variant = (
    $variants[0] => [ 'proxy', '200', 1 ],
    $variants[1] => [ 'fw', '200', 1 ],
    $variants[2] => [ 'fw', '503,503,200', 3 ],
);

if ($o{scan}) {
    $bench->report(scan());
    $bench->stop;
    exit 0;
}

my (%runs, $id);

for my $size (@sizes) {
    my $file = $bench->dir . "/body-$size.json";
    my $pad = 'x' x ($size - 60);
    $bench->write_file($file, '{"model":"m","messages":[{"role":"user",'
        . '"content":"' . substr($pad, 0, $size - 45 - 2) . '"}]}');
    my $sha = sha256_hex($bench->read_file($file));
    my $len = -s $file;

    $runs{$size} = Bench::rounds($o{rounds}, \@variants, sub {
        my ($name) = @_;
        my ($loc, $script, $tries) = @{$variant{$name}};
        $id++;
        sleep 0.1;
        my $base = Bench::rss_kb($worker);
        Bench::reset_hwm($worker) if $can_reset;

        my $out = `curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST -H 'Content-Type: application/json' -H 'X-FW-Script: $script' -H 'X-FW-Id: b$id' --data-binary \@$file http://127.0.0.1:$port/$loc/v1/chat/completions`;
        my ($code, $t) = split ' ', $out;
        die "$name, $size bytes: status $code\n" unless $code eq '200';

        my $seen = decode_json(`curl -s 'http://127.0.0.1:$api/_attempts?id=b$id'`);
        die "$name: $tries attempts expected, " . scalar(@$seen) . " seen\n"
            unless @$seen == $tries;
        for (@$seen) {
            die "$name: attempt body differs\n"
                unless $_->{body_sha256} eq $sha && $_->{body_len} == $len;
        }

        return { time => $t * 1000,
                 peak => $can_reset ? Bench::hwm_kb($worker) - $base : undef };
    });
}

my @rows;
for my $size (@sizes) {
    my $one = Bench::median_of($runs{$size}, $variants[1], 'time');
    for my $name (@variants) {
        my $t = Bench::median_of($runs{$size}, $name, 'time');
        my $waits = $variant{$name}[2] == 3 ? 30 : 0;
        push @rows, [ sprintf('%g MB', $size / (1 << 20)), $name,
            fmt($t, 1), fmt($t - $waits, 1), ratio($t - $waits, $one),
            fmt(Bench::median_of($runs{$size}, $name, 'peak'), 0) ];
    }
}

my $md = "## 4. Large bodies, retried\n\n"
    . "curl POSTs the body (a chat completion request padded to size) to"
    . " the gateway; the stand-in API (Node) reads each attempt's body"
    . " whole, records its SHA-256 and answers by script."
    . "  Every attempt's body was checked to be the client's, byte for"
    . " byte.  Backoff 10 ms then 20 ms, no jitter: 30 ms of the"
    . " 3-attempt times are waiting.  $o{rounds} rounds, alternating; medians.  Peak memory is"
    . " the gateway worker's peak RSS during the request (VmHWM, reset"
    . " before each request) minus its RSS before.\n\n"
    . Bench::table(['body', 'variant', 'time ms', 'without the waits',
        'ratio to 1 attempt',
        'worker peak RSS growth KB'], @rows);

$md .= "\nThe body is read to a temp file once (it is larger than"
    . " `client_body_buffer_size`) and each attempt sends it from that"
    . " file: memory does not grow with the body size or the number of"
    . " attempts.\n";

$md .= scan();

$bench->report($md);
$bench->stop;

# The body scan: fireworks_pass with the body scanned as it is read (the
# default where $fireworks_model is used: a map names it) against
# fireworks_inspect_size 0, for a 1 KB and a 1 MB body in openai-python's
# key order ("messages" first, prose with a newline and two escaped
# quotes a line); wrk sends each for
# --seconds, 2 connections, the rounds alternate the variants.  The
# worker's CPU comes from /proc/PID/schedstat (nanoseconds, where the
# ticks of /proc/PID/stat are too coarse for a millisecond a request).

sub scan {
    my %url = (scan => "http://127.0.0.1:$port/fw/v1/chat/completions",
               off => "http://127.0.0.1:$port/noscan/v1/chat/completions");
    my @rows;

    for my $size (1024, 1 << 20) {
        my $head = '{"messages":[{"role":"user","content":"';
        my $tail = '"}],"model":"accounts/fireworks/models/deepseek-r1",'
            . '"stream":false,"temperature":0.2}';
        my $text = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit,'
            . ' sed do eiusmod tempor \\"incididunt\\" ut labore et dolore'
            . ' magna aliqua.\\n';
        my $n = $size - length($head) - length($tail);
        my $pad = substr($text x (int($n / length $text) + 1), 0, $n);
        $pad =~ s/\S*$//;
        $pad .= " " x ($n - length $pad);
        my $file = $bench->write_file("scan-$size.json", $head . $pad . $tail);
        my $lua = $bench->write_file("scan-$size.lua", <<"EOF");
local f = io.open("$file", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-FW-Script"] = "200"
EOF
        my $runs = Bench::rounds($o{rounds}, [qw/scan off/], sub {
            my ($v) = @_;
            my $ns0 = cpu_ns($worker);
            my $out = `taskset -c 1 wrk -t1 -c2 -d$o{seconds}s -s $lua '$url{$v}' 2>&1`;
            my $ns = cpu_ns($worker) - $ns0;
            my ($req) = $out =~ /(\d+) requests in/;
            die "wrk, $v: $out\n" if !$req || $out =~ /Non-2xx|Socket errors/;
            printf STDERR "scan %7d bytes %-4s %6d requests %8.1f us/req\n",
                $size, $v, $req, $ns / $req / 1000;
            return { us => $ns / $req / 1000 };
        });
        push @rows, [ $size == 1024 ? '1 KB' : '1 MB',
            fmt(Bench::median_of($runs, 'off', 'us'), 1),
            fmt(Bench::median_of($runs, 'scan', 'us'), 1),
            fmt(Bench::paired_ratio($runs, 'scan', 'off', 'us'), 3),
            join(', ', map { ratio($runs->{scan}[$_]{us}, $runs->{off}[$_]{us}) }
                0 .. $#{$runs->{scan}}) ];
    }

    return "\n### What the body scan costs\n\n"
        . "`fireworks_pass` with the body scanned for `\"model\"` as nginx"
        . " reads it (the default where `\$fireworks_model` is used) against"
        . " `fireworks_inspect_size 0`:"
        . " wrk POSTs a body in openai-python's key order (`\"messages\"`"
        . " first, prose with a `\\n` and two `\\\"` a line, `\"model\"` at"
        . " the end), 2"
        . " connections, $o{seconds} s per variant, $o{rounds} rounds"
        . " alternating; the worker's CPU from `/proc/PID/schedstat`, per"
        . " request; paired ratios.  The goal is 2 % or less for 1 MB and"
        . " nothing measurable for 1 KB.\n\n"
        . Bench::table(['body', 'CPU µs/request, no scan',
            'CPU µs/request, scan', 'ratio', 'round by round'], @rows);
}

sub cpu_ns {
    my ($pid) = @_;
    my ($ns) = Bench::proc_file($pid, 'schedstat') =~ /^(\d+)/;
    return $ns;
}
