#!/bin/sh
# Written by Ignity (ignity/sh/svscan-signal.sh) as /usr/lib/ignity/svscan/signal, at
# `ignity install`; .s6-svscan/SIGxxx links to it. s6-svscan runs it as PID 1's user (root,
# normally) for each signal it catches. It reads only root's files (stage 1's settings, the
# CMD's process group) and may signal the CMD's group, take the stop latch, close the CMD's
# gate and tell s6-svscan to stop. What each signal does: the README's signal table.
trap '' TERM INT QUIT HUP  # first: once it holds the latch, nothing may end it
# Its variables start with ignity_, as in stage0.sh.
# start filled
ignity_state=/run/ignity/state
ignity_stopping=/run/ignity/state/stopping
ignity_started=/run/ignity/state/cmd-started
ignity_gate=/run/ignity/state/no-cmd
ignity_services=/run/ignity/services
ignity_scan=/run/ignity/services-state
ignity_svscanctl=/usr/bin/s6-svscanctl
ignity_ln=/bin/ln
ignity_exit=/usr/lib/execline/bin/exit
# end filled
sig=${0##*SIG}
IGNITY_CMD_FORWARD_SIGNALS=1 IGNITY_CMD_RECEIVE_SIGNALS=0
# shellcheck source=/dev/null # stage 1's settings (IGNITY_* assignments), root's
[ -f "$ignity_state/config" ] && . "$ignity_state/config"
running() {  # the CMD's process group, while the CMD runs
  [ -s "$ignity_state/cmd" ] || return 1
  for f in "$ignity_state"/cmd-status.*; do [ -e "$f" ] && return 1; done
  read -r pgid < "$ignity_state/cmd"
}
forward() {  # only once the CMD's own process runs, signals unblocked (before, its waiter alone would get it)
  if [ -e "$ignity_started" ] && running && kill -s "$1" -- "-$pgid" 2>/dev/null; then
    [ "${IGNITY_VERBOSITY:-1}" -lt 2 ] || echo "[ignity/signal] SIG$1: forwarded to the CMD" >&2
    return 0
  fi
  [ "${IGNITY_VERBOSITY:-1}" -lt 2 ] || echo "[ignity/signal] SIG$1: no CMD running: not forwarded" >&2
  return 1
}
case $sig in
  TERM|INT|QUIT)
    # Left to the CMD only when it will get it; otherwise (not started yet, or gone) a stop as without the setting.
    [ "$IGNITY_CMD_RECEIVE_SIGNALS" = 1 ] && forward "$sig" && exit 0
    case $sig in TERM) num=15 ;; INT) num=2 ;; *) num=3 ;; esac
    # With dependencies, stage 3 stops the services in order; without, s6-svscan tells them all now.
    set -- "$ignity_services"/*/dependencies.d/*
    if [ -e "$1" ] || [ -L "$1" ]; then ctl=-b; else ctl=-tb; fi
    # The CMD's announcement is read before the latch: one that comes after is stage 3's to stop.
    pgid='' told=''
    running && told=" cmd"
    # Whoever creates the latch owns the stop; the reason follows (a full /run/ignity
    # may leave it empty: the stop is ours all the same).
    { set -C; : > "$ignity_stopping"; } 2>/dev/null || exit 0
    set +C
    echo "signal $num$told" >> "$ignity_stopping" 2>/dev/null
    # The CMD's gate closes before its group is signalled: a CMD process forked after
    # this never runs the CMD (stage2.waiter_argv).
    if [ -n "$pgid" ] || [ -s "$ignity_state/cmd" ]; then
      "$ignity_ln" -s "$ignity_exit" "$ignity_gate" 2>/dev/null
    fi
    if [ -n "$pgid" ]; then
      kill -s TERM -- "-$pgid" 2>/dev/null; kill -s CONT -- "-$pgid" 2>/dev/null
    fi
    exec "$ignity_svscanctl" "$ctl" "$ignity_scan" 2>/dev/null ;;
  HUP)
    [ "$IGNITY_CMD_FORWARD_SIGNALS" = 1 ] && forward HUP && exit 0
    exec "$ignity_svscanctl" -an "$ignity_scan" ;;
  *)
    [ "$IGNITY_CMD_FORWARD_SIGNALS" = 1 ] && forward "$sig"
    exit 0 ;;
esac
