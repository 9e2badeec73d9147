#!/bin/sh
# Translation checks (TAP):
#
#   1. po/POTFILES.in lists every source file that marks strings, and only
#      existing files;
#   2. no user-visible message is left unmarked in those files (a string
#      literal given to g_set_error(), g_prefix_error(), g_printerr(), ... that
#      contains words and is not wrapped in _() or N_());
#   3. xgettext extracts a template from po/POTFILES.in without errors and no
#      msgid is cut short (a format macro such as G_GSIZE_FORMAT, which
#      xgettext cannot expand, inside _(); use %zu or PRId64 instead);
#   then for every language in po/LINGUAS:
#   4. msgfmt -c compiles po/LANG.po;
#   5. every msgid of the fresh template is translated in po/LANG.po, and
#      none is fuzzy.
#
# When a check fails because strings were added or changed, refresh the
# catalogs from a configured build tree and translate what is new:
#     make -C _build/po update-po       # merges po/*.po with a fresh template
#     $EDITOR po/de.po                   # translate new and "#, fuzzy" entries
#
# Environment: G_TEST_SRCDIR (tests/ of the source tree), XGETTEXT, MSGFMT,
# MSGMERGE (default: from PATH; msgattrib comes from PATH too).
set -u

srcdir=${G_TEST_SRCDIR:-$(cd "$(dirname "$0")" && pwd)}
top_srcdir=$(cd "$srcdir/.." && pwd)
podir=$top_srcdir/po
XGETTEXT=${XGETTEXT:-xgettext}
MSGFMT=${MSGFMT:-msgfmt}
MSGMERGE=${MSGMERGE:-msgmerge}
MSGATTRIB=${MSGATTRIB:-msgattrib}

case "$XGETTEXT$MSGFMT$MSGMERGE" in
  *:*) echo "1..0 # SKIP gettext tools not found (apt-get install gettext)"; exit 0 ;;
esac
for tool in "$XGETTEXT" "$MSGFMT" "$MSGMERGE" "$MSGATTRIB"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "1..0 # SKIP $tool not found (apt-get install gettext)"; exit 0; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-po.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

languages=$(sed -e 's/#.*//' "$podir/LINGUAS" | tr -s ' \t' '\n\n' | grep -v '^$')
n_langs=$(echo "$languages" | grep -c .)
echo "1..$((3 + 2 * n_langs))"

