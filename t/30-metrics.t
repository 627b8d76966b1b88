#!/usr/bin/perl

# Metrics: fireworks_zone and fireworks_metrics.  Each failure kind is
# produced for real and counted; after a known mix of requests across 2
# workers every counter and histogram equals what was sent; a reload
# keeps the counts; promtool accepts the output and a real Prometheus
# scrapes it; scraping in a loop under 2,000 concurrent requests blocks
# nobody.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw/time sleep/;
use FW qw/http_raw json/;

my $t = FW->new();
my $d = $t->dir;

plan(skip_all => 'no openssl') if system('openssl version >/dev/null 2>&1');

# a TLS server whose certificate the gateway does not trust

for my $name ('server', 'other') {
    system("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
        . "'/CN=localhost' -keyout $d/$name.key -out $d/$name.crt "
        . ">/dev/null 2>&1") == 0 or die "openssl req failed\n";
}

my $tls = $t->port('tls');
my $tls_pid = fork();
die "fork: $!\n" unless defined $tls_pid;
if ($tls_pid == 0) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>&', \*STDOUT;
    exec 'openssl', 's_server', '-quiet', '-accept', "127.0.0.1:$tls",
        '-cert', "$d/server.crt", '-key', "$d/server.key", '-www';
    exit 127;
}
push @{$t->{pids}}, $tls_pid;

# a listener that never accepts, its queue filled: SYNs go unanswered

my $full = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Proto => 'tcp') or die "socket: $!\n";
listen($full, 0) or die "listen: $!\n";
my $backlog = $full->sockport;
my @queued = map { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$backlog",
    Blocking => 0) } 1 .. 3;
sleep 0.2;

my $sink = $t->udp_sink('dnssink');
my $nx = $t->udp_sink('dnsnx', nxdomain => 1);

my $kind = <<'EOF';
            fireworks_tries 1;
EOF

$t->run($t->gateway(workers => 2, connections => 8192,
    main => 'worker_rlimit_nofile 19000;', http => <<"EOF", locations => <<"EOF2"));
    fireworks_zone fireworks 1m;

    upstream tls {
        server 127.0.0.1:$tls;
    }
EOF
        fireworks_backoff 10ms;
        fireworks_jitter 0;

        location = /metrics {
            fireworks_metrics;
        }

        location /v1/ {
            fireworks_pass /_fireworks\$uri;
            fireworks_route mix;
            fireworks_tries 2;
        }

        location /k/refused/ { fireworks_pass /_closed; $kind }
        location /k/connect-timeout/ { fireworks_pass /_backlog; $kind }
        location /k/dns/ { fireworks_pass /_dns; $kind }
        location /k/nxdomain/ { fireworks_pass /_nx; $kind }
        location /k/tls/ { fireworks_pass /_tls; $kind }
        location /k/reset/ { fireworks_pass /_fireworks/x; $kind }
        location /k/timeout/ { fireworks_pass /_rt/x; $kind }
        location /k/invalid/ { fireworks_pass /_fireworks/x; $kind }
        location /k/deadline/ {
            fireworks_pass /_fireworks/x;
            fireworks_deadline 300ms;
        }
        location /k/client/ { fireworks_pass /_fireworks/x; $kind }

        location /ra/ {
            fireworks_pass /_fireworks/x;
            fireworks_route ra;
        }

        location = /plain {
            return 200 "plain\\n";
        }

        location /_closed {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_CLOSED%%;
        }

        location /_backlog {
            internal;
            proxy_pass http://127.0.0.1:$backlog;
            proxy_connect_timeout 300ms;
        }

        location /_dns {
            internal;
            resolver 127.0.0.1:$sink;
            resolver_timeout 300ms;
            set \$h api.fireworks.invalid;
            proxy_pass http://\$h:%%PORT_API%%;
        }

        location /_nx {
            internal;
            resolver 127.0.0.1:$nx;
            set \$h api.fireworks.invalid;
            proxy_pass http://\$h:%%PORT_API%%;
        }

        location /_tls {
            internal;
            proxy_pass https://tls;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $d/other.crt;
        }

        location /_rt/ {
            internal;
            proxy_pass http://api/;
            proxy_read_timeout 300ms;
        }
EOF2

my $body = '{"model":"m"}';

sub metrics {
    my $r = $t->http(uri => '/metrics');
    return ($r, parse($r->{body}));
}

