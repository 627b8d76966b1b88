#!/usr/bin/perl

# The Kubernetes recipes' nginx fragments, put together as each
# controller puts them together, pass "nginx -t", and the gateway they
# make retries a chat completion that the API answers 503 then 200, through
# TLS with SNI and certificate checks as against api.fireworks.ai:
#
#   docs/deploy/nginx-ingress/   F5 NGINX Ingress Controller 5.5.4: the
#       ConfigMap's main-snippets and http-snippets (values.yaml) and the
#       Ingress's nginx.org/server-snippets (ingress.yaml), where
#       internal/configs/version1/nginx.tmpl and nginx.ingress.tmpl put
#       them: main-snippets before the controller's load_module and
#       "events", http-snippets at the top of "http", server-snippets in
#       the host's server before its locations;
#   docs/deploy/gateway-fabric/  NGINX Gateway Fabric 2.6.7: the
#       SnippetsFilter's main, http and http.server snippets
#       (gateway.yaml), included as internal/controller/nginx/conf/
#       nginx.conf and config/*_template.go include them: main from
#       main-includes/ before "events", http in conf.d/http.conf, server in
#       the route hostname's server before its locations.
#
# The controllers' own configuration around the snippets is reduced to
# what shapes where the snippets land: the default server, the host's
# server, its location for the route's path with the proxy_pass to the
# route's Service.  Their njs and otel modules are left out.
#
# Also, what the recipes warn about: the same directives as a location
# snippet (nginx.org/location-snippets, a SnippetsFilter's
# http.server.location) land before the generated proxy_pass, which would
# take the location's content handler over and leave every request
# unretried: nginx -t refuses it, naming both.
#
# The YAML files are read with CPAN::Meta::YAML (core Perl), which drops
# comment lines in block scalars; nginx would ignore them.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use CPAN::Meta::YAML;
use Test::More;
use FW qw/http_raw/;

my $root = "$FindBin::Bin/..";
my $t = FW->new();
my $d = $t->dir;

plan(skip_all => 'no openssl') if system('openssl version >/dev/null 2>&1');

my @nv = `$t->{binary} -v 2>&1` =~ m{nginx/(\d+)\.(\d+)\.(\d+)};
my $nginx_num = sprintf '%d%03d%03d', @nv;

sub yaml {
    my ($file) = @_;
    my $y = CPAN::Meta::YAML->read("$root/docs/deploy/$file")
        or die "$file: " . CPAN::Meta::YAML->errstr . "\n";
    return @$y;
}

sub spew {
    my ($name, $content) = @_;
    $t->write_file($name, $content);
}

# api.fireworks.ai:443 stands in as a TLS server of the same nginx, with
# a certificate for api.fireworks.ai, in front of the stand-in API

system("openssl req -x509 -newkey rsa:2048 -nodes -days 2"
    . " -keyout $d/api.key -out $d/api.crt -subj /CN=api.fireworks.ai"
    . " -addext subjectAltName=DNS:api.fireworks.ai >/dev/null 2>&1") == 0
    or die "openssl req failed\n";

my $tls = $t->port('tls');
my $api = $t->api_port;

my $standin = <<"EOF";
server {
    listen 127.0.0.1:$tls ssl;
    ssl_certificate $d/api.crt;
    ssl_certificate_key $d/api.key;
    location / {
        proxy_pass http://127.0.0.1:$api;
        proxy_set_header Host \$host;
        proxy_set_header X-Test-SNI \$ssl_server_name;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
    }
}
EOF

# what a snippet needs to run here: the module where "modules/" finds it
# (the test's prefix), the API's address and certificate

symlink $t->{module}, "$d/modules/ngx_http_fireworks_module.so"
    if mkdir "$d/modules";

sub adapt {
    my ($s) = @_;
    $s =~ s/api\.fireworks\.ai:443/127.0.0.1:$tls/g;
    $s =~ s{/etc/ssl/certs/ca-certificates\.crt}{$d/api.crt}g;
    return $s;
}

my $temp = join '', map { "${_}_temp_path $d/$_;\n" }
    qw/client_body proxy fastcgi uwsgi scgi/;

$t->start_api;

my $body = '{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",'
    . '"messages":[{"role":"user","content":"Say hello"}]}';

# a chat completion to the host llm.example.com: the controllers' default
# servers answer other names with 404