n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
diag () { sed 's/^/#   /' "$@"; }
# Prints the msgid of every entry of a PO file on one line (continuations joined).
msgids () {
  awk '/^(#~ )?msgid / { if (id != "") print id; id = $0; next }
       /^(#~ )?"/ && id != "" && !done { sub(/^(#~ )?"/, "\""); sub(/"$/, "", id); id = id substr($0, 2); next }
       { if (id != "") print id; id = "" }
       END { if (id != "") print id }' "$1" | grep -v -E '^(#~ )?msgid ""$'
}

potfiles=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$podir/POTFILES.in" | grep -v '^$')

# 1. POTFILES.in is complete and accurate.
: > "$tmp/problems"
for f in $potfiles; do
  [ -f "$top_srcdir/$f" ] || echo "listed in po/POTFILES.in but missing: $f" >> "$tmp/problems"
done
(cd "$top_srcdir" && find gossip glue plugin -name '*.[ch]' 2>/dev/null) | LC_ALL=C sort | while read -r f; do
  if perl -0777 -ne 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g; exit(/(?:^|[^A-Za-z0-9_])(?:N?C?_|g_dngettext|ngettext)\s*\(/ ? 0 : 1)' \
       "$top_srcdir/$f" &&
     ! echo "$potfiles" | grep -qx "$f"; then
    echo "marks strings but is not listed in po/POTFILES.in: $f" >> "$tmp/problems"
  fi
done
if [ -s "$tmp/problems" ]; then
  not_ok "po/POTFILES.in lists exactly the files that mark strings"
  diag "$tmp/problems"
else
  ok "po/POTFILES.in lists every file that marks strings ($(echo "$potfiles" | wc -l) files)"
fi

# 2. No unmarked user-visible message in the listed files.
# shellcheck disable=SC2086
(cd "$top_srcdir" && perl -e '
  use strict;
  # function => index of the message argument
  my %pos = (g_set_error => 3, g_set_error_literal => 3, g_prefix_error => 1,
             g_prefix_error_literal => 1, g_propagate_prefixed_error => 2,
             g_error_new => 2, g_error_new_literal => 2, g_task_return_new_error => 3,
             g_printerr => 0, g_print => 0, g_option_context_new => 0,
             g_option_context_set_summary => 1, g_option_context_set_description => 1);
  my $names = join "|", sort { length $b <=> length $a } keys %pos;
  for my $f (@ARGV) {
    open my $fh, "<", $f or next; local $/; my $code = <$fh>;
    $code =~ s{/\*.*?\*/}{ (my $c = $&) =~ s/[^\n]/ /g; $c }gse;   # drop comments, keep lines
    while ($code =~ /\b($names)\s*\(/g) {
      my ($fn, $start) = ($1, pos $code);
      my ($depth, $i, $cur, $instr, @args) = (1, $start, "", 0);
      while ($i < length $code && $depth > 0) {
        my $ch = substr $code, $i++, 1;
        if ($instr) { $cur .= $ch; if ($ch eq "\\") { $cur .= substr $code, $i++, 1 } elsif ($ch eq "\"") { $instr = 0 } next }
        if ($ch eq "\"") { $instr = 1 } elsif ($ch eq "(") { $depth++ } elsif ($ch eq ")") { last if --$depth == 0 }
        elsif ($ch eq "," && $depth == 1) { push @args, $cur; $cur = ""; next }
        $cur .= $ch;
      }
      push @args, $cur;
      my $arg = $args[$pos{$fn}] // next;
      $arg =~ s/^\s+//;
      next unless $arg =~ /^"/;                       # _(...), N_(...), a variable: fine
      (my $text = $arg) =~ s/"\s*"//g;                 # join adjacent literals
      $text =~ s/%[-+ #0-9.*]*(?:hh|h|ll|l|z|j|t|L)?[a-zA-Z%]//g;   # conversions
      $text =~ s/\\[nt"\\]/ /g;
      $text =~ s/--?[a-z][a-z0-9-]*//g;                # option names
      $text =~ s/"\s*[A-Z_][A-Z0-9_]*\s*"//g;           # format macros between literals
      next unless $text =~ /[A-Za-z]{2,}/;             # only punctuation and formats left
      my $line = 1 + (() = substr($code, 0, $start) =~ /\n/g);
      (my $show = $arg) =~ s/\s+/ /g;
      print "$f:$line: $fn: ", substr($show, 0, 100), "\n";
    }
  }' $potfiles) > "$tmp/unmarked"
if [ -s "$tmp/unmarked" ]; then
  not_ok "every user-visible message in po/POTFILES.in files is marked with _() or N_()"
  diag "$tmp/unmarked"
else
  ok "no unmarked user-visible message (g_set_error, g_prefix_error, g_printerr, ...)"
fi

# 3. A fresh template.
keywords=$(sed -n 's/^XGETTEXT_OPTIONS[[:space:]]*=[[:space:]]*//p' "$podir/Makevars")
# shellcheck disable=SC2086
if (cd "$top_srcdir" && "$XGETTEXT" --default-domain=check --language=C $keywords \
      --package-name=scriptling-gossip -o "$tmp/fresh.pot" $potfiles) > "$tmp/xgettext.log" 2>&1 &&
   [ -s "$tmp/fresh.pot" ]; then
  sed -i 's/charset=CHARSET/charset=UTF-8/' "$tmp/fresh.pot"
  "$MSGATTRIB" --no-wrap --no-location -o "$tmp/fresh.nowrap.pot" "$tmp/fresh.pot" 2>/dev/null
  msgids "$tmp/fresh.nowrap.pot" > "$tmp/fresh.msgids"
  grep -E '^msgid "([^"]|\\")*%[-+ #0-9.]*"$' "$tmp/fresh.msgids" > "$tmp/cut" || true
  if [ -s "$tmp/cut" ]; then
    not_ok "xgettext extracts every msgid whole"
    echo "#   msgids cut at a format macro xgettext cannot expand (use %zu, %u, or PRId64/PRIu64 from <inttypes.h>):"
    diag "$tmp/cut"
  elif grep -q -i -E 'warning|error' "$tmp/xgettext.log"; then
    not_ok "xgettext runs without warnings"
    diag "$tmp/xgettext.log"
  else
    ok "xgettext extracts $(wc -l < "$tmp/fresh.msgids") messages from po/POTFILES.in"
  fi
else
  not_ok "xgettext extracts a template from po/POTFILES.in"
  diag "$tmp/xgettext.log"
fi

# 4, 5. Each language.
for lang in $languages; do
  po=$podir/$lang.po
  if [ ! -f "$po" ]; then
    not_ok "po/$lang.po exists (listed in po/LINGUAS)"
    not_ok "po/$lang.po is complete"
    continue
  fi
  if "$MSGFMT" -c --statistics -o "$tmp/$lang.gmo" "$po" > "$tmp/msgfmt.log" 2>&1 &&
     ! grep -q -i -E 'warning|error' "$tmp/msgfmt.log"; then
    ok "msgfmt -c compiles po/$lang.po ($(tail -n 1 "$tmp/msgfmt.log"))"
  else
    not_ok "msgfmt -c compiles po/$lang.po"
    diag "$tmp/msgfmt.log"
  fi

  if [ ! -s "$tmp/fresh.pot" ]; then
    not_ok "po/$lang.po is complete # no template"
    continue
  fi
  "$MSGMERGE" --quiet --no-fuzzy-matching --no-wrap -o "$tmp/$lang.merged.po" "$po" "$tmp/fresh.pot" 2>"$tmp/msgmerge.log"
  "$MSGATTRIB" --no-wrap --untranslated --no-obsolete -o "$tmp/untranslated.po" "$tmp/$lang.merged.po" 2>/dev/null
  "$MSGATTRIB" --no-wrap --only-fuzzy --no-obsolete -o "$tmp/fuzzy.po" "$po" 2>/dev/null
  "$MSGATTRIB" --no-wrap --only-obsolete -o "$tmp/obsolete.po" "$tmp/$lang.merged.po" 2>/dev/null
  : > "$tmp/missing"; : > "$tmp/fuzzy"; : > "$tmp/obsolete"
  [ -f "$tmp/untranslated.po" ] && msgids "$tmp/untranslated.po" > "$tmp/missing"
  [ -f "$tmp/fuzzy.po" ] && msgids "$tmp/fuzzy.po" > "$tmp/fuzzy"
  [ -f "$tmp/obsolete.po" ] && msgids "$tmp/obsolete.po" > "$tmp/obsolete"
  rm -f "$tmp/untranslated.po" "$tmp/fuzzy.po" "$tmp/obsolete.po"
  if [ -s "$tmp/missing" ] || [ -s "$tmp/fuzzy" ]; then
    not_ok "every marked string is translated in po/$lang.po"
    [ -s "$tmp/missing" ] && { echo "#   not translated in po/$lang.po (new or changed strings):"; diag "$tmp/missing"; }
    [ -s "$tmp/fuzzy" ] && { echo "#   fuzzy in po/$lang.po (review, then remove the fuzzy flag):"; diag "$tmp/fuzzy"; }
    echo "#   refresh with: make -C _build/po update-po   then translate po/$lang.po"
  else
    ok "all $(wc -l < "$tmp/fresh.msgids") marked strings are translated in po/$lang.po, none fuzzy"
  fi
  if [ -s "$tmp/obsolete" ]; then
    echo "# note: po/$lang.po has $(wc -l < "$tmp/obsolete") entries no longer in the sources (make -C _build/po update-po drops them)"
  fi
done

exit "$failed"
