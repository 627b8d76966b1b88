package Bench;

# Shared helpers of the benchmarks: a scratch directory, free ports, the
# processes under test (nginx, HAProxy, the stand-in API), wrk runs, CPU
# and memory readings of a process, medians, and the markdown/gnuplot
# output.  Core Perl only.
#
# Every benchmark compares variants side by side in one run: rounds
# alternate between the variants and the report gives medians and ratios,
# because the machine is shared and absolute numbers drift.

use warnings;
use strict;

use Exporter qw/import/;
use File::Temp qw/tempdir/;
use File::Basename qw/dirname/;
use Cwd ();
use JSON::PP;
use Time::HiRes qw/sleep/;

use lib dirname(dirname(dirname(__FILE__))) . '/t/lib';
use Ports qw/free_port wait_port/;
use Files;

our @EXPORT = qw/median pct ratio fmt have/;

my $ROOT = dirname(dirname(dirname(Cwd::abs_path(__FILE__))));
my @ALL;

# the fast upstream's answer: a real chat completion's shape and size

our $COMPLETION = '{"id":"chatcmpl-8f1c2a","object":"chat.completion",'
    . '"created":1731000000,"model":"accounts/fireworks/models/'
    . 'llama-v3p1-8b-instruct","choices":[{"index":0,"message":{"role":'
    . '"assistant","content":"Hello! How can I help you today?"},'
    . '"finish_reason":"stop"}],"usage":{"prompt_tokens":12,'
    . '"completion_tokens":9,"total_tokens":21}}';

our $REQUEST = '{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",'
    . '"messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}';

sub new {
    my ($class, %o) = @_;

    my $self = bless {
        name => $o{name},
        out => $o{out},
        nginx => $ENV{BENCH_NGINX} || '/usr/sbin/nginx',
        module => $ENV{BENCH_MODULE}
                  || "$ROOT/build/ngx_http_fireworks_module.so",
        ports => {},
        procs => [],
        nginx_prefixes => [],
        owner => $$,
    }, $class;

    mkdir $self->{out} unless -d $self->{out};

    die "no module at $self->{module}: run ./build.sh first\n"
        unless -f $self->{module};

    $self->{dir} = tempdir("fireworks-bench-$o{name}-XXXXXX", TMPDIR => 1,
        CLEANUP => !$ENV{BENCH_LEAVE});
    chmod 0755, $self->{dir};

    push @ALL, $self;
    return $self;
}

sub dir { $_[0]{dir} }

# is PROGRAM in PATH?

sub have {
    my ($program) = @_;
    return grep { -x "$_/$program" } split /:/, $ENV{PATH} || '';
}

# the hard limit of open files: nginx may raise its soft limit up to it

sub nofile {
    my $n = `sh -c 'ulimit -Hn'`;
    chomp $n;
    return $n =~ /^\d+$/ ? $n : 65536;
}

sub port {
    my ($self, $name) = @_;
    return $self->{ports}{$name} if $self->{ports}{$name};
    my $port = free_port($self->{ports});
    return $self->{ports}{$name} = $port;
}

# NAME is relative to the scratch directory unless absolute; reading a
# missing file gives ''

sub path {
    my ($self, $name) = @_;
    return $name =~ m{^/} ? $name : "$self->{dir}/$name";
}

sub write_file {
    my ($self, $name, $content) = @_;
    return Files::write_file($self->path($name), $content);
}

sub read_file {
    my ($self, $name) = @_;
    return Files::read_file($self->path($name), '');
}

# The main-level lines every nginx of the benchmarks starts with: one
# worker pinned to CPU (0: the gateway's, 1: the upstream's), logs in its
# prefix, and, when root starts it, the worker running as root as the
# test suite's do (t/lib/FW.pm): as "nobody" it could not reach its temp
# paths in a scratch directory under a TMPDIR of mode 0700.  Options: cpu
# (0), workers (1; more are not pinned), connections (1024), nofile
# (raise the open file limit to the hard limit), modules (load_module
# paths; %%MODULE%% is the fireworks module, loaded unless fireworks =>
# 0).

