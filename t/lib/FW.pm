package FW;

# A small test harness for ngx_http_fireworks_module, in core Perl.
#
# Per test file: a temporary directory, free ports, the stand-in API
# (t/lib/fakeapi.js) and the real nginx with the built module loaded.
# finish() stops everything and fails the file when error.log is missing
# or has an [alert], [crit] or [emerg] line, a worker that exited on a
# signal, a sanitizer report or an [error] the test did not expect.
#
# Environment: TEST_NGINX_BINARY (nginx), TEST_NGINX_MODULE (the .so),
# TEST_NGINX_LEAVE=1 keeps the directory, TEST_NGINX_CATLOG=1 prints
# error.log at the end.

use warnings;
use strict;

use Exporter qw/import/;
use File::Temp qw/tempdir/;
use File::Basename qw/dirname/;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Socket qw/SOL_SOCKET SO_RCVBUF PF_INET SOCK_STREAM
    inet_aton pack_sockaddr_in/;
use Test::More;
use Time::HiRes qw/time sleep/;
use Ports qw/free_port wait_port/;
use Files;

our @EXPORT_OK = qw/http http_raw http_slow dechunk json/;

my $LIB = dirname(__FILE__);
my @ALL;

sub new {
    my ($class, %args) = @_;

    my $self = bless {
        binary => $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx',
        module => $ENV{TEST_NGINX_MODULE}
                  || "$LIB/../../build/ngx_http_fireworks_module.so",
        ports => {},
        owner => $$,
    }, $class;

    plan(skip_all => "no nginx at $self->{binary}") unless -x $self->{binary};
    plan(skip_all => "no module at $self->{module}") unless -f $self->{module};

    $self->{dir} = tempdir('fireworks-test-XXXXXXXX', TMPDIR => 1,
        CLEANUP => !$ENV{TEST_NGINX_LEAVE});
    chmod 0755, $self->{dir};

    push @ALL, $self;
    return $self;
}

sub dir { $_[0]{dir} }

# A free TCP port on 127.0.0.1 for NAME, the same one for each call.

sub port {
    my ($self, $name) = @_;
    return $self->{ports}{$name} if $self->{ports}{$name};
    my $port = free_port($self->{ports});
    return $self->{ports}{$name} = $port;
}

sub api_port { $_[0]->port('api') }
sub nginx_port { $_[0]->port('nginx') }

# NAME is relative to the test's directory; reading a missing file gives ''

sub write_file {
    my ($self, $name, $content) = @_;
    Files::write_file("$self->{dir}/$name", $content);
}

sub read_file {
    my ($self, $name) = @_;
    return $self->read_file_abs("$self->{dir}/$name");
}

sub read_file_abs {
    my ($self, $path) = @_;
    return Files::read_file($path, '');
}

sub wait_port_of { wait_port(@_) }

# The nginx.conf template: %%GLOBALS%% (module, pid, error_log, user),
# %%HTTP_GLOBALS%% (access log and temp paths), %%PORT_NAME%% (a free
# port per NAME; %%PORT_NGINX%% and %%PORT_API%% are the usual two) and
# %%TESTDIR%%.

