#!/usr/bin/perl

# Right counts and right values across passes and attempts: an error_page
# that sends a request from one fireworks_pass location to another
# releases and counts both passes; $request_id is the same in every
# attempt and in the access log; a first error event is counted once;
# $upstream_* reads in the client location's header filters and the
# access log as behind proxy_pass; x-should-retry goes only with the
# gateway's own answer; a give-up leaves no timer; an attempt is not
# judged by the internal location's client_max_body_size.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FW;

my $t = FW->new();
my $d = $t->dir;

$t->run($t->gateway(http => <<'EOF0', locations => <<'EOF'));
    fireworks_zone fireworks 1m;
    proxy_cache_path %%TESTDIR%%/cache keys_zone=answers:1m;
    log_format ids '$http_x_fw_id | $request_id | $upstream_status | '
                   '$upstream_http_x_fw_attempt | $upstream_cache_status';
    access_log %%TESTDIR%%/ids.log ids;
EOF0
        location /metrics {
            fireworks_metrics;
        }

        # the first pass: nothing answers, error_page sends it on
        location /first/ {
            fireworks_pass /_refused;
            fireworks_route first;
            fireworks_tries 2;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            fireworks_attempt_timeout 300ms;
            error_page 502 = @second;
        }

        location @second {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route second;
            fireworks_tries 3;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            fireworks_retry_budget 10% min=1;
            add_header X-Second yes;
            add_header X-Up $upstream_status;
        }

        # a fallback of plain nginx, slower than the attempt timeout
        location /plain/ {
            fireworks_pass /_refused;
            fireworks_tries 2;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            fireworks_attempt_timeout 300ms;
            error_page 502 = @plain;
        }

        location @plain {
            proxy_pass http://api;
        }

        location /_refused {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_REFUSED%%;
        }

        # the gateway's own answer to a give-up
        location /alone/ {
            fireworks_pass /_refused;
            fireworks_tries 2;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
        }

        location /ids/ {
            fireworks_pass /_ids/v1/chat/completions;
            fireworks_log_level notice;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            add_header X-Up $upstream_status always;
            add_header X-Up-Attempt $upstream_http_x_fw_attempt always;
        }

        location /_ids/ {
            internal;
            proxy_pass http://api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Req-Id $request_id;
            proxy_buffering off;
        }

        location /hold/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route hold;
            fireworks_hold_header on;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            add_header X-Statuses $fireworks_statuses always;
        }

        location /cached/ {
            fireworks_pass /_cached/v1/models;
            add_header X-Cache $upstream_cache_status always;
        }

        location /_cached/ {
            internal;
            proxy_pass http://api/;
            proxy_cache answers;
            proxy_cache_valid 200 1m;
            proxy_cache_key $uri;
        }

        location /big/ {
            client_max_body_size 8m;
            fireworks_pass /_fireworks/v1/chat/completions;
        }
EOF

sub metrics {
    my %m;
    for (split /\n/, $t->http(uri => '/metrics')->{body}) {
        next if /^#/ || !/\S/;
        my ($k, $v) = /^(\S+(?:\{.*\})?) (\S+)$/ or next;
        $m{$k} = $v;
    }
    return \%m;
}

my $body = '{"messages":[{"role":"user","content":"hi"}],'
    . '"model":"accounts/fireworks/models/llama-v3p1-8b-instruct"}';

# error_page from one fireworks_pass to another: both passes counted, and
# both release what they hold; the second pass's retry budget stays free

for my $round (1, 2) {
    my $r = $t->http(uri => '/first/x', body => $body, id => "second$round",
        script => '503,200');
    is($r->{status}, 200, "error_page, round $round: the second pass answers");
    is($r->{headers}{'x-second'}, 'yes', "round $round: from \@second");
    is($r->{headers}{'x-up'}, '502, 502 : 503, 200',
        "round $round: \$upstream_status lists both passes");
    ok(!exists $r->{headers}{'x-should-retry'},
        "round $round: no x-should-retry on the second pass's 200");
    is(scalar @{$t->attempts("second$round")}, 2,
        "round $round: the second pass retried its 503");
}

my $m = metrics();
is($m->{'fireworks_in_flight{route="first"}'}, 0, 'first pass released');
is($m->{'fireworks_in_flight{route="second"}'}, 0, 'second pass released');
is($m->{'fireworks_waiting{route="second"}'}, 0, 'no wait left counted');
is($m->{'fireworks_requests_total{route="first",workload="interactive",'
    . 'outcome="tries"}'}, 2, 'the first pass counted, as given up');