# "name{labels} value" lines into { 'name{labels}' => value }

sub parse {
    my ($text) = @_;
    my %m;
    for (split /\n/, $text) {
        next if /^#/ || !/\S/;
        my ($k, $v) = /^(\S+(?:\{.*\})?) (\S+)$/ or next;
        $m{$k} = $v;
    }
    return \%m;
}

# each failure kind, made for real

my %kinds = (refused => 'connect_refused', 'connect-timeout' =>
    'connect_timeout', dns => 'dns', nxdomain => 'dns', tls => 'tls',
    reset => 'reset', timeout => 'timeout', invalid => 'invalid_header',
    deadline => 'deadline');
my %script = (reset => 'reset', timeout => 'hang', invalid => 'garbage',
    deadline => 'hang');

for my $k (sort keys %kinds) {
    my $r = $t->http(uri => "/k/$k/x", body => $body,
        script => $script{$k} // '200', id => "kind-$k");
    like($r->{status}, qr/^50[24]$/, "$k: 502 or 504 ($r->{status})");
}

# the client leaves during an attempt

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->nginx_port)
    or die "connect: $!\n";
print $s "POST /k/client/x HTTP/1.1\r\nHost: x\r\nX-FW-Script: hang\r\n"
    . "X-FW-Id: kind-client\r\nContent-Length: " . length($body)
    . "\r\n\r\n$body";
sleep 0.5;
close $s;
sleep 0.5;

my ($r, $m) = metrics();

for my $k (sort keys %kinds) {
    is($m->{"fireworks_attempts_total{route=\"/k/$k/\",result=\"$kinds{$k}\"}"},
        1, "$k counted as $kinds{$k}");
}
is($m->{'fireworks_attempts_total{route="/k/client/",result="client_closed"}'},
    1, 'a client that left: client_closed');
is($m->{'fireworks_requests_total{route="/k/client/",workload="interactive",'
    . 'outcome="client_closed"}'}, 1, 'its request: outcome client_closed');
is($m->{'fireworks_responses_total{route="/k/client/",code="499"}'}, 1,
    'its request: 499');

# Retry-After hints: honoured, over the max (the answer goes out), ignored

$t->http(uri => '/ra/x', body => $body, script => '503;ra=0,200', id => 'ra1');
$t->http(uri => '/ra/x', body => $body, script => '429;ra=999', id => 'ra2');
$t->http(uri => '/ra/x', body => $body, script => '503;ra=soon,200',
    id => 'ra3');
($r, $m) = metrics();
for my $a ('honoured', 'over_max', 'ignored') {
    is($m->{"fireworks_retry_after_total{route=\"ra\",action=\"$a\"}"}, 1,
        "retry-after $a counted");
}
is($m->{'fireworks_requests_total{route="ra",workload="interactive",'
    . 'outcome="retry_after"}'}, 1, 'over the max: outcome retry_after');

# a known mix, sent over separate connections to 2 workers

my %sent = ('200' => 10, '503,200' => 5, '429;ra=0,429;ra=0' => 4,
    '400' => 3);
for my $script (sort keys %sent) {
    for my $i (1 .. $sent{$script}) {
        my $r = $t->http(body => $body, script => $script,
            id => "mix-$script-$i");
        ok($r->{status}, "mix: $script #$i answered");
    }
}

my %want = (
    'fireworks_requests_total{route="mix",workload="interactive",outcome="done"}' => 18,
    'fireworks_requests_total{route="mix",workload="interactive",outcome="tries"}' => 4,
    'fireworks_responses_total{route="mix",code="200"}' => 15,
    'fireworks_responses_total{route="mix",code="429"}' => 4,
    'fireworks_responses_total{route="mix",code="400"}' => 3,
    'fireworks_attempts_total{route="mix",result="200"}' => 15,
    'fireworks_attempts_total{route="mix",result="503"}' => 5,
    'fireworks_attempts_total{route="mix",result="429"}' => 8,
    'fireworks_attempts_total{route="mix",result="400"}' => 3,
    'fireworks_retries_total{route="mix",reason="503"}' => 5,
    'fireworks_retries_total{route="mix",reason="429"}' => 4,
    'fireworks_retry_after_total{route="mix",action="honoured"}' => 4,
    'fireworks_waiting{route="mix"}' => 0,
    'fireworks_in_flight{route="mix"}' => 0,
    'fireworks_request_duration_seconds_count{route="mix",workload="interactive"}' => 22,
    'fireworks_request_duration_seconds_bucket{route="mix",workload="interactive",le="+Inf"}' => 22,
    'fireworks_attempt_header_seconds_count{route="mix"}' => 31,
    'fireworks_zone_full_total' => 0,
);

