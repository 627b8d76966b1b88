#!/usr/bin/perl

# The client location's filters see the final answer's header and body
# together, as behind plain proxy_pass there: gunzip, sub_filter,
# add_before_body and add_after_body, charset, gzip and add_header, each
# after a retried attempt.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Uncompress::Gunzip qw/gunzip/;
use FW;

my $t = FW->new();

my $common = <<'EOF';
            fireworks_pass /_fireworks/v1/chat/completions;
            fireworks_backoff 10ms;
            fireworks_jitter 0;
EOF

$t->run($t->gateway(http => <<'EOF', locations => <<"EOF2"));
    charset_map koi8-r utf-8 {
        C9  D0B8;   D7  D0B2;   D2  D180;   C5  D0B5;   D4  D182;
        CD  D0BC;   F0  D09F;
    }
EOF
        location /gunzip/ {
$common
            gunzip on;
        }

        location /sub/ {
$common
            sub_filter 'Hello from the stand-in' 'Hello from the gateway';
            sub_filter_types application/json;
        }

        location /addition/ {
$common
            add_before_body /before;
            add_after_body /after;
            addition_types application/json;
        }

        location = /before {
            return 200 'BEFORE:';
        }

        location = /after {
            return 200 ':AFTER';
        }

        location /charset/ {
$common
            charset utf-8;
            source_charset koi8-r;
        }

        location /gzip/ {
$common
            gzip on;
            gzip_min_length 1;
            gzip_types application/json;
            add_header X-Gateway yes;
        }
EOF2

my $body = '{"model":"m"}';

# gunzip: the API's gzipped answer reaches a client that did not ask for
# gzip decompressed, Content-Encoding gone with it

my $r = $t->http(uri => '/gunzip/x', body => $body,
    script => '503,200;gzip=1', id => 'gunzip');
is($r->{status}, 200, 'gunzip: 200 after the retry');
ok(!exists $r->{headers}{'content-encoding'}, 'gunzip: no Content-Encoding');
like($r->{body}, qr/^\{"id":.*"Hello from the stand-in\."/s,
    'gunzip: the body is decompressed');

$r = $t->http(uri => '/gunzip/x', body => $body,
    script => '503,200;gzip=1', id => 'gunzip-ae',
    headers => { 'Accept-Encoding' => 'gzip' });
is($r->{headers}{'content-encoding'}, 'gzip',
    'gunzip: a client that takes gzip gets it');
my $plain;
gunzip(\$r->{body} => \$plain);
like($plain // '', qr/"Hello from the stand-in\."/, 'gunzip: gzip intact');

# sub_filter replaces in the body, and so drops Content-Length

$r = $t->http(uri => '/sub/x', body => $body, script => '503,200',
    id => 'sub');
is($r->{status}, 200, 'sub_filter: 200');
like($r->{body}, qr/"Hello from the gateway\."/, 'sub_filter: replaced');
ok(!exists $r->{headers}{'content-length'},
    'sub_filter: no Content-Length for the changed body');
ok($r->{complete}, 'sub_filter: complete response');

# add_before_body and add_after_body, in their order

$r = $t->http(uri => '/addition/x', body => $body, script => '503,200',
    id => 'addition');
is($r->{status}, 200, 'addition: 200');
like($r->{body}, qr/^BEFORE:\{"id".*\}:AFTER$/s,
    'addition: before, the answer, after');

# charset: KOI8-R from the API, UTF-8 to the client, as announced

$r = $t->http(uri => '/charset/x', body => $body, script => '503,koi',
    id => 'charset');
is($r->{status}, 200, 'charset: 200');
like($r->{headers}{'content-type'}, qr/charset=utf-8/, 'charset: announced');
is($r->{body}, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
    . "\xd0\xbc\xd0\xb8\xd1\x80", 'charset: recoded to UTF-8');

# gzip and add_header of the client location

$r = $t->http(uri => '/gzip/x', body => $body, script => '503,200',
    id => 'gzip', headers => { 'Accept-Encoding' => 'gzip' });
is($r->{status}, 200, 'gzip: 200');
is($r->{headers}{'content-encoding'}, 'gzip', 'gzip: compressed');
is($r->{headers}{'x-gateway'}, 'yes', 'add_header applies');
undef $plain;
gunzip(\$r->{body} => \$plain);
like($plain // '', qr/"Hello from the stand-in\."/, 'gzip: the answer');

$t->finish;
done_testing;
