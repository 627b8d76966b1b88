#!/usr/bin/perl

# Time limits: failures before the API, the whole-request deadline, the
# attempt timeout, the idle timeout while streaming.

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
        add_header X-Statuses $fireworks_statuses always;
        add_header X-Outcome $fireworks_outcome always;

        location /v1/ {
            fireworks_pass /_fireworks$uri;
        }

        location /reset/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_tries 2;
        }

        location /read-timeout/ {
            fireworks_pass /_rt/v1/chat/completions;
            fireworks_tries 2;
        }

        location /resolver/ {
            fireworks_pass /_resolve;
            fireworks_tries 2;
        }

        location /deadline/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_deadline 2s;
            fireworks_backoff 300ms;
            fireworks_tries 100;
        }

        location /deadline-hang/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_deadline 1s;
        }

        location /attempt/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_attempt_timeout 500ms;
        }

        location /idle/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_idle_timeout 500ms;
        }

        location /idle-off/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_attempt_timeout 300ms;
            fireworks_idle_timeout 0;
        }

        location /idle-long/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_attempt_timeout 300ms;
            fireworks_idle_timeout 800ms;
        }

        location /_rt/ {
            internal;
            proxy_pass http://api/;
            proxy_read_timeout 300ms;
        }

        location /_resolve {
            internal;
            resolver 127.0.0.1:%%PORT_DNS%%;
            resolver_timeout 300ms;
            set $backend api.fireworks.invalid;
            proxy_pass http://$backend:%%PORT_API%%;
        }
EOF

my $body = '{"model":"m"}';

# failures that never reach the API are retried like 502 and 504

my $r = $t->http(uri => '/reset/x', body => $body, script => 'reset,200',
    id => 'reset');
is($r->{status}, 200, 'reset before the header is retried');
is($r->{headers}{'x-statuses'}, '502, 200', 'reset: 502 then 200');

$r = $t->http(uri => '/read-timeout/x', body => $body, script => 'hang,200',
    id => 'rt');
is($r->{status}, 200, 'upstream timeout is retried');
is($r->{headers}{'x-statuses'}, '504, 200', 'upstream timeout: 504 then 200');

$r = $t->http(uri => '/resolver/x', body => $body);
is($r->{status}, 502, 'resolver failure');
is($r->{headers}{'x-statuses'}, '502, 502', 'resolver failure retried');
like($t->error_log, qr/could not be resolved/, 'resolver failure logged');

# deadline: an API that always answers 503 -> the 503 within the deadline

$r = $t->http(uri => '/deadline/x', body => $body, script => '503',
    id => 'dl503');
is($r->{status}, 503, 'deadline: the last 503 goes out');
like($r->{body}, qr/service_unavailable/, 'deadline: upstream body');
is($r->{headers}{'x-outcome'}, 'deadline', 'deadline: outcome');

# waits of 300 and 600 ms fit in 2 s; the next, 1200 ms, would end past it,
# so the third 503 goes out at once at about 0.9 s

cmp_ok($r->{elapsed}, '<', 1.6, "deadline: no wait past it ($r->{elapsed})");
cmp_ok($r->{elapsed}, '>', 0.85, 'deadline: after the waits that fit');
is(scalar @{$t->attempts('dl503')}, 3, 'deadline: three attempts');

# an API that hangs -> 504 at the deadline

$r = $t->http(uri => '/deadline-hang/x', body => $body, script => 'hang',
    id => 'dlhang');
is($r->{status}, 504, 'deadline while waiting for a header: 504');
is($r->{headers}{'x-outcome'}, 'deadline', 'deadline hang: outcome');
cmp_ok($r->{elapsed}, '>=', 0.95, 'deadline hang: not before the deadline');
cmp_ok($r->{elapsed}, '<', 1.8, "deadline hang: at the deadline "
    . "($r->{elapsed})");

# attempt timeout: a hanging first attempt is cut, the second succeeds

$r = $t->http(uri => '/attempt/x', body => $body, script => 'hang,200',
    id => 'at');
is($r->{status}, 200, 'attempt timeout then success');
is($r->{headers}{'x-statuses'}, '504, 200', 'attempt timeout: 504 then 200');
cmp_ok($r->{elapsed}, '>=', 0.5, 'attempt timeout: waited the limit');
cmp_ok($r->{elapsed}, '<', 1.5, 'attempt timeout: not much more');

# an answer slower than the limit counts too, an SSE header in time not

$r = $t->http(uri => '/attempt/x', body => $body,
    script => 'slow;ms=1500,sse;n=8;ms=200', id => 'at2');
is($r->{status}, 200, 'slow attempt cut, streaming attempt kept');
ok($r->{complete}, 'a stream longer than the attempt timeout completes');

# idle timeout: a stream that stalls is cut, truncated

$r = $t->http(uri => '/idle/x', body => $body, script => 'stall;n=3;ms=100',
    id => 'idle', keepalive => 1, timeout => 5);
is($r->{status}, 200, 'idle: stream started');
my @ev = $r->{body} =~ /^data: \{/mg;
is(scalar @ev, 3, 'idle: events before the stall arrive');
ok(!$r->{complete}, 'idle: truncated, no last chunk');
cmp_ok($r->{elapsed}, '<', 2, 'idle: cut after the limit, connection closed');
like($t->error_log, qr/fireworks: no data for 500ms, response cut/,
    'idle: logged');

# a stream with gaps below the limit is not cut

$r = $t->http(uri => '/idle/x', body => $body, script => 'sse;n=5;ms=300',
    id => 'idle-ok');
ok($r->{complete}, 'idle: gaps below the limit');

# the attempt's timer, still set when the stream starts, is not an idle
# limit: with the idle timeout off the stream runs on, with a longer one
# the stall is measured from the last data

$r = $t->http(uri => '/idle-off/x', body => $body, script => 'sse;n=5;ms=200',
    id => 'idle-off');
ok($r->{complete}, 'idle timeout off: a stream outlives the attempt timer');

$r = $t->http(uri => '/idle-long/x', body => $body,
    script => 'stall;n=3;ms=200', id => 'idle-long', timeout => 5);
@ev = $r->{body} =~ /^data: \{/mg;
is(scalar @ev, 3, 'idle after attempt timer: events before the stall');
ok(!$r->{complete}, 'idle after attempt timer: truncated');
cmp_ok($r->{elapsed}, '>=', 1.0, 'idle after attempt timer: full idle limit');
like($t->error_log, qr/fireworks: no data for 800ms, response cut/,
    'idle after attempt timer: logged');

$t->finish;
done_testing;