sub expand {
    my ($self, $conf) = @_;
    my $d = $self->{dir};
    my $user = $> == 0 ? "user root;\n" : '';

    my $globals = <<"EOF";
load_module $self->{module};
pid $d/nginx.pid;
error_log $d/error.log debug;
${user}
EOF

    my $http = <<"EOF";
access_log $d/access.log;
client_body_temp_path $d/client_body_temp;
proxy_temp_path $d/proxy_temp;
fastcgi_temp_path $d/fastcgi_temp;
uwsgi_temp_path $d/uwsgi_temp;
scgi_temp_path $d/scgi_temp;
EOF

    $conf =~ s/%%GLOBALS%%/$globals/g;
    $conf =~ s/%%HTTP_GLOBALS%%/$http/g;
    $conf =~ s/%%TESTDIR%%/$d/g;
    $conf =~ s/%%PORT_(\w+)%%/$self->port(lc $1)/ge;

    # an http block keeps its temp files here, never in the paths
    # compiled into nginx (/var/lib/nginx: the machine's nginx's, and its
    # user's); nginx -t makes them too
    if ($conf =~ /^\s*http\s*\{/m) {
        for my $kind (qw/client_body proxy fastcgi uwsgi scgi/) {
            die "an nginx.conf with an http block and no ${kind}_temp_path"
                . " in $d: put %%HTTP_GLOBALS%% into its http block\n"
                unless $conf =~ /^\s*${kind}_temp_path\s+\Q$d\E\//m;
        }
    }
    return $conf;
}

sub write_conf {
    my ($self, $conf, $name) = @_;
    $name ||= 'nginx.conf';
    $self->write_file($name, $self->expand($conf));
    $self->{conf} = $conf;
    return $self;
}

# The usual gateway: the stand-in API as upstream "api", an internal
# /_fireworks/ location that proxies to it, and the caller's locations.
# Options: locations, http (extra http-level lines), listen (extra listen
# parameters), internal (extra lines in /_fireworks/), main (extra lines
# at main level), connections, workers.

sub gateway {
    my ($self, %o) = @_;
    my $conn = $o{connections} || 1024;
    my $workers = $o{workers} || 1;
    my $listen = $o{listen} || '';
    my $main = $o{main} || '';
    my $http = $o{http} || '';
    my $locations = $o{locations} || '';
    my $internal = $o{internal} || '';

    return <<"EOF";
%%GLOBALS%%
worker_processes $workers;
$main
events { worker_connections $conn; }

http {
    %%HTTP_GLOBALS%%
    log_format fw '\$status | \$fireworks_attempts | \$fireworks_statuses | '
                  '\$fireworks_backoff | \$fireworks_outcome | '
                  '\$upstream_status | \$request_time | \$http_x_fw_id | '
                  '\$upstream_addr';
    access_log %%TESTDIR%%/fw.log fw;

    upstream api {
        server 127.0.0.1:%%PORT_API%%;
        keepalive 32;
    }

$http

    server {
        listen 127.0.0.1:%%PORT_NGINX%% $listen;

$locations

        location /_fireworks/ {
            internal;
            proxy_pass http://api/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Retry-Attempt \$fireworks_attempt;
            proxy_buffering off;
$internal
        }
    }
}
EOF
}

# The fw.log line of a request id (the X-FW-Id header), split on " | ".

sub log_line {
    my ($self, $id) = @_;
    my ($l) = grep { ($_->[7] || '') eq $id } $self->access_log('fw.log');
    return $l || [];
}

# nginx -t on a config; returns (exit code, output).

sub test_conf {
    my ($self, $conf) = @_;
    $self->write_file('test.conf', $self->expand($conf));
    my $out = `$self->{binary} -t -p $self->{dir}/ -c $self->{dir}/test.conf -e $self->{dir}/test-error.log 2>&1`;
    return ($? >> 8, $out);
}

sub start_api {
    my ($self) = @_;
    my $port = $self->api_port;
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>', "$self->{dir}/api.out";
        open STDERR, '>&', \*STDOUT;
        exec 'node', "$LIB/fakeapi.js", '--port', $port,
            '--log', "$self->{dir}/attempts.jsonl";
        exit 127;
    }

    $self->{api_pid} = $pid;
    wait_port($port) or die "stand-in API did not start\n";
    return $self;
}

sub run {
    my ($self, $conf) = @_;
    $self->write_conf($conf) if defined $conf;
    $self->start_api unless $self->{api_pid};

    my $d = $self->{dir};
    my $out = `$self->{binary} -p $d/ -c $d/nginx.conf -e $d/error.log 2>&1`;
    if ($? != 0) {
        die "nginx failed to start: $out\n" . $self->read_file('error.log');
    }

    wait_port($self->nginx_port) or die "nginx does not listen\n";
    $self->{running} = 1;
    return $self;
}

sub master_pid {
    my ($self) = @_;
    my $pid = $self->read_file('nginx.pid');
    chomp $pid;
    return $pid;
}

sub worker_pids {
    my ($self) = @_;
    my $m = $self->master_pid or return ();
    my @p = split ' ', `ps -o pid= --ppid $m 2>/dev/null`;
    return grep { `ps -o args= -p $_` =~ /worker process/ } @p;
}

# Resident memory of a worker in KB.

