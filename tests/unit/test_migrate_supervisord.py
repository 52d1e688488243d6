"""ignity migrate --from supervisord: small configs one key each, a real-looking one with includes, numprocs,
groups, environment and user; generated run scripts checked by sh, shellcheck and hostile values; and the
same config run by the real supervisord (Debian's `supervisor`) and by the generated scripts, side by side."""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import check  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402
from ignity.migrate import shell, supervisord  # noqa: E402
from tests import docs  # noqa: E402
from tests.unit.test_migrate_s6overlay import Tree  # noqa: E402

HEAD = "[supervisord]\nnodaemon=true\n\n"


class Conf:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree

    def convert(self, text: str, **extra: str) -> tuple[str, dict[str, str]]:
        """Convert /etc/supervisor/supervisord.conf = text (and extra files); (report, {service/file: content})."""
        self.tree.file("etc/supervisor/supervisord.conf", HEAD + text)
        for rel, content in extra.items():
            self.tree.file(f"etc/supervisor/{rel}", content)
        root = str(self.tree.root)
        plan, report = supervisord.convert(root + "/etc/supervisor/supervisord.conf", root)
        plan.write(root, force=True)
        files = {p[len("/etc/ignity/services/") :]: d.decode() for p, (d, _) in plan.files.items()}
        return report.text(), files


@pytest.fixture
def conf(tmp_path: Path) -> Conf:
    return Conf(Tree(tmp_path / "root"))


def run_lines(files: dict[str, str], name: str) -> list[str]:
    return files[f"{name}/run"].split("\n")


def test_command_directory_environment_user(conf: Conf) -> None:
    report, files = conf.convert(
        "[program:app]\ncommand=/usr/bin/app --port 80 'a b'\ndirectory=/srv\nuser=www\n"
        'environment=A="1,2",B=plain,C="%(ENV_HOME)s/x"\n'
    )
    lines = run_lines(files, "app")
    assert lines[0] == "#!/bin/sh"
    assert "export A='1,2'" in lines and "export B='plain'" in lines
    assert "export C=\"${HOME}\"'/x'" in lines
    assert "cd '/srv' || exit 127" in lines
    assert lines[-2] == "exec /usr/bin/s6-setuidgid 'www' '/usr/bin/app' '--port' '80' 'a b'"
    assert "as www (s6-setuidgid)" in report


def test_numprocs_and_process_name(conf: Conf) -> None:
    _, files = conf.convert(
        "[program:worker]\ncommand=work --id %(process_num)d\nnumprocs=2\n"
        "process_name=%(program_name)s_%(process_num)d\n"
    )
    assert sorted({k.split("/")[0] for k in files}) == ["worker_0", "worker_1"]
    assert run_lines(files, "worker_1")[-2] == "exec 'work' '--id' '1'"
    assert "export SUPERVISOR_PROCESS_NAME='worker_1'" in run_lines(files, "worker_1")


def test_numprocs_without_process_num_is_an_error(conf: Conf) -> None:
    with pytest.raises(IgnityError, match=r"supervisord.conf:4: numprocs=2 but process_name has no"):
        conf.convert("[program:w]\ncommand=w\nnumprocs=2\n")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("autorestart=true", {"restart": "always\n", "restart-limit": "4 16000\n", "restart-delay": "1000 3000\n"}),
        ("autorestart=false", {"restart": "never\n"}),
        ("autorestart=unexpected\nexitcodes=0,2", {"restart": "on-failure\n", "success-exit-codes": "0 2\n"}),
        ("startsecs=5\nstartretries=1", {"restart-limit": "2 12000\n"}),
        ("startsecs=0", {"restart": "on-failure\n"}),
        ("stopsignal=QUIT", {"down-signal": "SIGQUIT\n"}),
        ("stopsignal=SIGINT", {"down-signal": "SIGINT\n"}),
        ("stopwaitsecs=30", {"timeout-kill": "30000\n"}),
        ("autostart=false", {"down": ""}),
    ],
)
def test_policy_files(conf: Conf, keys: str, expected: dict[str, str]) -> None:
    _, files = conf.convert(f"[program:p]\ncommand=p\n{keys}\n")
    for name, content in expected.items():
        assert files[f"p/{name}"] == content
    if "startsecs=0" in keys:
        assert "p/restart-limit" not in files


