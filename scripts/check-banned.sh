#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fail on calls to the C library functions STYLE.md section 6 bans, in every tracked .c and .h
# file: strcpy strcat sprintf vsprintf gets strtok atoi atol atof strncpy strerror system.
# Use snprintf, buf_append, the checked str_to_* parsers and strerror_r instead.
# A call is the name as a whole word followed by '(' (so snprintf, fgets, strerror_r and
# ops->system() do not count); comments, string and character literals are ignored.
# Usage: scripts/check-banned.sh [FILE...]   (default: every tracked *.c and *.h)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
        mapfile -t files < <(git ls-files '*.c' '*.h')
else
        files=("$@")
fi
[ ${#files[@]} -eq 0 ] && exit 0

# perl (perl-base is essential in Debian) blanks comments and literals, keeping line numbers.
perl -e '
my $banned = qr/strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atof|strncpy|strerror|system/;
my $found = 0;
for my $file (@ARGV) {
        open(my $fh, "<", $file) or die "check-banned: $file: $!\n";
        local $/;
        my $src = <$fh>;
        close($fh);
        # One pass, left to right, so a quote inside a comment or a "/*" inside a string is
        # taken for what it is. Newlines survive so line numbers stay right.
        $src =~ s{
                (/\*.*?\*/)                      # block comment
              | (//[^\n]*)                       # line comment
              | ("(?:\\.|[^"\\\n])*")            # string literal
              | (\x27(?:\\.|[^\x27\\\n])*\x27)   # character literal
        }{ my $m = $&; $m =~ s/[^\n]/ /g; $m }gsex;
        my $line = 0;
        for my $text (split /\n/, $src, -1) {
                $line++;
                while ($text =~ /(?<![\w.])(?<!->)($banned)\s*\(/g) {
                        print "$file:$line: banned function \x27$1\x27 (STYLE.md section 6)\n";
                        $found++;
                }
        }
}
exit($found ? 1 : 0);
' "${files[@]}"
