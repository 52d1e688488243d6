"""Every path Ignity reads or writes, in one place.

The layout is the user-facing contract of SPEC.md: image authors write under
ETC, Ignity writes only under RUN. Nothing else in the package spells a path.
"""

ETC = "/etc/ignity"
RUN = "/run/ignity"

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

# Ignity's private bookkeeping between stages (not part of the contract).
STATE = f"{RUN}/state"
CONFIG = f"{STATE}/config"
STAGE2_PID = f"{STATE}/stage2.pid"
STOPPING = f"{STATE}/stopping"
STOP_REQUESTED = f"{STATE}/stop-requested"
INIT_STATUS = f"{STATE}/init-status"
HALT_STATUS = f"{STATE}/halt-status"

# The directories copied from ETC to RUN at start-up, in this order.
COPIED = ("init", "finalize", "services")