sub preamble {
    my (%o) = @_;
    my @modules = (($o{fireworks} // 1) ? '%%MODULE%%' : (),
        @{$o{modules} || []});
    my $cpu = $o{cpu} ? '10' : '01';

    return join('', map { "load_module $_;\n" } @modules)
        . ($> == 0 ? "user root;\n" : '')
        . "worker_processes " . ($o{workers} || 1) . ";\n"
        . (($o{workers} || 1) == 1 ? "worker_cpu_affinity $cpu;\n" : '')
        . ($o{nofile} ? "worker_rlimit_nofile %%NOFILE%%;\n" : '')
        . "error_log %%PREFIX%%/logs/error.log warn;\n"
        . "pid %%PREFIX%%/logs/nginx.pid;\n"
        . "events { worker_connections " . ($o{connections} || 1024)
        . "; }\n";
}

# A whole nginx.conf: the preamble (options as above) and an http block
# whose content is HTTP, then access_log (off unless given: after HTTP,
# so that it may name a log_format defined there).  The temp files stay
# in the prefix: the paths compiled into Debian's nginx (/var/lib/nginx)
# belong to the machine's nginx and its user; a body larger than
# client_body_buffer_size written there failed with 500 where that
# directory was not the benchmark's worker's to write.

sub nginx_conf {
    my (%o) = @_;
    my $temp = join '', map { "    ${_}_temp_path %%PREFIX%%/${_}_temp;\n" }
        qw/client_body proxy fastcgi uwsgi scgi/;
    return preamble(%o) . "http {\n$temp$o{http}\n    access_log "
        . ($o{access_log} || 'off') . ";\n}\n";
}

# The fast upstream: an nginx on the second CPU answering every request
# 200 with $COMPLETION at once, listening on the port named 'up'.
# Options: listen (another port name), http (more http-level lines),
# answer (lines in its location before the 200, to answer otherwise),
# server (more server-level lines), access_log, connections (4096).

sub upstream_conf {
    my (%o) = @_;
    my $listen = uc($o{listen} || 'up');
    return nginx_conf(cpu => 1, fireworks => 0, nofile => 1,
        connections => $o{connections} || 4096,
        access_log => $o{access_log}, http => <<"EOF");
@{[ $o{http} || '' ]}
    server {
        listen 127.0.0.1:%%PORT_$listen%% backlog=4096;
        keepalive_requests 1000000;
        location / {
            default_type application/json;
@{[ $o{answer} || '' ]}
            return 200 '$COMPLETION';
        }
@{[ $o{server} || '' ]}
    }
EOF
}

# The gateway of the benchmarks: upstream "api" (the port of the name
# UPSTREAM, 'api' by default), keepalive on both sides, and the locations
# /proxy/ (plain proxy_pass) and /fw/ (fireworks_pass to the internal
# /_fw/, which proxies as /proxy/ does).  Options: listen (the port's
# name, 'gw'), keepalive (the upstream's idle connections, 16), http
# (more http-level lines), fw (more lines in /fw/), internal (more lines
# in /_fw/), locations (the server's locations instead of /proxy/ and
# /fw/; /_fw/ stays), server (more server-level lines), and those of
# preamble().

sub gateway_conf {
    my (%o) = @_;
    my $up = uc($o{upstream} || 'api');
    my $listen = uc($o{listen} || 'gw');
    my $keepalive = $o{keepalive} || 16;
    my $fw = $o{fw} || '';
    my $locations = $o{locations} // <<"EOF";
        location /proxy/ {
            proxy_pass http://api/;
        }
        location /fw/ {
            fireworks_pass /_fw\$uri;
$fw
        }
EOF

    return nginx_conf(%o, http => <<"EOF");
    upstream api {
        server 127.0.0.1:%%PORT_$up%%;
        keepalive $keepalive;
        keepalive_requests 1000000;
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
@{[ $o{http} || '' ]}
    server {
        listen 127.0.0.1:%%PORT_$listen%% backlog=4096;
        keepalive_requests 1000000;
$locations
        location /_fw/ {
            internal;
            proxy_pass http://api/;
@{[ $o{internal} || '' ]}
        }
@{[ $o{server} || '' ]}
    }
EOF
}

# Starts an nginx whose prefix is DIR/NAME; %%PORT_X%%, %%MODULE%%,
# %%NOFILE%% and %%PREFIX%% in the configuration are filled in.  Options:
# env (prepended to the command), port (the name of the port to wait for,
# NAME by default).  Returns the prefix.

sub nginx {
    my ($self, $name, $conf, %o) = @_;
    my $prefix = "$self->{dir}/$name";
    mkdir $prefix;
    mkdir "$prefix/logs";

    $conf =~ s/%%PORT_(\w+)%%/$self->port(lc $1)/ge;
    $conf =~ s/%%MODULE%%/$self->{module}/g;
    $conf =~ s/%%NOFILE%%/nofile()/ge;
    $conf =~ s/%%PREFIX%%/$prefix/g;
    $self->write_file("$prefix/nginx.conf", $conf);

    my $cmd = "$self->{nginx} -p $prefix/ -c $prefix/nginx.conf";
    $cmd = "$o{env} $cmd" if $o{env};
    my $out = `$cmd 2>&1`;
    die "nginx $name failed to start: $out\n" if $? != 0;

    push @{$self->{nginx_prefixes}}, $prefix;
    wait_port($self->port($o{port} || $name))
        or die "nginx $name does not listen\n";
    $self->{masters}{$prefix} = $self->master_pid($prefix);
    return $prefix;
}

# the master's pid: read once it listens, and kept, so that it can be
# stopped when its directory is gone

sub master_pid {
    my ($self, $prefix) = @_;
    return $self->{masters}{$prefix} if $self->{masters}{$prefix};
    my $pid = $self->read_file("$prefix/logs/nginx.pid");
    chomp $pid;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

# The one worker process of the nginx at PREFIX; dies when there is none,
# or more than one: every reading of a worker must be of the right one.

sub nginx_worker {
    my ($self, $prefix) = @_;
    my $master = $self->master_pid($prefix)
        or die "no master pid in $prefix/logs/nginx.pid\n";
    for (1 .. 50) {
        my @w = grep { `ps -o args= -p $_` =~ /worker process/ }
                split ' ', `ps -o pid= --ppid $master 2>/dev/null`;
        die "more than one worker for $prefix: @w\n" if @w > 1;
        return $w[0] if @w;
        sleep 0.1;
    }
    die "no worker for $prefix\n";
}

# Stops the nginx at PREFIX (all of them without one) and checks the
# error logs: dies on an alert, a crit or a crash.

sub stop_nginx {
    my ($self, $only) = @_;
    my @prefixes = grep { !defined $only || $_ eq $only }
        @{$self->{nginx_prefixes}};
    for my $p (@prefixes) {
        my $pid = $self->master_pid($p);
        next unless $pid && alive($pid);
        kill 'TERM', $pid;
        for (1 .. 250) { last unless alive($pid); sleep 0.02 }
        kill 'KILL', $pid if alive($pid);
    }
    my @bad = $self->check_logs(@prefixes);
    my %gone = map { $_ => 1 } @prefixes;
    @{$self->{nginx_prefixes}} = grep { !$gone{$_} } @{$self->{nginx_prefixes}};
    die "errors in logs:\n" . join("\n", @bad) . "\n" if @bad;
}

# whether a process runs: a daemon's master that has exited stays a
# zombie until init reaps it, which may take a while

sub alive {
    my ($pid) = @_;
    return 0 unless kill(0, $pid);
    my $stat = Files::read_file("/proc/$pid/stat", '');
    return $stat !~ /^\d+ \(.*\) Z/s;
}

# Starts a program in the background, stdout and stderr to DIR/NAME.out.

sub spawn {
    my ($self, $name, @cmd) = @_;
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>', "$self->{dir}/$name.out";
        open STDERR, '>&', \*STDOUT;
        exec @cmd;
        exit 127;
    }

    push @{$self->{procs}}, $pid;
    return $pid;
}

# Waits for a spawned program to end; returns its exit status.

sub reap {
    my ($self, $pid) = @_;
    waitpid($pid, 0);
    my $status = $?;
    @{$self->{procs}} = grep { $_ != $pid } @{$self->{procs}};
    return $status;
}

# bench/lib/hold.js, spawned as NAME: N POSTs to PATH on PORT, each on a
# connection of its own, ids PREFIX0 .. PREFIXn-1, in batches of 500
# every 50 ms, on CPU 1; prime: a GET of that path before each POST.
# hold_result() waits for it and dies unless all N were answered 200.

sub hold {
    my ($self, $name, %o) = @_;
    return $self->spawn($name, 'sh', '-c', "ulimit -n " . nofile() . ";"
        . " exec taskset -c 1 node $ROOT/bench/lib/hold.js --port $o{port}"
        . " --path $o{path}" . ($o{prime} ? " --prime $o{prime}" : '')
        . " --n $o{n} --batch 500 --every 50 --prefix $o{prefix}");
}

sub hold_result {
    my ($self, $name, $pid, $n) = @_;
    $self->reap($pid);
    my $out = $self->read_file("$name.out");
    die "hold.js: $out\n" unless $out =~ /^\{/;
    my $r = decode_json($out);
    die "hold.js, $name: " . encode_json($r) . "\n"
        if ($r->{statuses}{200} || 0) != $n;
    return $r;
}

sub fakeapi {
    my ($self) = @_;
    my $port = $self->port('api');
    $self->spawn('fakeapi', 'taskset', '-c', '1', 'node',
        "$ROOT/t/lib/fakeapi.js", '--port', $port);
    wait_port($port) or die "stand-in API did not start\n";
    return $port;
}

sub haproxy {
    my ($self, $conf) = @_;
    $conf =~ s/%%PORT_(\w+)%%/$self->port(lc $1)/ge;
    my $file = $self->write_file('haproxy.cfg', $conf);
    my $out = `haproxy -c -f $file 2>&1`;
    die "haproxy -c: $out\n" if $? != 0;
    $self->{haproxy} = $self->spawn('haproxy', 'haproxy', '-db', '-f', $file);
    wait_port($self->port('haproxy')) or die "haproxy does not listen\n";
    return $self->{haproxy};
}

# Runs wrk (one thread, pinned to the second CPU) POSTing the chat
# completion request to URL for D seconds over C connections; returns
# requests/s, the request count and latency percentiles p50 and p99
# (ms).  Dies when no request was served or any failed.  With cpu =>
# PID, also the CPU time of that process per request (cpu_us, µs).

sub wrk {
    my ($self, %o) = @_;
    my $script = $self->write_file('wrk.lua', <<"EOF");
wrk.method = "POST"
wrk.body = '$REQUEST'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer fw_bench_key"
EOF
    my $cmd = sprintf "taskset -c 1 wrk -t1 -c%d -d%ds --latency "
        . "--timeout %ds -s %s '%s' 2>&1",
        $o{c} || 32, $o{d} || 5, $o{timeout} || 30, $script, $o{url};

    my $cpu0 = $o{cpu} ? cpu_ticks($o{cpu}) : 0;
    my $out = `$cmd`;
    die "wrk: $out\n" if $? != 0;
    my $cpu = $o{cpu} ? cpu_ticks($o{cpu}) - $cpu0 : 0;

    my %r = (out => $out);
    ($r{rps}) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    ($r{n}) = $out =~ /(\d+) requests in/;
    for my $p (50, 99) {
        my ($v, $u) = $out =~ /^\s+$p%\s+([\d.]+)(us|ms|s)\b/m;
        $r{"p$p"} = defined $v ? $v * { us => 0.001, ms => 1, s => 1000 }->{$u}
                               : undef;
    }
    die "$o{url}: no requests\n$out" unless $r{n};
    die "$o{url}: errors\n$out"
        if $out =~ /Non-2xx or 3xx responses|Socket errors/;

    $r{cpu_us} = $cpu * 10000 / $r{n} if $o{cpu};
    return \%r;
}

# The Node client of the tests: N requests, C at a time, each timed;
# returns statuses, errors, elapsed s and p50/p99/max in ms.

sub load {
    my ($self, %o) = @_;
    my ($port, $path) = $o{url} =~ m{^http://[^:/]+:(\d+)(/.*)$}
        or die "bad url $o{url}\n";
    my $out = `taskset -c 1 node $ROOT/t/lib/load.js --port $port --path $path --n $o{n} --c $o{c}`;
    die "load.js: $out\n" if $? != 0 || $out !~ /^\{/;
    return decode_json($out);
}

# Rounds of a side-by-side comparison.  Each round measures every variant
# once, MEASURE->(VARIANT, ROUND) returning a result (a hash ref); the
# order rotates by one each round, so that no variant always runs first
# or always after the same one.  Returns { variant => [ results ] }, one
# result per round.

sub rounds {
    my ($n, $variants, $measure) = @_;
    my %runs;
    for my $round (1 .. $n) {
        for my $i (0 .. $#$variants) {
            my $v = $variants->[($i + $round) % @$variants];
            push @{$runs{$v}}, $measure->($v, $round);
        }
    }
    return \%runs;
}

# The median over the rounds of KEY.

sub median_of {
    my ($runs, $variant, $key) = @_;
    return median(map { $_->{$key} } @{$runs->{$variant}});
}

# A paired ratio: the median over the rounds of each round's KEY of
# VARIANT divided by that of BASE in the same round, so that the drift
# of a shared machine between rounds cancels.

sub paired_ratio {
    my ($runs, $variant, $base, $key) = @_;
    my ($v, $b) = ($runs->{$variant}, $runs->{$base});
    return median(map { $b->[$_]{$key} ? $v->[$_]{$key} / $b->[$_]{$key}
                                       : undef } 0 .. $#$v);
}

# Readings of a process from /proc.  They die when the process is gone or
# the field is missing: a benchmark must not report a 0 it did not see.

sub proc_file {
    my ($pid, $file) = @_;
    die "no process id\n" unless $pid && $pid =~ /^\d+$/;
    my $s = Files::read_file("/proc/$pid/$file", undef);
    die "process $pid is gone (/proc/$pid/$file)\n" unless defined $s;
    return $s;
}

# utime + stime of a process in clock ticks (1/100 s)

sub cpu_ticks {
    my ($pid) = @_;
    my $s = proc_file($pid, 'stat');
    $s =~ s/^.*\)\s+//s;
    my @f = split ' ', $s;
    return $f[11] + $f[12];
}

# a "Name: N kB" field of /proc/PID/status, in KB

sub status_kb {
    my ($pid, $field) = @_;
    my ($kb) = proc_file($pid, 'status') =~ /^$field:\s+(\d+)/m
        or die "no $field in /proc/$pid/status\n";
    return $kb;
}

sub rss_kb { status_kb($_[0], 'VmRSS') }
sub hwm_kb { status_kb($_[0], 'VmHWM') }

# glibc's own account of a process's heap in KB, (system, in use), from
# malloc_stats() called in the process by gdb: its report goes to the
# process's stderr, which an nginx worker has on its error log (STDERR).
# Empty when gdb is missing or no report comes.  Stops the process for
# a moment (about 0.3 s).

sub heap_kb {
    my ($pid, $stderr) = @_;
    return () unless have('gdb');
    my $before = -s $stderr || 0;
    system("gdb -nx -batch -p $pid -ex 'call (void) malloc_stats()'"
        . " >/dev/null 2>&1");
    my $new = substr(Files::read_file($stderr, ''), $before);
    return () unless $new =~ /Total\ \(incl\.\ mmap\):\s*system\ bytes\s*=\s*(\d+)
                               \s*in\ use\ bytes\s*=\s*(\d+)/x;
    return ($1 / 1024, $2 / 1024);
}

# resets the peak RSS (VmHWM) of a process, where the kernel allows it

sub reset_hwm {
    my ($pid) = @_;
    open my $fh, '>', "/proc/$pid/clear_refs" or return 0;
    print $fh "5";
    close $fh or return 0;
    return 1;
}

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

# the q-th percentile (0..1) of a list, nearest rank

sub pct {
    my ($q, @v) = @_;
    @v = sort { $a <=> $b } @v;
    return undef unless @v;
    my $i = int($q * @v + 0.999999) - 1;
    $i = 0 if $i < 0;
    $i = $#v if $i > $#v;
    return $v[$i];
}

sub ratio {
    my ($a, $b) = @_;
    return 'n/a' unless defined $a && defined $b && $b != 0;
    return sprintf '%.3f', $a / $b;
}

sub fmt {
    my ($v, $d) = @_;
    return 'n/a' unless defined $v;
    return sprintf "%.${\($d // 1)}f", $v;
}

# A markdown table from a header row and rows.

sub table {
    my ($head, @rows) = @_;
    my $t = '| ' . join(' | ', @$head) . " |\n";
    $t .= '|' . join('|', map { ' --- ' } @$head) . "|\n";
    $t .= '| ' . join(' | ', map { defined $_ ? $_ : 'n/a' } @$_) . " |\n"
        for @rows;
    return $t;
}

# Writes this benchmark's section of docs/benchmarks.md and its data.

sub report {
    my ($self, $md) = @_;
    $self->write_file("$self->{out}/$self->{name}.md", $md);
    print $md;
}

sub plot {
    my ($self, $png, $script) = @_;
    return 0 unless have('gnuplot');
    my $gp = $self->write_file("$self->{name}.gp",
        "set terminal pngcairo size 800,450 font 'sans,10' noenhanced\n"
        . "set output '$self->{out}/$png'\n$script");
    system("gnuplot $gp 2>$self->{dir}/gnuplot.err") == 0
        or die "gnuplot: " . $self->read_file('gnuplot.err');
    return 1;
}

# Error logs of the nginx instances at PREFIXES (all without) must show
# no alert, crit or crash: a benchmark of a broken gateway measures
# nothing.

sub check_logs {
    my ($self, @prefixes) = @_;
    @prefixes = @{$self->{nginx_prefixes}} unless @prefixes;
    my @bad;
    for my $p (@prefixes) {
        my $log = $self->read_file("$p/logs/error.log");
        push @bad, "$p: $1" while $log =~ /^(.*\[(?:alert|crit|emerg)\].*)$/mg;
        push @bad, "$p: $1" while $log =~ /^(.*exited on signal.*)$/mg;
    }
    return @bad;
}

sub stop {
    my ($self) = @_;
    for my $pid (@{$self->{procs}}) {
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
    @{$self->{procs}} = ();
    $self->stop_nginx;
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} == $$;
    local $@;
    eval { $self->stop } if @{$self->{procs}} || @{$self->{nginx_prefixes}};
}

# A benchmark that died leaves its processes to END, which runs before
# File::Temp removes the directories that hold their logs.

END {
    local ($@, $?);
    for my $b (grep { $_->{owner} == $$ } @ALL) {
        eval { $b->stop } if @{$b->{procs}} || @{$b->{nginx_prefixes}};
    }
}

1;
