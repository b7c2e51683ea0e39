# shellcheck shell=bash
# apt-source.sh — sourced by scripts/deps.sh and tests/lab/build-kmod.sh:
# where this machine gets Debian from, so that bookworm-backports (deps.sh
# --current-stack) and the private trixie configuration of build-kmod.sh use
# the same mirror and key.  Reads /etc/apt only.

VFMIG_BPO_SOURCES=/etc/apt/sources.list.d/vfmig-backports.sources

# distribution_source: print "URIS|SIGNED_BY" of the machine's own bookworm
# source (deb822 .sources first, then one-line .list; URIS may hold several,
# space-separated; SIGNED_BY may be empty); status 1 if there is none.
distribution_source() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f && $f != "$VFMIG_BPO_SOURCES" ]] || continue
    awk 'function flush() {
           if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ / bookworm / && uris != "") {
             print uris "|" signed; found = 1; exit
           }
           types = suites = uris = signed = ""
         }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         { key = tolower($1); sub(/^[^:]*:[ \t]*/, "") }
         key == "types:" { types = $0 } key == "suites:" { suites = $0 }
         key == "uris:" { uris = $0 } key == "signed-by:" { signed = $0 }
         END { if (!found) flush() }' "$f" | grep . && return 0
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk '$1 == "deb" {
           opts = ""; i = 2
           if ($2 ~ /^\[/) { while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) break; i++ }; i++ }
           if ($(i + 1) == "bookworm") {
             s = ""; if (match(opts, /signed-by=[^] ]*/)) s = substr(opts, RSTART + 10, RLENGTH - 10)
             print $i "|" s; exit
           }
         }' "$f" | grep . && return 0
  done
  return 1
}
