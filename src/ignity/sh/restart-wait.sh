#!/bin/sh
# Written by Ignity (ignity/sh/restart-wait.sh) as NAME/.ignity/restart-wait.
# The first lines of the service's run start it, as the user
# Ignity runs as (root, normally), while a restart delay is pending (restarts.py).
# It reads .ignity/deaths and sleeps until the start the finish chose; it writes nothing.
# start filled
sleep=/bin/sleep
# end filled
read -r _ _ _ start _ < .ignity/deaths || exit 0
read -r up _ < /proc/uptime
left=$((start - (${up%.*} * 100 + 1${up#*.} - 100)))
[ "$left" -gt 0 ] || exit 0
exec "$sleep" "$((left / 100)).$((left % 100 / 10))$((left % 10))"