sub worker_rss {
    my ($self, $pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

sub signal {
    my ($self, $sig) = @_;
    my $pid = $self->master_pid or return;
    kill $sig, $pid;
}

sub reload {
    my ($self) = @_;
    system("$self->{binary} -p $self->{dir}/ -c $self->{dir}/nginx.conf "
        . "-e $self->{dir}/error.log -s reload >/dev/null 2>&1");
}

sub stop {
    my ($self) = @_;
    return unless $self->{running};
    my $pid = $self->master_pid;
    if ($pid && kill(0, $pid)) {
        kill 'QUIT', $pid;
        for (1 .. 100) { last unless kill(0, $pid); sleep 0.1 }
        kill 'TERM', $pid if kill(0, $pid);
        for (1 .. 50) { last unless kill(0, $pid); sleep 0.1 }
    }
    $self->{running} = 0;
}

# A UDP port where something reads and never answers: a resolver that
# does not reply; with nxdomain => 1, one that answers every query "no
# such name".

sub udp_sink {
    my ($self, $name, %o) = @_;
    my $port = $self->port($name);
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port",
            Proto => 'udp') or exit 1;
        while (1) {
            my $peer = $s->recv(my $q, 65536);
            next unless $o{nxdomain} && defined $peer && length $q >= 12;

            # the query's id and question, flags: response, NXDOMAIN
            my $a = substr($q, 0, 2) . pack('n', 0x8183)
                . pack('nnnn', unpack('n', substr($q, 4, 2)), 0, 0, 0)
                . substr($q, 12);
            $s->send($a, 0, $peer);
        }
    }

    push @{$self->{pids}}, $pid;
    return $port;
}