is($m->{'fireworks_requests_total{route="second",workload="interactive",'
    . 'outcome="done"}'}, 2, 'the second pass counted, as done');
is($m->{'fireworks_responses_total{route="first",code="502"}'}, 2,
    'the first pass answered 502, which error_page took');
is($m->{'fireworks_responses_total{route="second",code="200"}'}, 2,
    'the second pass answered 200');

# error_page to plain nginx: the 200 made there gets nothing of the give-up

my $r = $t->http(uri => '/plain/x', body => $body, id => 'plain',
    script => 'slow;ms=800');
is($r->{status}, 200, 'error_page to plain proxy_pass: 200');
ok(!exists $r->{headers}{'x-should-retry'},
    'no x-should-retry on a 200 that error_page made');

# the gateway's own give-up answer says so

$r = $t->http(uri => '/alone/x', body => $body);
is($r->{status}, 502, 'give-up: 502');
is($r->{headers}{'x-should-retry'}, 'false',
    'the gateway\'s own give-up answer: x-should-retry: false');

# $request_id: one for the request, in every attempt and in the log

$r = $t->http(uri => '/ids/x', body => $body, id => 'rid',
    script => '503;hdr=X-FW-Attempt:1,503;hdr=X-FW-Attempt:2,'
        . '200;hdr=X-FW-Attempt:3');
is($r->{status}, 200, '$request_id: 200 after two 503s');
my @ids = map { $_->{headers}{'x-req-id'} || '' } @{$t->attempts('rid')};
is(scalar @ids, 3, 'three attempts');
like($ids[0], qr/^[0-9a-f]{32}$/, 'the first attempt got a request id');
is_deeply(\@ids, [($ids[0]) x 3], 'every attempt got the same request id');

# fireworks_log_level: the retry lines at the level asked for

like($t->error_log, qr/\[notice\] .*fireworks: attempt 2 got 503, retrying in/,
    'fireworks_log_level notice: the retry line at notice');
like($t->error_log, qr/\[info\] .*fireworks: attempt 1 got 503, retrying in/,
    'by default: at info');

# $upstream_* in the client location's header filters and the log

is($r->{headers}{'x-up'}, '503, 503, 200',
    '$upstream_status in add_header lists every attempt');
is($r->{headers}{'x-up-attempt'}, '3',
    '$upstream_http_* in add_header: the answer\'s own header');

$r = $t->http(uri => '/ids/x', body => $body, id => 'first-ok',
    script => '200');
is($r->{headers}{'x-up'}, '200',
    '$upstream_status in add_header when the first attempt succeeds');

$r = $t->http(uri => '/cached/x', id => 'c1', script => '200');
is($r->{headers}{'x-cache'}, 'MISS', 'the first answer: MISS');
$r = $t->http(uri => '/cached/x', id => 'c2', script => '200');
is($r->{headers}{'x-cache'}, 'HIT',
    '$upstream_cache_status in add_header: HIT');

my %log = map { $_->[0] => $_ } $t->access_log('ids.log');
is($log{rid}[1], $ids[0], 'the access log has the attempts\' request id');
is($log{rid}[2], '503, 503, 200', '$upstream_status in the log');
is($log{rid}[3], '3', '$upstream_http_* in the log');
is($log{c2}[4], 'HIT', '$upstream_cache_status in the log');

# a first error event, not retryable: one attempt, counted once

$r = $t->http(uri => '/hold/x', body => $body, id => 'err400',
    script => 'sseerr;status=400');
is($r->{headers}{'x-statuses'}, '400', 'a first error event: one status');
is(metrics()->{'fireworks_attempts_total{route="hold",result="400"}'}, 1,
    'a first error event: one attempt counted');

# an attempt's body is not judged again by the internal location

my $big = '{"messages":[{"role":"user","content":"' . ('x' x 3_000_000)
    . '"}],"model":"m"}';
$r = $t->http(uri => '/big/x', body => $big, id => 'big', script => '200');
is($r->{status}, 200, 'a 3 MB body through an internal location of 1m');
my ($a) = @{$t->attempts('big')};
is($a && $a->{body_len}, length $big, 'the API got it whole');

# the first pass's timer went when it gave up: no late timeout during
# the slow fallback

unlike($t->error_log, qr/timed out/,
    'no attempt timer fires after the give-up');

$t->finish(allow => [qr/connect\(\) failed \(111: Connection refused\)/]);

done_testing();