# a request is counted in the log phase, just after its last byte: wait
# for the 22 to be counted

my $end = time + 5;
while (1) {
    ($r, $m) = metrics();
    my $n = 0;
    $n += $m->{$_} for grep { /^fireworks_requests_total\{route="mix"/ } keys %$m;
    last if $n >= 22 || time > $end;
    sleep 0.1;
}
is($r->{status}, 200, 'metrics: 200');
is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4',
    'metrics: the exposition format');
for my $k (sort keys %want) {
    is($m->{$k}, $want{$k}, "mix: $k");
}
cmp_ok($m->{'fireworks_backoff_seconds_total{route="mix"}'}, '>', 0,
    'mix: time waited in backoff');
ok(!grep({ /route="mix".*outcome="(retry_after|deadline)"/ } keys %$m),
    'mix: no other outcome');

my $workers = () = $t->read_file('fw.log') =~ /\| mix-/g;
is($workers, 22, 'mix: 22 requests logged');

# 2 workers answered them

my @pids = $t->worker_pids;
is(scalar @pids, 2, 'two workers');

# a reload keeps the counts

my $before = $m;
$t->reload;
sleep 1.5;
($r, $m) = metrics();
for my $k (grep { !/waiting|in_flight/ } sort keys %want) {
    is($m->{$k}, $before->{$k}, "after reload: $k kept");
}
isnt(join(',', sort $t->worker_pids), join(',', sort @pids),
    'after reload: new workers');

# HEAD and other methods

$r = $t->http(uri => '/metrics', method => 'HEAD');
is($r->{status}, 200, 'HEAD: 200');
is($r->{body}, '', 'HEAD: no body');
$r = $t->http(uri => '/metrics', method => 'POST', body => 'x');
is($r->{status}, 405, 'POST: 405');

# promtool and a real Prometheus

($r, $m) = metrics();
$t->write_file('metrics.txt', $r->{body});

SKIP: {
    skip 'no promtool', 2 if system('promtool --version >/dev/null 2>&1');

    my $out = `promtool check metrics < $d/metrics.txt 2>&1`;
    is($? >> 8, 0, 'promtool check metrics passes') or diag $out;
    is($out, '', 'promtool: no lint complaint');
}

SKIP: {
    skip 'no prometheus', 2 if system('prometheus --version >/dev/null 2>&1');

    my $web = $t->port('prometheus');
    my $gw = $t->nginx_port;
    $t->write_file('prometheus.yml', <<"EOF");
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: gateway
    static_configs:
      - targets: ['127.0.0.1:$gw']
EOF
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', "$d/prometheus.log";
        open STDERR, '>&', \*STDOUT;
        exec 'prometheus', "--config.file=$d/prometheus.yml",
            "--storage.tsdb.path=$d/tsdb", "--web.listen-address=127.0.0.1:$web";
        exit 127;
    }
    push @{$t->{pids}}, $pid;

    my ($series, $end) = ([], time + 30);
    while (time < $end) {
        sleep 1;
        my $raw = http_raw($web, "GET /api/v1/query?query="
            . "fireworks_attempts_total%7Broute%3D%22mix%22%7D HTTP/1.0\r\n"
            . "Host: x\r\n\r\n");
        my ($b) = $raw =~ /\r\n\r\n(.*)\z/s;
        my $j = eval { json($b) } or next;
        $series = $j->{data}{result} || [];
        last if @$series;
    }
    my %v = map { $_->{metric}{result} => $_->{value}[1] } @$series;
    is($v{503}, 5, 'Prometheus: fireworks_attempts_total{result="503"}');
    is($v{429}, 8, 'Prometheus: fireworks_attempts_total{result="429"}');
}

# 2,000 concurrent requests while /metrics is scraped in a loop: an
# unrelated request stays fast, every histogram stays whole

