#!/bin/sh
# Written by Ignity (ignity/sh/svscan-finish.sh) as /usr/lib/ignity/svscan/finish, at
# `ignity install`, in an image without GNU env (coreutils 8.31+). s6-svscan runs it as
# PID 1 (root, normally) when it exits (finish) or crashes (crash): stage 3, in Python.
# It ignores the stop signals first: ignored signals stay ignored across exec, so stage 3
# starts deaf to them (dash catches SIGINT until this line: a fraction of a millisecond).
trap '' TERM INT QUIT HUP USR1 USR2 WINCH
# Its variables start with ignity_, as in stage0.sh.
# start filled
ignity_python=/usr/bin/python3
ignity_stage3='import sys; from ignity.stages.stage3 import main; main()'
# end filled
case "$0" in *crash) set -- crash ;; *) set -- ;; esac
exec "$ignity_python" -IS -c "$ignity_stage3" "$@"
