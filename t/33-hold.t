#!/usr/bin/perl

# fireworks_hold_header: a stream cut before its first event is retried
# and the client sees one clean stream; one cut after its first event
# reaches the client cut, as without it; fireworks_attempt_timeout runs
# to the first event; a first event that is an error object with a
# status is that status; past fireworks_hold_size nothing is retried.
# fireworks_stream_error: a cut stream ends with an error event and a
# proper end.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw/time/;
use FW;

my $t = FW->new();

$t->run($t->gateway(locations => <<'EOF1'));
        fireworks_backoff 10ms;
        fireworks_jitter 0;
        add_header X-Results $fireworks_results always;

        location /hold/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_hold_header on;
        }

        location /small/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_hold_header on;
            fireworks_hold_size 100;
        }

        location /nohold/ {
            fireworks_pass /_fireworks/v1/chat/completions;
        }

        location /ttft/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_hold_header on;
            fireworks_attempt_timeout 500ms;
            fireworks_tries 3;
        }

        location /error/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_stream_error on;
            fireworks_idle_timeout 500ms;
        }
EOF1

my $body = '{"model":"m","stream":true}';

sub events { my @e = $_[0] =~ /^data: (.*)$/mg; return @e }

# cut before the first event: retried, one clean stream

my $r = $t->http(uri => '/hold/x', body => $body,
    script => 'cut;n=0,sse;n=4;ms=20', id => 'before');
