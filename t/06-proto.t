#!/usr/bin/perl

# Protocols: HTTP/1.0, keep-alive across retried requests, HEAD, 204,
# HTTP/2, curl, and the main location's add_header and access_log.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw/time/;
use FW qw/dechunk/;

my $t = FW->new();

$t->run($t->gateway(listen => '', locations => <<'EOF', http => <<'EOF2'));
        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            add_header X-Statuses $fireworks_statuses;
        }

        location /ranges/ {
            fireworks_pass /_ranges$uri;
        }

        location /redirect/ {
            fireworks_pass /_redirect$uri;
        }

        location /_ranges/ {
            internal;
            proxy_pass http://api/;
            proxy_force_ranges on;
        }

        location /_redirect/ {
            internal;
            proxy_pass http://api/;
            proxy_redirect http://api/ /v1/;
        }
EOF
    server {
        listen 127.0.0.1:%%PORT_H2%% http2;

        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
            add_header X-Statuses $fireworks_statuses;
            add_header X-Model "[$fireworks_model]";
        }

        location /_fireworks/ {
            internal;
            proxy_pass http://api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
EOF2

my $body = '{"model":"m","messages":[]}';

# HTTP/1.0: no chunked encoding, the connection closes

my $r = $t->http(version => 'HTTP/1.0', body => $body, script => '503,200',
    id => 'h10');
is($r->{status}, 200, 'http/1.0');
like($r->{raw_headers}, qr{^HTTP/1\.1 200}, 'http/1.0: status line');
ok(!$r->{chunked}, 'http/1.0: not chunked');
like($r->{body}, qr/chat\.completion/, 'http/1.0: body');

$r = $t->http(version => 'HTTP/1.0', body => $body, id => 'h10sse',
    script => '502,sse;n=3;ms=10');
ok(!$r->{chunked}, 'http/1.0 stream: not chunked');
like($r->{body}, qr/data: \[DONE\]\n\n\z/, 'http/1.0 stream: whole body');

# keep-alive: three requests on one connection, the first retried

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->nginx_port)
    or die "connect: $!\n";
my @got;
for my $i (1 .. 3) {
    my $script = $i == 1 ? '503,429;ra=0,200' : $i == 2 ? 'sse;n=2;ms=5'
        : '200';
    print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "X-FW-Script: $script\r\nX-FW-Id: ka$i\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    push @got, read_one($s);
}
is_deeply([map { $_->{status} } @got], [200, 200, 200],
    'keep-alive: three answers on one connection');
is($got[0]{headers}{'x-statuses'}, '503, 429, 200', 'keep-alive: retried');
like($got[1]{body}, qr/\[DONE\]/, 'keep-alive: stream in the middle');
close $s;

# HEAD and 204

$r = $t->http(method => 'HEAD', script => '503,200', id => 'head');
is($r->{status}, 200, 'head');
is($r->{body}, '', 'head: no body');
is_deeply([map { $_->{method} } @{$t->attempts('head')}], ['HEAD', 'HEAD'],
    'head: sent as HEAD each time');

$r = $t->http(body => $body, script => '503,204', id => 'nc', keepalive => 1,
    timeout => 2);
is($r->{status}, 204, 'no content');
is($r->{body}, '', 'no content: no body');
ok(!$r->{headers}{'transfer-encoding'}, 'no content: no transfer-encoding');

# If-Modified-Since, If-None-Match and Range make neither 304 nor 206 of
# an answer that has Last-Modified, an ETag and Accept-Ranges

my $validators = 'hdr=Last-Modified:Sat%2C 01 Jan 2000 00:00:00 GMT'
    . '|ETag:"v1"|Accept-Ranges:bytes';

for my $uri ('/v1/chat/completions', '/ranges/chat/completions') {
    $r = $t->http(uri => $uri, script => "200;$validators", id => "range$uri",
        headers => ['Range: bytes=0-5',
            'If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT']);
    is($r->{status}, 200, "no 206 or 304 made from the answer ($uri)");
    like($r->{body}, qr/^\{"id".*\}$/s, "the whole answer ($uri)");

    $r = $t->http(uri => $uri, script => "200;$validators", id => "inm$uri",
        headers => ['If-None-Match: "v1"']);
    is($r->{status}, 200, "no 304 for If-None-Match ($uri)");
    is($r->{headers}{etag}, '"v1"', "the API's ETag ($uri)");
}

