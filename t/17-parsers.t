#!/usr/bin/perl

# The parsers on their own, without nginx: Retry-After, retry-after-ms and
# HTTP-date against tables (every bug of issue #13 a case), the JSON
# scanner against Python's json module (t/fuzz/oracle.py) on the seed
# corpus and generated bodies, then each libFuzzer harness briefly.
#
# Builds t/fuzz/driver.c with the C compiler (CC, else gcc or clang)
# against build/objs (./build.sh) and nginx-dev's headers.  FW_FUZZ_SECONDS
# (default 8, 0 skips) is how long each fuzzer runs.

use warnings;
use strict;

use FindBin;
use File::Temp qw/tempdir/;
use Test::More;

my $ROOT = "$FindBin::Bin/..";
my $SRC = "$ROOT/ngx_fireworks_module";
my $OBJS = $ENV{FW_NGX_OBJS} || "$ROOT/build/objs";
my $NGX = $ENV{FW_NGX_SRC} || '/usr/share/nginx/src';

plan(skip_all => "no $OBJS/ngx_auto_config.h (run ./build.sh)")
    unless -f "$OBJS/ngx_auto_config.h";
plan(skip_all => "no nginx headers in $NGX (nginx-dev)")
    unless -f "$NGX/src/core/ngx_config.h";

my ($cc) = grep { defined && `command -v $_ 2>/dev/null` }
    ($ENV{CC}, 'gcc', 'clang');
plan(skip_all => 'no C compiler') unless $cc;

