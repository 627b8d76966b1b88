#!/usr/bin/perl

# The Debian recipe (docs/deploy/debian.md) on a copy of this machine's
# /etc/nginx: the module installed and loaded from modules-enabled as the
# recipe says, docs/deploy/debian/fireworks.conf dropped into conf.d,
# "nginx -t", a reload of the running nginx, and a chat completion that
# reaches the stand-in API through TLS with SNI and certificate checks,
# retried once.  Also: a module built for another nginx version is
# refused, with the message the recipe quotes.  And the Docker recipe's
# nginx.conf with its template rendered both ways: the client's key passed
# on, or the gateway's own sent instead.
#
# Nothing outside the test's directory is written: the copy's absolute
# paths are rewritten to it, and nginx runs with its own prefix (standing
# in for /usr/share/nginx) and pid file.
#
# With another nginx than Debian's under test (./build.sh compat,
# --sanitize), the distribution's modules that do not load into it are
# left out of the copy's modules-enabled, and the rest runs the same.
# The module "of another version" is one that ./build.sh left in build/.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Files qw/read_file write_file/;
use FW qw/http_raw/;

my $root = "$FindBin::Bin/..";
my $t = FW->new();

plan(skip_all => 'no /etc/nginx/nginx.conf to copy')
    unless -f '/etc/nginx/nginx.conf';
plan(skip_all => 'no openssl') if system('openssl version >/dev/null 2>&1');

my $d = $t->dir;
my $nginx = $t->{binary};
my $gw = $t->port('gw');
my $tls = $t->port('tls');
my $api = $t->api_port;

sub run_nginx {
    my ($prefix, @args) = @_;
    my $out = `$nginx -p $prefix/ -c $d/etc/nginx/nginx.conf @args 2>&1`;
    return ($? >> 8, $out);
}

# what the recipe says

my $doc = read_file("$root/docs/deploy/debian.md");

my ($load) = $doc =~
    m{^(load_module modules/ngx_http_fireworks_module\.so;)$}m;
ok($load, 'debian.md: the load_module line');
like($doc, qr{/etc/nginx/modules-enabled/50-mod-http-fireworks\.conf},
    'debian.md: the modules-enabled file');
like($doc, qr{/usr/lib/nginx/modules/ngx_http_fireworks_module\.so},
    'debian.md: the module file');
my $copy = qr{docs/deploy/debian/fireworks\.conf\s+\\?\s*};
like($doc, qr{$copy/etc/nginx/conf\.d/fireworks\.conf},
    'debian.md: fireworks.conf into conf.d');

# the "running system": a copy of /etc/nginx, its absolute paths moved
# into the test directory; the default site is left out (it listens on
# port 80), the temp paths compiled into Debian's nginx (/var/lib/nginx)
# are moved too

system('mkdir', '-p', "$d/etc", "$d/prefix/modules", "$d/log") == 0
    or die "mkdir\n";
system('cp', '-a', '/etc/nginx', "$d/etc/") == 0 or die "cp /etc/nginx\n";
unlink glob("$d/etc/nginx/sites-enabled/*");

my $main = read_file("$d/etc/nginx/nginx.conf");
$main =~ s{/etc/nginx/}{$d/etc/nginx/}g;
$main =~ s{^(\s*pid\s+)\S+;}{$1$d/nginx.pid;}m;
$main =~ s{/var/log/nginx/}{$d/}g;
write_file("$d/etc/nginx/nginx.conf", $main);
like($main, qr{include \Q$d\E/etc/nginx/modules-enabled/\*\.conf;},
    'nginx.conf includes modules-enabled');
like($main, qr{include \Q$d\E/etc/nginx/conf\.d/\*\.conf;},
    'nginx.conf includes conf.d');

write_file("$d/etc/nginx/conf.d/00-test-paths.conf", join '',
    map { "${_}_temp_path $d/$_;\n" }
    qw/client_body proxy fastcgi uwsgi scgi/);

# the distribution's modules, as /usr/share/nginx/modules shows them