# Location: the internal location's default proxy_redirect would make it
# a path of the internal location; the API's own goes out.  A
# proxy_redirect to anywhere else is kept.

$r = $t->http(body => $body, script => '503,302;hdr=Location:http://api/v1/jobs/1',
    id => 'location');
is($r->{status}, 302, 'location: 302 forwarded');
is($r->{headers}{location}, 'http://api/v1/jobs/1',
    "location: the API's, not the internal location's");

$r = $t->http(uri => '/redirect/x', body => $body,
    script => '302;hdr=Location:http://api/jobs/1', id => 'location2');
like($r->{headers}{location}, qr{^http://[^/]+/v1/jobs/1$},
    'location: an explicit proxy_redirect is kept');

# curl, HTTP/1.1 and HTTP/2

my $port = $t->nginx_port;
my $h2 = $t->port('h2');
my $out = `curl -s -i -X POST -H 'Content-Type: application/json' -H 'X-FW-Script: 503,200' -H 'X-FW-Id: curl1' -d '$body' http://127.0.0.1:$port/v1/chat/completions`;
like($out, qr{^HTTP/1\.1 200}, 'curl http/1.1');
like($out, qr/x-statuses: 503, 200/i, 'curl http/1.1: retried');

$out = `curl -s -i --http2-prior-knowledge -X POST -H 'X-FW-Script: 503,200' -H 'X-FW-Id: h2a' -d '$body' http://127.0.0.1:$h2/v1/chat/completions`;
like($out, qr{^HTTP/2 200}, 'http/2');
like($out, qr/x-statuses: 503, 200/i, 'http/2: retried');
like($out, qr/chat\.completion/, 'http/2: body');

# HTTP/2 DATA frames feed the same body scan: "model" after 300 KB

my $long = $t->{dir} . '/h2-long.json';
open(my $lf, '>', $long) or die "$long: $!";
print $lf '{"messages":[{"role":"user","content":"' . ('h2 text ' x 40000)
    . '"}],"model":"after-300-kb","stream":false}';
close $lf;
$out = `curl -s -i --http2-prior-knowledge -X POST -H 'X-FW-Script: 503,200' -H 'X-FW-Id: h2long' --data-binary \@$long http://127.0.0.1:$h2/v1/chat/completions`;
like($out, qr/x-model: \[after-300-kb\]/i, 'http/2: model after 300 KB');

$out = `curl -s -N --http2-prior-knowledge -X POST -H 'X-FW-Script: 429;ra=0,sse;n=4;ms=20' -H 'X-FW-Id: h2s' -d '$body' http://127.0.0.1:$h2/v1/chat/completions`;
my @ev = $out =~ /^data: \{/mg;
is(scalar @ev, 4, 'http/2 stream: all events');
like($out, qr/\[DONE\]/, 'http/2 stream: done');

system("curl -s -o /dev/null --http2-prior-knowledge -X POST -H 'X-FW-Script: 503,cut;n=2;ms=20' -H 'X-FW-Id: h2cut' -d '$body' http://127.0.0.1:$h2/v1/chat/completions");
isnt($? >> 8, 0, 'http/2 cut stream: curl sees an error (RST_STREAM)');

$out = `curl -s -I --http2-prior-knowledge -H 'X-FW-Script: 503,200' -H 'X-FW-Id: h2head' http://127.0.0.1:$h2/v1/models`;
like($out, qr{^HTTP/2 200}, 'http/2 head');

$t->stop;
my $l = $t->log_line('ka1');
is($l->[0], 200, 'access log: final status');
is($l->[5], '503, 429, 200', 'access log: $upstream_status per attempt');

$t->finish(allow => [qr/upstream prematurely closed connection/]);
done_testing;

# reads one response from a keep-alive connection

sub read_one {
    my ($s) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $end = time + 10;
    while (time < $end && $sel->can_read($end - time)) {
        sysread($s, $buf, 65536, length $buf) or last;
        my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
        next unless defined $rest;
        my $r = FW::parse_response($buf);
        return $r if $r->{complete}
            && ($r->{chunked} || defined $r->{headers}{'content-length'});
    }
    return FW::parse_response($buf);
}
