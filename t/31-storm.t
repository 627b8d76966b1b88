#!/usr/bin/perl

# The storm guard, across 2 workers: the retry budget and the waiting cap
# are exact; a gate closed by one worker's 429 holds the retries of every
# worker and releases them paced; a 429 without Retry-After cuts the pace
# of every worker, and accepted answers raise it again; a steady share of
# refusals that the API takes on retry is not paced; a held first attempt
# counts for fireworks_max_waiting; a Retry-After over the max leaves the
# gate open; a held retry that cannot start before its deadline gets its
# answer at once; a worker killed with requests in flight leaves no count
# stuck; a reload keeps the gate; a zone too small for the guarded routes
# fails the configuration; the client is told not to retry what the
# gateway gave up on.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw/time sleep/;
use IO::Socket::INET;
use IO::Select;
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

        location = /pid {
            return 200 $pid;
        }

        location /mix/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_gate all;
            fireworks_retry_budget 20% min=3;
            fireworks_route mix;
            fireworks_deadline 10s;
        }

        location /mix-off/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route mixoff;
            fireworks_deadline 10s;
        }

        location /aimd/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_gate all;
            fireworks_route aimd;
        }

        location /capped/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_gate all;
            fireworks_max_waiting 2;
            fireworks_route capped;
        }

        location /hintmax/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_gate on;
            fireworks_retry_after_max 1s;
            fireworks_route hintmax;
        }

        location /bmin/ {
            fireworks_retry_budget 50% min=100;

            location /bmin/x {
                fireworks_pass /_fireworks/v1/chat/completions;
                fireworks_retry_budget 10%;
                fireworks_route bmin;
            }
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

# a series of /metrics, undef when it is missing

sub metric {
    my ($name) = @_;
    my $r = $t->http(uri => '/metrics');
    my ($v) = $r->{body} =~ /^\Q$name\E (\S+)$/m;
    return $v;
}

# One request over a keepalive connection: the worker that accepted the
# connection serves it.

sub ka {
    my ($s, %o) = @_;
    my $content = $o{body} // $body;
    my $req = "POST $o{uri} HTTP/1.1\r\nHost: localhost\r\n"
        . (defined $o{script} ? "X-FW-Script: $o{script}\r\n" : '')
        . (defined $o{id} ? "X-FW-Id: $o{id}\r\n" : '')
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($content) . "\r\n\r\n$content";
    $req = "GET $o{uri} HTTP/1.1\r\nHost: localhost\r\n\r\n" if $o{get};
    syswrite($s, $req);
    my ($data, $sel) = ('', IO::Select->new($s));
    my $end = time + ($o{timeout} || 30);
    while (time < $end) {
        last unless $sel->can_read($end - time);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $data .= $buf;
        next unless $data =~ /\r\n\r\n/;
        my $r = FW::parse_response($data);
        return $r if $r->{status} && $r->{complete};
    }
    return FW::parse_response($data);
}

# Keepalive connections pinned to the workers: opened until each of the
# 2 workers holds N, so that a test chooses the worker of each request
# instead of taking what the kernel gave.  Returns { pid => [sockets] }.

sub pinned {
    my ($n) = @_;
    my %by;
    for (1 .. 400) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:'
            . $t->nginx_port) or die "connect: $!\n";
        my $r = ka($s, uri => '/pid', get => 1);
        die "/pid: $r->{status}\n" unless $r->{status} == 200;
        push @{$by{$r->{body}}}, $s;
        last if keys %by == 2 && !grep { @$_ < $n } values %by;
    }
    die "the connections did not reach both workers\n"
        unless keys %by == 2 && !grep { @$_ < $n } values %by;
    return \%by;
}

# requests at once, each in its own process over its own pinned
# connection; returns the pids to collect()

