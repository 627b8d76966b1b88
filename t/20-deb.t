#!/usr/bin/perl

# The Debian package, on this machine's nginx: "./build.sh deb" builds it
# (debhelper, the nginx sequence of nginx-dev) and lintian finds no error;
# "apt-get install ./libnginx-mod-http-fireworks_*.deb" installs it and
# links modules-available/mod-http-fireworks.conf into
# /etc/nginx/modules-enabled as Debian's own module packages do; the
# machine's configuration passes "nginx -t" with it; an nginx that loads
# modules-enabled/*.conf as Debian's nginx.conf does, with the default
# prefix, retries a 503; "apt-get remove" disables it, "apt-get purge"
# leaves nothing of it.
#
# The machine is left as it was found, also when a test fails: the END
# block purges the package if this test installed it.  The test skips
# when the package, or a hand-installed copy of the module, is already
# there, and when the nginx under test is not Debian's.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Cwd qw/realpath/;
use Test::More;
use FW;

my $root = realpath("$FindBin::Bin/..");
my $pkg = 'libnginx-mod-http-fireworks';
my $so = '/usr/lib/nginx/modules/ngx_http_fireworks_module.so';
my $avail = '/usr/share/nginx/modules-available/mod-http-fireworks.conf';
my $enabled = '/etc/nginx/modules-enabled/50-mod-http-fireworks.conf';
my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';

plan(skip_all => 'needs root (apt-get install)') if $> != 0;
plan(skip_all => 'not a Debian system')
    unless -x '/usr/bin/apt-get' && -f '/etc/debian_version';
plan(skip_all => "the package is for Debian's nginx, not $nginx")
    unless -x '/usr/sbin/nginx'
    && realpath($nginx) eq realpath('/usr/sbin/nginx');

sub status { `dpkg-query -W -f='\${Status}' $pkg 2>/dev/null` }
sub present { status() =~ /\S/ && status() !~ /not-installed$/ }

plan(skip_all => "$pkg is on this machine (" . status() . '): left alone')
    if present();
for my $f ($so, $avail, $enabled, "$enabled.removed") {
    plan(skip_all => "$f exists (a hand-installed module?): left alone")
        if -e $f || -l $f;
}

my $t = FW->new();
my $d = $t->dir;
my $installed;