def test_priority_is_start_order(conf: Conf) -> None:
    _report, files = conf.convert(
        "[program:db]\ncommand=db\npriority=1\n[program:app]\ncommand=app\npriority=50\n"
        "[program:web]\ncommand=web\npriority=100\n[program:side]\ncommand=side\npriority=100\n"
    )
    assert files["app/dependencies.d/db"] == ""
    assert "web/dependencies.d/app" in files and "side/dependencies.d/app" in files
    assert "web/dependencies.d/db" not in files


@pytest.mark.parametrize(
    ("keys", "run_has", "log"),
    [
        ("stdout_logfile=/dev/stdout\nredirect_stderr=true", ["exec 2>&1"], False),
        ("stdout_logfile=NONE", ["exec >/dev/null"], False),
        ("stdout_logfile=/dev/stderr", ["exec >&2"], False),
        ("stderr_logfile=/var/log/err.log", ["exec 2>>'/var/log/err.log'"], False),
        ("stdout_logfile=/var/log/p.log\nstdout_logfile_backups=3", [], True),
    ],
)
def test_output(conf: Conf, keys: str, run_has: list[str], log: bool) -> None:
    report, files = conf.convert(f"[program:p]\ncommand=p\n{keys}\n")
    for line in run_has:
        assert line in run_lines(files, "p")
    assert ("p/log/run" in files) is log
    if log:
        assert "exec /usr/bin/s6-log -- n3 s52428800 T '/var/log/p.log.d'" in files["p/log/run"]
        assert "stdout to s6-log in the directory /var/log/p.log.d" in report


def test_includes_groups_and_unknown_keys(conf: Conf) -> None:
    report, files = conf.convert(
        "[include]\nfiles = conf.d/*.conf\n[unix_http_server]\nfile=/run/s.sock\n",
        **{
            "conf.d/a.conf": "[program:a]\ncommand=a\nfrobnicate=1\n",
            "conf.d/b.conf": "[program:b]\ncommand=b ; a comment\n[group:g]\nprograms=a,b\n",
        },
    )
    assert run_lines(files, "b")[-2] == "exec 'b'"
    assert "export SUPERVISOR_GROUP_NAME='g'" in run_lines(files, "a")
    assert "/etc/supervisor/conf.d/a.conf:3: unknown key frobnicate" in report
    assert "/etc/supervisor/conf.d/b.conf:3: [group:g] (a, b): no groups in Ignity" in report
    assert "[unix_http_server] not needed" in report


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[program:p]\ndirectory=/x\n", "supervisord.conf:4: [program:p] has no command"),
        ("[program:p]\ncommand=p\nautorestart=maybe\n", "supervisord.conf:6: autorestart is 'maybe'"),
        ("[program:p]\ncommand=p\nstartsecs=x\n", "supervisord.conf:6: startsecs is 'x'"),
        ("[program:p]\ncommand=p %(nope)s\n", "supervisord.conf:5: unknown expansion %(nope)s"),
        ("[program:p]\ncommand='p\n", "supervisord.conf:5: command: no closing quotation"),
        ("[program:p\n", "supervisord.conf:4: section header"),
        ("just words\n", "supervisord.conf:4: expected [section] or key = value"),
        ("[program:p\x1b[2J]\ncommand=p\n", "a service name has no control characters"),
    ],
)
def test_bad_input_is_one_line_with_file_and_line(conf: Conf, text: str, message: str) -> None:
    with pytest.raises(IgnityError, match=re.escape(message)):
        conf.convert(text)


# --- generated scripts: valid sh for any value, shellcheck-clean --------------------------------

