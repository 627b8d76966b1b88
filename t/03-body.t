#!/usr/bin/perl

# Request bodies are read once and replayed byte for byte on every
# attempt: none, small JSON, a 5 MB body spooled to a temp file, chunked.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw/sha256_hex/;
use FW;

my $t = FW->new();

$t->run($t->gateway(locations => <<'EOF'));
        client_max_body_size 10m;
        client_body_buffer_size 16k;

        location /v1/ {
            fireworks_pass /_fireworks$uri;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
        }

        location /fixed/ {
            fireworks_pass /_fireworks/v1/models?limit=1;
        }

        location /beta/ {
            fireworks_pass /_fireworks$uri?beta=1;
        }

        location /unsafe/ {
            fireworks_pass /_fireworks$arg_p;
        }
EOF

sub replayed {
    my ($id, $n, $len, $sha, $name) = @_;
    my $a = $t->attempts($id);
    is(scalar @$a, $n, "$name: $n attempts");
    is_deeply([map { $_->{body_len} } @$a], [($len) x $n], "$name: lengths");
    is_deeply([map { $_->{body_sha256} } @$a], [($sha) x $n],
        "$name: same bytes each time");
    return $a;
}

# GET with a query string and no body

my $r = $t->http(uri => '/v1/models?limit=5&x=%20y', script => '503,503,200',
    id => 'get');
is($r->{status}, 200, 'get');
my $a = replayed('get', 3, 0, sha256_hex(''), 'get');
is_deeply([map { $_->{method} } @$a], [('GET') x 3], 'get: method');
is_deeply([map { $_->{url} } @$a], [('/v1/models?limit=5&x=%20y') x 3],
    'get: query string kept');

# an encoded "?" in the path stays in the path: $uri is decoded, and only
# a "?" written in fireworks_pass starts arguments

$r = $t->http(uri => '/v1/files/a%3Fb.jsonl?purpose=batch',
    script => '503,200', id => 'q3f');
is($r->{status}, 200, 'encoded ?');
$a = $t->attempts('q3f');
is_deeply([map { $_->{url} } @$a],
    [('/v1/files/a%3Fb.jsonl?purpose=batch') x 2],
    'encoded ?: path and query string as the client sent them');

$r = $t->http(uri => '/fixed/x?client=1', script => '200', id => 'fixq');
is($r->{status}, 200, 'arguments written in fireworks_pass');
is($t->attempts('fixq')->[0]{url}, '/v1/models?limit=1',
    'arguments written in fireworks_pass replace the client\'s');

$r = $t->http(uri => '/beta/a%3Fb?client=1', script => '200', id => 'betaq');
is($r->{status}, 200, 'encoded ? with arguments written in fireworks_pass');
is($t->attempts('betaq')->[0]{url}, '/beta/a%3Fb?beta=1',
    'the written "?" starts the arguments, the encoded one stays path');

# $uri is decoded once: a "%" in it is not decoded again

$r = $t->http(uri => '/v1/files/a%2541.jsonl', script => '200', id => 'pct');
is($r->{status}, 200, 'encoded %');
is($t->attempts('pct')->[0]{url}, '/v1/files/a%2541.jsonl',
    'encoded %: not decoded twice');

# a uri that climbs out of the internal location is refused, encoded or
# not, and with a "?" before the ".." (the arguments are not decoded: the
# "?" reaches the evaluated uri as it is); one line in error.log each

for my $p ('/../secret', '/%2E%2E/secret', '/a?/../secret') {
    $r = $t->http(uri => "/unsafe/x?p=$p", script => '200', id => "uns$p");
    is($r->{status}, 500, "unsafe uri $p: 500");
    is(scalar @{$t->attempts("uns$p")}, 0, "unsafe uri $p: no attempt");
}
like($t->error_log, qr/fireworks: unsafe uri "\/_fireworks\/\.\.\/secret" in fireworks_pass/,
    'unsafe uri: logged');
like($t->error_log, qr/fireworks: unsafe uri "\/_fireworks\/a\?\/\.\.\/secret"/,
    'unsafe uri with a "?": logged');
my @unsafe = $t->error_log =~ /\[error\].*unsafe/gi;
is(scalar @unsafe, 3, 'unsafe uri: one line per request');

# 2 KB JSON

my $json = '{"model":"m","messages":[{"role":"user","content":"'
    . ('a' x 2000) . '"}]}';
$r = $t->http(body => $json, script => '429;ra=0,500,200', id => 'json');
is($r->{status}, 200, 'json');
replayed('json', 3, length $json, sha256_hex($json), 'json');

# 5 MB, larger than client_body_buffer_size: a temp file, read per attempt

my $big = join '', map { chr(($_ * 7 + 3) % 256) } 1 .. 256;
$big = $big x (5 * 1024 * 1024 / 256);
$r = $t->http(body => $big, script => '503,502,200', id => 'big',
    headers => ['Content-Type: application/octet-stream']);
is($r->{status}, 200, 'big');
replayed('big', 3, length $big, sha256_hex($big), 'big');
like($t->error_log, qr/a client request body is buffered to a temporary/,
    'big body went to a temp file');

# chunked request body

my $chunked = "400\r\n" . ('x' x 1024) . "\r\n10\r\n" . ('y' x 16)
    . "\r\n0\r\n\r\n";
my $plain = ('x' x 1024) . ('y' x 16);
$r = $t->http(method => 'POST', body => $chunked, script => '503,200',
    id => 'chunked', headers => ['Transfer-Encoding: chunked',
        'Content-Type: application/json']);
is($r->{status}, 200, 'chunked');
replayed('chunked', 2, length $plain, sha256_hex($plain), 'chunked');
$a = $t->attempts('chunked');
is($a->[1]{headers}{'content-length'}, length $plain,
    'chunked body sent with its length');

$t->finish(allow => [qr/fireworks: unsafe uri/]);
done_testing;
