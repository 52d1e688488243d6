"""The programs Ignity writes: every template in src/ignity/sh/, and templates.render.

Each sh template is rendered with awkward values (a space, a quote, `$`) and
read by shellcheck and by `sh -n` of each shell on the machine; the programs
the modules build from them are checked the same way.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ignity import templates

NAMES = sorted(n for n in os.listdir(templates.DIR) if os.path.isfile(os.path.join(templates.DIR, n)))
SH = [n for n in NAMES if n.endswith(".sh")]
FILLED = [n for n in SH if templates.START in templates.read(n)]
AWKWARD = 'it\'s a $dollar `tick` "quote" \\back'
SHELLS = [s for s in (["dash"], ["busybox", "sh"], ["bash", "--posix"]) if shutil.which(s[0])]


def shellcheck(path: Path, shell: str = "sh", exclude: str = "") -> None:
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is needed: apt-get install shellcheck (scripts/setup)")
    argv = ["shellcheck", "-s", shell, *(["-e", exclude] if exclude else []), str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def check_sh(tmp_path: Path, text: str, name: str = "program", exclude: str = "") -> Path:
    """shellcheck and every shell's `-n` on `text`; the file written."""
    path = tmp_path / name
    path.write_text(text)
    shellcheck(path, exclude=exclude)
    for shell in SHELLS:
        done = subprocess.run([*shell, "-n", str(path)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (shell, done.stderr)
    return path


def block(name: str) -> list[str]:
    text = templates.read(name)
    assert text.count(templates.START + "\n") == 1 and text.count(templates.END + "\n") == 1, name
    return text.split(templates.START + "\n")[1].split(templates.END + "\n")[0].splitlines()


@pytest.mark.parametrize("name", NAMES)
def test_each_template_says_who_runs_it(name: str) -> None:
    lines = templates.read(name).splitlines()
    first = 1 if lines[0].startswith("#!") else 0
    assert lines[first].startswith("# Written by Ignity (ignity/sh/"), name
    assert " runs " in " ".join(lines[first : first + 6]) or " run " in " ".join(lines[first : first + 6]), name


@pytest.mark.parametrize("name", FILLED)
def test_a_filled_block_holds_assignments_only(name: str) -> None:
    lines = block(name)
    assert lines, name
    for line in lines:
        assert re.fullmatch(r"[a-z_][a-z0-9_]*=([^\s'\"\\$`;&|<>()]*|'[^']*')", line), (name, line)


@pytest.mark.parametrize("name", SH)
def test_each_sh_template_is_clean_as_shipped_and_rendered_with_awkward_values(tmp_path: Path, name: str) -> None:
    check_sh(tmp_path, templates.read(name), "shipped")
    if name not in FILLED:
        assert templates.render(name, {}) == templates.read(name)
        return
    values = {line.split("=", 1)[0]: AWKWARD for line in block(name)}
    # SC2016 (`$` in single quotes): here a `$` in a value is meant literally.
    text = check_sh(tmp_path, templates.render(name, dict(values)), "rendered", exclude="SC2016").read_text()
    assert f"={templates.quote(AWKWARD)}\n" in text
    # Outside the block, the template is copied byte for byte.
    shipped = templates.read(name)
    assert text.split(templates.END)[1] == shipped.split(templates.END)[1]
    assert text.split(templates.START)[0] == shipped.split(templates.START)[0]


@pytest.mark.parametrize("name", FILLED)
def test_render_refuses_a_missing_or_unknown_name(name: str) -> None:
    values: dict[str, str | int] = {line.split("=", 1)[0]: "x" for line in block(name)}
    with pytest.raises(ValueError, match="its block names"):
        templates.render(name, {**values, "extra": 1})
    del values[next(iter(values))]
    with pytest.raises(ValueError, match="its block names"):
        templates.render(name, values)


@pytest.mark.parametrize("value", ["", "plain", "/usr/bin/s6-svc", "a b", "it's", "$HOME", "`id`", "a\nb", "\\", "'"])
def test_quote_gives_the_value_back_through_sh(value: str) -> None:
    done = subprocess.run(
        ["sh", "-c", f'v={templates.quote(value)}; printf %s "$v"'], capture_output=True, text=True, check=True
    )
    assert done.stdout == value


@pytest.mark.parametrize("value", ["plain", "/usr/bin/s6-envdir", "a b", 'say "hi"', "back\\slash", "$x", "#c"])
def test_quote_execline_gives_the_value_back_through_execlineb(value: str) -> None:
    execlineb = shutil.which("execlineb") or "/usr/lib/execline/bin/execlineb"
    if not os.path.exists(execlineb):
        pytest.fail("execlineb is needed (the execline package)")
    script = f"{shutil.which('printf')} %s {templates.quote_execline(value)}"
    done = subprocess.run([execlineb, "-Pc", script], capture_output=True, text=True, check=True)
    assert done.stdout == value


@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith(".awk")])
@pytest.mark.parametrize("awk", [["mawk"], ["gawk"], ["busybox", "awk"], ["original-awk"]])
def test_each_awk_template_parses_in_every_awk(tmp_path: Path, name: str, awk: list[str]) -> None:
    if not shutil.which(awk[0]):
        pytest.skip(f"no {awk[0]}")
    program = tmp_path / name
    program.write_text(templates.read(name))
    done = subprocess.run([*awk, "-f", str(program)], input=b"", capture_output=True, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr


def test_read_is_the_file_as_shipped() -> None:
    for name in NAMES:
        assert templates.read(name) == (Path(templates.DIR) / name).read_text()


def test_with_env_runs_in_execlineb_with_awkward_values(tmp_path: Path) -> None:
    """execlineb parses the rendered with-env: a recording program stands for s6-envdir."""
    execlineb = shutil.which("execlineb") or "/usr/lib/execline/bin/execlineb"
    record = tmp_path / "record"
    record.write_text('#!/bin/sh\nfor a; do printf "[%s]\\n" "$a"; done >> "$OUT"\n')
    record.chmod(0o755)
    values: dict[str, str | int] = {
        "execlineb": execlineb,
        "envdir": str(record),
        "flags": "-fnL",
        "envs": AWKWARD,
        "empty": "/run/ignity/envs/.empty",
    }
    program = tmp_path / "with-env"
    program.write_text(templates.render("with-env.execline", values))
    program.chmod(0o755)
    env = {"OUT": str(tmp_path / "out"), "PATH": "/usr/bin:/bin"}
    subprocess.run([str(program), "/bin/true", "a b"], env=env, check=True, timeout=30)
    words = (tmp_path / "out").read_text().splitlines()
    assert words == ["[-I]", "[-fnL]", f"[{AWKWARD}]", f"[{record}]", "[-I]", "[/run/ignity/envs/.empty]",
                     "[/bin/true]", "[a b]"]  # fmt: skip
    with pytest.raises(ValueError, match="@flags@ not given"):
        templates.render("with-env.execline", {k: v for k, v in values.items() if k != "flags"})


@pytest.fixture
def awkward_ignity(tmp_path: Path) -> Iterator[str]:
    """`ignity` found at a path with a space and a quote (what an essential service's programs call)."""
    from ignity import tools

    where = tmp_path / "it's here"
    where.mkdir()
    (where / "ignity").write_text("#!/bin/sh\n")
    saved = dict(tools._cache)
    tools._cache["\0ignity"] = str(where / "ignity")
    yield str(where / "ignity")
    tools._cache.clear()
    tools._cache.update(saved)


def test_every_program_the_modules_write_is_clean(tmp_path: Path, awkward_ignity: str) -> None:
    """The programs as wrappers, restarts, health, jobs, outputs and runtime build them, every variant."""
    from ignity import cron, health, jobs, outputs, restarts, wrappers

    name = "it's a $x"
    service = tmp_path / "svc"
    service.mkdir()
    (service / "health").write_text("#!/bin/sh\n")
    (service / "down-signal").write_text("SIGHUP\n")
    policy = restarts.Policy("on-failure", (1000, 8000), (5, 60000), (0, 3))
    programs = [restarts.wait_script(), jobs.loop_script(name, cron.parse("@every 90s"), "replace", 1500, 1)]
    for flags in itertools.product((False, True), repeat=5):
        clean, author, essential, tell, job = flags
        text = wrappers.finish_script(clean, author, name, policy, essential, tell, job)
        assert (f"ignity={templates.quote(awkward_ignity)}\n" in text) == essential
        programs.append(text)
    for notifies, essential, clean in itertools.product((False, True), repeat=3):
        programs.append(health.loop_script(str(service), name, notifies, essential, clean, 3000))
    for mode, ring in (("prefixed", 0), ("json", 65536)):
        programs.append(outputs.logger_script(name, mode, 12, "/usr/bin/mawk -W interactive", ring))
    for clean, waits in itertools.product((False, True), repeat=2):
        for close in (None, "", "3>&-"):
            programs.append(wrappers.run_script(clean, close, waits))
    from ignity import runtime

    odd = str(tmp_path / "it's here" / "x")
    programs.append(runtime.stage0_script(f"{odd}/python3", f"{odd}/lib", f"{odd}/s6-svscan"))
    programs.append(runtime.finish_script(f"{odd}/python3", f"{odd}/lib"))
    programs.append(runtime.signal_script(f"{odd}/s6-svscanctl", f"{odd}/ln", f"{odd}/exit"))
    for i, text in enumerate(programs):
        # SC2016: the `$` in the service's name is meant literally.
        check_sh(tmp_path, text, f"program-{i}", exclude="SC2016")


def test_stage0_runs_the_subreaper_program_as_shipped(tmp_path: Path) -> None:
    """/init holds sh/stage0_subreaper.py's text as the -c program: run it, it execs /bin/sh."""
    from ignity import runtime

    init = runtime.stage0_script("/usr/bin/python3", "/x", "/usr/bin/s6-svscan")
    assert f"\nignity_subreaper={templates.quote(templates.read('stage0_subreaper.py'))}\n" in init
    script = tmp_path / "script"
    script.write_text('echo "$IGNITY_STAGE0 $1"\n')
    program = templates.read("stage0_subreaper.py")
    done = subprocess.run(["python3", "-IS", "-c", program, str(script), "arg"], capture_output=True, text=True)
    assert done.stdout in ("subreaper arg\n", "no-subreaper arg\n"), done.stderr


def test_stage0_looks_up_no_program_in_path() -> None:
    """/init runs as root before anything is checked: every program it runs is a path written in
    at install, never one the container's PATH chooses (issue 20, point 5, for stage 0)."""
    import re

    from ignity import runtime

    init = runtime.stage0_script("/usr/bin/python3", "/x", "/usr/bin/s6-svscan")
    body = re.sub(r"(^|\s)#.*$", "", init.split("# end filled\n", 1)[1], flags=re.M)  # no comments
    words = re.findall(r"(?:^|[;&|]|\bthen|\bdo|\belse)\s*([A-Za-z_][\w.-]*)(?=\s)", body, re.M)
    builtins = {"trap", "if", "then", "fi", "for", "do", "done", "break", "elif", "else", "exec", "unset", "cd",
                "echo", "set", "latch", "IGNITY_STAGE0", "ignity_reaper", "ignity_f"}  # fmt: skip
    assert set(words) <= builtins, set(words) - builtins
    for name in ("install", "rm", "mkdir", "cp"):
        assert re.search(rf"^ignity_{name}=/\S+/{name}$", init, re.M), name