my $loader = fork();
die "fork: $!\n" unless defined $loader;
if ($loader == 0) {
    my $out = `node $FindBin::Bin/lib/load.js --port ${\ $t->nginx_port} --n 2000 --c 2000 --script 'slow;ms=500' --prefix conc-`;
    $t->write_file('load.json', $out);
    exit 0;
}

my ($scrapes, $torn, $worst, $t0, @took) = (0, 0, 0, time);
while (time - $t0 < 2.5) {
    my ($r, $m) = metrics();
    $scrapes++;
    for my $k (grep { /_count\{/ } keys %$m) {
        my $inf = $k =~ s/_count\{(.*)\}/_bucket{$1,le="+Inf"}/r;
        $torn++ if ($m->{$inf} // -1) != $m->{$k};
    }
    my $p0 = time;
    my $p = $t->http(uri => '/plain');
    my $took = time - $p0;
    push @took, $took;
    $worst = $took if $took > $worst;
}
waitpid($loader, 0);
my $load = json($t->read_file('load.json') || '{}');
is($load->{statuses}{200}, 2000, '2,000 concurrent requests answered 200')
    or diag explain $load;
cmp_ok($scrapes, '>', 5, "scraped in a loop meanwhile ($scrapes times)");
is($torn, 0, 'no torn histogram: count = +Inf bucket');
@took = sort { $a <=> $b } @took;
cmp_ok($took[@took / 2], '<', 0.5, sprintf('an unrelated request stays fast: '
    . 'median %.3f s', $took[@took / 2]));
cmp_ok($worst, '<', 3, sprintf('... and at worst %.3f s', $worst));

# the alert rules of docs/metrics.md pass promtool

SKIP: {
    skip 'no promtool', 1 if system('promtool --version >/dev/null 2>&1');

    my $doc = $t->read_file_abs("$FindBin::Bin/../docs/metrics.md");
    my ($rules) = $doc =~ /^## Alert rules\n.*?```yaml\n(.*?)```/ms;
    $t->write_file('rules.yml', $rules // '');
    my $out = `promtool check rules $d/rules.yml 2>&1`;
    like($out, qr/SUCCESS: 6 rules found/, 'alert rules pass promtool')
        or diag $out;
}

# zone sizing as docs/metrics.md says: a 1m zone holds at least 100
# routes; the ones that do not fit are counted as such, nothing fails

my $conf = "%%GLOBALS%%\nevents { }\nhttp {\n%%HTTP_GLOBALS%%\n"
    . "fireworks_zone sizing 1m;\nserver {\n"
    . "listen 127.0.0.1:%%PORT_SIZING%%;\n"
    . "location = /metrics { fireworks_metrics; }\n"
    . join('', map { "location /r$_/ { fireworks_pass /_x; }\n" } 1 .. 400)
    . "location /_x { internal; return 204; }\n}\n}\n";
$t->write_file('sizing.conf', $t->expand($conf =~ s{%%GLOBALS%%}{%%GLOBALS%%}r)
    =~ s{pid \S+;}{pid $d/sizing.pid;}r =~ s{error_log \S+ debug;}{error_log $d/sizing-error.log info;}r);
system("$t->{binary} -p $d/ -c $d/sizing.conf -e $d/sizing-error.log "
    . ">/dev/null 2>&1");
my $port = $t->port('sizing');
FW::wait_port_of($port);
my $raw = http_raw($port, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
my $fit = () = $raw =~ /^fireworks_waiting\{/mg;
my ($unfit) = $raw =~ /^fireworks_zone_full_total (\d+)$/m;
cmp_ok($fit, '>=', 100, "a 1m zone holds $fit routes");
is($fit + ($unfit // 0), 400, 'the others are counted as not fitting');
my $r204 = http_raw($port, "GET /r400/x HTTP/1.0\r\nHost: x\r\n\r\n");
like($r204, qr{^HTTP/1\.1 204}, 'a route that did not fit still serves');
kill 'QUIT', $t->read_file('sizing.pid') =~ /(\d+)/;

close $_ for grep { defined } @queued;
$t->finish(allow => [
    qr/connect\(\) failed \(111: Connection refused\)/,
    qr/upstream timed out/,
    qr/could not be resolved/,
    qr/upstream SSL certificate verify error/,
    qr/recv\(\) failed \(104: Connection reset by peer\)/,
    qr/upstream prematurely closed connection/,
    qr/upstream sent no valid HTTP\/1\.0 header/,
]);
done_testing;
