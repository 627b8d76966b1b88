#!/usr/bin/perl

# Chaos, about a minute: 2 workers under a mixed, misbehaving load
# (t/lib/chaos.js: successes, 503 and 429 with Retry-After, slow answers,
# SSE streams, streams cut mid-way, hangs; clients that leave during
# waits, attempts and streams), "nginx -s reload" every second, then
# "nginx -s quit" under load.  Every answer a client got whole is the one
# the stand-in sent, byte for byte; every request whose retry could
# succeed got its 200, reloads or not; every worker is gone within the
# shutdown bound; error.log has no alert (an "open socket left" is one),
# crit, crash or sanitizer report.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw/time sleep/;
use FW qw/json/;

my $t = FW->new();
my $seconds = $ENV{TEST_FIREWORKS_CHAOS_SECONDS} || 40;

my %o = (workers => 2, connections => 4096,
    main => 'worker_shutdown_timeout 20s;',
    http => 'fireworks_zone chaos 1m;');
$t->run($t->gateway(%o, locations => <<'EOF'));
        fireworks_backoff 100ms;
        fireworks_jitter 100ms;
        fireworks_attempt_timeout 1s;
        fireworks_deadline 20s;

        location /v1/ {
            fireworks_pass /_fireworks$uri;
        }
EOF

my $master = $t->master_pid;

my $pid = fork();
die "fork: $!\n" unless defined $pid;
if ($pid == 0) {
    exec 'node', "$FindBin::Bin/lib/chaos.js", '--port', $t->nginx_port,
        '--api', $t->api_port, '--seconds', $seconds, '--c', 24,
        '--out', $t->dir . '/chaos.jsonl';
    exit 127;
}

# reloads every second, then a quit while the load goes on

my $reloads = 0;
my $t0 = time;
while (time - $t0 < $seconds - 8) {
    sleep 1;
    $t->reload;
    $reloads++;
}

my $quit = time;
kill 'QUIT', $master;
my $end = $quit + 25;
sleep 0.2 while time < $end && kill(0, $master);
ok(!kill(0, $master), sprintf('nginx exits within the shutdown bound '
    . '(%.1f s after quit)', time - $quit));
$t->{running} = 0;

my @left = grep { /nginx: (?:worker|master)/ }
    split /\n/, `ps -eo pid,args | grep '[n]ginx:.*' 2>/dev/null`;
my @ours = grep { /\Q$t->{dir}\E/ } @left;
is(scalar @ours, 0, 'no nginx process of the test left');

waitpid($pid, 0);
my @r = map { json($_) } grep { /\S/ } split /\n/,
    $t->read_file('chaos.jsonl');

diag(sprintf '%d requests, %d reloads', scalar @r, $reloads);
cmp_ok(scalar @r, '>', 200, 'a load of requests');
cmp_ok($reloads, '>=', 20, 'reloaded every second');

# what each kind of request got

my (@wrong, @unretried, @bytes);
my %count;

for my $r (@r) {
    $count{$r->{result}}++;

    # not answered: the listening socket was closed by the quit
    next if $r->{result} eq 'error';
    next if $r->{how} ne 'wait' && $r->{how} ne 'cut';

    if ($r->{script} eq '400') {
        push @wrong, $r unless $r->{status} == 400;

    } elsif ($r->{how} eq 'cut') {
        push @wrong, $r unless $r->{status} == 200 && !$r->{complete};

    } else {
        # a retry that succeeds, within the deadline: its 200, reloads or not
        push @unretried, $r unless $r->{status} == 200 && $r->{complete};
    }

    # the body is the stand-in's, byte for byte, whole or cut alike (502
    # and 504 are nginx's own pages for attempts the API did not answer)
    push @bytes, $r if $r->{status} && $r->{attempts}
        && $r->{status} != 502 && $r->{status} != 504
        && ($r->{sha256} ne ($r->{sent_sha256} // '')
            || $r->{len} != ($r->{sent_len} // -1));
}

diag(join ', ', map { "$_: $count{$_}" } sort keys %count);

is(scalar @unretried, 0, 'every request whose retry could succeed got 200')
    or diag explain [@unretried[0 .. ($#unretried > 4 ? 4 : $#unretried)]];
is(scalar @wrong, 0, 'final and cut answers as the API sent them')
    or diag explain [@wrong[0 .. ($#wrong > 4 ? 4 : $#wrong)]];
is(scalar @bytes, 0, 'every body is the stand-in\'s, byte for byte')
    or diag explain [@bytes[0 .. ($#bytes > 4 ? 4 : $#bytes)]];
cmp_ok($count{left} // 0, '>', 10, 'clients left during waits and streams');

unlike($t->error_log, qr/open socket #\d+ left/, 'no socket left open');

$t->finish(allow => [
    qr/upstream prematurely closed connection/,
    qr/upstream timed out/,
    qr/recv\(\) failed \(104: Connection reset by peer\)/,
]);
done_testing;