END {
    # whatever happened: nothing of the package stays (and the test's
    # exit status stays the test's)
    local $?;
    if ($installed && present()) {
        system("DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $pkg"
            . " >/dev/null 2>&1");
    }
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

# the machine's nginx configuration, before: "nginx -t" must pass after
# installing only if it passed before

my $before = `/usr/sbin/nginx -t 2>&1`;
my $before_ok = $? == 0;

# build

my $out = `$root/build.sh deb 2>&1`;
is($? >> 8, 0, './build.sh deb') or diag $out;

chomp(my $version = slurp("$root/VERSION"));
chomp(my $arch = `dpkg --print-architecture`);
my $deb = "$root/build/${pkg}_$version-1_$arch.deb";
if (!ok(-f $deb, "build/${pkg}_$version-1_$arch.deb")) {
    done_testing;
    exit;
}

my $lintian = slurp("$root/build/deb/lintian.log");
unlike($lintian, qr/^E: /m, 'lintian: no error') or diag $lintian;
note("lintian: $_") for grep { /^[WIP]: / } split /\n/, $lintian;

my $fields = `dpkg-deb -f $deb Package Version Depends`;
like($fields, qr/^Version: \Q$version\E-1$/m, 'version from VERSION');
my ($abi) = slurp('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars')
    =~ /^nginx:abi=(\S+)/m;
like($fields, qr/^Depends: .*\b\Q$abi\E\b/m,
    "depends on $abi, the ABI of this nginx");

# install

$out = `DEBIAN_FRONTEND=noninteractive apt-get install -y $deb 2>&1`;
$installed = 1;
is($? >> 8, 0, 'apt-get install ./' . ($deb =~ s{.*/}{}r)) or diag $out;
is(status(), 'install ok installed', 'dpkg: installed');

my $files = `dpkg -L $pkg`;
like($files, qr/^\Q$_\E$/m, "dpkg -L: $_") for $so, $avail;
is(readlink($enabled), $avail, 'modules-enabled link, priority 50');
is(slurp($avail), "load_module modules/ngx_http_fireworks_module.so;\n",
    'mod-http-fireworks.conf loads the module');

SKIP: {
    skip "the machine's nginx configuration failed before: $before", 2
        unless $before_ok;
    $out = `/usr/sbin/nginx -t 2>&1`;
    is($? >> 8, 0, "nginx -t: the machine's configuration") or diag $out;
    like(`/usr/sbin/nginx -T 2>/dev/null`,
        qr{^# configuration file \Q$enabled\E:\nload_module modules/ngx_http_fireworks_module\.so;}m,
        'nginx -T: the module is loaded from modules-enabled');
}

# an nginx of its own (pid, logs, temp files and port in the test's
# directory) that loads modules-enabled as Debian's nginx.conf does, with
# the default prefix: "modules/" is /usr/share/nginx/modules

my $conf = <<"EOF";
include /etc/nginx/modules-enabled/*.conf;
pid $d/nginx.pid;
error_log $d/error.log info;
user root;
worker_processes 1;
events { }
http {
    access_log $d/access.log;
    client_body_temp_path $d/client_body_temp;
    proxy_temp_path $d/proxy_temp;
    fastcgi_temp_path $d/fastcgi_temp;
    uwsgi_temp_path $d/uwsgi_temp;
    scgi_temp_path $d/scgi_temp;

    upstream api {
        server 127.0.0.1:@{[ $t->api_port ]};
        keepalive 8;
    }

    server {
        listen 127.0.0.1:@{[ $t->nginx_port ]};

        location /inference/v1/ {
            fireworks_pass /_fireworks\$uri;
            fireworks_workload interactive;
        }

        location /_fireworks/ {
            internal;
            proxy_pass http://api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
$t->write_file('nginx.conf', $conf);
$t->start_api;

$out = `/usr/sbin/nginx -c $d/nginx.conf -e $d/error.log 2>&1`;
is($? >> 8, 0, 'nginx starts with modules-enabled') or diag $out;
$t->{running} = 1;
ok(FW::wait_port($t->nginx_port), 'nginx listens');

my $r = $t->http(uri => '/inference/v1/chat/completions',
    body => '{"model":"m","messages":[{"role":"user","content":"hi"}]}',
    script => '503,200', id => 'deb');
is($r->{status}, 200, '503 then 200: 200');
is(scalar @{$t->attempts('deb')}, 2, 'two attempts reached the API');

$t->finish;

# remove: disabled as Debian's module packages are (the link renamed
# .removed); purge: nothing left

$out = `DEBIAN_FRONTEND=noninteractive apt-get remove -y $pkg 2>&1`;
is($? >> 8, 0, 'apt-get remove') or diag $out;
ok(!-e $so, 'removed: the module file');
ok(!-e $enabled && !-l $enabled, 'removed: modules-enabled link gone');

$out = `DEBIAN_FRONTEND=noninteractive apt-get purge -y $pkg 2>&1`;
is($? >> 8, 0, 'apt-get purge') or diag $out;
ok(!present(), 'dpkg: not installed, no configuration left')
    or diag status();
for my $f ($so, $avail, $enabled, "$enabled.removed",
    "/usr/share/doc/$pkg", "/var/lib/dpkg/info/$pkg.list")
{
    ok(!-e $f && !-l $f, "purged: no $f");
}

SKIP: {
    skip "the machine's nginx configuration failed before", 1
        unless $before_ok;
    $out = `/usr/sbin/nginx -t 2>&1`;
    is($? >> 8, 0, "nginx -t after the purge") or diag $out;
}

done_testing;
