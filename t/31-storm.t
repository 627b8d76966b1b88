#!/usr/bin/perl

# The storm guard, across 2 workers: the retry budget and the waiting cap
# are exact; a gate closed by one worker's 429 holds the retries of every
# worker and releases them paced; a held retry that cannot start before
# its deadline gets its answer at once; a worker killed with requests in
# flight leaves no count stuck; a reload keeps the gate; the client is
# told not to retry what the gateway gave up on.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw/time sleep/;
use FW;

my $t = FW->new();

my %gw = (workers => 2, listen => 'reuseport');
$t->run($t->gateway(%gw, http => <<'EOF', locations => <<'EOF2'));
    fireworks_zone fireworks 1m;
    log_format storm '$http_x_fw_id $status $fireworks_outcome $pid '
                     '$fireworks_gate_wait $fireworks_attempts '
                     '"$sent_http_x_should_retry" "$sent_http_retry_after_ms"';
EOF
        fireworks_jitter 0;
        fireworks_backoff 100ms;
        access_log %%TESTDIR%%/storm.log storm;

        location = /metrics {
            fireworks_metrics;
        }

        location /budget/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_retry_budget 50% min=2;
            fireworks_backoff 1s;
        }

        location /waiting/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_max_waiting 3;
            fireworks_backoff 1s;
        }

        location /gate/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_gate on;
            fireworks_route gate;
            fireworks_deadline 10s;
        }

        location /gate-short/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_gate on;
            fireworks_route gate;
            fireworks_deadline 2s;
            fireworks_client_retry auto;
        }

        location /gate-first/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_gate all;
            fireworks_route gatefirst;
        }

        location /tries/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 2;
        }

        location /tries-on/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 2;
            fireworks_client_retry on;
        }

        location /slot/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route slot;
        }

        location /pace/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_gate on;
            fireworks_route pace;
        }
EOF2

my $body = '{"model":"m"}';

# N requests at once, each in its own process; returns their results

sub burst {
    my (%o) = @_;
    my @pids;
    for my $i (1 .. $o{n}) {
        my $pid = fork();
        die "fork: $!\n" unless defined $pid;
        if ($pid == 0) {
            sleep $o{stagger} * $i if $o{stagger};
            my $r = $t->http(uri => $o{uri}, body => $body,
                script => $o{script}, id => "$o{id}$i", timeout => 30);
            $t->write_file("$o{id}$i.res",
                "$r->{status} " . sprintf('%.3f', time));
            exit 0;
        }
        push @pids, $pid;
    }
    return @pids;
}

sub collect {
    my ($id, $n, @pids) = @_;
    waitpid($_, 0) for @pids;
    return map { [split ' ', $t->read_file("$id$_.res")] } 1 .. $n;
}

sub logged {
    my ($id) = @_;
    my %l;
    for (split /\n/, $t->read_file('storm.log')) {
        my @f = split ' ';
        $l{$f[0]} = \@f if $f[0] =~ /^\Q$id\E\d+$/;
    }
    return \%l;
}

sub metric {
    my ($name) = @_;
    my $r = $t->http(uri => '/metrics');
    my ($v) = $r->{body} =~ /^\Q$name\E (\S+)$/m;
    return $v;
}

# the budget: 10 requests in flight, 50% min=2: exactly 5 are retried,
# the other 5 get their 503 at once with outcome budget

my ($l, %pids, @res, @p);
for my $round (1 .. 3) {
    @p = burst(n => 10, uri => '/budget/x',
        script => 'slow;ms=400;status=503,200', id => "budget$round-");
    @res = collect("budget$round-", 10, @p);
    is(scalar(grep { $_->[0] == 200 } @res), 5,
        "budget, round $round: 5 retried to 200");
    is(scalar(grep { $_->[0] == 503 } @res), 5,
        "budget, round $round: 5 answered 503 at once");
    sleep 0.5;
    $l = logged("budget$round-");
    is(scalar(grep { $_->[2] eq 'budget' } values %$l), 5,
        "budget, round $round: outcome budget, 5 times");
    is(scalar(grep { $_->[2] eq 'budget' && $_->[6] eq '"false"' }
        values %$l), 5, "budget, round $round: x-should-retry: false");
    %pids = map { $_->[3] => 1 } values %$l;
    last if keys %pids == 2;
}
is(scalar keys %pids, 2, 'budget: both workers took part');

# the waiting cap: 8 in flight, at most 3 wait

@p = burst(n => 8, uri => '/waiting/x', script => 'slow;ms=400;status=503,200',
    id => 'wait');
@res = collect('wait', 8, @p);
is(scalar(grep { $_->[0] == 200 } @res), 3, 'max_waiting: 3 waited');
is(scalar(grep { $_->[0] == 503 } @res), 5, 'max_waiting: 5 answered at once');

# the gate: one 429 with Retry-After closes it for every worker; retries
# of other requests, whose own backoff is 100 ms, are held until it opens.
# Which worker takes a connection is the kernel's choice: rounds go on
# until a held request ran on another worker than the one that closed it.

my $closer = $t->http(uri => '/gate/x', body => $body,
    script => '429;ra=2,200', id => 'closer');
is($closer->{status}, 200, 'gate: the closing request waits its Retry-After');

