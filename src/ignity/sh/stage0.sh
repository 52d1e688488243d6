#!/bin/sh
# Written by Ignity (ignity/sh/stage0.sh) as /init, at `ignity install`.
# The engine runs it as PID 1, as the image's user (root, normally). It lays out
# /run/ignity from the image's root-owned skeleton (root first makes /run/ignity its own
# and removes what could be in the way), starts the boot process (Python stages 1 and 2)
# in the background with the original stdin, then becomes s6-svscan. Why each step:
# docs/how-it-works.md ("Stage 0").
# Its variables start with ignity_: one of the container's environment with the same
# name would otherwise reach the boot process and s6-svscan changed.
trap 'ignity_stop=1' TERM INT QUIT  # first: a stop from here on is recorded, never lost
# Values written in by runtime.stage0_script (paths found at install): no program is
# looked up in PATH, which is the container's.
# start filled
ignity_python=/usr/bin/python3
ignity_boot='import sys; from ignity.stages.stage1 import main; main()'
ignity_subreaper='import os'
ignity_svscan=/usr/bin/s6-svscan
ignity_max=5000
ignity_run=/run/ignity
ignity_skel=/usr/lib/ignity/skel
ignity_scan=/run/ignity/services-state
ignity_state=/run/ignity/state
ignity_environ=/run/ignity/environ
ignity_phase=/run/ignity/phase
ignity_stopping=/run/ignity/state/stopping
ignity_install=/usr/bin/install
ignity_rm=/bin/rm
ignity_mkdir=/bin/mkdir
ignity_cp=/bin/cp
# end filled

# Not PID 1: become a child subreaper first (sh/stage0_subreaper.py), then start again.
if [ "$$" != 1 ] && [ -z "$IGNITY_STAGE0" ]; then
  exec "$ignity_python" -IS -c "$ignity_subreaper" "$0" "$@"
fi
ignity_reaper=${IGNITY_STAGE0:-pid1}
unset IGNITY_STAGE0
if [ -O "$ignity_skel" ]; then
  # root: when /run/ignity holds anything (a previous run's, or another uid's),
  # it is made root's and what could be in the way is removed (rm follows no
  # link) before root writes in it. An empty one (a fresh tmpfs) costs nothing.
  for ignity_f in "$ignity_run"/* "$ignity_run"/.[!.]* "$ignity_run"/..?*; do
    if [ -e "$ignity_f" ] || [ -L "$ignity_f" ]; then
      "$ignity_install" -d -o 0 -g 0 -m 0755 "$ignity_run" 2>/dev/null
      "$ignity_rm" -rf "$ignity_state" "$ignity_scan" "$ignity_environ" "$ignity_phase" 2>/dev/null
      break
    fi
  done
elif [ -e "$ignity_state" ] || [ -e "$ignity_scan" ] || [ -L "$ignity_environ" ] || [ -e "$ignity_environ" ]; then
  "$ignity_rm" -rf "$ignity_state" "$ignity_scan" "$ignity_environ" "$ignity_phase" 2>/dev/null
fi
[ -d "$ignity_run" ] || "$ignity_mkdir" -p "$ignity_run" 2>/dev/null
# The whole environment, exactly as /init got it, for the boot process (sh keeps only some names).
if ! "$ignity_cp" -PR "$ignity_skel"/. /proc/$$/environ "$ignity_run"/ 2>/dev/null || ! [ -x "$ignity_svscan" ]; then
  # /run/ignity cannot be laid out: the boot process runs as PID 1 alone and says why.
  IGNITY_STAGE0=alone exec "$ignity_python" -IS -c "$ignity_boot" "$@"
fi
# From here a stop goes straight into the latch, where the boot process looks for it.
latch() { { set -C; echo "signal 15" > "$ignity_stopping"; } 2>/dev/null; }
trap latch TERM INT QUIT
[ -z "$ignity_stop" ] || latch
# The boot process gets the original stdin (a terminal, for the CMD); s6-svscan, and so
# every supervisor, service and logger, gets /dev/null.
exec 3<&0 </dev/null
IGNITY_STAGE0=$ignity_reaper "$ignity_python" -IS -c "$ignity_boot" "$@" <&3 3<&- &
exec 3<&-
# The last command sh runs a trap after (s6-svscan works there anyway): only a stop caught
# once it is done, in the exec itself, is lost, as one during s6-svscan's start is.
# shellcheck disable=SC2164 # s6-svscan is given the absolute path: a failed cd changes nothing
cd "$ignity_scan"
exec "$ignity_svscan" -c "$ignity_max" "$ignity_scan"
