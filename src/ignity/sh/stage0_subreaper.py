# Written by Ignity (ignity/sh/stage0_subreaper.py) into /init, at `ignity install`.
# /init runs it with `python3 -IS -c` when it is not PID 1 (docker run --init, a shared
# PID namespace, a shell), as /init's user: it makes /init's process a child subreaper
# when the interpreter can (ctypes), so the orphans of its tree stay its own, then execs
# /bin/sh /init again. It touches nothing else; IGNITY_STAGE0 tells /init what it got.
import os
import sys

try:
    import ctypes

    ok = ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
except Exception:
    ok = False
os.environ["IGNITY_STAGE0"] = "subreaper" if ok else "no-subreaper"
os.execv("/bin/sh", ["/bin/sh", *sys.argv[1:]])