sub chat {
    my ($port, $uri, $script, $id) = @_;
    my $raw = http_raw($port, "POST $uri HTTP/1.1\r\n"
        . "Host: llm.example.com\r\nConnection: close\r\n"
        . "Content-Type: application/json\r\n"
        . "Authorization: Bearer fw-client-key\r\n"
        . "X-FW-Script: $script\r\nX-FW-Id: $id\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body");
    my ($status) = $raw =~ m{^HTTP/1\.[01] (\d+)};
    return $status || 0;
}

# runs an assembled configuration: nginx -t, start, a retried chat, stop

my $n = 0;

sub stop_nginx {
    my ($pidfile) = @_;
    open my $fh, '<', $pidfile or return;
    chomp(my $pid = <$fh> // '');
    return unless $pid && kill 0, $pid;
    kill 'QUIT', $pid;
    for (1 .. 100) { last unless kill 0, $pid; select undef, undef, undef, 0.1 }
    kill 'TERM', $pid if kill 0, $pid;
}

END {
    # should a test die with an nginx still running
    local $?;
    stop_nginx($_) for glob("$d/k8s-*.pid");
}

sub run_conf {
    my ($name, $conf, %o) = @_;
    my $c = "k8s-" . ++$n;
    spew("$c.conf", $conf);
    my $port = $o{port};
    my $cmd = "$t->{binary} -p $d/ -c $d/$c.conf -e $d/error.log";

    if ($o{refused}) {
        my $out = `$t->{binary} -p $d/ -c $d/$c.conf -e $d/$c-error.log -t 2>&1`;
        isnt($? >> 8, 0, "$name: nginx -t fails");
        like($out, $o{refused}, "$name: nginx -t says why");
        return;
    }

    my $out = `$cmd -t 2>&1`;
    is($? >> 8, 0, "$name: nginx -t") or diag $out;
    return if $?;

    $out = `$cmd 2>&1`;
    is($? >> 8, 0, "$name: nginx starts") or diag $out;
    ok(FW::wait_port($port), "$name: listens");

    my $id = "$c-chat";
    my $status = chat($port, $o{uri} || '/inference/v1/chat/completions',
        '503,200', $id);
    my $a = $t->attempts($id);

    if ($o{unretried}) {
        is($status, 503, "$name: the 503 reaches the client");
        is(scalar @$a, 1, "$name: one attempt, not retried");
    } else {
        is($status, 200, "$name: 200");
        is(scalar @$a, 2, "$name: 503 retried");
        is($a->[1]{url}, '/inference/v1/chat/completions', "$name: API path");
        is($a->[1]{headers}{'x-test-sni'}, 'api.fireworks.ai', "$name: SNI");
        is($a->[1]{headers}{authorization}, 'Bearer fw-client-key',
            "$name: the client's key");
    }

    stop_nginx("$d/$c.pid");
}


# F5 NGINX Ingress Controller

my ($nic_values) = yaml('nginx-ingress/values.yaml');
my ($nic_ing) = yaml('nginx-ingress/ingress.yaml');
my $entries = $nic_values->{controller}{config}{entries};

is($nic_values->{controller}{enableSnippets}, 'true',
    'nginx-ingress: enableSnippets');
like($entries->{'main-snippets'} || '',
    qr{^load_module modules/ngx_http_fireworks_module\.so;$}m,
    'nginx-ingress: main-snippets loads the module');
ok($entries->{'http-snippets'}, 'nginx-ingress: http-snippets');
my $server_snippets =
    $nic_ing->{metadata}{annotations}{'nginx.org/server-snippets'};
ok($server_snippets, 'nginx-ingress: nginx.org/server-snippets');

my @nic_paths = map { $_->{path} }
    map { @{$_->{http}{paths}} } @{$nic_ing->{spec}{rules}};
my $fallback = $t->port('fallback');

sub nic_conf {
    my (%o) = @_;
    my $port = $t->port("nic$n");
    my $p = $o{port} = $port;
    my $upstream = $o{upstream} // $fallback;
    my $locations = join '', map { <<"EOF" } @{$o{paths} || \@nic_paths};
    location $_ {
        set \$service "fireworks-gateway-fallback";
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        @{[ $o{location} || '' ]}
        proxy_connect_timeout 60s;
        proxy_read_timeout 60s;
        proxy_send_timeout 60s;
        client_max_body_size 1m;
        proxy_set_header Host \$host;
        proxy_set_header X-Real-IP \$remote_addr;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Host \$host;
        proxy_set_header X-Forwarded-Port \$server_port;
        proxy_set_header X-Forwarded-Proto \$scheme;
        proxy_buffering on;
        proxy_pass http://llm-fireworks-gateway-llm.example.com-fireworks-gateway-fallback-80;
    }
EOF

    return (<<"EOF", %o);
worker_processes 1;
error_log $d/error.log info;
pid $d/k8s-@{[ $n + 1 ]}.pid;
@{[ $> == 0 ? 'user root;' : '' ]}
@{[ adapt($entries->{'main-snippets'}) ]}
events {
    worker_connections 1024;
}

http {
    default_type application/octet-stream;
    $temp
@{[ adapt($entries->{'http-snippets'}) ]}
    log_format main '\$remote_addr - \$remote_user [\$time_local] "\$request" '
                    '\$status \$body_bytes_sent "\$http_referer" '
                    '"\$http_user_agent" "\$http_x_forwarded_for"';
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }
    map \$http_host \$resource_type { default ""; }
    map \$http_host \$resource_name { default ""; }
    map \$http_host \$resource_namespace { default ""; }
    map \$http_host \$service { default ""; }
    access_log $d/access.log main;
    sendfile on;
    keepalive_timeout 75s;

    server {
        listen 127.0.0.1:$p default_server;
        server_tokens on;
        location / { return 404; }
    }

    # conf.d/llm-fireworks-gateway.conf
    upstream llm-fireworks-gateway-llm.example.com-fireworks-gateway-fallback-80 {
        zone llm-fireworks-gateway-llm.example.com-fireworks-gateway-fallback-80 256k;
        random two least_conn;
        server 127.0.0.1:$upstream max_fails=1 fail_timeout=10s max_conns=0;
    }

    server {
        listen 127.0.0.1:$p;
        server_tokens on;
        server_name llm.example.com;
        set \$resource_type "ingress";
        set \$resource_name "fireworks-gateway";
        set \$resource_namespace "llm";
        set \$service "-";
@{[ adapt($o{server} // $server_snippets) ]}
$locations
    }

$standin
}
EOF
}

run_conf('nginx-ingress', nic_conf());

# the trap: the public location as a location snippet, in the location
# the controller generates for an Ingress path of /inference/v1/ whose
# Service is the API itself

{
    my ($internal) = $server_snippets =~ /(location \^~ \/_fireworks\/ \{.*?\n\})/s;
    ok($internal, 'nginx-ingress: the internal location');
    run_conf('nginx-ingress, fireworks_pass in location-snippets', nic_conf(
        paths => ['/inference/v1/'], upstream => $api, server => $internal,
        location => "fireworks_pass /_fireworks\$uri;\n"
            . "fireworks_workload interactive;"),
        refused => qr/"fireworks_pass" and another content handler/);
}


# NGINX Gateway Fabric

my (undef, $sf, $route) = yaml('gateway-fabric/gateway.yaml');
is($sf->{kind}, 'SnippetsFilter', 'gateway-fabric: SnippetsFilter');
my %snip = map { $_->{context} => $_->{value} } @{$sf->{spec}{snippets}};
like($snip{main} || '',
    qr{^load_module modules/ngx_http_fireworks_module\.so;$}m,
    'gateway-fabric: main snippet loads the module');
ok($snip{http}, 'gateway-fabric: http snippet');
ok($snip{'http.server'}, 'gateway-fabric: http.server snippet');
ok(!$snip{'http.server.location'}, 'gateway-fabric: no location snippet');
is($route->{spec}{rules}[0]{filters}[0]{extensionRef}{name},
    $sf->{metadata}{name}, 'gateway-fabric: the HTTPRoute uses the filter');

my @ngf_paths = map { $_->{path}{value} } map { @{$_->{matches}} }
    @{$route->{spec}{rules}};

sub ngf_conf {
    my (%o) = @_;
    my $p = $o{port} = $t->port("ngf$n");
    my $c = $n + 1;
    my $inc = "$d/ngf-$c";
    mkdir $inc;
    mkdir "$inc/$_" for qw/main-includes includes conf.d/;

    # the files of main_config_template.go and includes.go
    spew("ngf-$c/includes/SnippetsFilter_main_llm_fireworks-gateway.conf",
        adapt($snip{main}));
    spew("ngf-$c/main-includes/main.conf", "error_log $d/error.log info;\n\n"
        . "include $inc/includes/SnippetsFilter_main_llm_fireworks-gateway.conf;\n");
    spew("ngf-$c/includes/SnippetsFilter_http_llm_fireworks-gateway.conf",
        adapt($snip{http}));
    spew("ngf-$c/includes/SnippetsFilter_server_llm_fireworks-gateway.conf",
        adapt($o{server} // $snip{'http.server'}));
    spew("ngf-$c/includes/SnippetsFilter_location_llm_fireworks-gateway.conf",
        $o{location} // '');

    my $loc_inc = defined $o{location} ? "include $inc/includes/"
        . "SnippetsFilter_location_llm_fireworks-gateway.conf;" : '';
    my $upstream = $o{upstream} // $t->port('fallback');

    # servers_template.go, base_http_config_template.go
    my $locations = join '', map { <<"EOF" } @{$o{paths} || \@ngf_paths};
    location $_ {
        $loc_inc
        proxy_http_version 1.1;
        proxy_set_header Host "\$gw_api_compliant_host";
        proxy_set_header X-Forwarded-For "\$proxy_add_x_forwarded_for";
        proxy_set_header X-Real-IP "\$remote_addr";
        proxy_set_header X-Forwarded-Proto "\$scheme";
        proxy_set_header X-Forwarded-Host "\$host";
        proxy_set_header X-Forwarded-Port "\$server_port";
        proxy_set_header Upgrade "\$http_upgrade";
        proxy_set_header Connection "\$connection_upgrade";
        proxy_pass http://llm_fireworks-gateway-fallback_80\$request_uri;
    }
EOF

    my $http2 = $nginx_num >= 1025001 ? 'http2 on;' : '';
    spew("ngf-$c/conf.d/http.conf", <<"EOF");
$http2
map \$http_host \$gw_api_compliant_host {
    '' \$host;
    default \$http_host;
}
map \$http_upgrade \$connection_upgrade {
    default upgrade;
    '' close;
}
map \$http_upgrade \$connection_keepalive {
    default upgrade;
    '' '';
}
map \$request_uri \$request_uri_path {
  "~^(?P<path>[^?]*)(\\?.*)?\$"  \$path;
}

include $inc/includes/SnippetsFilter_http_llm_fireworks-gateway.conf;

server_tokens on;

upstream llm_fireworks-gateway-fallback_80 {
    random two least_conn;
    zone llm_fireworks-gateway-fallback_80 512k;
    server 127.0.0.1:$upstream;
}

server {
    listen 127.0.0.1:$p default_server;
    default_type text/html;
    return 404;
}

server {
    listen 127.0.0.1:$p;
    server_name llm.example.com;
    include $inc/includes/SnippetsFilter_server_llm_fireworks-gateway.conf;
$locations
}

$standin
EOF

    # nginx.conf of the data-plane image
    return (<<"EOF", %o);
include $inc/main-includes/*.conf;

worker_processes 1;
pid $d/k8s-$c.pid;
@{[ $> == 0 ? 'user root;' : '' ]}

events {
  worker_connections 1024;
}

http {
  default_type application/octet-stream;
  $temp
  access_log $d/access.log;

  proxy_headers_hash_bucket_size 512;
  proxy_headers_hash_max_size 1024;
  server_names_hash_bucket_size 512;
  server_names_hash_max_size 1024;
  variables_hash_bucket_size 512;
  variables_hash_max_size 1024;
  map_hash_bucket_size 512;
  map_hash_max_size 2048;

  sendfile on;
  tcp_nopush on;

  include $inc/conf.d/*.conf;
}
EOF
}

run_conf('gateway-fabric', ngf_conf());

# the trap: the public location as an http.server.location snippet of a
# rule whose backend is the API itself

{
    my ($internal) = $snip{'http.server'}
        =~ /(location \^~ \/_fireworks\/ \{.*?\n\})/s;
    ok($internal, 'gateway-fabric: the internal location');
    run_conf('gateway-fabric, fireworks_pass in http.server.location',
        ngf_conf(paths => ['/inference/v1/'], server => $internal,
            upstream => $api,
            location => "fireworks_pass /_fireworks\$uri;\n"
                . "fireworks_workload interactive;\n"),
        refused => qr/"fireworks_pass" and another content handler/);
}

$t->finish;
done_testing;
