#!/usr/bin/perl

# Configuration: every mistake fails "nginx -t" with a message naming the
# directive and the value; every valid form in the docs passes.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use FW;

my $t = FW->new();

sub conf {
    my ($http, $loc) = @_;
    return <<"EOF";
%%GLOBALS%%
events { }
http {
    %%HTTP_GLOBALS%%
    $http
    server {
        listen 127.0.0.1:%%PORT_NGINX%%;
        location /v1/ {
            $loc
        }
        location /_fireworks/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_API%%/;
        }
    }
}
EOF
}

my @bad = (
    ['fireworks_tries 0;', qr/invalid value "0" in "fireworks_tries"/],
    ['fireworks_tries five;', qr/invalid value "five" in "fireworks_tries"/],
    ['fireworks_tries 101;', qr/invalid value "101" in "fireworks_tries"/],
    ['fireworks_retry_on 503 299;',
        qr/invalid status "299" in "fireworks_retry_on"/],
    ['fireworks_retry_on 600;',
        qr/invalid status "600" in "fireworks_retry_on"/],
    ['fireworks_retry_on 5xx;',
        qr/invalid status "5xx" in "fireworks_retry_on"/],
    ['fireworks_backoff fast;', qr/invalid time "fast" in "fireworks_backoff"/],
    ['fireworks_backoff 1s 500ms;',
        qr/invalid value "500ms" in "fireworks_backoff" directive, max/],
    ['fireworks_backoff 1s 2s 3s;',
        qr/invalid number of arguments in "fireworks_backoff"/],
    ['fireworks_jitter half;', qr/invalid time "half" in "fireworks_jitter"/],
    ['fireworks_deadline 1y2;',
        qr/invalid time "1y2" in "fireworks_deadline"/],
    ['fireworks_attempt_timeout -1s;',
        qr/invalid time "-1s" in "fireworks_attempt_timeout"/],
    ['fireworks_idle_timeout soon;',
        qr/invalid time "soon" in "fireworks_idle_timeout"/],
    ['fireworks_retry_after_max x;',
        qr/invalid time "x" in "fireworks_retry_after_max"/],
    ['fireworks_workload chat;',
        qr/invalid value "chat" in "fireworks_workload"/],
    ['fireworks_retry_after maybe;',
        qr/invalid value "maybe" in "fireworks_retry_after"/],
    ['fireworks_pass;', qr/invalid number of arguments in "fireworks_pass"/],
    ['fireworks_pass /a; fireworks_pass /b;',
        qr/"fireworks_pass" directive is duplicate/],
    ['fireworks_pass _fireworks;',
        qr/invalid uri "_fireworks" in "fireworks_pass"/],
    ['fireworks_tries 2; fireworks_tries 3;',
        qr/"fireworks_tries" directive is duplicate/],
);

for my $case (@bad) {
    my ($loc, $re) = @$case;
    my $l = $loc =~ /fireworks_pass/ ? $loc
        : "fireworks_pass /_fireworks\$uri; $loc";
    my ($rc, $out) = $t->test_conf(conf('', $l));
    isnt($rc, 0, "nginx -t fails: $loc");
    like($out, $re, "message names directive and value: $loc");
}

# fireworks_pass outside a location

my ($rc, $out) = $t->test_conf(conf('fireworks_pass /x;', ''));
isnt($rc, 0, 'fireworks_pass at http level fails');
like($out, qr/"fireworks_pass" directive is not allowed here/,
    'fireworks_pass at http level: message');

# every valid form in the docs

my @good = (
    'fireworks_tries 1;',
    'fireworks_tries 5;',
    'fireworks_retry_on 429 500 502 503 504;',
    'fireworks_retry_on 408 429 500 502 503 504;',
    'fireworks_retry_on 300 599;',
    'fireworks_backoff 1s;',
    'fireworks_backoff 1s 30s;',
    'fireworks_backoff 200ms 200ms;',
    'fireworks_backoff 45s;',
    'fireworks_jitter 1s;',
    'fireworks_jitter 0;',
    'fireworks_jitter full;',
    'fireworks_workload interactive;',
    'fireworks_workload agentic;',
    'fireworks_workload long_context;',
    'fireworks_workload batch;',
    'fireworks_deadline 0;',
    'fireworks_deadline 30m;',
    'fireworks_attempt_timeout 10s;',
    'fireworks_attempt_timeout 0;',
    'fireworks_idle_timeout 5m;',
    'fireworks_idle_timeout 0;',
    'fireworks_retry_after on;',
    'fireworks_retry_after off;',
    'fireworks_retry_after_max 2m;',
    'fireworks_workload agentic; fireworks_deadline 10m;',
);

for my $g (@good) {
    my ($rc, $out) = $t->test_conf(conf($g,
        "fireworks_pass /_fireworks\$uri; $g"));
    is($rc, 0, "valid: $g") or diag $out;
}

($rc, $out) = $t->test_conf(conf('fireworks_workload batch;',
    'fireworks_pass /_fireworks/v1/batch?model=$arg_model;'));
is($rc, 0, 'valid: fireworks_pass with variables and a query string')
    or diag $out;

done_testing;
