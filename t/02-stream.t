#!/usr/bin/perl

# Streaming: an SSE answer after a retry reaches the client event by event;
# a stream the upstream cuts reaches the client cut.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FW;

my $t = FW->new();

$t->run($t->gateway(locations => <<'EOF'));
        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_backoff 50ms;
            fireworks_jitter 0;
        }
EOF

my $body = '{"model":"m","stream":true,"messages":[]}';

# 5 events 300 ms apart after a 503: they must arrive spread out

my $r = $t->http(body => $body, script => '503,sse;n=5;ms=300', id => 'sse');
is($r->{status}, 200, 'stream status');
is($r->{headers}{'content-type'}, 'text/event-stream', 'event-stream type');
ok($r->{chunked} && $r->{complete}, 'chunked and complete');
my @events = $r->{body} =~ /^data: (\{.*\})$/mg;
is(scalar @events, 5, 'five events');
like($r->{body}, qr/data: \[DONE\]\n\n\z/, 'ends with [DONE]');

# when did each event reach the client?

my (@seen, $acc);
for my $c (@{$r->{chunks}}) {
    $acc .= $c->[1];
    my $n = () = $acc =~ /data: \{/g;
    push @seen, $c->[0] while @seen < $n;
}
is(scalar @seen, 5, 'arrival time of each event');
cmp_ok($seen[4] - $seen[0], '>', 0.8,
    'events arrive as sent, not held to the end ('
    . sprintf('%.2f', $seen[4] - $seen[0]) . ' s)');
cmp_ok($seen[1] - $seen[0], '>', 0.15, 'second event comes later');

# the same with proxy_buffering on and X-Accel-Buffering: no from upstream
# is nginx's business; here: an upstream that cuts the stream

$r = $t->http(body => $body, script => '503,cut;n=3;ms=50', id => 'cut',
    keepalive => 1, timeout => 8);
is($r->{status}, 200, 'cut stream status');
ok($r->{chunked}, 'cut stream chunked');
ok(!$r->{complete}, 'cut stream: no terminating chunk');
my @cut = $r->{body} =~ /^data: (\{.*\})$/mg;
is(scalar @cut, 3, 'events before the cut arrive');
cmp_ok($r->{elapsed}, '<', 5, 'connection closed, not kept alive');

# a complete stream on a keep-alive connection stays open: the close above
# was the truncation, not the end of every stream

$r = $t->http(body => $body, script => 'sse;n=2;ms=10', id => 'ka',
    keepalive => 1, timeout => 2);
ok($r->{complete}, 'complete stream');
cmp_ok($r->{elapsed}, '>=', 1.5, 'complete stream keeps the connection');

$t->finish(allow => [qr/upstream prematurely closed connection/]);
done_testing;
