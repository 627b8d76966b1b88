#!/usr/bin/perl

# Graceful shutdown and reload: an exiting worker keeps retrying the
# requests it holds, within worker_shutdown_timeout when that is set; a
# request the timeout cuts ends cleanly and is logged with its attempts.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw/time sleep/;
use FW;

my $body = '{"model":"m"}';

# run a request in a child; its result comes back through a file

sub background {
    my ($t, %o) = @_;
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        my $r = $t->http(%o, body => $body, timeout => 15);
        open my $fh, '>', $t->dir . "/$o{id}.res";
        print $fh "$r->{status}\n$r->{elapsed}\n$r->{body}";
        close $fh;
        exit 0;
    }
    return $pid;
}

sub result {
    my ($t, $pid, $id) = @_;
    waitpid($pid, 0);
    ok(-f $t->dir . "/$id.res", "$id: the request ran");
    my ($status, $elapsed, $b) = split /\n/, $t->read_file("$id.res"), 3;
    return { status => $status, elapsed => $elapsed, body => $b };
}

sub quit_and_wait {
    my ($t) = @_;
    my $master = $t->master_pid;
    $t->signal('QUIT');
    return sub {
        my $end = time + 5;
        sleep 0.05 while time < $end && kill(0, $master);
        $t->{running} = 0;
        return !kill(0, $master);
    };
}

sub wait_attempts {
    my ($t, $id, $n) = @_;
    my $end = time + 5;
    sleep 0.05 while time < $end && @{$t->attempts($id)} < $n;
}

sub gateway {
    my ($t, $extra) = @_;
    return $t->gateway(main => $extra, locations => <<'EOF');
        fireworks_jitter 0;
        add_header X-Outcome $fireworks_outcome always;

        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_backoff 1500ms;
        }
EOF
}

# quit while a request waits: it finishes its wait and attempt

my $t = FW->new();
$t->run(gateway($t, ''));

my $pid = background($t, script => '503,200', id => 'waiting');
wait_attempts($t, 'waiting', 1);
my $exited = quit_and_wait($t);
my $r = result($t, $pid, 'waiting');
is($r->{status}, 200, 'quit: the waiting request gets its answer');
like($r->{body}, qr/chat\.completion/, 'quit: the answer');
is(scalar @{$t->attempts('waiting')}, 2, 'quit: the retry ran');
ok($exited->(), 'quit: nginx exits afterwards');

# quit during an attempt: the exiting worker still retries it

$t->run();
$pid = background($t, script => 'slow;ms=800;status=503,200', id => 'exiting');
wait_attempts($t, 'exiting', 1);
$exited = quit_and_wait($t);
$r = result($t, $pid, 'exiting');
is($r->{status}, 200, 'quit during an attempt: retried to 200');
is(scalar @{$t->attempts('exiting')}, 2, 'quit during an attempt: the retry');
ok($exited->(), 'quit during an attempt: nginx exits afterwards');
like($t->read_file('fw.log'), qr/^200 \| 2 \| 503, 200 \| 1\.5\d\d \| done /m,
    'quit during an attempt: outcome done');

# reload while a request waits: the old worker finishes it

$t->run();
$pid = background($t, script => '503,200', id => 'reload');
wait_attempts($t, 'reload', 1);
$t->reload;
$r = result($t, $pid, 'reload');
is($r->{status}, 200, 'reload: the waiting request gets its answer');
my $after = $t->http(body => $body, script => '200', id => 'after-reload');
is($after->{status}, 200, 'reload: new workers answer');
$t->stop;

# worker_shutdown_timeout: a wait that would outlast it does not start,
# the answer goes out (outcome shutdown); one that fits runs

$t->write_conf(gateway($t, 'worker_shutdown_timeout 1s;'));
$t->run();
$pid = background($t, script => 'slow;ms=500;status=503,200', id => 'wst-no');
wait_attempts($t, 'wst-no', 1);
$exited = quit_and_wait($t);
$r = result($t, $pid, 'wst-no');
is($r->{status}, 503, 'worker_shutdown_timeout: a wait past it: the 503');
is(scalar @{$t->attempts('wst-no')}, 1, 'worker_shutdown_timeout: no retry');
ok($exited->(), 'worker_shutdown_timeout: nginx exits');
like($t->read_file('fw.log'), qr/^503 \| 1 \| 503 \| 0\.000 \| shutdown /m,
    'worker_shutdown_timeout: outcome shutdown');

$t->write_conf(gateway($t, 'worker_shutdown_timeout 5s;'));
$t->run();
$pid = background($t, script => 'slow;ms=500;status=503,200', id => 'wst-yes');
wait_attempts($t, 'wst-yes', 1);
$exited = quit_and_wait($t);
$r = result($t, $pid, 'wst-yes');
is($r->{status}, 200, 'worker_shutdown_timeout: a wait within it runs');
ok($exited->(), 'worker_shutdown_timeout: nginx exits after it');

# worker_shutdown_timeout cuts a request still waiting (its wait began
# before the quit) and one in an attempt: no answer, but logged, with the
# attempts made

$t->write_conf(gateway($t, 'worker_shutdown_timeout 500ms;'));
$t->run();
$pid = background($t, script => '503;ra=10,200', id => 'wst');
my $pid2 = background($t, script => 'hang', id => 'wst-hang');
wait_attempts($t, 'wst', 1);
wait_attempts($t, 'wst-hang', 1);
my $t0 = time;
$exited = quit_and_wait($t);
$r = result($t, $pid, 'wst');
my $r2 = result($t, $pid2, 'wst-hang');
cmp_ok(time - $t0, '<', 3, 'worker_shutdown_timeout ends the wait');
is($r->{status}, 0, 'worker_shutdown_timeout: no answer to the waiting one');
is($r2->{status}, 0, 'worker_shutdown_timeout: no answer in the attempt');
ok($exited->(), 'worker_shutdown_timeout: nginx exits');
is(scalar @{$t->attempts('wst')}, 1, 'worker_shutdown_timeout: no retry');
my $l = $t->log_line('wst');
is($l->[4], 'shutdown', 'worker_shutdown_timeout: outcome shutdown');
is($l->[5], '503', 'worker_shutdown_timeout: $upstream_status');
$l = $t->log_line('wst-hang');
is($l->[4], 'shutdown', 'worker_shutdown_timeout in an attempt: outcome');
like($l->[8] // '', qr/^127\.0\.0\.1:\d+$/,
    'worker_shutdown_timeout in an attempt: listed in $upstream_addr');

$t->finish;
done_testing;
