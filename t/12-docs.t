#!/usr/bin/perl

# Every nginx configuration shown in README.md and docs/ passes "nginx -t"
# with the built module: the ```nginx blocks of the markdown files, the
# standalone *.conf files of docs/deploy/ (with the *.template files next
# to them rendered as the official Docker image renders them, as are the
# blocks that show a piece of a template), and the snippets of the
# ingress-nginx YAML files put together as the controller puts them.  The API's host name is replaced by a local address (this
# machine resolves no public names), log paths and ports by the test's.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";
use File::Find;
use Test::More;
use Files qw/read_file/;
use FW;

my $t = FW->new();
my $root = "$FindBin::Bin/..";

sub files_under {
    my ($dir, $re) = @_;
    my @f;
    find({ no_chdir => 1, wanted => sub { push @f, $_ if /$re/ && -f } },
        $dir) if -d $dir;
    return sort @f;
}

sub name { $_[0] =~ s{^\Q$root\E/}{}r }

# what a configuration needs to run here

sub adapt {
    my ($conf) = @_;

    $conf =~ s/^\s*load_module .*$//mg;
    $conf =~ s/api\.fireworks\.ai:443/127.0.0.1:443/g;
    $conf =~ s{/var/log/nginx/}{%%TESTDIR%%/}g;
    $conf =~ s/listen (?:\d+\.\d+\.\d+\.\d+:)?\d+;/listen %%LISTEN%%;/g;
    $conf =~ s/%%LISTEN%%/127.0.0.1:%%PORT_NGINX%%/g;
    $conf =~ s{include /etc/nginx/conf\.d/}{include %%TESTDIR%%/conf.d/}g;

    # a whole nginx.conf: %%GLOBALS%% sets these
    $conf =~ s/^\s*(?:user|pid) .*$//mg;

    return $conf;
}

# ${FIREWORKS_API_KEY} replaced, as the official nginx image's entrypoint
# replaces the environment's variables in its templates

sub render {
    my ($conf, $key) = @_;
    my %env = (FIREWORKS_API_KEY => $key);
    $conf =~ s/\$\{?(FIREWORKS_\w+)\}?/defined $env{$1} ? $env{$1} : $&/ge;
    return $conf;
}

sub test_block {
    my ($name, $conf) = @_;

    $conf = adapt($conf);

    if ($conf !~ /^http \{/m) {
        $conf = "http {\n%%HTTP_GLOBALS%%\n$conf\n}\n";
    } else {
        $conf =~ s/^http \{/http {\n%%HTTP_GLOBALS%%/m;
    }

    $conf = "%%GLOBALS%%\n" . ($conf =~ /^events/m ? '' : "events { }\n")
        . $conf;

    my ($rc, $out) = $t->test_conf($conf);
    is($rc, 0, "nginx -t: $name") or diag $out;
}

# ```nginx blocks of the markdown files

my $blocks = 0;

for my $path ("$root/README.md", glob("$root/docs/*.md"),
    files_under("$root/docs/deploy", qr/\.md$/))
{
    my $md = read_file($path);
    my $i = 0;
    while ($md =~ /^```nginx\n(.*?)^```/msg) {
        my ($conf, $name) = ($1, name($path) . ' block ' . ++$i);
        $blocks++;

        # a piece of a template: rendered as the Docker image renders it
        if ($conf =~ /\$\{FIREWORKS_/) {
            test_block("$name, rendered with FIREWORKS_API_KEY $_",
                render($conf, $_ eq 'set' ? 'fw-test-key' : ''))
                for qw/empty set/;
            next;
        }

        test_block($name, $conf);
    }
}

cmp_ok($blocks, '>=', 3, 'configuration examples found');

# standalone files: each *.conf, with the *.template files of its
# directory rendered into conf.d/ as the official nginx image does
# (${VAR} replaced by the environment's value), once with
# FIREWORKS_API_KEY empty and once set

my @confs = files_under("$root/docs/deploy", qr/\.conf$/);
ok(scalar @confs, 'docs/deploy/ *.conf files found');

for my $path (@confs) {
    (my $dir = $path) =~ s{/[^/]+$}{};
    my @templates = glob("$dir/*.template");

    for my $key (@templates ? ('', 'fw-test-key') : ('')) {
        my $conf = read_file($path);
        my $name = name($path);

        if (@templates) {
            my $d = $t->dir;
            mkdir "$d/conf.d";
            unlink glob("$d/conf.d/*");

            like($conf, qr{include /etc/nginx/conf\.d/\*\.conf;},
                "$name includes the rendered templates");

            for my $tpl (@templates) {
                my $out = render(read_file($tpl), $key);
                unlike($out, qr/\$\{?FIREWORKS_/,
                    name($tpl) . ': every variable rendered');
                (my $base = $tpl) =~ s{.*/}{};
                $base =~ s/\.template$//;
                $t->write_file("conf.d/$base", $t->expand(adapt($out)));
            }

            $name .= ' with ' . join(', ', map { name($_) } @templates)
                . (length $key ? ', FIREWORKS_API_KEY set' : '');
        }

        test_block($name, $conf);
    }
}

# ingress-nginx: the ConfigMap's main-snippet and http-snippet and the
# Ingress's server-snippet, in a server that also has a location for each
# path of the Ingress, as the controller generates it

sub yaml_snippets {
    my ($yaml) = @_;
    my (%s, @lines);
    @lines = split /\n/, $yaml;

    for (my $i = 0; $i < @lines; $i++) {
        next unless $lines[$i] =~ /^(\s*)(\S*-snippet):\s*\|\s*$/;
        my ($indent, $key) = (length $1, $2);
        my @body;
        while ($i + 1 < @lines && ($lines[$i + 1] !~ /\S/
               || $lines[$i + 1] =~ /^\s{@{[$indent + 1]},}/))
        {
            push @body, $lines[++$i];
        }
        my ($pad) = sort { length $a <=> length $b }
            map { /^(\s*)/ } grep { /\S/ } @body;
        $s{$key =~ s{.*/}{}r} = join "\n", map { s/^\Q$pad\E//r } @body;
    }

    return %s;
}

my @yamls = files_under("$root/docs/deploy/ingress-nginx", qr/\.ya?ml$/);

if (@yamls) {
    my (%snip, @paths);
    for my $path (@yamls) {
        my $yaml = read_file($path);
        %snip = (%snip, yaml_snippets($yaml));
        push @paths, $yaml =~ /^\s*-?\s*path:\s*(\S+)/mg;
    }

    ok($snip{$_}, "ingress-nginx $_ found")
        for qw/main-snippet http-snippet server-snippet/;
    like($snip{'main-snippet'} || '',
        qr{^load_module /etc/nginx/modules/ngx_http_fireworks_module\.so;}m,
        'ingress-nginx main-snippet loads the module');

    my $ingress = join '', map { "location $_ { return 404; }\n" } @paths;

    test_block('ingress-nginx snippets', <<"EOF");
$snip{'main-snippet'}
events { }
http {
$snip{'http-snippet'}
server {
listen 8080;
$ingress
$snip{'server-snippet'}
}
}
EOF
}

done_testing;