for my $so (glob('/usr/lib/nginx/modules/*.so')) {
    (my $name = $so) =~ s{.*/}{};
    symlink $so, "$d/prefix/modules/$name";
}

# Debian's modules load only into Debian's nginx: with another nginx
# under test (./build.sh compat, --sanitize) the copy keeps only those of
# modules-enabled that load into it

my @loads;

for my $en (sort glob("$d/etc/nginx/modules-enabled/*.conf")) {
    write_file("$d/modcheck.conf", join('', map { "include $_;\n" } @loads, $en)
        . "pid $d/modcheck.pid;\nevents { }\n");
    my $out = `$nginx -t -p $d/prefix/ -c $d/modcheck.conf -e $d/modcheck.log 2>&1`;
    if ($? == 0) {
        push @loads, $en;
        next;
    }
    my ($why) = $out =~ /\[emerg\] (.*)/;
    note("left out of the copy: $en: " . ($why || $out));
    unlink $en;
}

# api.fireworks.ai:443 stands in as a TLS server of this nginx with a
# certificate for api.fireworks.ai, in front of the stand-in API

system("openssl req -x509 -newkey rsa:2048 -nodes -days 2"
    . " -keyout $d/api.key -out $d/api.crt -subj /CN=api.fireworks.ai"
    . " -addext subjectAltName=DNS:api.fireworks.ai >/dev/null 2>&1") == 0
    or die "openssl req failed\n";

