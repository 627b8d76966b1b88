#!/usr/bin/perl

# Right bytes after a cut stream.  fireworks_stream_error adds its error
# event only where the framing can take it (chunked, HTTP/2 DATA without
# a declared length); a stream with Content-Length is cut as behind
# proxy_pass and its connection closed, so that a keep-alive client
# reads no stray bytes as its next response.  An encoded answer
# (Content-Encoding: gzip) is passed on untouched: no event appended, no
# events looked for under fireworks_hold_header.  A client that leaves
# mid-stream is counted client_closed, over HTTP/1.1 and HTTP/2.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Compress::Raw::Zlib;
use Digest::SHA qw/sha256_hex/;
use Time::HiRes qw/time sleep/;
use JSON::PP;
use FW;

my $t = FW->new();

my $locations = <<'EOF';
        fireworks_backoff 10ms;
        fireworks_jitter 0;
        add_header X-Results $fireworks_results always;

        location = /metrics {
            fireworks_metrics;
        }

        location /error/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_stream_error on;
        }

        location /hold/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_hold_header on;
            fireworks_stream_error on;
            fireworks_attempt_timeout 500ms;
        }

        location /leave/ {
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_route leave;
        }

        location /hidden/ {
            fireworks_pass /_hidden/v1/chat/completions;
            fireworks_hold_header on;
            fireworks_stream_error on;
        }

        location /_hidden/ {
            internal;
            proxy_pass http://api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_hide_header Content-Encoding;
        }

        location /plain/ {
            proxy_pass http://api/v1/chat/completions;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
EOF

$t->run($t->gateway(locations => $locations, http => <<"EOF"));
    fireworks_zone fireworks 1m;

    server {
        listen 127.0.0.1:%%PORT_H2%% http2;

$locations

        location /_fireworks/ {
            internal;
            proxy_pass http://api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
EOF

my $port = $t->nginx_port;
my $h2 = $t->port('h2');
my $body = '{"model":"m","stream":true}';

sub request {
    my ($uri, $script, $id, $close) = @_;
    return "POST $uri HTTP/1.1\r\nHost: x\r\nX-FW-Script: $script\r\n"
        . "X-FW-Id: $id\r\nContent-Type: application/json\r\n"
        . ($close ? "Connection: close\r\n" : '')
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
}

# what the stand-in sent of an attempt's body: its length and SHA-256

sub sent {
    my ($id, $n) = @_;
    my $a = $t->attempts($id)->[$n || 0] || {};
    return ($a->{resp_len} // -1, $a->{resp_sha256} // '');
}

# A keep-alive client, as a browser or an SDK is one: each request in turn
# on one connection, each response read by its framing (Content-Length,
# chunked, else up to the close); after a close, the next request goes
# on a new connection.  Each response: status, headers, body, complete,
# stray (bytes before its status line), closed (the server closed right
# after it), conn (the connection's number).

sub exchange {
    my (@reqs) = @_;
    my ($s, $conn, $buf, @out) = (undef, 0, '');

    for my $req (@reqs) {
        if (!$s) {
            $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
                or die "connect: $!\n";
            $conn++;
            $buf = '';
        }

        syswrite($s, $req);
        my $r = read_response($s, \$buf);
        $r->{conn} = $conn;
        push @out, $r;

        if ($r->{closed} || $r->{timedout}) {
            close $s;
            undef $s;
        }
    }

    close $s if $s;
    return @out;
}

# 1: more data, 0: the peer closed, undef: nothing until the end time

sub read_more {
    my ($s, $buf, $end) = @_;
    my $sel = IO::Select->new($s);
    return undef unless $sel->can_read($end - time > 0 ? $end - time : 0);
    return sysread($s, $$buf, 65536, length $$buf) ? 1 : 0;
}

sub read_response {
    my ($s, $buf) = @_;
    my $end = time + 10;
    my %r = (status => 0, headers => {}, body => '', stray => '',
        complete => 0, closed => 0);

    while (index($$buf, "\r\n\r\n") < 0) {
        my $more = read_more($s, $buf, $end);
        next if $more;
        $r{closed} = defined $more;
        $r{stray} = $$buf;
        return \%r;
    }

    my $at = index($$buf, 'HTTP/1.');
    $r{stray} = $at < 0 ? $$buf : substr($$buf, 0, $at);
    substr($$buf, 0, $at < 0 ? 0 : $at, '');

    my $h = index($$buf, "\r\n\r\n");
    my $head = substr($$buf, 0, $h + 4, '');
    ($r{status}) = $head =~ m{^HTTP/1\.\d (\d{3})};
    $r{status} //= 0;
    for my $line (split /\r\n/, $head) {
        $r{headers}{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*)$/;
    }

    my $len = $r{headers}{'content-length'};
    my $chunked = ($r{headers}{'transfer-encoding'} || '') =~ /chunked/i;

    while (1) {
        if (defined $len && length $$buf >= $len) {
            $r{body} = substr($$buf, 0, $len, '');
            $r{complete} = 1;
            last;
        }

        if ($chunked) {
            my ($data, $used) = chunks($$buf);
            if (defined $used) {
                $r{body} = $data;
                substr($$buf, 0, $used, '');
                $r{complete} = 1;
                last;
            }
        }

        my $more = read_more($s, $buf, $end);
        next if $more;

        # the close, or the time is up: what came is all there is
        $r{closed} = defined $more;
        $r{timedout} = !defined $more;
        $r{body} = $chunked ? (chunks($$buf))[0] : $$buf;
        $r{complete} = !$chunked && !defined $len;
        $$buf = '';
        last;
    }

    return \%r;
}

# chunked data: (the data so far, the bytes used once the last chunk came)

sub chunks {
    my ($s) = @_;
    my ($out, $pos) = ('', 0);
    while (substr($s, $pos) =~ /^([0-9a-fA-F]+)[^\r\n]*\r\n/) {
        my $n = hex $1;
        $pos += length $&;
        return ($out, $pos + 2) if $n == 0 && substr($s, $pos, 2) eq "\r\n";
        return ($out) if $n == 0 || length($s) < $pos + $n;
        $out .= substr($s, $pos, $n);
        $pos += $n + 2;
    }
    return ($out);
}

# HTTP/2 on one connection (Node's client, nghttp2 as in browsers and
# curl): the requests in turn, each [uri, script, id, cancel]; per request
# its status, body, the stream's reset code (0: a clean end) and error,
# and whether the connection was still up for it.  With cancel the client
# resets the stream (CANCEL) at its first data, as a fetch() aborted.

my $h2js = <<'EOF';
const http2 = require('http2');
const port = process.argv[2];
const list = JSON.parse(process.argv[3]);
const session = http2.connect('http://127.0.0.1:' + port);
session.on('error', () => {});
const out = [];
function one(i) {
  if (i >= list.length) {
    session.close();
    process.stdout.write(JSON.stringify(out));
    return;
  }
  const q = list[i];
  const res = { status: 0, body: [], rst: -1, error: '', up: !session.destroyed };
  let req;
  try {
    req = session.request({ ':method': 'POST', ':path': q[0], 'x-fw-script': q[1],
                            'x-fw-id': q[2], 'content-type': 'application/json' });
  } catch (e) {
    res.error = e.code || String(e);
    res.body = '';
    out.push(res);
    return one(i + 1);
  }
  req.on('response', (h) => { res.status = h[':status']; });
  req.on('data', (d) => {
    res.body.push(d);
    if (q[4]) req.close(http2.constants.NGHTTP2_CANCEL);
  });
  req.on('error', (e) => { res.error = e.code || String(e); });
  req.on('close', () => {
    res.rst = req.rstCode;
    res.body = Buffer.concat(res.body).toString('latin1');
    out.push(res);
    one(i + 1);
  });
  req.end(q[3]);
}
one(0);
EOF

$t->write_file('h2.js', $h2js);

sub h2 {
    my (@tr) = @_;
    my $list = JSON::PP->new->encode(
        [ map { [ @$_[0 .. 2], $body, $_->[3] || 0 ] } @tr ]);
    open(my $fh, '-|', 'node', $t->dir . '/h2.js', $h2, $list)
        or die "node: $!\n";
    local $/;
    my $out = <$fh>;
    close $fh;
    return @{ JSON::PP->new->utf8->decode($out || '[]') };
}

sub events { my @e = $_[0] =~ /^data: (.*)$/mg; return @e }

# a gzip body as a client's zlib reads it: (the data, whether it ended,
# whether it is valid so far)

sub gunzip {
    my ($in) = @_;
    my ($z) = Compress::Raw::Zlib::Inflate->new(-WindowBits => WANT_GZIP,
        -ConsumeInput => 1);
    my $out = '';
    my $st = $z->inflate($in, $out);
    return ($out, $st == Z_STREAM_END ? 1 : 0,
        ($st == Z_OK || $st == Z_STREAM_END || $st == Z_BUF_ERROR) ? 1 : 0);
}


# 1. Content-Length, cut: the API's bytes, then the close; the next
# request of the client goes on a new connection and is read rightly

for my $loc (qw/error plain/) {
    my @r = exchange(request("/$loc/x", 'cut;n=1;ms=20;cl=1', "cl-$loc"),
        request("/$loc/x", 'sse;n=2;ms=10', "cl-$loc-next"));
    my ($len, $sha) = sent("cl-$loc");

    is($r[0]{status}, 200, "$loc, length, cut: 200");
    ok(defined $r[0]{headers}{'content-length'},
        "$loc, length, cut: Content-Length declared");
    is(length $r[0]{body}, $len, "$loc, length, cut: the bytes the API sent");
    is(sha256_hex($r[0]{body}), $sha, "$loc, length, cut: as sent");
    ok($r[0]{closed}, "$loc, length, cut: the connection closes");
    is($r[1]{stray}, '', "$loc, length, cut: no stray bytes after it");
    is($r[1]{status}, 200, "$loc, length, cut: the next response's status");
    ok($r[1]{complete}, "$loc, length, cut: the next response complete");
    is($r[1]{conn}, 2, "$loc, length, cut: the next on a new connection");
}

# a Content-Length that is met: the connection is kept

my @r = exchange(request('/error/x', 'sse;n=2;ms=10;cl=1', 'cl-whole'),
    request('/error/x', 'sse;n=2;ms=10', 'cl-whole-next'));
ok($r[0]{complete} && !$r[0]{closed}, 'length, whole: complete and kept');
like($r[0]{body}, qr/data: \[DONE\]\n\n\z/, 'length, whole: the stream');
is($r[1]{conn}, 1, 'length, whole: the next on the same connection');
is($r[1]{status}, 200, 'length, whole: the next response');

# chunked: the error event and the last chunk, the connection is kept

@r = exchange(request('/error/x', 'cut;n=1;ms=20', 'chunked'),
    request('/error/x', 'sse;n=2;ms=10', 'chunked-next'));
ok($r[0]{complete}, 'chunked, cut: a proper end');
my @e = events($r[0]{body});
is(scalar @e, 2, 'chunked, cut: the event and the error');
like($e[-1], qr/"code":"stream_broken"/, 'chunked, cut: the error event');
ok(!$r[0]{closed}, 'chunked, cut: the connection is kept');
is($r[1]{stray}, '', 'chunked, cut: no stray bytes');
is($r[1]{conn}, 1, 'chunked, cut: the next on the same connection');
ok($r[1]{status} == 200 && $r[1]{complete}, 'chunked, cut: the next response');

# HTTP/2: with a length, the stream is reset after the API's bytes; without,
# the error event ends it; the connection serves the next stream

my @h = h2(['/error/x', 'cut;n=1;ms=20;cl=1', 'h2-cl'],
    ['/error/x', 'sse;n=2;ms=10', 'h2-cl-next'],
    ['/error/x', 'cut;n=1;ms=20', 'h2-nocl'],
    ['/error/x', 'sse;n=2;ms=10', 'h2-nocl-next']);
my ($len, $sha) = sent('h2-cl');

is($h[0]{status}, 200, 'http/2, length, cut: 200');
is($h[0]{rst}, 2, 'http/2, length, cut: reset, INTERNAL_ERROR, as behind '
    . 'proxy_pass') or diag("rst $h[0]{rst} $h[0]{error}");
is(sha256_hex($h[0]{body}), $sha, 'http/2, length, cut: the bytes the API sent');
ok($h[1]{up}, 'http/2, length, cut: the connection stays up');
is($h[1]{status}, 200, 'http/2, length, cut: the next stream');
like($h[1]{body}, qr/data: \[DONE\]\n\n\z/, 'http/2, length, cut: next complete');
is($h[2]{rst}, 0, 'http/2, cut: a clean end') or diag($h[2]{error});
like((events($h[2]{body}))[-1], qr/"code":"stream_broken"/,
    'http/2, cut: the error event');
ok($h[3]{up} && $h[3]{status} == 200, 'http/2, cut: the next stream');
like($h[3]{body}, qr/data: \[DONE\]\n\n\z/, 'http/2, cut: next complete');


# 2. gzip: never an event appended, never events looked for

@r = exchange(request('/error/x', 'cut;n=2;ms=20;gzip=1', 'gz-cut'),
    request('/error/x', 'sse;n=1;ms=10', 'gz-cut-next'));
($len, $sha) = sent('gz-cut');
is($r[0]{headers}{'content-encoding'}, 'gzip', 'gzip, cut: gzip');
ok(!$r[0]{complete}, 'gzip, cut: no proper end, as behind proxy_pass');
ok($r[0]{closed}, 'gzip, cut: the connection closes');
is(sha256_hex($r[0]{body}), $sha, 'gzip, cut: the bytes the API sent');
my ($plain, $ended, $valid) = gunzip($r[0]{body});
ok($valid, 'gzip, cut: valid gzip so far');
is(scalar(() = $plain =~ /^data: \{/mg), 2, 'gzip, cut: both events in it');
unlike($plain . $r[0]{body}, qr/stream_broken/, 'gzip, cut: no error event');

# gzip over HTTP/2, without a length: no event appended either

@h = h2(['/error/x', 'cut;n=2;ms=20;gzip=1', 'h2-gz']);
($len, $sha) = sent('h2-gz');
is(sha256_hex($h[0]{body}), $sha, 'http/2, gzip, cut: the bytes the API sent');
is($h[0]{rst}, 2, 'http/2, gzip, cut: reset, as behind proxy_pass');

# the hold releases a gzip stream at its first bytes: one attempt, and
# a cut after them reaches the client cut

my $t0 = time;
my $r = $t->http(uri => '/hold/x', body => $body,
    script => 'sse;n=4;ms=400;gzip=1', id => 'gz-hold', timeout => 10);
is($r->{status}, 200, 'gzip, hold: 200');
($plain, $ended, $valid) = gunzip($r->{body});
ok($ended && $valid, 'gzip, hold: the client\'s zlib reads it whole');
is(scalar(() = $plain =~ /^data: \{/mg), 4, 'gzip, hold: all events');
like($plain, qr/data: \[DONE\]\n\n\z/, 'gzip, hold: and [DONE]');
is(scalar @{$t->attempts('gz-hold')}, 1, 'gzip, hold: one attempt');
my ($first) = grep { $_->[1] =~ /\r\n\r\n/ } @{$r->{chunks}};
ok($first && $first->[0] - $t0 < 1.2, 'gzip, hold: the header before the end')
    or diag($first ? $first->[0] - $t0 : 'no header');

$r = $t->http(uri => '/hold/x', body => $body,
    script => 'cut;n=2;ms=20;gzip=1,sse;n=2;ms=10', id => 'gz-hold-cut',
    timeout => 5);
is($r->{status}, 200, 'gzip, hold, cut: 200');
ok(!$r->{complete}, 'gzip, hold, cut: cut');
is(scalar @{$t->attempts('gz-hold-cut')}, 1, 'gzip, hold, cut: no retry');
($len, $sha) = sent('gz-hold-cut');
is(sha256_hex($r->{body}), $sha, 'gzip, hold, cut: the bytes the API sent');
(undef, undef, $valid) = gunzip($r->{body});
ok($valid, 'gzip, hold, cut: valid gzip so far');

# a Content-Encoding hidden by proxy_hide_header: the bytes are still
# gzip, and still neither parsed nor added to

$r = $t->http(uri => '/hidden/x', body => $body,
    script => 'cut;n=2;ms=20;gzip=1,sse;n=2;ms=10', id => 'gz-hidden',
    timeout => 5);
ok(!exists $r->{headers}{'content-encoding'}, 'gzip, hidden: no header');
is(scalar @{$t->attempts('gz-hidden')}, 1, 'gzip, hidden, held: no retry');
($len, $sha) = sent('gz-hidden');
is(sha256_hex($r->{body}), $sha, 'gzip, hidden: the bytes the API sent');


# 3. a client that leaves mid-stream: client_closed, over HTTP/1.1 and
# HTTP/2; $status as behind proxy_pass

sub leave_h1 {
    my ($uri, $id) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
        or die "connect: $!\n";
    syswrite($s, request($uri, 'sse;n=40;ms=100', $id));
    my $buf = '';
    my $end = time + 5;
    while ($buf !~ /data: \{/ && time < $end) {
        last unless read_more($s, \$buf, $end);
    }
    close $s;
    return $buf =~ /data: \{/;
}

ok(leave_h1('/leave/x', 'leave-h1'), 'http/1.1: the stream began');
ok(leave_h1('/plain/x', 'plain-leave-h1'), 'http/1.1, proxy_pass: began');

for my $uri ('/leave/x', '/plain/x') {
    my $id = $uri =~ /plain/ ? 'plain-leave-h2' : 'leave-h2';
    system('curl', '-s', '-o', '/dev/null', '--max-time', '1',
        '--http2-prior-knowledge', '-H', 'X-FW-Script: sse;n=40;ms=100',
        '-H', "X-FW-Id: $id", '-d', $body, "http://127.0.0.1:$h2$uri");
    is($? >> 8, 28, "http/2 $uri: the client left after 1 s");
}

# the client resets its HTTP/2 stream, the connection stays

@h = h2(['/leave/x', 'sse;n=40;ms=100', 'leave-h2rst', 1],
    ['/plain/x', 'sse;n=40;ms=100', 'plain-leave-h2rst', 1]);
is($h[0]{rst}, 8, 'http/2 reset: the client cancelled its stream');

my $end = time + 5;
sleep 0.1 while time < $end
    && grep { !@{$t->log_line($_)} } qw/leave-h1 leave-h2 leave-h2rst
        plain-leave-h1 plain-leave-h2 plain-leave-h2rst/;

for my $p (qw/h1 h2 h2rst/) {
    my $l = $t->log_line("leave-$p");
    my $plain = $t->log_line("plain-leave-$p");
    is($l->[4], 'client_closed', "$p, left mid-stream: outcome client_closed");
    is($l->[0], $plain->[0],
        "$p, left mid-stream: \$status as behind proxy_pass ($plain->[0])");
}

# the API cutting a stream, or ending it, is no client leaving

for my $id (qw/cl-error chunked h2-cl h2-nocl cl-error-next h2-cl-next/) {
    is($t->log_line($id)->[4], 'done', "$id: outcome done");
}

$r = $t->http(uri => '/metrics');
my %m = map { /^(\S+) (\S+)$/ ? ($1, $2) : () } split /\n/, $r->{body};
is($m{'fireworks_requests_total{route="leave",workload="interactive",'
    . 'outcome="client_closed"}'}, 3, 'metrics: 3 client_closed');
ok(!$m{'fireworks_requests_total{route="leave",workload="interactive",'
    . 'outcome="done"}'}, 'metrics: none done');
is($m{'fireworks_attempts_total{route="leave",result="200"}'}, 3,
    'metrics: each attempt a 200');
is($m{'fireworks_in_flight{route="leave"}'}, 0, 'metrics: none in flight');

$t->finish(allow => [qr/upstream prematurely closed connection/]);
done_testing;
