#!/usr/bin/perl

# What the README's commands need is what build.sh installs: on a fresh
# Debian bookworm nothing of the suite may be skipped for a program that
# build.sh could have installed, nor fail for a build dependency it left
# out.  Read from the files themselves:
#
# - every program a test or benchmark skips without (its skip reason
#   names it) is known here with its Debian package, and "./build.sh
#   test" installs that package;
# - the Debian package's Build-Depends (and build-essential, which
#   dpkg-buildpackage always checks) are installed by "./build.sh deb";
# - the README names every package "./build.sh test" installs;
# - every npm package pinned in t/sdk/package-lock.json admits, by its
#   "engines", the Node version docs/testing.md says the suite is tested
#   with (Debian bookworm's), so that "npm ci" warns of none.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use Test::More;
use Files qw/read_file/;

my $root = "$FindBin::Bin/..";
my $build = read_file("$root/build.sh");

# the package lists of build.sh, and which of them each command installs

my %list = $build =~ /^(\w+_PKGS)="([^"]*)"/mg;
$list{$_} = [ split ' ', $list{$_} ] for keys %list;
ok(exists $list{$_}, "build.sh: $_") for qw/BUILD_PKGS TEST_PKGS BENCH_PKGS
    DEB_PKGS FUZZ_PKGS/;

sub installs {
    my ($func) = @_;
    my ($body) = $build =~ /^$func\(\) \{\n(.*?)^\}/ms;
    my %p;
    for ($body =~ /install_pkgs ([^\n]+)/g) {
        for my $w (split ' ') {
            if ($w =~ /^\$(\w+)$/) { $p{$_} = 1 for @{$list{$1} || []} }
            elsif ($w =~ /^[a-z0-9][a-z0-9.+-]+$/) { $p{$w} = 1 }
        }
    }
    return \%p;
}

my $test = installs('prepare_tests');
$test->{$_} = 1 for @{$list{BUILD_PKGS}};    # ./build.sh test builds first
my $deb = installs('deb');
ok($test->{nodejs} && $test->{npm},
    './build.sh test: nodejs (when there is no node) and npm');

# Each program a skip reason of the suite names, with the Debian package
# that provides it on bookworm.  A new skip for a missing program fails
# here until the program is added, and build.sh installs its package.

my %provides = (
    valgrind => 'valgrind',
    openssl => 'openssl',
    promtool => 'prometheus',
    prometheus => 'prometheus',
    python3 => 'python3',
    nm => 'gcc',                # binutils, which gcc depends on
    wrk => 'wrk',
    haproxy => 'haproxy',
    gnuplot => 'gnuplot-nox',
    node => 'nodejs',
    taskset => 'util-linux',
    'llvm-symbolizer' => 'llvm',
    clang => 'clang',
);