sub burst_on {
    my ($socks, %o) = @_;
    my @pids;
    for my $i (1 .. $o{n}) {
        my $pid = fork();
        die "fork: $!\n" unless defined $pid;
        if ($pid == 0) {
            my $r = ka($socks->[$i - 1], uri => $o{uri},
                script => $o{script}, id => "$o{id}$i");
            $t->write_file("$o{id}$i.res",
                "$r->{status} " . sprintf('%.3f', time));
            exit 0;
        }
        push @pids, $pid;
    }
    return @pids;
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
is(metric('fireworks_gate_held{route="gate"}'), 0,
    'gate past the deadline: not held');

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

# a steady share of refusals that the API takes on retry (one request in
# four answered 503 once): retried with the gate as without it, none
# held, none past its deadline, no pace

sub mix_script { $_[0] % 4 == 0 ? '503,200' : '200' }
for my $loc (qw/mix mix-off/) {
    my @p;
    for my $i (1 .. 24) {
        push @p, burst(n => 1, uri => "/$loc/x", script => mix_script($i),
            id => "$loc$i-");
        sleep 0.04;
    }
    waitpid($_, 0) for @p;
}
sleep 0.3;
for my $loc (qw/mix mix-off/) {
    my @l = map { logged("$loc$_-")->{"$loc$_-1"} } 1 .. 24;
    is(scalar(grep { $_ && $_->[1] == 200 && $_->[2] eq 'done' } @l), 24,
        "steady mix, $loc: all 24 answered 200, outcome done");
    is(scalar(grep { $_ && $_->[5] == 2 } @l), 6,
        "steady mix, $loc: the 6 refused were retried");
    is(scalar(grep { $_ && $_->[4] > 0 } @l), 0,
        "steady mix, $loc: none held by the gate");
}
is(metric('fireworks_gate_pace{route="mix"}'), '0.000',
    'steady mix: the gate does not pace');

# a 429 without Retry-After, answered on one worker, cuts the pace of the
# route; the other worker's first attempts (fireworks_gate all) start at
# that pace, not at once; and the pace rises while the API accepts

my $pin = pinned(8);
my ($wa, $wb) = sort keys %$pin;
is(metric('fireworks_gate_pace{route="aimd"}'), '0.000',
    'pace: none before a refusal');
$r = ka($pin->{$wa}[0], uri => '/aimd/x', script => '429,200', id => 'aimd0');
is($r->{status}, 200, 'pace: the refused request retried');
my $cut = metric('fireworks_gate_pace{route="aimd"}') // 0;
ok($cut > 0 && $cut < 10, "pace: cut after a 429 without a hint ($cut/s)");
like($t->error_log, qr/gate pace cut to/, 'pace: the cut logged');
@p = burst_on($pin->{$wb}, n => 8, uri => '/aimd/x', script => '200',
    id => 'aimdb');
@res = collect('aimdb', 8, @p);
is(scalar(grep { $_->[0] == 200 } @res), 8, 'pace: the other worker, 200');
my @starts = sort { $a <=> $b }
    map { $t->attempts("aimdb$_")->[0]{t} / 1000 } 1 .. 8;
cmp_ok($starts[-1] - $starts[0], '>=', 0.5,
    sprintf('pace: the other worker starts them paced (%.3f s)',
        $starts[-1] - $starts[0]));
sleep 0.3;
$l = logged('aimdb');
is(scalar(grep { $_->[3] == $wb } values %$l), 8,
    'pace: all 8 on the other worker');
my $risen = metric('fireworks_gate_pace{route="aimd"}') // 0;
cmp_ok($risen, '>', $cut, "pace: risen while the API accepts ($risen/s)");

# fireworks_gate all with fireworks_max_waiting 2: one retry waits for
# the gate, one first attempt is held, the 4 after it go at once

@p = burst(n => 1, uri => '/capped/x', script => '429;ra=2,200',
    id => 'capclose');
sleep 0.3;
my @q = burst(n => 5, uri => '/capped/x', script => '200', id => 'capped',
    stagger => 0.05);
sleep 0.6;
is(metric('fireworks_waiting{route="capped"}'), 2,
    'max_waiting: 2 wait, first attempts counted');
is(metric('fireworks_gate_held{route="capped"}'), 1,
    'max_waiting: 1 first attempt held');
@res = collect('capped', 5, @q);
waitpid($_, 0) for @p;
is(scalar(grep { $_->[0] == 200 } @res), 5, 'max_waiting: all 5 answered');
$l = logged('capped');
is(scalar(grep { $_->[4] > 1 } values %$l), 1,
    'max_waiting: one held until the gate opened (s)');

# a Retry-After over fireworks_retry_after_max goes to its client and
# leaves the gate open, however long it is

for my $ra ('30', '99999999999999999999') {
    $r = $t->http(uri => '/hintmax/x', body => $body,
        script => "429;ra=$ra,200", id => "hintmax$ra");
    is($r->{status}, 429, "hint over the max ($ra): the 429 to the client");
}
is(metric('fireworks_gate_closed_seconds_total{route="hintmax"}'), '0.000',
    'hint over the max: the gate was never closed');
$r = $t->http(uri => '/hintmax/x', body => $body, script => '503,200',
    id => 'hintmax-next', timeout => 5);
is($r->{status}, 200, 'hint over the max: the next retried');
cmp_ok($r->{elapsed}, '<', 1.5, 'hint over the max: not held');

# fireworks_retry_budget 10% under 50% min=100: min is 3, not inherited

@p = burst(n => 8, uri => '/bmin/x', script => 'slow;ms=400;status=503,200',
    id => 'bmin');
@res = collect('bmin', 8, @p);
is(scalar(grep { $_->[0] == 200 } @res), 3, 'budget 10%: min=3, 3 retried');

# a worker killed with requests waiting: its counts go with it once its
# replacement starts; nothing stays counted in flight.  The 6 are sent
# over connections of the victim, so all 6 are its own.

$pin = pinned(6);
my ($victim) = sort keys %$pin;
@p = burst_on($pin->{$victim}, n => 6, uri => '/slot/x',
    script => '503;ra=6,200', id => 'slot');
my $end = time + 5;
sleep 0.1 while time < $end
    && (metric('fireworks_waiting{route="slot"}') // 0) < 6;
is(metric('fireworks_waiting{route="slot"}'), 6, 'kill: 6 waiting');
kill 'KILL', $victim;
$end = time + 5;
sleep 0.1 while time < $end && scalar($t->worker_pids) < 2
    || grep { $_ == $victim } $t->worker_pids;
sleep 0.5;
is(metric('fireworks_waiting{route="slot"}'), 0,
    "kill: the dead worker's 6 waits are not counted");
waitpid($_, 0) for @p;
is(metric('fireworks_in_flight{route="slot"}'), 0, 'kill: none left in flight');
close $_ for map { @$_ } values %$pin;

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

# a zone too small for the routes of the guard: the configuration fails
# with the size needed, and passes with it; routes without a guard
# directive are only not counted (a warning)

sub small_zone {
    my ($size, $guard) = @_;
    my $locs = join '', map { "        location /r$_/ {\n"
        . "            fireworks_pass /_fireworks/v1/chat/completions;\n"
        . ($guard ? "            fireworks_gate on;\n" : '')
        . "        }\n" } 1 .. 20;
    my $conf = $t->expand($t->gateway(
        http => "    fireworks_zone small $size;", locations => $locs));

    # its [emerg] in a log of its own: error.log must have none
    my $log = $t->dir . "/small-zone-$size-$guard.log";
    $conf =~ s{^error_log \S+ debug;}{error_log $log warn;}m;
    my @r = $t->test_conf($conf);
    return (@r[0, 1], Files::read_file($log, ''));
}

my ($rc, $out, $log) = small_zone('32k', 1);
isnt($rc, 0, 'zone too small: nginx -t fails');
$out .= $log;
my ($need) = $out =~ /fireworks_zone "small" is too small for the routes of fireworks_gate.*it must be at least (\d+)k/;
ok($need, 'zone too small: the size needed is named (' . ($need // 'none')
    . 'k)') or diag $out;
($rc, $out) = small_zone(($need // 0) . 'k', 1);
is($rc, 0, 'zone too small: the size named is enough') or diag $out;
($rc, $out, $log) = small_zone('32k', 0);
is($rc, 0, 'zone too small, no guard directive: nginx -t passes');
$out .= $log;
like($out, qr/the zone is full/, 'zone too small, no guard: a warning');

$t->finish(killed => 1);
done_testing;
