#!/usr/bin/perl

# Time limits: failures before the API, the whole-request deadline, the
# attempt timeout, the idle timeout while streaming.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FW qw/http_slow/;

my $t = FW->new();
my $dns = $t->udp_sink('dnssink');

# a 24 MB file for an internal location that is no proxy

mkdir $t->dir . '/static';
$t->write_file('static/big.bin', 'x' x (24 * 1048576));

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

        location /resolver-hang/ {
            fireworks_pass /_resolve_hang;
            fireworks_attempt_timeout 1s;
            fireworks_deadline 2s;
        }

        location /deadline-no504/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_retry_on 503;
            fireworks_deadline 1s;
        }

        location /idle-slow/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_idle_timeout 1s;
        }

        location /idle-slow-buffered/ {
            fireworks_pass /_buffered/v1/chat/completions;
            fireworks_idle_timeout 1s;
        }

        location /static-slow/ {
            fireworks_pass /_static/big.bin;
            fireworks_idle_timeout 1s;
        }

        location /_static/ {
            internal;
            alias %%TESTDIR%%/static/;
        }

        location /_buffered/ {
            internal;
            proxy_pass http://api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }

        location /_resolve_hang {
            internal;
            resolver 127.0.0.1:%%PORT_DNSSINK%%;
            resolver_timeout 30s;
            set $backend api.fireworks.invalid;
            proxy_pass http://$backend:%%PORT_API%%;
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

# a name being resolved (a resolver that never answers) is cut by the
# attempt timeout and the deadline like any attempt: one warning each

$r = $t->http(uri => '/resolver-hang/x', body => $body, id => 'rhang');
is($r->{status}, 504, 'resolving: 504 at the deadline');
is($r->{headers}{'x-outcome'}, 'deadline', 'resolving: outcome deadline');
is($r->{headers}{'x-statuses'}, '504, 504', 'resolving: two attempts cut');
cmp_ok($r->{elapsed}, '>=', 1.9, "resolving: not before the deadline");
cmp_ok($r->{elapsed}, '<', 3.5, "resolving: at the deadline ($r->{elapsed})");
my @warned = grep { /POST \/resolver-hang\// }
    grep { /\[warn\].*fireworks:/ } split /\n/, $t->error_log;
is(scalar @warned, 2, 'resolving: one warning per cut')
    or diag join "\n", @warned;

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

# the deadline's outcome does not depend on 504 being retried

$r = $t->http(uri => '/deadline-no504/x', body => $body, script => 'hang',
    id => 'dlno504');
is($r->{status}, 504, 'deadline without 504 in retry_on: 504');
is($r->{headers}{'x-outcome'}, 'deadline',
    'deadline without 504 in retry_on: outcome deadline');

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

# a retryable answer whose body stalls while discarded: cut by the attempt
# timeout, said so, and retried

$r = $t->http(uri => '/attempt/x', body => $body,
    script => 'stallbody;status=503,200', id => 'at-discard');
is($r->{status}, 200, 'discard timeout: retried to 200');
is($r->{headers}{'x-statuses'}, '503, 200', 'discard timeout: statuses');
like($t->error_log,
    qr/fireworks: attempt 1 timed out after 500ms while its 503 answer was discarded/,
    'discard timeout: logged as such');

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

# a client that reads slowly is no idle upstream: with output waiting for
# the client nginx reads nothing from the API, and nothing is cut

my $req = "POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "X-FW-Script: big;mb=24\r\nX-FW-Id: %s\r\n"
    . "Content-Type: application/json\r\nContent-Length: "
    . length($body) . "\r\n\r\n$body";

for my $loc ('idle-slow', 'idle-slow-buffered', 'static-slow') {
    my $q = sprintf($req, "/$loc/x", $loc);
    $q = "GET /$loc/x HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n\r\n" if $loc eq 'static-slow';
    my $r = http_slow($t->nginx_port, $q, after => 1048576, pause => 3);
    is($r->{status}, 200, "$loc: 200");
    is(length $r->{body}, 24 * 1048576, "$loc: the whole answer, 24 MB");
}

unlike($t->error_log, qr/response cut.*(idle|static)-slow/,
    'slow clients: nothing cut');

$t->finish(allow => [
    qr/recv\(\) failed \(104: Connection reset by peer\) while reading response header/,
    qr/upstream timed out .* while reading response header/,
    qr/send\(\) failed \(111: Connection refused\) while resolving/,
    qr/api\.fireworks\.invalid could not be resolved/,
]);
done_testing;
