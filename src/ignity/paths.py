"""Every path Ignity reads or writes, in one place.

The layout is the user-facing contract of SPEC.md: image authors write under
ETC, Ignity writes only under RUN. Nothing else in the package spells a path.
"""

ETC = "/etc/ignity"
RUN = "/run/ignity"
# Root-owned files `ignity install` puts in the image: stage 0's skeleton of
# /run/ignity and the programs s6-svscan runs as root (finish, signal handlers).
LIB = "/usr/lib/ignity"
SKEL = f"{LIB}/skel"
SVSCAN_PROGS = f"{LIB}/svscan"

# The environment /init was started with, byte for byte (sh drops names it
# cannot keep): copied by stage 0, read and removed by the boot process.
ENVIRON = f"{RUN}/environ"

ENVS = f"{RUN}/envs"
# Variables whose value is empty: s6-envdir unsets a variable for an empty
# file, so they live apart, as one-newline files read without -f (value "").
# The leading dot keeps s6-envdir from reading the directory as a variable.
ENVS_EMPTY = f"{ENVS}/.empty"
INIT = f"{RUN}/init"
FINALIZE = f"{RUN}/finalize"
SERVICES = f"{RUN}/services"
SCANDIR = f"{RUN}/services-state"
SVSCAN_CTL = f"{SCANDIR}/.s6-svscan"
SVSCAN_CONTROL = f"{SVSCAN_CTL}/control"
# The container's phase for `ignity status` (phase.py, docs/service-states.md).
PHASE = f"{RUN}/phase"

# Ignity's private bookkeeping between stages (not part of the contract),
# root's alone (0700) when Ignity runs as root. Stage 0 lays it out.
STATE = f"{RUN}/state"
CONFIG = f"{STATE}/config"
# The one latch: created once (O_EXCL) by whoever first decides that the
# container stops, holding why ("signal TERM", "halt 3", "init 2", ...).
STOPPING = f"{STATE}/stopping"
# The boot process's pid, written just before it becomes the CMD's waiter:
# the CMD's process group, for stage 3 and for forwarded signals.
CMD_MARK = f"{STATE}/cmd"
# Made by whoever takes the latch (runtime.close_cmd_gate; stage 3 before it
# reads CMD_MARK): a link to execline's `exit`, which the CMD's own process
# execs instead of the CMD (execline's tryexec) when it finds it. See
# stage2.waiter_argv.
CMD_GATE = f"{STATE}/no-cmd"

# The directories copied from ETC to RUN at start-up, in this order.
COPIED = ("init", "finalize", "services")
