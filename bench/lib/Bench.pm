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
use JSON::PP;
use POSIX qw/WNOHANG/;
use Time::HiRes qw/time sleep/;

use lib dirname(dirname(dirname(__FILE__))) . '/t/lib';
use Ports qw/free_port wait_port/;

our @EXPORT = qw/median pct ratio fmt have/;

my $ROOT = dirname(dirname(dirname(__FILE__)));

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
        smoke => $o{smoke},
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

    return $self;
}

sub dir { $_[0]{dir} }

# is PROGRAM in PATH?

sub have {
    my ($program) = @_;
    return grep { -x "$_/$program" } split /:/, $ENV{PATH} || '';
}
sub root { $ROOT }
sub smoke { $_[0]{smoke} }
sub module { $_[0]{module} }

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

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '>', $path or die "$path: $!\n";
    print $fh $content;
    close $fh;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

# Starts an nginx whose prefix is DIR/NAME; %%PORT_X%% and %%MODULE%% in
# the configuration are filled in.  Returns the prefix.

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
    return $prefix;
}

sub nginx_worker {
    my ($self, $prefix) = @_;
    my $master = $self->read_file("$prefix/logs/nginx.pid");
    chomp $master;
    for (1 .. 50) {
        my @w = grep { `ps -o args= -p $_` =~ /worker process/ }
                split ' ', `ps -o pid= --ppid $master 2>/dev/null`;
        return $w[0] if @w;
        sleep 0.1;
    }
    die "no worker for $prefix\n";
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

sub fakeapi {
    my ($self, %o) = @_;
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

# Runs wrk pinned to the second CPU; returns requests/s, the request
# count, latency percentiles (ms) and, with the status-counting script,
# the statuses seen.

sub wrk {
    my ($self, %o) = @_;
    my $script = $self->write_file('wrk.lua', wrk_lua($o{body}, $o{count}));
    my $cmd = sprintf "taskset -c 1 wrk -t1 -c%d -d%ds --latency "
        . "--timeout %ds -s %s '%s' 2>&1",
        $o{c} || 32, $o{d} || 5, $o{timeout} || 30, $script, $o{url};
    my $out = `$cmd`;
    die "wrk: $out\n" if $? != 0;

    my %r = (out => $out);
    ($r{rps}) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    ($r{n}) = $out =~ /(\d+) requests in/;
    for my $p (50, 75, 90, 99) {
        my ($v, $u) = $out =~ /^\s+$p%\s+([\d.]+)(us|ms|s)\b/m;
        $r{"p$p"} = defined $v ? $v * { us => 0.001, ms => 1, s => 1000 }->{$u}
                               : undef;
    }
    if ($out =~ /^STATUSES (\{.*\})$/m) {
        $r{statuses} = decode_json($1);
    }
    ($r{errors}) = $out =~ /Non-2xx or 3xx responses: (\d+)/;
    $r{errors} ||= 0;
    if ($out =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/) {
        $r{socket_errors} = $1 + $2 + $3 + $4;
    }
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

sub wrk_lua {
    my ($body, $count) = @_;
    $body //= $REQUEST;
    my $lua = <<"EOF";
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer fw_bench_key"
EOF
    return $lua unless $count;

    # counting statuses makes wrk parse every response: only where needed
    return $lua . <<'EOF';
local threads = {}
function setup(thread) table.insert(threads, thread) end
statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("statuses")) do all[s] = (all[s] or 0) + n end
  end
  local parts = {}
  for s, n in pairs(all) do table.insert(parts, '"' .. s .. '":' .. n) end
  io.write("STATUSES {" .. table.concat(parts, ",") .. "}\n")
end
EOF
}

# utime + stime of a process in clock ticks (1/100 s)

sub cpu_ticks {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $s = <$fh>;
    $s =~ s/^.*\)\s+//;
    my @f = split ' ', $s;
    return $f[11] + $f[12];
}

sub status_kb {
    my ($pid, $field) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (<$fh>) { return $1 if /^$field:\s+(\d+)/ }
    return 0;
}

sub rss_kb { status_kb($_[0], 'VmRSS') }
sub hwm_kb { status_kb($_[0], 'VmHWM') }

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
    my $file = "$self->{out}/$self->{name}.md";
    $self->write_file($file, $md);
    print $md;
}

sub plot {
    my ($self, $png, $script) = @_;
    return 0 unless have('gnuplot');
    my $gp = $self->write_file("$self->{name}.gp",
        "set terminal pngcairo size 800,450 font 'sans,10'\n"
        . "set output '$self->{out}/$png'\n$script");
    system("gnuplot $gp 2>$self->{dir}/gnuplot.err") == 0
        or die "gnuplot: " . $self->read_file('gnuplot.err');
    return 1;
}

# Error logs of the nginx instances and HAProxy must show no alert, crit
# or crash: a benchmark of a broken gateway measures nothing.

sub check_logs {
    my ($self) = @_;
    my @bad;
    for my $p (@{$self->{nginx_prefixes}}) {
        my $log = $self->read_file("$p/logs/error.log");
        push @bad, "$p: $1" while $log =~ /^(.*\[(?:alert|crit|emerg)\].*)$/mg;
        push @bad, "$p: $1" while $log =~ /^(.*exited on signal.*)$/mg;
    }
    return @bad;
}

sub stop {
    my ($self) = @_;
    for my $p (@{$self->{nginx_prefixes}}) {
        my $pid = $self->read_file("$p/logs/nginx.pid");
        chomp $pid;
        next unless $pid && kill(0, $pid);
        kill 'TERM', $pid;
        for (1 .. 50) { last unless kill(0, $pid); sleep 0.1 }
        kill 'KILL', $pid if kill(0, $pid);
    }
    for my $pid (@{$self->{procs}}) {
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
    @{$self->{procs}} = ();
    my @bad = $self->check_logs;
    @{$self->{nginx_prefixes}} = ();
    die "errors in logs:\n" . join("\n", @bad) . "\n" if @bad;
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} == $$;
    local $@;
    eval { $self->stop } if @{$self->{procs}} || @{$self->{nginx_prefixes}};
}

1;
