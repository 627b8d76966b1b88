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
    ['fireworks_tries 2x;', qr/invalid value "2x" in "fireworks_tries"/],
    ['fireworks_deadline 25h;',
        qr/invalid value "25h" in "fireworks_deadline" directive, it must not/],
    ['fireworks_backoff 106751991167d;',
        qr/invalid time "106751991167d" in "fireworks_backoff"/],
    ['fireworks_jitter 2d;', qr/invalid time "2d" in "fireworks_jitter"/],
    ['fireworks_retry_budget 0%;',
        qr/invalid value "0%" in "fireworks_retry_budget"/],
    ['fireworks_retry_budget 20;',
        qr/invalid value "20" in "fireworks_retry_budget"/],
    ['fireworks_retry_budget 101%;',
        qr/invalid value "101%" in "fireworks_retry_budget"/],
    ['fireworks_retry_budget 20% max=3;',
        qr/invalid parameter "max=3" in "fireworks_retry_budget"/],
    ['fireworks_retry_budget off min=3;',
        qr/invalid parameter "min=3" in "fireworks_retry_budget"/],
    ['fireworks_max_waiting none;',
        qr/invalid value "none" in "fireworks_max_waiting"/],
    ['fireworks_max_waiting 0;',
        qr/invalid value "0" in "fireworks_max_waiting"/],
    ['fireworks_gate maybe;', qr/invalid value "maybe" in "fireworks_gate" directive, it must be "off", "on" or "all"/],
    ['fireworks_client_retry never;', qr/invalid value "never" in "fireworks_client_retry" directive, it must be "off", "on" or "auto"/],
    ['fireworks_log_level debug;', qr/invalid value "debug" in "fireworks_log_level" directive, it must be "info", "notice", "warn" or "error"/],
    ['fireworks_route;', qr/invalid number of arguments in "fireworks_route"/],
    ['proxy_pass http://127.0.0.1:1;',
        qr/"fireworks_pass" and another content handler \(such as "proxy_pass"\) in the location "\/v1\/"/],
);

for my $case (@bad) {
    my ($loc, $re) = @$case;
    my $l = $loc =~ /fireworks_pass/ ? $loc
        : "fireworks_pass /_fireworks\$uri; $loc";
    my ($rc, $out) = $t->test_conf(conf('', $l));
    isnt($rc, 0, "nginx -t fails: $loc");
    like($out, $re, "message names directive and value: $loc");
}

# the zone and what needs it

my @zone = (
    ['fireworks_zone z 1k;', qr/invalid size "1k" in "fireworks_zone" directive, it must be at least 32k/],
    ['fireworks_zone z huge;', qr/invalid size "huge" in "fireworks_zone"/],
    ['fireworks_zone z 1m; fireworks_zone y 1m;',
        qr/"fireworks_zone" directive is duplicate/],
    ['fireworks_gate on;', qr/need a "fireworks_zone"/],
    ['fireworks_retry_budget 20%;', qr/need a "fireworks_zone"/],
    ['fireworks_max_waiting 10;', qr/need a "fireworks_zone"/],
);

for my $case (@zone) {
    my ($http, $re) = @$case;
    my ($rc, $out) = $t->test_conf(conf($http, 'fireworks_pass /_fireworks$uri;'));
    isnt($rc, 0, "nginx -t fails: $http");
    like($out, $re, "message names directive and value: $http");
}

my ($rc, $out) = $t->test_conf(conf('', 'fireworks_metrics;'));
isnt($rc, 0, 'fireworks_metrics without a zone fails');
like($out, qr/"fireworks_metrics" needs a "fireworks_zone"/,
    'fireworks_metrics without a zone: message');

for my $g ('fireworks_retry_budget 20% min=3;', 'fireworks_retry_budget off;',
    'fireworks_retry_budget 5%;', 'fireworks_max_waiting 2000;',
    'fireworks_max_waiting off;', 'fireworks_gate on;', 'fireworks_gate off;',
    'fireworks_gate all;', 'fireworks_client_retry off;',
    'fireworks_log_level notice;', 'fireworks_log_level error;',
    'fireworks_client_retry on;', 'fireworks_client_retry auto;',
    'fireworks_route chat;', 'fireworks_deadline 24h;')
{
    my ($rc, $out) = $t->test_conf(conf('fireworks_zone z 1m;',
        "fireworks_pass /_fireworks\$uri; $g"));
    is($rc, 0, "valid: $g") or diag $out;
}

# fireworks_pass outside a location

($rc, $out) = $t->test_conf(conf('fireworks_pass /x;', ''));
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
