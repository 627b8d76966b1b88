package Files;

# Reading and writing whole files, bytes in and bytes out: shared by the
# test harness (t/lib/FW.pm), the tests and the benchmarks
# (bench/lib/Bench.pm).  Core Perl only, no Test::More.
#
#   use Files qw/read_file write_file/;
#   my $text = read_file($path);          # dies when it cannot be read
#   my $log = read_file($path, '');       # '' (any default) when it cannot
#   write_file($path, $content);          # dies on failure; returns $path

use warnings;
use strict;

use Exporter qw/import/;

our @EXPORT_OK = qw/read_file write_file/;

# The content of PATH.  When it cannot be opened: DEFAULT if one is given
# (even undef), else die naming the path and the reason.

sub read_file {
    my ($path, @default) = @_;
    my $fh;
    unless (open $fh, '<', $path) {
        return $default[0] if @default;
        die "$path: $!\n";
    }
    binmode $fh;
    local $/;
    my $content = <$fh>;
    close $fh;
    return defined $content ? $content : '';
}

# Writes CONTENT to PATH, replacing it.

sub write_file {
    my ($path, $content) = @_;
    open my $fh, '>', $path or die "$path: $!\n";
    binmode $fh;
    print $fh $content;
    close $fh or die "$path: $!\n";
    return $path;
}

1;