is($r->{status}, 200, 'cut before the first event: 200');
ok($r->{complete}, 'cut before the first event: a complete stream');
is(scalar(() = $r->{body} =~ /^data: \{/mg), 4, '... with all its events');
like($r->{body}, qr/data: \[DONE\]\n\n\z/, '... and [DONE]');
is(scalar @{$t->attempts('before')}, 2, 'cut before the first event: retried');
is($r->{headers}{'x-results'}, 'reset, 200', 'cut before the first event: reset');

# the same without fireworks_hold_header: the 200 went out, the cut too

$r = $t->http(uri => '/nohold/x', body => $body,
    script => 'cut;n=0,sse;n=4;ms=20', id => 'nohold', timeout => 5);
is($r->{status}, 200, 'without hold: the header went out');
ok(!$r->{complete}, 'without hold: cut');
is(scalar @{$t->attempts('nohold')}, 1, 'without hold: no retry');

# cut after the first event: it reaches the client cut, as without hold

$r = $t->http(uri => '/hold/x', body => $body,
    script => 'cut;n=2;ms=20,sse;n=4;ms=20', id => 'after', timeout => 5);
is($r->{status}, 200, 'cut after the first event: 200');
ok(!$r->{complete}, 'cut after the first event: cut');
is(scalar(() = $r->{body} =~ /^data: \{/mg), 2, '... after its 2 events');
is(scalar @{$t->attempts('after')}, 1, 'cut after the first event: no retry');

# the first event goes out when it arrives, not with the next one: the
# held bytes are flushed, though fewer than postpone_output

for my $loc (qw/hold nohold/) {
    my $start = time;
    $r = $t->http(uri => "/$loc/x", body => $body,
        script => 'sse;n=2;ms=2000', id => "first-$loc", timeout => 10);
    my ($first) = grep { $_->[1] =~ /data: \{/ } @{$r->{chunks}};
    ok($first && $first->[0] - $start < 1.5,
        "$loc: the first event arrives before the second is sent")
        or diag($first ? $first->[0] - $start : 'no event');
    ok($r->{complete}, "$loc: the stream completes");
}

# under the hold, fireworks_attempt_timeout runs to the first event: a
# first token after 1.5 s under 500 ms is cut and retried; the last
# attempt is not held, its stream goes out

$r = $t->http(uri => '/ttft/x', body => $body,
    script => 'sse;n=3;ms=20;first=1500', id => 'ttft', timeout => 10);
is($r->{status}, 200, 'first event after the attempt timeout: 200');
ok($r->{complete}, 'first event after the attempt timeout: the last stream');
is($r->{headers}{'x-results'}, 'timeout, timeout, 200',
    'first event after the attempt timeout: cut twice, as timeouts');
is(scalar @{$t->attempts('ttft')}, 3, 'first event after the attempt '
    . 'timeout: 3 attempts');
like($t->error_log,
    qr/attempt 1 timed out after 500ms while its header was held/,
    'first event after the attempt timeout: the warning says so');

# within the attempt timeout (30 s here) the same stream is held, once

$r = $t->http(uri => '/hold/x', body => $body,
    script => 'sse;n=3;ms=20;first=1500', id => 'ttft-in', timeout => 10);
ok($r->{status} == 200 && $r->{complete}, 'first event within it: the stream');
is($r->{headers}{'x-results'}, '200', 'first event within it: one attempt');

# a first event that is an error with a retryable status: retried

$r = $t->http(uri => '/hold/x', body => $body,
    script => 'sseerr;status=429,sse;n=3;ms=10', id => 'sseerr');
is($r->{status}, 200, 'error event 429: then 200');
unlike($r->{body}, qr/"error"/, 'error event 429: not sent to the client');
ok($r->{complete}, 'error event 429: a clean stream');
is($r->{headers}{'x-results'}, '429, 200', 'error event 429: counted as 429');

# one that is not retryable goes out as the API sent it

$r = $t->http(uri => '/hold/x', body => $body, script => 'sseerr;status=400',
    id => 'sse400');
is($r->{status}, 200, 'error event 400: the stream as sent');
like($r->{body}, qr/"code":400/, 'error event 400: the event reaches the client');
is(scalar @{$t->attempts('sse400')}, 1, 'error event 400: no retry');

# a first event whose JSON is broken (mismatched brackets) is no error:
# it goes out as sent, and the worker is free for the next request

$r = $t->http(uri => '/hold/x', body => $body, script => 'ssebad',
    id => 'ssebad', timeout => 10);
is($r->{status}, 200, 'broken first event: 200');
is($r->{body}, 'data: {"error":{"detail":{]},"code":503}}' . "\n\n"
    . 'data: {"a":[}]}' . "\n\n", 'broken first event: as sent');
ok($r->{complete}, 'broken first event: a clean stream');
is(scalar @{$t->attempts('ssebad')}, 1, 'broken first event: no retry');

# an answer that is no stream is held until its first bytes

$r = $t->http(uri => '/hold/x', body => '{"model":"m"}', script => '200',
    id => 'json');
is($r->{status}, 200, 'json: 200');
like($r->{body}, qr/"chat\.completion"/, 'json: the body');
is($r->{headers}{'content-length'}, length $r->{body}, 'json: its length');

# past fireworks_hold_size the header goes, and retrying stops

$r = $t->http(uri => '/small/x', body => $body,
    script => 'cut;n=1;ms=20,sse;n=4;ms=20', id => 'small', timeout => 5);
ok(!$r->{complete}, 'past the hold size: cut');
is(scalar @{$t->attempts('small')}, 1, 'past the hold size: no retry');

# fireworks_stream_error: an error event and a proper end

$r = $t->http(uri => '/error/x', body => $body, script => 'cut;n=2;ms=20',
    id => 'broken', timeout => 5);
ok($r->{complete}, 'stream error: a proper end');
my @e = events($r->{body});
is(scalar @e, 3, 'stream error: 2 events and the error');
like($e[-1], qr/"code":"stream_broken"/, 'stream error: the cause');

$r = $t->http(uri => '/error/x', body => $body, script => 'stall;n=2;ms=20',
    id => 'idle', timeout => 5);
ok($r->{complete}, 'idle with stream error: a proper end');
like((events($r->{body}))[-1], qr/"code":"stream_idle"/,
    'idle with stream error: the cause');

$t->finish(allow => [qr/upstream prematurely closed connection/]);
done_testing;
