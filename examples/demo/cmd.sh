#!/bin/sh
# The demo's CMD: runs once every service is ready, shows their state, exits 3.
echo "CMD: started; \`ignity status\` says:"
ignity status > /tmp/status; rc=$?
sed 's/^/  /' /tmp/status
echo "  (exit status $rc: every service is up, and ready where it says so)"
echo "CMD: what stays resident (no Python):"
for p in /proc/[0-9]*; do
  [ "$p" = /proc/$$ ] && continue
  printf '  pid %-4s %s\n' "${p#/proc/}" "$(cat "$p/comm" 2>/dev/null)"
done
echo "CMD: exiting with status 3; the container exits with it"
exit 3
