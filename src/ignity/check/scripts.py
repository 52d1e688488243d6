"""Scripts (init, finalize, run, finish, health): can the kernel exec each as it is in the image?

The classic failures are all here: not executable, no #! line (or a BOM
before it), an interpreter the image lacks, CRLF line endings that make the
kernel look for "sh\\r", and env/with-env lines the kernel splits otherwise
than their author thought.
"""

from __future__ import annotations

import os
import stat

from ignity.check import migration
from ignity.check.root import kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ignity.check.context import Context

# Where `#!/usr/bin/env prog` (and with-env) finds prog: the usual container PATH.
PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# Interpreters that take one program name and exec it through PATH.
CHAINERS = ("env", "with-env")
BOM = b"\xef\xbb\xbf"

CR_FIX = "convert the file to Unix line endings: dos2unix FILE, or sed -i 's/\\r$//' FILE"
BOM_PROBLEM = "starts with a UTF-8 byte order mark (BOM): remove it"
BOM_FIX = "sed -i '1s/^\\xEF\\xBB\\xBF//' FILE, or save it as UTF-8 without BOM"


def script(ctx: Context, path: str, shown: str) -> None:
    """An init/finalize script or a run/finish/health file."""
    st = ctx.view.stat(path)
    if isinstance(st, str):
        ctx.error(shown, None, st, "point it at an existing file, or remove it")
        return
    if stat.S_ISDIR(st.st_mode):
        ctx.error(shown, None, "is a directory, expected an executable", "move it out, or remove it")
        return
    if not stat.S_ISREG(st.st_mode):
        ctx.error(shown, None, f"is {kind(st.st_mode)}, expected a regular file", "make it an executable file")
        return
    if not st.st_mode & 0o111:
        ctx.error(shown, None, "is not executable", f"chmod +x {shown}")
    head = ctx.read(path, shown)
    if head is None or head.startswith(b"\x7fELF"):
        return
    first, _, _ = head.partition(b"\n")
    if first.endswith(b"\r"):
        ctx.error(
            shown,
            1,
            "the #! line ends with a carriage return (Windows line endings): the kernel looks for an "
            'interpreter whose name ends in \\r ("No such file or directory")',
            CR_FIX,
        )
    elif b"\r\n" in head:
        number = head[: head.index(b"\r\n")].count(b"\n") + 1
        ctx.error(shown, number, "line ends with a carriage return (Windows line endings)", CR_FIX)
    migration.s6_paths(ctx, head, shown)
    migration.programs(ctx, head, shown)
    if head.startswith(BOM):
        ctx.error(shown, 1, BOM_PROBLEM, BOM_FIX)
        return
    if not head.startswith(b"#!"):
        ctx.error(
            shown,
            1,
            'no #! line: the kernel cannot run it ("Exec format error")',
            "make its first line an interpreter line, e.g. #!/bin/sh",
        )
        return
    shebang(ctx, os.fsdecode(first[2:].rstrip(b"\r")), shown)


def shebang(ctx: Context, text: str, shown: str) -> None:
    """The interpreter as the kernel reads it: one name, then at most one argument (the rest)."""
    interpreter, _, argument = text.strip(" \t").replace("\t", " ").partition(" ")
    argument = argument.strip(" ")
    if not interpreter:
        ctx.error(shown, 1, "the #! line names no interpreter", "e.g. #!/bin/sh")
        return
    if not interpreter.startswith("/"):
        ctx.error(
            shown,
            1,
            f"interpreter {interpreter!r} is not an absolute path",
            f"write the full path (#!/bin/{interpreter}) or #!/usr/bin/env {interpreter}",
        )
        return
    base = interpreter.rpartition("/")[2]
    why = ctx.view.executable(interpreter)
    if base == migration.WITH_CONTENV and migration.links_to_with_env(ctx, interpreter):
        base = "with-env"  # a with-contenv -> with-env link: with-env's rules
    if base == migration.WITH_CONTENV:
        migration.with_contenv(ctx, shown, interpreter, argument, why)
        return
    if why is not None:
        fix = (
            "run `ignity install` in the image (it writes /usr/bin/with-env)"
            if base == "with-env"
            else f"install {base} in the image, or change the #! line"
        )
        ctx.error(shown, 1, f"interpreter {interpreter} {why} in the image", fix)
        return
    if base in CHAINERS:
        chained(ctx, base, interpreter, argument, shown)


def chained(ctx: Context, base: str, interpreter: str, argument: str, shown: str) -> None:
    """The program `#!/usr/bin/env PROG` or `#!/usr/bin/with-env PROG` will look up on PATH."""
    if not argument:
        ctx.error(shown, 1, f"#!{interpreter} names no program", f"e.g. #!{interpreter} sh")
        return
    program = argument
    if argument.startswith("-"):
        option = argument.split(" ", 1)[0]
        if base != "env" or "S" not in option:
            return  # options we do not model
        words = [w for w in argument[argument.index("S") + 1 :].split() if "=" not in w]
        if not words or words[0].startswith("-"):
            return
        program = words[0]
    elif " " in argument:
        fix = (
            f"use #!{interpreter} -S {argument}"
            if base == "env"
            else f"keep one word after {interpreter} (e.g. #!{interpreter} sh), "
            "or make with-env the first command inside the script"
        )
        ctx.error(
            shown,
            1,
            f"{base} gets {argument!r} as one program name: the kernel passes the rest of the #! line "
            "as a single argument",
            fix,
        )
        return
    if program == migration.WITH_CONTENV and any(migration.links_to_with_env(ctx, f"{d}/{program}") for d in PATH):
        return
    if program == migration.WITH_CONTENV:
        found = any(ctx.view.executable(f"{d}/{program}") is None for d in PATH)
        migration.with_contenv(ctx, shown, f"{interpreter} {program}", "", None if found else "is not on PATH")
        return
    if "/" in program:
        why = ctx.view.executable(program) if program.startswith("/") else None
        if why is not None:
            ctx.error(shown, 1, f"{program} (run by {base}) {why} in the image", "install it, or fix the path")
        return
    if not any(ctx.view.executable(f"{d}/{program}") is None for d in PATH):
        ctx.error(
            shown,
            1,
            f"{program} (run by {base}) is not on PATH ({':'.join(PATH)}) in the image",
            f"install {program} in the image, or name it by absolute path",
        )