sub stop_api {
    my ($self) = @_;
    for my $pid (grep { defined } delete $self->{api_pid},
        @{delete $self->{pids} || []})
    {
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
}

# Stops nginx and the stand-in, then checks error.log: it must exist and
# hold no [alert], [crit] or [emerg] line, no worker that exited on a
# signal, no sanitizer report, and no [error] line but those the test
# expects (allow => [qr/.../, ...]: patterns of the errors it provokes;
# killed => 1: a worker the test killed with SIGKILL).

sub finish {
    my ($self, %o) = @_;
    $self->stop;
    $self->stop_api;

    my $path = "$self->{dir}/error.log";
    ok(-f $path, 'error.log exists') or return;

    my $log = $self->read_file('error.log');
    print STDERR $log if $ENV{TEST_NGINX_CATLOG};

    my @lines = split /\n/, $log;

    # a worker the test killed on purpose (killed => 1) is no crash
    @lines = grep { !/worker process \d+ exited on signal 9\b/ } @lines
        if $o{killed};

    my @bad = grep { /\[(alert|crit|emerg)\]/ || /exited on signal/ } @lines;
    ok(!@bad, 'no alert, crit or worker crash in error.log')
        or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);

    my @san = grep { /runtime error|AddressSanitizer|LeakSanitizer|^SUMMARY: /
                     || /^\s*#\d+ 0x[0-9a-f]+ in / } @lines;
    ok(!@san, 'no sanitizer report in error.log')
        or diag(join "\n", @san[0 .. ($#san > 29 ? 29 : $#san)]);

    my @allow = @{$o{allow} || []};
    my @err = grep {
        my $l = $_;
        /\[error\]/ && !grep { $l =~ $_ } @allow
    } @lines;
    ok(!@err, 'no unexpected [error] in error.log')
        or diag(join "\n", @err[0 .. ($#err > 9 ? 9 : $#err)]);
}

sub error_log { $_[0]->read_file('error.log') }

# The attempts the stand-in recorded for an id.

sub attempts {
    my ($self, $id) = @_;
    my $r = http_raw($self->api_port,
        "GET /_attempts?id=$id HTTP/1.0\r\nHost: api\r\n\r\n");
    my ($body) = $r =~ /\r\n\r\n(.*)\z/s;
    return decode_json($body || '[]');
}

# Lines of the access log, each split on " | ".

sub access_log {
    my ($self, $name) = @_;
    return map { [ split / \| / ] } split /\n/,
        $self->read_file($name || 'access.log');
}

# Sends a raw request to a port, returns everything read until the peer
# closes (or until timeout seconds pass).

sub http_raw {
    my ($port, $request, %opt) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
        or die "connect $port: $!\n";
    $s->autoflush(1);
    print $s $request;

    my $data = '';
    my $sel = IO::Select->new($s);
    my $end = time + ($opt{timeout} || 20);
    my @chunks;

    while (time < $end) {
        last unless $sel->can_read($end - time);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        push @chunks, [time, $buf];
        $data .= $buf;
    }

    close $s;
    return wantarray ? ($data, \@chunks) : $data;
}

# A client that reads slowly: a small receive buffer, a pause of PAUSE
# seconds after the first AFTER bytes, then everything until the peer
# closes.  Returns the response as http() does, without dechunking.

sub http_slow {
    my ($port, $request, %o) = @_;
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $o{rcvbuf} || 16384));
    connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1')))
        or die "connect $port: $!\n";
    syswrite($s, $request);

    my ($data, $paused) = ('', 0);
    my $sel = IO::Select->new($s);
    my $end = time + ($o{timeout} || 30);

    while (time < $end) {
        if (!$paused && length $data >= ($o{after} || 65536)) {
            $paused = 1;
            sleep $o{pause} || 3;
        }
        last unless $sel->can_read($end - time);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $data .= $buf;
    }

    close $s;
    return parse_response($data);
}

# A request through nginx.  Options: method, uri, headers (hash or
# array ref), body, script and id (the stand-in's x-fw-script and
# x-fw-id), version (HTTP/1.1 by default, Connection: close), timeout.
# Returns a hash: status, headers (lowercase keys, arrays joined by ", "),
# raw_headers, body (dechunked), raw, chunked, complete, chunks, elapsed.

sub http {
    my ($self, %o) = @_;
    my $method = $o{method} || ($o{body} ? 'POST' : 'GET');
    my $uri = $o{uri} || '/v1/chat/completions';
    my $version = $o{version} || 'HTTP/1.1';
    my @h = ('Host: localhost');

    push @h, "X-FW-Script: $o{script}" if defined $o{script};
    push @h, "X-FW-Id: $o{id}" if defined $o{id};
    my @extra = ref $o{headers} eq 'HASH' ? map { "$_: $o{headers}{$_}" }
        sort keys %{$o{headers}} : @{$o{headers} || []};
    push @h, @extra;
    push @h, 'Connection: close' unless $o{keepalive};

    my $body = defined $o{body} ? $o{body} : '';
    if (length $body && !grep { /^transfer-encoding/i } @extra) {
        push @h, 'Content-Type: application/json'
            unless grep { /^content-type/i } @extra;
        push @h, 'Content-Length: ' . length($body);
    }

    my $req = "$method $uri $version\r\n" . join("\r\n", @h) . "\r\n\r\n"
        . $body;
    my $t0 = time;
    my ($raw, $chunks) = http_raw($o{port} || $self->nginx_port, $req,
        timeout => $o{timeout});

    my $r = parse_response($raw);
    $r->{elapsed} = time - $t0;
    $r->{chunks} = $chunks;
    $r->{t0} = $t0;
    return $r;
}

sub parse_response {
    my ($raw) = @_;
    my %r = (raw => $raw, status => 0, headers => {}, body => '');
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return \%r unless defined $head && $head =~ m{^HTTP/\d\.\d (\d+)};

    $r{status} = $1;
    $r{raw_headers} = $head;
    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:]+):\s*(.*)$/;
        my $k = lc $1;
        $r{headers}{$k} = exists $r{headers}{$k}
            ? "$r{headers}{$k}, $2" : $2;
    }

    $body = '' unless defined $body;
    if (($r{headers}{'transfer-encoding'} || '') =~ /chunked/i) {
        $r{chunked} = 1;
        ($r{body}, $r{complete}) = dechunk($body);

    } else {
        $r{body} = $body;
        my $len = $r{headers}{'content-length'};
        $r{complete} = defined $len ? length($body) == $len : 1;
    }

    return \%r;
}

# Decodes a chunked body; returns (data, whether the last chunk came).

sub dechunk {
    my ($s) = @_;
    my $out = '';
    while ($s =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
        my $n = hex $1;
        return ($out, 1) if $n == 0;
        return ($out . $s, 0) if length($s) < $n;
        $out .= substr($s, 0, $n, '');
        $s =~ s/^\r\n//;
    }
    return ($out, 0);
}

sub json { decode_json($_[0]) }

END {
    for my $t (grep { $_->{owner} == $$ } @ALL) {
        $t->stop if $t->{running};
        $t->stop_api;
    }
}

1;
