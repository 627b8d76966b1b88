#!/usr/bin/perl

# The reference cannot drift from the code: docs/directives.md documents
# exactly the directives of the ngx_command_t tables, each with the
# contexts and the number of arguments the table declares.  Also: the
# shared object exports only what nginx looks up, and the C sources keep
# nginx's code style.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Files qw/read_file/;

my $root = "$FindBin::Bin/..";
my @src = glob("$root/ngx_fireworks_module/*.[ch]");

# the directives as the code declares them

my %flag_ctx = (NGX_HTTP_MAIN_CONF => 'http', NGX_HTTP_SRV_CONF => 'server',
    NGX_HTTP_LOC_CONF => 'location', NGX_HTTP_UPS_CONF => 'upstream',
    NGX_HTTP_LIF_CONF => 'if in location', NGX_HTTP_SIF_CONF => 'if');
my %flag_args = (NGX_CONF_NOARGS => [0, 0], NGX_CONF_TAKE1 => [1, 1],
    NGX_CONF_TAKE2 => [2, 2], NGX_CONF_TAKE12 => [1, 2],
    NGX_CONF_TAKE123 => [1, 3], NGX_CONF_1MORE => [1, 99],
    NGX_CONF_2MORE => [2, 99], NGX_CONF_FLAG => [1, 1]);

my %code;
for my $f (@src) {
    my ($c) = read_file($f) =~ /ngx_command_t\s+\w+\[\]\s*=\s*\{(.*?)ngx_null_command/s;
    next unless defined $c;
    while ($c =~ /\{\s*ngx_string\("(\w+)"\),\s*([A-Z0-9_|\s]+?),\s*\n/g) {
        my ($name, $flags) = ($1, $2);
        my @f = split /\s*\|\s*/, $flags;
        my @ctx = map { $flag_ctx{$_} } grep { $flag_ctx{$_} } @f;
        my ($args) = map { $flag_args{$_} } grep { $flag_args{$_} } @f;
        $code{$name} = { ctx => join(', ', @ctx), args => $args,
            flag => scalar grep { $_ eq 'NGX_CONF_FLAG' } @f };
    }
}

ok(scalar keys %code >= 11, 'directives found in the code: '
    . scalar keys %code);

# the directives as docs/directives.md documents them

my $doc = read_file("$root/docs/directives.md");
my %docs;
while ($doc =~ /^### (\w+)\n(.*?)(?=^#{2,3} )/msg) {
    my ($name, $text) = ($1, $2);
    my ($syntax) = $text =~ /\*\*Syntax:\*\* \| `([^`]+)`/;
    my ($default) = $text =~ /\*\*Default:\*\* \| (.+?) \|$/m;
    my ($ctx) = $text =~ /\*\*Context:\*\* \| (.+?) \|$/m;
    $docs{$name} = { syntax => $syntax, default => $default, ctx => $ctx };
}

# the number of arguments a Syntax line allows: "a | b" is one, "[x]" an
# optional one, "..." any number more

sub syntax_args {
    my ($name, $syntax) = @_;
    my $s = $syntax;
    $s =~ s/\\\|/|/g;
    $s =~ s/^\Q$name\E\s*//;
    $s =~ s/;\s*$//;
    $s =~ s/\s*\|\s*/|/g;
    my $more = $s =~ s/\s*\.\.\.\s*//g;
    my $opt = () = $s =~ /\[[^\]]*\]/g;
    $s =~ s/\[[^\]]*\]//g;
    my @req = grep { length } split ' ', $s;
    return [scalar @req, $more ? 99 : @req + $opt];
}

for my $name (sort keys %code) {
    my $d = $docs{$name};
    ok($d, "$name: documented") or next;
    ok(defined $d->{syntax} && $d->{syntax} =~ /^\Q$name\E\b.*;$/,
        "$name: a Syntax line");
    ok(defined $d->{default} && length $d->{default}, "$name: a Default line");
    is($d->{ctx}, $code{$name}{ctx}, "$name: contexts as declared");
    is_deeply(syntax_args($name, $d->{syntax} // ''), $code{$name}{args},
        "$name: arguments as declared");
    like($d->{syntax} // '', qr/on \\\| off/, "$name: a flag is on | off")
        if $code{$name}{flag};
}

for my $name (sort keys %docs) {
    ok($code{$name}, "$name: documented directive exists in the code");
}

# the shared object's exports

my $so = $ENV{TEST_NGINX_MODULE} || "$root/build/ngx_http_fireworks_module.so";

SKIP: {
    skip 'no built module', 1 unless -f $so;
    skip 'no nm', 1 if system('nm --version >/dev/null 2>&1');
    my @sym = sort map { (split ' ')[2] }
        grep { /^\S+ [A-Z] / } split /\n/, `nm -D --defined-only $so`;
    is_deeply(\@sym, [qw/ngx_http_fireworks_module ngx_module_names
        ngx_module_order ngx_modules/],
        'exports: the module and the tables nginx looks up')
        or diag "@sym";
}

# nginx's code style, what a machine can check

my @style;
for my $f (@src) {
    my $n = 0;
    for my $line (split /\n/, read_file($f)) {
        $n++;
        my $where = ($f =~ s{.*/}{}r) . ":$n";
        push @style, "$where: over 80 columns" if length $line > 80;
        push @style, "$where: tab" if $line =~ /\t/;
        push @style, "$where: trailing white space" if $line =~ /\s$/;
        push @style, "$where: // comment" if $line =~ m{(^|[\s;{}])//};
    }
}
ok(!@style, 'nginx code style: 80 columns, spaces, /* */ comments')
    or diag join "\n", @style[0 .. ($#style > 19 ? 19 : $#style)];

done_testing;