my %skipped;
for my $f (glob("$root/t/*.t"), glob("$root/bench/*.pl"), "$root/t/fuzz/run.sh") {
    (my $name = $f) =~ s{^\Q$root\E/}{};
    next if $name eq 't/22-packages.t';
    my $src = read_file($f);
    # skip 'no valgrind' / plan(skip_all => 'no valgrind') / say "no X (Debian: ...)"
    for my $line (grep { /skip|say / } split /\n/, $src) {
        $skipped{$1}{$name} = 1 while $line =~ /["']no ([a-z][\w.+-]*)[ "'(]/g;
    }
    # for my $tool (qw/a b c/) { plan(skip_all => "$tool not installed ...") }
    if ($src =~ /for my \$tool \(qw\/([^\/]+)\/\)\s*\{\s*plan\(skip_all/) {
        $skipped{$_}{$name} = 1 for split ' ', $1;
    }
}
ok(exists $skipped{valgrind} && exists $skipped{wrk},
    'skip reasons found (valgrind, wrk, ...)') or diag explain \%skipped;

# names in skip reasons that are not programs
delete @skipped{qw/built module nginx/};

for my $prog (sort keys %skipped) {
    my $files = join ', ', sort keys %{$skipped{$prog}};
    my $pkg = $provides{$prog};
    ok(defined $pkg, "$prog ($files): its package known here")
        or next;
    ok($test->{$pkg}, "$prog ($files): ./build.sh test installs $pkg");
}

# the C compiler t/17 looks for, and the Debian package's build

ok($test->{clang} || $test->{gcc}, './build.sh test: a C compiler for t/17');

my $control = read_file("$root/pkg/debian/control");
my ($bd) = $control =~ /^Build-Depends:\s*(.*?)\n(?!\s)/ms;
ok(defined $bd, 'pkg/debian/control: Build-Depends') or $bd = '';
my %virtual = ('debhelper-compat' => 'debhelper',
    'dh-sequence-nginx' => 'nginx-dev');
for my $dep ((map { s/\s*\(.*//sr } split /\s*,\s*/, $bd), 'build-essential') {
    my $pkg = $virtual{$dep} // $dep;
    ok($deb->{$pkg} && $test->{$pkg},
        "Build-Depends $dep: ./build.sh deb and ./build.sh test install $pkg");
}
ok($deb->{$_}, "./build.sh deb installs $_") for qw/dpkg-dev lintian/;

# the README says build.sh needs root and names what each command installs

my $readme = read_file("$root/README.md");
like($readme, qr/apt-get[^.]*\broot\b|\broot\b[^.]*apt-get/,
    'README: build.sh needs root (apt-get)');
for my $pkg (sort keys %$test) {
    like($readme, qr/(?<![\w-])\Q$pkg\E(?![\w-])/, "README names $pkg");
}

# the Node the suite is tested with, as docs/testing.md names it, and the
# engines of every package t/sdk pins

my $testing = read_file("$root/docs/testing.md");
my ($node) = $testing =~ /tested with the Node\s+of a fresh Debian bookworm,.*?Node\s+(\d+\.\d+\.\d+)/s;
ok(defined $node, "docs/testing.md names the Node version: $node")
    or $node = '18.20.4';

my $lock = decode_json(read_file("$root/t/sdk/package-lock.json"));
my $pkgs = $lock->{packages} || {};
ok(keys %$pkgs > 5, 'package-lock.json: packages');
for my $path (sort keys %$pkgs) {
    next unless $path;
    my $engines = ($pkgs->{$path}{engines} || {})->{node};
    next unless defined $engines;
    (my $name = $path) =~ s{.*node_modules/}{};
    my $ok = satisfies($node, $engines);
    ok($ok, "$name $pkgs->{$path}{version}: engines \"$engines\" admits Node $node");
}

done_testing;

# Does VERSION satisfy the npm range RANGE?  The forms package-lock.json
# holds: "||" alternatives of space-separated comparators (>=, >, <=, <,
# =), caret and tilde ranges, x-ranges and "*".  Anything else fails.

sub satisfies {
    my ($version, $range) = @_;
    my @v = split /\./, $version;
    for my $alt (split /\s*\|\|\s*/, $range) {
        $alt =~ s/(>=|<=|>|<|=|\^|~)\s+/$1/g;
        my $all = 1;
        for my $c (split ' ', $alt) {
            my $r = comparator(\@v, $c);
            return 0 unless defined $r;
            $all &&= $r;
        }
        return 1 if $all;
    }
    return 0;
}

sub cmpv {
    my ($a, $b) = @_;
    for my $i (0 .. 2) {
        my $d = ($a->[$i] // 0) <=> ($b->[$i] // 0);
        return $d if $d;
    }
    return 0;
}

sub comparator {
    my ($v, $c) = @_;
    return 1 if $c eq '*' || $c eq '';
    my ($op, $ver) = $c =~ /^(>=|<=|>|<|=|\^|~)?v?(\d+(?:\.(?:\d+|[xX*]))*)$/
        or return undef;
    $op //= '';
    my @p = grep { /^\d+$/ } split /\./, $ver;     # x-ranges: fewer parts
    my $n = @p;
    if ($op eq '' || $op eq '=') {
        for my $i (0 .. $n - 1) { return 0 if $v->[$i] != $p[$i] }
        return 1;
    }
    my $d = cmpv($v, \@p);
    return $d >= 0 if $op eq '>=';
    return $d > 0 if $op eq '>';
    return $d <= 0 if $op eq '<=';
    return $d < 0 if $op eq '<';
    return 0 if $d < 0;
    # ^: the same first non-zero part; ~: the same major and minor
    my $fixed = $op eq '~' ? ($n > 1 ? 1 : 0)
        : (grep { $p[$_] != 0 } 0 .. $n - 1)[0] // $n - 1;
    for my $i (0 .. $fixed) { return 0 if $i < $n && $v->[$i] != $p[$i] }
    return 1;
}
