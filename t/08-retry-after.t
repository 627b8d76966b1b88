#!/usr/bin/perl

# Retry-After: retry-after-ms, delta-seconds and HTTP-date are waited; a
# wait over fireworks_retry_after_max is not; garbage is ignored.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FW;

my $t = FW->new();

$t->run($t->gateway(locations => <<'EOF'));
        fireworks_jitter 0;
        fireworks_backoff 100ms;
        fireworks_retry_after_max 5s;
        add_header X-Statuses $fireworks_statuses always;
        add_header X-Outcome $fireworks_outcome always;

        location /v1/ {
            fireworks_pass /_fireworks$uri;
        }

        location /off/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_retry_after off;
        }

        location /deadline/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_deadline 1s;
        }
EOF

my $body = '{"model":"m"}';

sub gap {
    my ($id) = @_;
    my $a = $t->attempts($id);
    return @$a < 2 ? -1 : ($a->[1]{t} - $a->[0]{t}) / 1000;
}

my %cases = (
    'ms'      => ['429;ram=700,200', 0.68, 1.2],
    'seconds' => ['429;ra=1,200', 0.98, 1.5],
    'decimal' => ['503;ra=0.5,200', 0.48, 1.0],
    'date'    => ['429;radate=2,200', 0.9, 2.6],
    'garbage' => ['429;ra=soon,200', 0.09, 0.5],
    'negative' => ['429;ra=-5,200', 0.09, 0.5],
    'both'    => ['429;ra=3;ram=300,200', 0.29, 0.8],
);

for my $name (sort keys %cases) {
    my ($script, $lo, $hi) = @{$cases{$name}};
    my $r = $t->http(body => $body, script => $script, id => "ra-$name");
    is($r->{status}, 200, "$name: retried");
    my $g = gap("ra-$name");
    cmp_ok($g, '>=', $lo, "$name: waited at least $lo s ($g)");
    cmp_ok($g, '<', $hi, "$name: waited less than $hi s");
}

# longer than fireworks_retry_after_max: forwarded at once, with the header

my $r = $t->http(body => $body, script => '429;ra=120,200', id => 'ra-max');
is($r->{status}, 429, 'over the max: forwarded');
is($r->{headers}{'retry-after'}, '120', 'over the max: Retry-After kept');
is($r->{headers}{'x-outcome'}, 'retry_after', 'over the max: outcome');
cmp_ok($r->{elapsed}, '<', 0.5, 'over the max: at once');
is(scalar @{$t->attempts('ra-max')}, 1, 'over the max: one attempt');

# past the deadline: forwarded at once

$r = $t->http(uri => '/deadline/x', body => $body, script => '503;ra=2,200',
    id => 'ra-dl');
is($r->{status}, 503, 'past the deadline: forwarded');
is($r->{headers}{'x-outcome'}, 'deadline', 'past the deadline: outcome');
cmp_ok($r->{elapsed}, '<', 0.5, 'past the deadline: at once');

# fireworks_retry_after off: the computed backoff

$r = $t->http(uri => '/off/x', body => $body, script => '429;ra=3,200',
    id => 'ra-off');
is($r->{status}, 200, 'off: retried');
cmp_ok(gap('ra-off'), '<', 0.6, 'off: Retry-After ignored');

# issue #13: the strict parsers of ngx_http_fireworks_parse.c end to end

# any positive fraction rounds up to a millisecond: 1 ms, not 0 and not
# the computed 100 ms

$r = $t->http(body => $body, script => '429;ram=0.0000001,200',
    id => 'ra-tiny');
is($r->{status}, 200, 'retry-after-ms 0.0000001: retried');
cmp_ok(gap('ra-tiny'), '<', 0.09, 'retry-after-ms 0.0000001: not the backoff');
like($t->error_log, qr/got 429, retrying in 1ms/,
    'retry-after-ms 0.0000001: waits 1 ms');

# a huge but valid value is longer than fireworks_retry_after_max, not
# garbage: the answer goes to the client with its header

for my $h (['ra', '99999999999999999999999'], ['ra', '1000000000'],
    ['ram', '1000000000'], ['ram', '99999999999999999999.5'])
{
    my ($k, $v) = @$h;
    my $id = "ra-huge-$k-" . length $v;
    $r = $t->http(body => $body, script => "429;$k=$v,200", id => $id);
    is($r->{status}, 429, "$k=$v: forwarded");
    is($r->{headers}{'x-outcome'}, 'retry_after', "$k=$v: outcome");
    is(scalar @{$t->attempts($id)}, 1, "$k=$v: one attempt");
}

# HTTP-dates the old parser misread ("JAn" as June, "UTC" or no zone as
# GMT) are garbage: the computed backoff (100 ms) applies, not the date

my @days = qw/Sun Mon Tue Wed Thu Fri Sat/;
my @days_l = qw/Sunday Monday Tuesday Wednesday Thursday Friday Saturday/;
my @months = qw/Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec/;

sub imf {
    my @g = gmtime(shift);
    return sprintf('%s, %02d %s %04d %02d:%02d:%02d GMT', $days[$g[6]],
        $g[3], $months[$g[4]], $g[5] + 1900, $g[2], $g[1], $g[0]);
}

sub script_value {
    (my $v = shift) =~ s/([^A-Za-z0-9 :-])/sprintf('%%%02X', ord $1)/ge;
    return $v;
}

my %dates = (
    'JAn' => sub { $_[0] =~ s/ ([A-Z])([a-z])([a-z]) / $1\u$2$3 /r },
    'lowercase month' => sub { $_[0] =~ s/ ([A-Z])([a-z]{2}) / \l$1$2 /r },
    'UTC' => sub { $_[0] =~ s/GMT$/UTC/r },
    'no zone' => sub { $_[0] =~ s/ GMT$//r },
    'two spaces' => sub { $_[0] =~ s/, /,  /r },
);

for my $name (sort keys %dates) {
    my $v = script_value($dates{$name}->(imf(time + 3)));
    my $id = "ra-bad-$name" =~ s/ /-/gr;
    $r = $t->http(body => $body, script => "429;ra=$v,200", id => $id);
    is($r->{status}, 200, "date with $name: retried");
    my $g = gap($id);
    cmp_ok($g, '>=', 0.09, "date with $name: the backoff ($g)");
    cmp_ok($g, '<', 0.5, "date with $name: not the date");
}

# the obsolete formats are dates: RFC 850 and asctime, 2 s ahead

my %obsolete = (
    'rfc850' => sub {
        my @g = @_;
        sprintf('%s, %02d-%s-%02d %02d:%02d:%02d GMT', $days_l[$g[6]],
            $g[3], $months[$g[4]], $g[5] % 100, $g[2], $g[1], $g[0]);
    },
    'asctime' => sub {
        my @g = @_;
        sprintf('%s %s %2d %02d:%02d:%02d %04d', $days[$g[6]],
            $months[$g[4]], $g[3], $g[2], $g[1], $g[0], $g[5] + 1900);
    },
);

for my $name (sort keys %obsolete) {
    my $v = script_value($obsolete{$name}->(gmtime(time + 2)));
    $r = $t->http(body => $body, script => "503;ra=$v,200",
        id => "ra-$name");
    is($r->{status}, 200, "$name date: retried");
    my $g = gap("ra-$name");
    cmp_ok($g, '>=', 0.5, "$name date: waited ($g)");
    cmp_ok($g, '<', 2.6, "$name date: until the date");
}

$t->finish;
done_testing;
