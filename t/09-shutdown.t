#!/usr/bin/perl

# Graceful shutdown and reload: no new wait on an exiting worker, a request
# already waiting gets its answer, worker_shutdown_timeout ends it cleanly.

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
    my ($status, $elapsed, $b) = split /\n/, $t->read_file("$id.res"), 3;
    return { status => $status || 0, elapsed => $elapsed, body => $b };
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

# quit during an attempt: its retryable answer goes out, no new wait

$t->run();
$pid = background($t, script => 'slow;ms=800;status=503,200', id => 'exiting');
wait_attempts($t, 'exiting', 1);
$exited = quit_and_wait($t);
$r = result($t, $pid, 'exiting');
is($r->{status}, 503, 'quit: no new wait, the 503 goes out');
cmp_ok($r->{elapsed}, '<', 1.4, 'quit: at once after the attempt');
is(scalar @{$t->attempts('exiting')}, 1, 'quit: no retry');
ok($exited->(), 'quit: nginx exits');
like($t->read_file('fw.log'), qr/^503 \| 1 \| 503 \| 0\.000 \| shutdown /m,
    'quit: outcome shutdown');

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

# worker_shutdown_timeout: the waiting request is ended cleanly

$t->write_conf(gateway($t, 'worker_shutdown_timeout 500ms;'));
$t->run();
$pid = background($t, script => '503;ra=10,200', id => 'wst');
wait_attempts($t, 'wst', 1);
my $t0 = time;
$exited = quit_and_wait($t);
$r = result($t, $pid, 'wst');
cmp_ok(time - $t0, '<', 3, 'worker_shutdown_timeout ends the wait');
isnt($r->{status}, 200, 'worker_shutdown_timeout: no answer');
ok($exited->(), 'worker_shutdown_timeout: nginx exits');
is(scalar @{$t->attempts('wst')}, 1, 'worker_shutdown_timeout: no retry');

$t->finish;
done_testing;