my ($other, @second, $t0);
for my $round (1 .. 4) {
    my ($c) = burst(n => 1, uri => '/gate/x', script => '429;ra=2,200',
        id => "closer-$round-");
    sleep 0.3;
    $t0 = time;
    my @p = burst(n => 8, uri => '/gate/x', script => '503,200',
        id => "held$round-");
    my @res = collect("held$round-", 8, @p);
    waitpid($c, 0);
    is(scalar(grep { $_->[0] == 200 } @res), 8,
        "gate, round $round: held retries succeed");
    @second = sort { $a <=> $b }
        map { $t->attempts("held$round-$_")->[1]{t} / 1000 } 1 .. 8;
    cmp_ok($second[0] - $t0, '>=', 1.5,
        sprintf('gate, round %d: no held retry starts before it opens '
            . '(%.2f s)', $round, $second[0] - $t0));
    my $l = logged("held$round-");
    cmp_ok((grep { $_->[4] > 1 } values %$l), '==', 8,
        "gate, round $round: \$fireworks_gate_wait shows the time held");
    my $closed_by = logged("closer-$round-")->{"closer-$round-1"}[3] // 0;
    $other = grep { $_->[3] != $closed_by } values %$l;
    last if $other;
}
ok($other, 'gate: held on a worker other than the one that closed it');

# held retries start paced, not as one burst

cmp_ok($second[-1] - $second[0], '>=', 0.2,
    sprintf('gate: paced release (%.3f s from first to last)',
        $second[-1] - $second[0]));

# a held retry that cannot start before its deadline: its answer now,
# with the gate's remaining wait for the client (client_retry auto)

$t->http(uri => '/gate/x', body => $body, script => '429;ra=5,200',
    id => 'closer3', timeout => 0.5);
my $r = $t->http(uri => '/gate-short/x', body => $body, script => '503,200',
    id => 'short');
is($r->{status}, 503, 'gate past the deadline: the 503 now');
cmp_ok($r->{elapsed}, '<', 1, 'gate past the deadline: at once');
like($r->{headers}{'retry-after-ms'} // '', qr/^[1-5]\d{3}$/,
    "gate past the deadline: retry-after-ms is the gate's wait");
cmp_ok(metric('fireworks_gate_held{route="gate"}'), '>=', 0, 'held gauge');

# the gate survives a reload

$t->reload;
sleep 1;
$r = $t->http(uri => '/gate-short/x', body => $body, script => '503,200',
    id => 'after-reload');
is($r->{status}, 503, 'after reload: the gate is still closed');
sleep 4;

# fireworks_gate all: first attempts wait for the gate too

$t->http(uri => '/gate-first/x', body => $body, script => '429;ra=1.5,200',
    id => 'first-closer', timeout => 0.3);
$t0 = time;
$r = $t->http(uri => '/gate-first/x', body => $body, script => '200',
    id => 'first');
is($r->{status}, 200, 'gate all: the first attempt succeeds');
cmp_ok($t->attempts('first')->[0]{t} / 1000 - $t0, '>=', 1,
    'gate all: the first attempt waited for the gate');

# the client is told not to retry what the gateway gave up on

$r = $t->http(uri => '/tries/x', body => $body, script => '503',
    id => 'tries');
is($r->{status}, 503, 'tries: 503');
is($r->{headers}{'x-should-retry'}, 'false', 'tries: x-should-retry: false');

$r = $t->http(uri => '/tries-on/x', body => $body, script => '503',
    id => 'tries-on');
ok(!exists $r->{headers}{'x-should-retry'},
    'client_retry on: the client may retry');

$r = $t->http(uri => '/tries/x', body => $body, script => '400',
    id => 'final');
ok(!exists $r->{headers}{'x-should-retry'},
    'a final answer (400) gets no x-should-retry');

# a worker killed with requests waiting: its counts go with it once its
# replacement starts; nothing stays counted in flight

@p = burst(n => 6, uri => '/slot/x', script => '503;ra=6,200', id => 'slot');
sleep 1.5;
is(metric('fireworks_waiting{route="slot"}'), 6, 'kill: 6 waiting');
my ($victim) = $t->worker_pids;
my ($on_victim) = scalar grep { $_->[3] && $_->[3] == $victim }
    values %{logged('slot')};
kill 'KILL', $victim;
my $end = time + 5;
sleep 0.1 while time < $end && scalar($t->worker_pids) < 2
    || grep { $_ == $victim } $t->worker_pids;
sleep 0.5;
my $left = metric('fireworks_waiting{route="slot"}');
cmp_ok($left, '<', 6, "kill: the dead worker's waits are not counted ($left)");
waitpid($_, 0) for @p;
is(metric('fireworks_waiting{route="slot"}'), 0, 'kill: none left waiting');
is(metric('fireworks_in_flight{route="slot"}'), 0, 'kill: none left in flight');

# and the gate still works after it

$t->http(uri => '/gate/x', body => $body, script => '429;ra=1,200',
    id => 'closer4', timeout => 0.3);
$t0 = time;
$r = $t->http(uri => '/gate/x', body => $body, script => '503,200',
    id => 'after-kill');
is($r->{status}, 200, 'after kill: retried');
cmp_ok($t->attempts('after-kill')->[1]{t} / 1000 - $t0, '>=', 0.4,
    'after kill: held by the gate');

# the pace of a route that was quiet until a burst: the rate of the
# seconds that saw answers, not spread over the whole window (20 answered
# in a second once gave 20 / 5 = 4 per second), and a tenth more

@p = burst(n => 20, uri => '/pace/x', script => '200', id => 'pace');
waitpid($_, 0) for @p;
sleep 1.2;
$t->http(uri => '/pace/x', body => $body, script => '429;ra=1,200',
    id => 'pace-closer', timeout => 0.3);
sleep 0.2;
my ($pace) = ($t->error_log =~ /gate closed for \d+ms, pace (\d+)\/s/g)[-1];
cmp_ok($pace // 0, '>=', 8,
    "gate: a quiet route's pace is the rate when it was asked ("
    . ($pace // 'none') . "/s)");

$t->finish(killed => 1);
done_testing;