my $dir = tempdir('fireworks-parsers-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
my $driver = "$dir/driver";
my @incs = map { "-I$_" } $OBJS, "$NGX/src/core", "$NGX/src/event",
    "$NGX/src/event/modules", "$NGX/src/os/unix", $SRC;
my @srcs = ("$ROOT/t/fuzz/driver.c", "$SRC/ngx_http_fireworks_parse.c",
    "$SRC/ngx_http_fireworks_json.c", "$SRC/ngx_http_fireworks_sse.c");

# with the sanitizers when the compiler has them

my $built;
for my $san ('-fsanitize=address,undefined -fno-sanitize-recover=all', '') {
    $built = system("$cc -g -O1 -Wall -Wextra -Werror $san @incs @srcs"
        . " -o $driver 2>$dir/cc.log") == 0;
    last if $built;
}
ok($built, "driver built with $cc") or diag(`cat $dir/cc.log`);
BAIL_OUT('no driver') unless $built;

# --- Retry-After, retry-after-ms, HTTP-date ---------------------------------

my $NOW = 1767225600;           # Thu, 01 Jan 2026 00:00:00 GMT
my $CAP = 604800000;            # NGX_HTTP_FIREWORKS_DELAY_CAP, 7 days
my $D = 'DECLINED';
my $E = 'ERROR';

# [what, now, value, expected]: OK ms, DECLINED, or a time / ERROR

my @cases = (
    # delay-seconds
    ['ra', $NOW, '0', 0],
    ['ra', $NOW, '1', 1000],
    ['ra', $NOW, '120', 120000],
    ['ra', $NOW, '007', 7000],
    ['ra', $NOW, ' 2 ', 2000],
    ['ra', $NOW, "\t3\t", 3000],
    ['ra', $NOW, '1.5', 1500],
    ['ra', $NOW, '0.5', 500],
    ['ra', $NOW, '1.000', 1000],
    ['ra', $NOW, '1.001', 1001],
    # bug: digits after the sixth were dropped, not rounded up
    ['ra', $NOW, '1.0000001', 1001],
    ['ra', $NOW, '1.0001', 1001],
    ['ra', $NOW, '1.000000000000000000000000001', 1001],
    ['ra', $NOW, '0.0001', 1],
    ['ra', $NOW, '0.000', 0],
    # bug: a huge valid value was garbage; now it saturates
    ['ra', $NOW, '604799.999', 604799999],
    ['ra', $NOW, '604799.9999', $CAP],
    ['ra', $NOW, '604800', $CAP],
    ['ra', $NOW, '999999999', $CAP],
    ['ra', $NOW, '1000000000', $CAP],
    ['ra', $NOW, '99999999999999999999999', $CAP],
    ['ra', $NOW, '99999999999999999999999.5', $CAP],
    # bug: ".5" and "1." were accepted
    ['ra', $NOW, '.5', $D],
    ['ra', $NOW, '1.', $D],
    ['ra', $NOW, '1.5abc', $D],
    ['ra', $NOW, '1e3', $D],
    ['ra', $NOW, '+1', $D],
    ['ra', $NOW, '-5', $D],
    ['ra', $NOW, '', $D],
    ['ra', $NOW, '   ', $D],
    ['ra', $NOW, '1 2', $D],
    ['ra', $NOW, '1,2', $D],
    ['ra', $NOW, '1..5', $D],
    ['ra', $NOW, '0x10', $D],
    ['ra', $NOW, 'soon', $D],
    ['ra', $NOW, 'Infinity', $D],
    ['ra', $NOW, 'NaN', $D],
    ['ra', $NOW, '1_000', $D],
    ['ra', $NOW, "1\n", $D],
    ['ra', $NOW, "\xef\xbc\x91", $D],                  # fullwidth 1
    # HTTP-date: the distance from now
    ['ra', $NOW, 'Thu, 01 Jan 2026 00:00:10 GMT', 10000],
    ['ra', $NOW, ' Thu, 01 Jan 2026 00:00:10 GMT ', 10000],
    ['ra', $NOW, 'Thursday, 01-Jan-26 00:01:00 GMT', 60000],
    ['ra', $NOW, 'Thu Jan  1 00:00:30 2026', 30000],
    ['ra', $NOW, 'Thu, 01 Jan 2026 00:00:00 GMT', 0],
    ['ra', $NOW, 'Wed, 31 Dec 2025 23:59:59 GMT', 0],
    ['ra', $NOW, 'Wed, 31 Dec 2025 23:59:60 GMT', 0],
    ['ra', $NOW, 'Sun, 06 Nov 1994 08:49:37 GMT', 0],
    ['ra', $NOW, 'Sat, 01 Jan 0000 00:00:00 GMT', 0],
    ['ra', $NOW, 'Wed, 07 Jan 2026 23:59:59 GMT', 604799000],
    ['ra', $NOW, 'Thu, 08 Jan 2026 00:00:00 GMT', $CAP],
    ['ra', $NOW, 'Fri, 01 Jan 2027 00:00:00 GMT', $CAP],
    ['ra', $NOW, 'Fri, 31 Dec 9999 23:59:59 GMT', $CAP],
    # bug: nginx's parser read "JAn" as June, took UTC or no zone as GMT
    ['ra', $NOW, 'Thu, 01 JAn 2026 00:00:10 GMT', $D],
    ['ra', $NOW, 'Thu, 01 jan 2026 00:00:10 GMT', $D],
    ['ra', $NOW, 'thu, 01 Jan 2026 00:00:10 GMT', $D],
    ['ra', $NOW, 'Thu, 01 Jan 2026 00:00:10 gmt', $D],
    ['ra', $NOW, 'Thu, 01 Jan 2026 00:00:10 UTC', $D],
    ['ra', $NOW, 'Thu, 01 Jan 2026 00:00:10', $D],
    ['ra', $NOW, 'Thu, 01 Jan 2026 00:00:10 +0000', $D],
    ['ra', $NOW, 'Thu, 1 Jan 2026 00:00:10 GMT', $D],
    ['ra', $NOW, 'Thu,  01 Jan 2026 00:00:10 GMT', $D],
    ['ra', $NOW, 'Thu, 01 Jan 2026 00:00:10 GMT x', $D],
    ['ra', $NOW, 'Thu, 01 Jan 26 00:00:10 GMT', $D],
    ['ra', $NOW, 'Thu, 01-Jan-2026 00:00:10 GMT', $D],
    ['ra', $NOW, 'Thurs, 01-Jan-26 00:00:10 GMT', $D],
    ['ra', $NOW, 'Thu Jan 1 00:00:10 2026', $D],
    ['ra', $NOW, 'Thu Jan  1 00:00:10 2026 GMT', $D],
    ['ra', $NOW, '2026-01-01T00:00:10Z', $D],

    # retry-after-ms
    ['ram', 0, '0', 0],
    ['ram', 0, '700', 700],
    ['ram', 0, ' 250 ', 250],
    # bug: 0.0000001 ms was 0: any positive fraction rounds up
    ['ram', 0, '0.0000001', 1],
    ['ram', 0, '0.5', 1],
    ['ram', 0, '1.5', 2],
    ['ram', 0, '1.0', 1],
    ['ram', 0, '604799999', 604799999],
    ['ram', 0, '604799999.1', $CAP],
    ['ram', 0, '604800000', $CAP],
    # bug: 999999999 was "too long" but 1000000000 garbage
    ['ram', 0, '999999999', $CAP],
    ['ram', 0, '1000000000', $CAP],
    ['ram', 0, '18446744073709551616', $CAP],
    ['ram', 0, '.5', $D],
    ['ram', 0, '1.', $D],
    ['ram', 0, '-1', $D],
    ['ram', 0, '1e3', $D],
    ['ram', 0, '', $D],
    ['ram', 0, '12ms', $D],
    ['ram', 0, '1.5abc', $D],
    ['ram', 0, 'Thu, 01 Jan 2026 00:00:10 GMT', $D],

    # HTTP-date: RFC 9110's examples
    ['date', $NOW, 'Sun, 06 Nov 1994 08:49:37 GMT', 784111777],
    ['date', $NOW, 'Sunday, 06-Nov-94 08:49:37 GMT', 784111777],
    ['date', $NOW, 'Sun Nov  6 08:49:37 1994', 784111777],
    ['date', $NOW, 'Sun Nov 06 08:49:37 1994', 784111777],
    ['date', $NOW, 'Sun Nov 6 08:49:37 1994', $E],
    # the day name is not checked against the date
    ['date', $NOW, 'Mon, 06 Nov 1994 08:49:37 GMT', 784111777],
    # case-sensitive, GMT only
    ['date', $NOW, 'sun, 06 Nov 1994 08:49:37 GMT', $E],
    ['date', $NOW, 'Sun, 06 nov 1994 08:49:37 GMT', $E],
    ['date', $NOW, 'Sun, 06 NOV 1994 08:49:37 GMT', $E],
    ['date', $NOW, 'Sun, 06 Nov 1994 08:49:37 gmt', $E],
    ['date', $NOW, 'SUNDAY, 06-Nov-94 08:49:37 GMT', $E],
    ['date', $NOW, 'Sun, 06 Nov 1994 08:49:37 UTC', $E],
    ['date', $NOW, 'Sun, 06 Nov 1994 08:49:37', $E],
    ['date', $NOW, ' Sun, 06 Nov 1994 08:49:37 GMT', $E],
    # ranges
    ['date', $NOW, 'Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['date', $NOW, 'Wed, 31 Dec 1969 23:59:59 GMT', $E],
    ['date', $NOW, 'Fri, 31 Dec 9999 23:59:59 GMT', 253402300799],
    ['date', $NOW, 'Wed, 31 Dec 2025 23:59:60 GMT', 1767225600],
    ['date', $NOW, 'Wed, 31 Dec 2025 23:59:61 GMT', $E],
    ['date', $NOW, 'Wed, 31 Dec 2025 24:00:00 GMT', $E],
    ['date', $NOW, 'Wed, 31 Dec 2025 23:60:00 GMT', $E],
    ['date', $NOW, 'Wed, 00 Dec 2025 00:00:00 GMT', $E],
    ['date', $NOW, 'Wed, 32 Dec 2025 00:00:00 GMT', $E],
    ['date', $NOW, 'Wed, 31 Apr 2025 00:00:00 GMT', $E],
    # leap years
    ['date', $NOW, 'Thu, 29 Feb 2024 12:00:00 GMT', 1709208000],
    ['date', $NOW, 'Thu Feb 29 12:00:00 2024', 1709208000],
    ['date', $NOW, 'Thursday, 29-Feb-24 12:00:00 GMT', 1709208000],
    ['date', $NOW, 'Tue, 29 Feb 2000 12:00:00 GMT', 951825600],
    ['date', $NOW, 'Thu, 29 Feb 1900 12:00:00 GMT', $E],
    ['date', $NOW, 'Mon, 29 Feb 2100 12:00:00 GMT', $E],
    ['date', $NOW, 'Tue, 29 Feb 2400 12:00:00 GMT', 13574606400],
    ['date', $NOW, 'Sat, 29 Feb 2025 12:00:00 GMT', $E],
    # two-digit years: at most 50 years after now (2026-01-01 00:00:00)
    ['date', $NOW, 'Wednesday, 01-Jan-76 00:00:00 GMT', 3345062400],
    ['date', $NOW, 'Thursday, 01-Jan-76 00:00:01 GMT', 189302401],
    ['date', $NOW, 'Tuesday, 31-Dec-75 23:59:59 GMT', 3345062399],
    ['date', $NOW, 'Saturday, 01-Jan-77 00:00:00 GMT', 220924800],
    ['date', $NOW, 'Wednesday, 01-Jan-70 00:00:00 GMT', 3155760000],
    ['date', $NOW, 'Thursday, 01-Jan-26 00:00:00 GMT', 1767225600],
    ['date', $NOW, 'Saturday, 01-Jan-00 00:00:00 GMT', 946684800],
    ['date', $NOW, 'Sunday, 29-Feb-76 00:00:00 GMT', 194400000],
    ['date', $NOW, 'Thursday, 09-Sep-99 09:09:09 GMT', 936868149],
    ['date', $NOW, 'Tuesday, 29-Feb-00 00:00:00 GMT', 951782400],
    # now = 2100-01-01: "00" is 2100, which has no February 29
    ['date', 4102444800, 'Friday, 01-Jan-00 00:00:00 GMT', 4102444800],
    ['date', 4102444800, 'Tuesday, 29-Feb-00 00:00:00 GMT', $E],
    ['date', 4102444800, 'Thursday, 01-Jan-50 00:00:00 GMT', 5680281600],
    ['date', 4102444800, 'Thursday, 01-Jan-50 00:00:01 GMT', 2524608001],
    ['date', 4102444800, 'Friday, 31-Dec-49 23:59:59 GMT', 5680281599],
);

my $in = '';
for my $c (@cases) {
    my ($what, $now, $v) = @$c;
    $in .= $what eq 'ram' ? "ram " : "$what $now ";
    $in .= unpack('H*', $v) . "\n";
}

my @got = run_driver($in);

for my $i (0 .. $#cases) {
    my ($what, $now, $v, $want) = @{$cases[$i]};
    $want = "OK $want" if $what ne 'date' && $want ne $D;
    (my $show = $v) =~ s/([^ -~])/sprintf('\\x%02x', ord $1)/ge;
    is($got[$i], $want,
        "$what \"$show\"" . ($what eq 'ram' ? '' : " now $now"));
}

# --- the first SSE event and its error status (fireworks_hold_header) --------

# [held bytes, expected "END DATA STATUS"]; the data is the first data
# line's value, its status that of an {"error": {"code"|"status": N}}

# one event "data: JSON\n\n": its end, its data's offsets, the status

sub ev {
    my ($json, $status) = @_;
    my $n = 6 + length $json;
    return ["data: $json\n\n", "@{[$n + 2]} 6-$n $status"];
}

my @sse = (
    ["data: {\"a\":1}\n\n", '15 6-13 0'],
    ["data: {\"a\":1}\n", '- - 0'],
    ["data: {\"a\":1}\r\n\r\n", '17 6-13 0'],
    ["data: {\"a\":1}\r\r", '- - 0'],
    ["data: {\"a\":1}\r\rx", '15 6-13 0'],
    [": keep-alive\n\nevent: x\n\ndata:x\n\n", '32 29-30 0'],
    ["event: e\ndata: a\ndata: b\n\n", '26 15-16 0'],
    ev('{"error":{"code":429}}', 429),
    ev('{"error":{"message":"busy","status":"503"}}', 503),
    ev('{"error":{"code":4290}}', 0),
    ev('{"error":{"code":99}}', 0),
    ev('{"error":{"code":600}}', 0),
    ev('{"error":{"code":"42"}}', 0),
    ev('{"x":{"error":{"code":500}}}', 0),
    ev('{"a":[1,{"b":"}"}],"error":{"code":502}}', 502),
    ev('{"a":"\\"","error":{"code":502}}', 502),
    # mismatched or unclosed brackets are no answer, and never a hang
    ev('{"a":{]}', 0),
    ev('{"a":[}],"error":{"code":429}}', 0),
    ev('{"error":{"x":[}],"code":503}}', 0),
    ev('{"error":{"x":{]},"code":503}}', 0),
    ev('{"a":[[[[', 0),
    ev('{"a":[,:,]', 0),
    # nesting: 32 levels are read, more are not
    ev('{"a":' . ('[' x 32) . (']' x 32) . ',"error":{"code":429}}', 429),
    ev('{"a":' . ('[' x 33) . (']' x 33) . ',"error":{"code":429}}', 0),
    ev('{"a":' . ('[' x 3000) . ',"error":{"code":429}}', 0),
);

@got = run_driver(join('', map { 'sse ' . unpack('H*', $_->[0]) . "\n" }
    @sse));

for my $i (0 .. $#sse) {
    (my $show = $sse[$i][0]) =~ s/([^ -~])/sprintf('\\x%02x', ord $1)/ge;
    $show = substr($show, 0, 60) . '...' if length $show > 64;
    is($got[$i], $sse[$i][1], "sse \"$show\"");
}

# --- JSON and dates against Python -------------------------------------------

SKIP: {
    skip 'no python3', 2 unless `command -v python3 2>/dev/null`;

    for my $what ('json', 'date') {
        my $cmd = "python3 $ROOT/t/fuzz/oracle.py $what $driver"
            . ($what eq 'json' ? " $ROOT/t/fuzz/corpus/json" : '');
        my @out = `$cmd 2>&1`;
        my ($sum) = grep { /^cases \d+ mismatches \d+/ } @out;
        my @bad = grep { /^not ok/ } @out;
        chomp $sum if defined $sum;
        ok($? == 0 && defined $sum && $sum =~ /mismatches 0$/,
            "$what: Python agrees (" . ($sum // 'no summary') . ')')
            or diag(@bad > 20 ? @bad[0 .. 19] : @out);
    }
}

# --- the fuzzers, briefly ----------------------------------------------------

SKIP: {
    my $secs = $ENV{FW_FUZZ_SECONDS} // 8;
    skip 'FW_FUZZ_SECONDS=0', 1 if $secs eq '0';

    my $out = `$ROOT/t/fuzz/run.sh $secs 2>&1`;
    my $rc = $? >> 8;
    skip "fuzzers not built: " . join(' ', $out =~ /^  (.*)$/mg), 1
        if $rc == 3;
    is($rc, 0, "fuzzers, ${secs}s each: no finding")
        or diag($out);
    note($_) for $out =~ /^==> (fuzz_\w+: (?:ok|skipped).*)$/mg;
}

done_testing;


sub run_driver {
    my ($input) = @_;
    open my $fh, '>', "$dir/in" or die "$dir/in: $!\n";
    binmode $fh;
    print $fh $input;
    close $fh;
    # a parser that loops forever fails here, not the whole run
    my @out = `timeout 60 $driver < $dir/in`;
    chomp @out;
    return @out;
}