write_file("$d/etc/nginx/conf.d/zz-test-standin.conf", <<"EOF");
server {
    listen 127.0.0.1:$tls ssl;
    ssl_certificate $d/api.crt;
    ssl_certificate_key $d/api.key;
    access_log $d/standin.log;

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

$t->start_api;

my ($rc, $out) = run_nginx("$d/prefix", "-e $d/error.log");
is($rc, 0, 'the copy of /etc/nginx runs') or diag $out;
$t->{running} = 1;
ok(FW::wait_port($tls), 'the TLS stand-in listens');

# the recipe: install the module, load it, add fireworks.conf, test, reload

system('install', '-m', '644', $t->{module},
    "$d/prefix/modules/ngx_http_fireworks_module.so") == 0
    or die "install\n";
write_file("$d/etc/nginx/modules-enabled/50-mod-http-fireworks.conf", "$load\n");

my $conf = read_file("$root/docs/deploy/debian/fireworks.conf");
ok($conf =~ s/api\.fireworks\.ai:443/127.0.0.1:$tls/g, 'upstream moved');
ok($conf =~ s/^(\s*)listen 8080;/${1}listen 127.0.0.1:$gw;/m, 'port moved');
ok($conf =~ s{/etc/ssl/certs/ca-certificates\.crt}{$d/api.crt}g,
    'trusted certificates: the stand-in\'s');
$conf =~ s{/var/log/nginx/}{$d/}g;
write_file("$d/etc/nginx/conf.d/fireworks.conf", $conf);

($rc, $out) = run_nginx("$d/prefix", "-t -e $d/test-error.log");
is($rc, 0, 'nginx -t') or diag $out;
like($out, qr/test is successful/, 'nginx -t: successful');

($rc, $out) = run_nginx("$d/prefix", "-s reload -e $d/error.log");
is($rc, 0, 'nginx -s reload') or diag $out;
ok(FW::wait_port($gw), 'the gateway listens after the reload');

# a chat completion: 503 first, then 200

my $body = '{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",'
    . '"messages":[{"role":"user","content":"Say hello"}]}';

my $r = $t->http(port => $gw, uri => '/inference/v1/chat/completions',
    body => $body, script => '503,200', id => 'chat',
    headers => { Authorization => 'Bearer fw-client-key' });

is($r->{status}, 200, 'chat: 200');
like($r->{body}, qr/"object":"chat\.completion"/, 'chat: the completion');

my $a = $t->attempts('chat');
is(scalar @$a, 2, 'chat: two attempts reached the API');
is($a->[1]{url}, '/inference/v1/chat/completions', 'chat: the API path');
is($a->[1]{headers}{host}, 'api.fireworks.ai', 'chat: Host');
is($a->[1]{headers}{'x-test-sni'}, 'api.fireworks.ai', 'chat: SNI');
is($a->[1]{headers}{authorization}, 'Bearer fw-client-key',
    'chat: the client\'s key passed on');
is($a->[0]{port}, $a->[1]{port}, 'chat: the retry reused the connection');

# the agentic prefix reaches the same API path

$r = $t->http(port => $gw, uri => '/agents/inference/v1/chat/completions',
    body => $body, script => '200', id => 'agents');
is($r->{status}, 200, 'agents: 200');
is($t->attempts('agents')->[0]{url}, '/inference/v1/chat/completions',
    'agents: the API path');

# what fireworks.conf logs

my $log = '';
for (1 .. 20) {
    $log = $t->read_file('fireworks.log');
    last if $log =~ /agents/;
    select undef, undef, undef, 0.1;
}
my $line = qr{"POST /inference/v1/chat/completions HTTP/1.1" 200 .*};
like($log,
    qr{$line attempts=2 statuses="503, 200" waited=\d+\.\d+ outcome=done},
    'fireworks.log: attempts, statuses, outcome');

# The Docker recipe's nginx.conf and default.conf.template, rendered as the
# official image's entrypoint renders templates (NGINX_ENVSUBST_FILTER as
# the Dockerfile sets it), in a second nginx whose prefix stands in for the
# image's /etc/nginx: FIREWORKS_API_KEY set replaces the client's key, an
# empty one passes it on.

my $dd = "$d/docker";
system('mkdir', '-p', "$dd/prefix/modules", "$dd/conf.d") == 0
    or die "mkdir\n";
system('install', '-m', '644', $t->{module},
    "$dd/prefix/modules/ngx_http_fireworks_module.so") == 0
    or die "install\n";

my $dgw = $t->port('docker');
my $dmain = read_file("$root/docs/deploy/docker/nginx.conf");
like($dmain, qr{^load_module modules/ngx_http_fireworks_module\.so;}m,
    'docker: nginx.conf loads the module');
$dmain =~ s/^user .*$//m;                       # no user "nginx" here
$dmain =~ s{^(\s*pid\s+)\S+;}{$1$dd/nginx.pid;}m;
$dmain =~ s{/var/log/nginx/}{$dd/}g;
ok($dmain =~ s{include /etc/nginx/conf\.d/}{include $dd/conf.d/},
    'docker: conf.d');
ok($dmain =~ s/api\.fireworks\.ai:443/127.0.0.1:$tls/,
    'docker: upstream moved');
write_file("$dd/nginx.conf", $dmain);

write_file("$dd/conf.d/00-test-paths.conf", join '',
    map { "${_}_temp_path $dd/$_;\n" }
    qw/client_body proxy fastcgi uwsgi scgi/);

sub render {
    my ($key) = @_;
    my $tpl = read_file("$root/docs/deploy/docker/default.conf.template");
    local %ENV = (%ENV, NGINX_ENVSUBST_FILTER => 'FIREWORKS_',
        FIREWORKS_API_KEY => $key);
    # the substitution of the image's 20-envsubst-on-templates.sh
    $tpl =~ s|\$(\{)?($ENV{NGINX_ENVSUBST_FILTER}\w*)(?(1)\})
             |$ENV{$2} // $&|gex;
    $tpl =~ s/^(\s*)listen 8080;/${1}listen 127.0.0.1:$dgw;/m;
    $tpl =~ s{/etc/ssl/certs/ca-certificates\.crt}{$d/api.crt}g;
    write_file("$dd/conf.d/default.conf", $tpl);
}

my $dn = "$nginx -p $dd/prefix/ -c $dd/nginx.conf -e $dd/error.log";

END {
    # should a test die with the second nginx still running
    if (defined $dd && -f "$dd/nginx.pid") {
        my $pid = read_file("$dd/nginx.pid") =~ s/\s+//gr;
        kill 'QUIT', $pid if $pid && kill 0, $pid;
    }
}

render('fw-gateway-key');
$out = `$dn 2>&1`;
is($? >> 8, 0, 'docker: nginx starts') or diag $out;
ok(FW::wait_port($dgw), 'docker: the gateway listens');

$r = $t->http(port => $dgw, uri => '/inference/v1/chat/completions',
    body => $body, script => '429,200', id => 'docker-key',
    headers => { Authorization => 'Bearer fw-client-key' });
is($r->{status}, 200, 'docker, key set: 200');
$a = $t->attempts('docker-key');
is(scalar @$a, 2, 'docker, key set: two attempts');
is($a->[1]{headers}{authorization}, 'Bearer fw-gateway-key',
    'docker, key set: the gateway\'s key sent');

render('');
$out = `$dn -s reload 2>&1`;
is($? >> 8, 0, 'docker: reload with FIREWORKS_API_KEY empty') or diag $out;
select undef, undef, undef, 0.5;

$r = $t->http(port => $dgw, uri => '/long/inference/v1/chat/completions',
    body => $body, script => '200', id => 'docker-client',
    headers => { Authorization => 'Bearer fw-client-key' });
is($r->{status}, 200, 'docker, key empty: 200');
$a = $t->attempts('docker-client');
is($a->[0]{headers}{authorization}, 'Bearer fw-client-key',
    'docker, key empty: the client\'s key sent');
is($a->[0]{url}, '/inference/v1/chat/completions', 'docker: the API path');

my $dpid = read_file("$dd/nginx.pid") =~ s/\s+//gr;
kill 'QUIT', $dpid;
for (1 .. 50) { last unless kill 0, $dpid; select undef, undef, undef, 0.1 }
ok(!kill(0, $dpid), 'docker: nginx stopped');
unlike(read_file("$dd/error.log"), qr/\[(alert|crit|emerg)\]|exited on signal/,
    'docker: no alert, crit or emerg in error.log');

# a module built for another nginx version is refused, as the recipe says:
# one that ./build.sh left in build/ (NGINX_SRC, compat, --sanitize)

my ($mine) = `$nginx -v 2>&1` =~ m{nginx/(\d+\.\d+\.\d+)};
my $num = sub { sprintf '%d%03d%03d', split /\./, $_[0] };
my ($other, $other_v);

for my $so (sort glob("$root/build/objs-nginx-*/ngx_http_fireworks_module.so"),
    sort glob("$root/build/nginx-*/objs/ngx_http_fireworks_module.so"))
{
    next if $so =~ m{-sanitize/};       # needs nginx linked with ASan
    next unless $so =~ m{/(?:objs-)?nginx-(\d+\.\d+\.\d+)[-/]};
    next if $1 eq ($mine // '');
    ($other, $other_v) = ($so, $1);
    last;
}

SKIP: {
    skip 'no module built for another nginx version in build/', 2
        unless $other;

    system('mkdir', '-p', "$d/other/modules") == 0 or die "mkdir\n";
    symlink $_, "$d/other/modules/" . ($_ =~ s{.*/}{}r)
        for glob('/usr/lib/nginx/modules/*.so');
    system('install', '-m', '644', $other,
        "$d/other/modules/ngx_http_fireworks_module.so") == 0
        or die "install\n";

    ($rc, $out) = run_nginx("$d/other", "-t -e $d/other-error.log");
    isnt($rc, 0, 'another version: nginx -t fails');
    my $so = qr{"\Q$d\E/other/modules/ngx_http_fireworks_module\.so"};
    my $in = qr{\Q$d\E/etc/nginx/modules-enabled/50-mod-http-fireworks\.conf};
    my $v = $num->($other_v);
    like($out, qr{\[emerg\] module $so version $v instead of \d+ in $in:1},
        "another version ($other_v): the message") or diag $out;
}

$t->finish;
done_testing;