HOSTILE = ["it's", 'say "hi"', "$HOME", "`id`", "$(id)", "a\nb", "\\", "", " lead", "*", "%", "-n", "a;b|c&"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30))
def test_quoted_word_is_the_value(value: str) -> None:
    out = subprocess.run(["sh", "-c", f"printf %s {shell.quote(value)}"], capture_output=True, check=True)
    assert out.stdout == value.encode()


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_reach_the_program(conf: Conf, tmp_path: Path, value: str) -> None:
    # supervisord's environment= takes a quoted value up to the same quote: no " inside "..."
    quote = "'" if '"' in value else '"'
    env = "" if (quote in value and "'" in value) or "\n" in value else f"environment=V={quote}{value}{quote}\n"
    arg = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")  # one word for supervisord's shlex
    command = """/bin/sh -c 'printf "%%s|" "$1"; printenv V || true' sh """ + f'"{arg}"'
    _, files = conf.convert(f"[program:p]\ncommand={command}\n{env}")
    run = tmp_path / "run"
    run.write_text(files["p/run"])
    out = subprocess.run(["sh", str(run)], capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout
    assert out.decode() == value.replace("\n", " ") + "|" + (f"{value}\n" if env else "")


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)"
)
def test_generated_scripts_are_shellcheck_clean(conf: Conf, tmp_path: Path) -> None:
    _, files = conf.convert(REAL, **REAL_INCLUDES)
    scripts = []
    for name, content in files.items():
        if name.endswith("/run"):
            path = tmp_path / name.replace("/", "_")
            path.write_text(content)
            scripts.append(str(path))
    assert len(scripts) >= 5
    result = subprocess.run(["shellcheck", "-s", "sh", *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# --- a real-looking config ----------------------------------------------------------------------

REAL = """\
[unix_http_server]
file=/var/run/supervisor.sock
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///var/run/supervisor.sock

[include]
files = /etc/supervisor/conf.d/*.conf
"""
REAL_INCLUDES = {
    "conf.d/nginx.conf": """\
[program:nginx]
command=/usr/sbin/nginx -g "daemon off;"
priority=10
autorestart=true
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
stderr_logfile=/dev/stderr
stderr_logfile_maxbytes=0
stopsignal=QUIT
""",
    "conf.d/workers.conf": """\
[program:queue]
command=php /var/www/artisan queue:work --sleep=3 --tries=3
process_name=%(program_name)s_%(process_num)02d
numprocs=2
user=www-data
directory=/var/www
environment=APP_ENV="production",QUEUE="default,high",HOME="/var/www"
autostart=true
autorestart=true
stopasgroup=true
killasgroup=true
stopwaitsecs=3600
redirect_stderr=true
stdout_logfile=/var/www/storage/logs/worker.log

[program:scheduler]
command=/bin/sh -c "while true; do php /var/www/artisan schedule:run; sleep 60; done"
user=www-data
autorestart=false
startsecs=0

[group:laravel]
programs=queue,scheduler
""",
}


def test_real_config(conf: Conf) -> None:
    report, files = conf.convert(REAL, **REAL_INCLUDES)
    names = sorted({k.split("/")[0] for k in files})
    assert names == ["nginx", "queue_00", "queue_01", "scheduler"]
    assert run_lines(files, "nginx")[-2] == "exec '/usr/sbin/nginx' '-g' 'daemon off;'"
    assert "export QUEUE='default,high'" in run_lines(files, "queue_01")
    assert files["queue_01/timeout-kill"] == "3600000\n" and files["queue_00/restart"] == "always\n"
    assert "queue_00/log/run" in files
    assert "stopasgroup=true: s6 signals the service's process" in report
    assert "scheduler/restart-limit" not in files
    problems = check.run(str(conf.tree.root))
    assert [p for p in problems if p.severity == check.ERROR] == [], problems


# --- property: each converted program passes the check --------------------------------------------

KEYS = st.fixed_dictionaries(
    {},
    optional={
        "autorestart": st.sampled_from(["true", "false", "unexpected"]),
        "exitcodes": st.sampled_from(["0", "0,2", "1"]),
        "startsecs": st.integers(0, 10).map(str),
        "startretries": st.integers(0, 5).map(str),
        "stopsignal": st.sampled_from(["TERM", "QUIT", "HUP", "INT", "KILL", "USR1"]),
        "stopwaitsecs": st.integers(0, 100).map(str),
        "priority": st.integers(0, 999).map(str),
        "autostart": st.sampled_from(["true", "false"]),
        "redirect_stderr": st.sampled_from(["true", "false"]),
        "stdout_logfile": st.sampled_from(["/dev/stdout", "NONE", "AUTO", "/var/log/x.log"]),
        "user": st.sampled_from(["abc", "root"]),
        "directory": st.sampled_from(["/", "/tmp"]),
        "environment": st.sampled_from(['A="1"', "A=1,B=2", 'A="%(ENV_HOME)s"']),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs=st.lists(KEYS, min_size=1, max_size=4))
def test_converted_programs_pass_the_check(
    tmp_path_factory: pytest.TempPathFactory, programs: list[dict[str, str]]
) -> None:
    tree = Tree(tmp_path_factory.mktemp("p") / "root")
    text = "".join(
        f"[program:p{i}]\ncommand=sleep 100\n" + "".join(f"{k}={v}\n" for k, v in keys.items())
        for i, keys in enumerate(programs)
    )
    tree.file("etc/supervisord.conf", HEAD + text)
    plan, report = supervisord.convert(str(tree.root) + "/etc/supervisord.conf", str(tree.root))
    # a dependency on a down service is the check's error: priority only orders started ones
    plan.write(str(tree.root), force=False)
    problems = check.run(str(tree.root))
    assert [p for p in problems if p.severity == check.ERROR] == [], (problems, report.text())


# --- side by side with the real supervisord ---------------------------------------------------------

SIDE = """\
[supervisord]
nodaemon=true
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
environment=GLOBAL="from [supervisord]"

[program:env]
command=/bin/sh -c 'id -un > "$OUT"; pwd >> "$OUT"; env | LC_ALL=C sort >> "$OUT"; echo done > "$OUT.fifo"'
process_name=%(program_name)s_%(process_num)d
numprocs=2
user=nobody
directory=/tmp
environment=OUT="%(here)s/out/%(process_num)d",ODD='a "b" $HOME `id`; c',HOME_TOO="%(ENV_HOME)s/x"
autorestart=false
startsecs=0
stdout_logfile=/dev/stdout
"""


def _done(fifo: Path, proc: subprocess.Popen[bytes]) -> bool:
    """Wait for the program's "done" on the fifo; False if its supervisor died first (60 s as a hang guard)."""
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # no writer yet: poll waits for one
    try:
        for _ in range(600):
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                data = os.read(fd, 100)
                if data:
                    return data == b"done\n"
            if proc.poll() not in (None, 0):
                return False
        return False
    finally:
        os.close(fd)


@pytest.mark.skipif(shutil.which("supervisord") is None or os.geteuid() != 0, reason="needs supervisord and root")
def test_same_as_supervisord() -> None:
    """The config run by supervisord 4.2 and by the generated run scripts: same user, directory, environment."""
    tmp_path = Path(tempfile.mkdtemp(prefix="ignity-migrate-"))  # under /tmp: nobody must reach it
    try:
        _same_as_supervisord(tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def _same_as_supervisord(tmp_path: Path) -> None:
    for side in ("supervisord", "ignity"):
        (tmp_path / side / "out").mkdir(parents=True)
        (tmp_path / side / "out").chmod(0o777)
        (tmp_path / side).chmod(0o755)
        (tmp_path / side / "supervisord.conf").write_text(SIDE)
    tmp_path.chmod(0o755)
    # not LANG=C: Python (supervisord) would coerce it and pass LC_CTYPE=C.UTF-8 on (PEP 538)
    environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    # supervisord: the programs write, then open a fifo the test reads: the event that they are done
    sd = tmp_path / "supervisord"
    for n in (0, 1):
        os.mkfifo(sd / "out" / f"{n}.fifo")
        (sd / "out" / f"{n}.fifo").chmod(0o666)  # past the umask: nobody writes it
    proc = subprocess.Popen(["supervisord", "-n", "-c", str(sd / "supervisord.conf")], env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for n in (0, 1):
            assert _done(sd / "out" / f"{n}.fifo", proc), (sd / "supervisord.log").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    # ignity: the generated run scripts, run as s6-supervise would (cwd the service directory)
    ig = tmp_path / "ignity"
    plan, _ = supervisord.convert(str(ig / "supervisord.conf"), "")
    for n in (0, 1):
        os.mkfifo(ig / "out" / f"{n}.fifo")
        (ig / "out" / f"{n}.fifo").chmod(0o666)
        run = plan.files[f"/etc/ignity/services/env_{n}/run"][0]
        script = ig / f"run{n}"
        script.write_bytes(run)
        child = subprocess.Popen(["sh", str(script)], env=environ, cwd="/")
        assert _done(ig / "out" / f"{n}.fifo", child)
        assert child.wait(timeout=60) == 0

    def lines(side: str, n: int) -> list[str]:
        text = (tmp_path / side / "out" / str(n)).read_text().replace(str(tmp_path / side), "HERE")
        return [ln for ln in text.split("\n") if not ln.startswith(("PWD=", "OLDPWD=", "SHLVL=", "_="))]

    for n in (0, 1):
        assert lines("ignity", n) == lines("supervisord", n)
    got = lines("ignity", 1)
    assert got[:2] == ["nobody", "/tmp"]
    assert 'ODD=a "b" $HOME `id`; c' in got and "HOME_TOO=/root/x" in got and "SUPERVISOR_PROCESS_NAME=env_1" in got


# --- the docs' examples (docs/from-supervisord.md, docs/from-s6-overlay.md) ---------------------------


def _block(page: str, language: str, index: int = 0) -> str:
    return docs.blocks(docs.page(page), language)[index]


def test_docs_supervisord_example(conf: Conf) -> None:
    program = _block("from-supervisord", "ini")
    _report, files = conf.convert("[include]\nfiles = conf.d/*.conf\n", **{"conf.d/worker.conf": program})
    assert files["worker_1/run"] == _block("from-supervisord", "sh")
    assert sorted({k.split("/")[0] for k in files}) == ["worker_0", "worker_1"]
    described = {
        "restart": "on-failure",
        "success-exit-codes": "0 3",
        "restart-limit": "4 16000",
        "restart-delay": "1000 3000",
        "down-signal": "SIGQUIT",
        "timeout-kill": "30000",
    }
    for name, content in described.items():
        assert files[f"worker_0/{name}"] == content + "\n"
        assert f"`{name}` (`{content}`)" in docs.page("from-supervisord")


def test_docs_s6_overlay_report(tmp_path: Path) -> None:
    from tests.unit.test_migrate_s6overlay import linuxserver

    tree = Tree(tmp_path / "root")
    linuxserver(tree)
    tree.script("etc/services.d/legacy/run", "exec sleep 100")
    finish = 'echo "$1" > /run/s6-linux-init-container-results/exitcode\n/run/s6/basedir/bin/halt'
    tree.script("etc/services.d/legacy/finish", finish)
    tree.script("etc/services.d/nginx/run", "exec sleep 100")
    tree.script("etc/services.d/nginx/log/run", "exec logutil-service /var/log/nginx")
    report, _ = tree.convert()
    shown = _block("from-s6-overlay", "text")
    for line in shown.split("\n")[1:]:
        assert line in report.split("\n"), line
    assert _block("from-s6-overlay", "dockerfile").strip() == "RUN ignity migrate --from s6-overlay && ignity check"
