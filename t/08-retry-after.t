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
    'huge'    => ['429;ra=99999999999999999999999,200', 0.09, 0.5],
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

$t->finish;
done_testing;
