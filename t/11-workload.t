#!/usr/bin/perl

# How workload presets and explicit limits merge across levels: at each
# level an explicit value beats that level's preset, and what a level sets
# beats what it inherits.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FW;

my $t = FW->new();

$t->run($t->gateway(http => <<'EOF', locations => <<'EOF2'));
    fireworks_workload agentic;
    fireworks_backoff 100ms;
    fireworks_jitter 0;
EOF
        fireworks_attempt_timeout 300ms;
        fireworks_deadline 1s;
        add_header X-Statuses $fireworks_statuses always;
        add_header X-Outcome $fireworks_outcome always;

        # server's explicit limits, inherited
        location /inherit/ {
            fireworks_pass /_fireworks/v1/chat/completions;
        }

        # a preset in the location beats the server's explicit limits
        location /preset/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_workload interactive;
        }

        # an explicit limit beats the preset of its own level
        location /explicit/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_workload batch;
            fireworks_attempt_timeout 400ms;
        }
EOF2

my $body = '{"model":"m"}';

# /inherit/: attempts cut at 300 ms until the 1 s deadline

my $r = $t->http(uri => '/inherit/x', body => $body, script => 'slow;ms=1500',
    id => 'inherit');
is($r->{status}, 504, 'inherit: cut');
is($r->{headers}{'x-outcome'}, 'deadline', 'inherit: deadline');
like($r->{headers}{'x-statuses'}, qr/^504(, 504)+$/, 'inherit: attempts cut');
cmp_ok($r->{elapsed}, '<', 1.5, 'inherit: 1 s deadline');

# /preset/: interactive's 30 s and 60 s, so a 1.5 s answer arrives

$r = $t->http(uri => '/preset/x', body => $body, script => 'slow;ms=1500',
    id => 'preset');
is($r->{status}, 200, 'preset: the slow answer arrives');
is($r->{headers}{'x-statuses'}, '200', 'preset: one attempt');

# /explicit/: 400 ms attempts under batch's 60 s deadline

$r = $t->http(uri => '/explicit/x', body => $body,
    script => 'slow;ms=1500,200', id => 'explicit');
is($r->{status}, 200, 'explicit: second attempt succeeds');
is($r->{headers}{'x-statuses'}, '504, 200', 'explicit: first cut at 400 ms');
cmp_ok($r->{elapsed}, '>=', 0.4, 'explicit: not before 400 ms');
cmp_ok($r->{elapsed}, '<', 1.2, 'explicit: not the preset 60 s');

$t->finish;
done_testing;
