"""ignity migrate --from s6-overlay: small trees one construct each, a linuxserver-style v3 tree and a v2 tree,
each converted, written, and then checked by `ignity check` (no error for anything the report converted)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import check  # noqa: E402
from ignity import migrate as migrate_cli  # noqa: E402
from ignity.migrate import s6overlay  # noqa: E402

RC = "etc/s6-overlay/s6-rc.d"
PROGRAMS = ("sh", "bash", "env", "with-env", "s6-setuidgid", "execlineb", "test", "sleep", "echo", "true", "s6-log")


class Tree:
    """An image root with merged /usr, a few programs and accounts; helpers to lay out s6-overlay files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "usr/bin").mkdir(parents=True)
        (root / "bin").symlink_to("usr/bin")
        for program in PROGRAMS:
            self.file(f"usr/bin/{program}", "#!/bin/sh\n", 0o755)
        self.file("etc/passwd", "root:x:0:0::/root:/bin/sh\nabc:x:911:911::/config:/bin/false\n")
        self.file("etc/group", "root:x:0:\nabc:x:911:\n")

    def file(self, rel: str, content: str | bytes, mode: int = 0o644) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(mode)
        return path

    def script(self, rel: str, body: str, shebang: str = "#!/bin/sh") -> Path:
        return self.file(rel, f"{shebang}\n{body}\n", 0o755)

    def rc(self, name: str, kind: str, deps: tuple[str, ...] = (), **files: str) -> None:
        self.file(f"{RC}/{name}/type", kind + "\n")
        (self.root / RC / name / "dependencies.d").mkdir(parents=True, exist_ok=True)
        for dep in deps:
            self.file(f"{RC}/{name}/dependencies.d/{dep}", "")
        for key, value in files.items():
            rel = f"{RC}/{name}/{key.replace('_', '-')}"
            self.file(rel, value, 0o755 if key in ("run", "finish") else 0o644)

    def user(self, *names: str) -> None:
        self.file(f"{RC}/user/type", "bundle\n")
        for name in names:
            self.file(f"{RC}/user/contents.d/{name}", "")

    def convert(self, environ: dict[str, str] | None = None) -> tuple[str, list[check.Problem]]:
        plan, report = s6overlay.convert(str(self.root), environ or {})
        plan.write(str(self.root), force=False)
        return report.text(), check.run(str(self.root))

    def read(self, rel: str) -> str:
        return (self.root / "etc/ignity" / rel).read_text()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "root")


def errors(problems: list[check.Problem]) -> list[str]:
    return [str(p) for p in problems if p.severity == check.ERROR]


# --- one construct each ----------------------------------------------------------------------


def test_cont_init_and_finish_keep_their_names_and_order(tree: Tree) -> None:
    tree.script("etc/cont-init.d/10-first", "echo 1", "#!/command/with-contenv bash")
    tree.script("etc/cont-init.d/20-second", "echo 2", "#!/usr/bin/with-contenv sh")
    tree.script("etc/cont-finish.d/10-bye", "echo bye")
    report, problems = tree.convert()
    assert tree.read("init/10-first") == "#!/usr/bin/with-env bash\necho 1\n"
    assert tree.read("init/20-second").startswith("#!/usr/bin/with-env sh\n")
    assert tree.read("finalize/10-bye") == "#!/bin/sh\necho bye\n"
    assert "/etc/cont-init.d/10-first -> /etc/ignity/init/10-first (#!with-contenv -> #!/usr/bin/with-env)" in report
    assert errors(problems) == []
    # the originals are untouched
    assert (tree.root / "etc/cont-init.d/10-first").read_text().startswith("#!/command/with-contenv bash")


def test_services_d_with_log_notification_and_down(tree: Tree) -> None:
    tree.script("etc/services.d/web/run", "exec sleep 100", "#!/usr/bin/with-contenv sh")
    tree.script("etc/services.d/web/log/run", "exec s6-log /var/log/web")
    tree.file("etc/services.d/web/notification-fd", "3\n")
    tree.file("etc/services.d/web/down", "")
    _report, problems = tree.convert()
    assert tree.read("services/web/run").startswith("#!/usr/bin/with-env sh")
    assert tree.read("services/web/notification-fd") == "3\n"
    assert (tree.root / "etc/ignity/services/web/down").exists()
    assert tree.read("services/web/log/run") == "#!/bin/sh\nexec s6-log /var/log/web\n"
    assert errors(problems) == [], problems


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        (
            'echo "$1" > /run/s6-linux-init-container-results/exitcode\n/run/s6/basedir/bin/halt',
            'ignity halt "$1"',
        ),
        ("/run/s6/basedir/bin/halt", "ignity halt"),
        ("s6-svscanctl -t /var/run/s6/services", "ignity halt"),
        ("exec s6-svc -d /run/service/web", "exec s6-svc -d /run/ignity/services-state/web"),
        ("exec s6-svc -d /var/run/s6/services/web", "exec s6-svc -d /run/ignity/services-state/web"),
        ("if s6-test $1 -ne 0; then exit 1; fi", "if test $1 -ne 0; then exit 1; fi"),
        ("exec s6-envdir -fn -- /var/run/s6/container_environment env", "exec /usr/bin/with-env env"),
    ],
)
def test_finish_rewrites(tree: Tree, finish: str, expected: str) -> None:
    tree.script("etc/services.d/app/run", "exec sleep 100")
    tree.script("etc/services.d/app/finish", finish)
    report, problems = tree.convert()
    assert expected in tree.read("services/app/finish")
    assert errors(problems) == [], problems
    assert "/etc/services.d/app/finish -> /etc/ignity/services/app/finish" in report


def test_execline_v2_finish(tree: Tree) -> None:
    """A v2 execline finish with s6-test: eltest when the image has it, else test."""
    body = "if { s6-test ${1} -ne 0 }\nif { s6-test ${1} -ne 256 }\ns6-svscanctl -t /var/run/s6/services"
    tree.script("etc/services.d/app/run", "exec sleep 100")
    tree.script("etc/services.d/app/finish", body, "#!/usr/bin/execlineb -S1")
    tree.convert()
    assert tree.read("services/app/finish") == (
        "#!/usr/bin/execlineb -S1\nif { test ${1} -ne 0 }\nif { test ${1} -ne 256 }\nignity halt\n"
    )
    (tree.root / "etc/ignity").rename(tree.root / "old")
    tree.file("usr/lib/execline/bin/eltest", "#!/bin/sh\n", 0o755)
    tree.convert()
    assert "if { eltest ${1} -ne 0 }" in tree.read("services/app/finish")


def test_exit_code_without_halt_is_reported(tree: Tree) -> None:
    tree.script("etc/services.d/app/run", "exec sleep 100")
    tree.script("etc/services.d/app/finish", "echo 3 > /run/s6-linux-init-container-results/exitcode")
    report, _ = tree.convert()
    assert "/etc/services.d/app/finish:2: writes exit code 3 to" in report
    assert "call `ignity halt 3`" in report


def test_saved_environment_is_reported_with_its_line(tree: Tree) -> None:
    tree.script("etc/cont-init.d/10-x", "cat /var/run/s6/container_environment/HOME")
    report, _ = tree.convert()
    assert "/etc/cont-init.d/10-x:2: reads s6-overlay's saved environment" in report


def test_missing_portable_program_without_equivalent_is_reported(tree: Tree) -> None:
    tree.script("etc/cont-init.d/10-x", "s6-hiercopy /a /b")
    report, problems = tree.convert()
    assert "/etc/cont-init.d/10-x:2: s6-hiercopy is not in the image — use cp -a" in report
    assert "/etc/ignity/init/10-x:2: calls s6-hiercopy, which the image lacks" in "\n".join(errors(problems))


def test_a_program_the_image_has_is_left(tree: Tree) -> None:
    tree.file("usr/bin/s6-test", "#!/bin/sh\n", 0o755)
    tree.script("etc/cont-init.d/10-x", "s6-test -d /x")
    tree.convert()
    assert tree.read("init/10-x") == "#!/bin/sh\ns6-test -d /x\n"


def test_fix_attrs_fallback_accounts(tree: Tree) -> None:
    tree.file("etc/fix-attrs.d/01", "/config true abc,1000:1000 0644 0755\n/data false nobody,65534:65534 0600 0700\n")
    _report, problems = tree.convert()
    assert tree.read("perms/01") == "/config true abc 0644 0755\n/data false 65534:65534 0600 0700\n"
    assert errors(problems) == [], problems


def test_s6_variables_become_an_env_file(tree: Tree) -> None:
    environ = {"S6_VERBOSITY": "2", "S6_KILL_GRACETIME": "4000", "S6_KEEP_ENV": "1", "HOME": "/"}
    report, problems = tree.convert(environ)
    assert tree.read("envs/10-s6-overlay") == "IGNITY_KILL_GRACETIME=4000\nIGNITY_VERBOSITY=1\n"
    assert "environment: S6_KEEP_ENV=1: no equivalent" in report
    assert errors(problems) == []


# --- s6-rc ---------------------------------------------------------------------------------------


def test_oneshots_run_in_dependency_order_after_cont_init(tree: Tree) -> None:
    tree.script("etc/cont-init.d/99-last", "true")
    tree.rc("c", "oneshot", ("b",), up="echo c\n")
    tree.rc("b", "oneshot", ("a",), up="echo b\n")
    tree.rc("a", "oneshot", ("base",), up="echo a\n", down="echo down-a\n")
    tree.user("c")
    _report, problems = tree.convert()
    init = sorted(p.name for p in (tree.root / "etc/ignity/init").iterdir())
    assert init == ["99-last", "zz-rc-01-a", "zz-rc-02-b", "zz-rc-03-c"]
    assert tree.read("init/zz-rc-01-a") == "#!/usr/bin/execlineb -P\n# up of the s6-rc oneshot a\necho a\n"
    assert tree.read("finalize/00-rc-01-a").endswith("echo down-a\n")
    assert errors(problems) == [], problems


def test_oneshot_up_naming_a_script_copies_the_script(tree: Tree) -> None:
    tree.script("etc/s6-overlay/scripts/init-db", "echo $DB", "#!/command/with-contenv bash")
    tree.rc("init-db", "oneshot", up="/etc/s6-overlay/scripts/init-db\n")
    tree.user("init-db")
    _report, problems = tree.convert()
    assert tree.read("init/90-rc-01-init-db") == "#!/usr/bin/with-env bash\necho $DB\n"
    assert errors(problems) == [], problems


def test_longruns_bundles_and_pipelines(tree: Tree) -> None:
    tree.rc("db", "longrun", ("base",), run="#!/bin/sh\nexec sleep 100\n", notification_fd="3\n")
    tree.rc("app", "longrun", ("extras", "init"), run="#!/bin/sh\nexec sleep 100\n", producer_for="app-log\n")
    tree.rc("app-log", "longrun", run="#!/bin/sh\nexec s6-log /var/log/app\n", consumer_for="app\n")
    tree.rc("init", "oneshot", up="true\n")
    tree.rc("extras", "bundle")
    tree.file(f"{RC}/extras/contents", "db\n")
    tree.rc("idle", "longrun", run="#!/bin/sh\nexec sleep 100\n")
    tree.user("app")
    report, problems = tree.convert()
    services = sorted(p.name for p in (tree.root / "etc/ignity/services").iterdir())
    assert services == ["app", "db"]
    assert sorted(p.name for p in (tree.root / "etc/ignity/services/app/dependencies.d").iterdir()) == ["db"]
    assert tree.read("services/app/log/run").endswith("exec s6-log /var/log/app\n")
    assert "with app-log as its log/" in report
    assert "/etc/s6-overlay/s6-rc.d/idle: longrun in no user bundle" in report
    assert errors(problems) == [], problems


def test_legacy_services_start_after_the_user_bundle(tree: Tree) -> None:
    tree.rc("db", "longrun", run="#!/bin/sh\nexec sleep 100\n")
    tree.user("db")
    tree.script("etc/services.d/web/run", "exec sleep 100")
    tree.convert()
    assert (tree.root / "etc/ignity/services/web/dependencies.d/db").exists()


def test_oneshot_depending_on_a_longrun_is_reported(tree: Tree) -> None:
    tree.rc("db", "longrun", run="#!/bin/sh\nexec sleep 100\n")
    tree.rc("migrate", "oneshot", ("db",), up="true\n")
    tree.user("migrate")
    report, _ = tree.convert()
    assert "oneshot migrate depends on longrun db" in report


def test_dry_run_writes_nothing_and_existing_files_need_force(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    tree.script("etc/cont-init.d/10-x", "true")
    assert migrate_cli.main("s6-overlay", str(tree.root), None, dry_run=True, force=False) == 0
    out = capsys.readouterr().out
    assert "dry run: would write 1 file(s), nothing written" in out and "write /etc/ignity/init/10-x" in out
    assert not (tree.root / "etc/ignity").exists()
    assert migrate_cli.main("s6-overlay", str(tree.root), None, dry_run=False, force=False) == 0
    tree.file("etc/ignity/init/10-x", "mine\n")
    assert migrate_cli.main("s6-overlay", str(tree.root), None, dry_run=False, force=False) == 1
    err = capsys.readouterr().err
    assert "/etc/ignity/init/10-x: already there, nothing written" in err
    assert tree.read("init/10-x") == "mine\n"
    assert migrate_cli.main("s6-overlay", str(tree.root), None, dry_run=False, force=True) == 0
    assert tree.read("init/10-x") == "#!/bin/sh\ntrue\n"


# --- real trees, written from scratch here -----------------------------------------------------


def linuxserver(tree: Tree) -> None:
    """As a linuxserver.io image lays out s6-overlay v3: init-* oneshots, svc-* longruns, with-contenv."""
    tree.script("etc/s6-overlay/s6-rc.d/init-adduser/run", 'PUID=${PUID:-911}\necho "abc uid $PUID"',
                "#!/usr/bin/with-contenv bash")  # fmt: skip
    tree.rc("init-adduser", "oneshot", ("init-migrations",), up="/etc/s6-overlay/s6-rc.d/init-adduser/run\n")
    tree.rc("init-migrations", "oneshot", ("base",), up="/etc/s6-overlay/s6-rc.d/init-migrations/run\n")
    tree.script(f"{RC}/init-migrations/run", "echo migrations", "#!/usr/bin/with-contenv bash")
    tree.rc("init-config", "oneshot", ("init-adduser",), up="/etc/s6-overlay/s6-rc.d/init-config/run\n")
    tree.script(f"{RC}/init-config/run", "mkdir -p /config\nchown abc:abc /config", "#!/usr/bin/with-contenv bash")
    tree.rc("init-config-end", "oneshot", ("init-config",), up="/etc/s6-overlay/s6-rc.d/init-config-end/run\n")
    tree.script(f"{RC}/init-config-end/run", "echo config done", "#!/usr/bin/with-contenv bash")
    tree.rc("init-services", "oneshot", ("init-config-end",), up="/etc/s6-overlay/s6-rc.d/init-services/run\n")
    tree.script(f"{RC}/init-services/run", "# nothing", "#!/usr/bin/with-contenv bash")
    tree.rc("svc-app", "longrun", ("init-services", "svc-cron"), notification_fd="3\n",
            run="#!/usr/bin/with-contenv bash\nexec s6-setuidgid abc sleep 1000\n")  # fmt: skip
    tree.rc("svc-cron", "longrun", ("init-services",), run="#!/usr/bin/with-contenv bash\nexec sleep 1000\n")
    tree.rc("init-mods", "bundle")
    tree.file(f"{RC}/init-mods/contents.d/init-config", "")
    tree.user("init-adduser", "init-mods", "init-services", "svc-app", "svc-cron")


def test_linuxserver_style_v3_tree(tree: Tree) -> None:
    linuxserver(tree)
    report, problems = tree.convert({"S6_CMD_WAIT_FOR_SERVICES_MAXTIME": "0"})
    init = sorted(p.name for p in (tree.root / "etc/ignity/init").iterdir())
    assert init == [
        "90-rc-01-init-migrations",
        "90-rc-02-init-adduser",
        "90-rc-03-init-config",
        "90-rc-04-init-config-end",
        "90-rc-05-init-services",
    ]
    assert tree.read("init/90-rc-02-init-adduser").startswith("#!/usr/bin/with-env bash\nPUID=")
    assert sorted(p.name for p in (tree.root / "etc/ignity/services/svc-app/dependencies.d").iterdir()) == ["svc-cron"]
    assert tree.read("services/svc-app/run") == "#!/usr/bin/with-env bash\nexec s6-setuidgid abc sleep 1000\n"
    assert tree.read("envs/10-s6-overlay") == "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME=0\n"
    assert "not converted" not in report, report
    assert errors(problems) == [], problems


def test_v2_tree(tree: Tree) -> None:
    tree.script("etc/cont-init.d/00-setup", "s6-echo setting up\ns6-mkdir -p /data", "#!/usr/bin/with-contenv sh")
    tree.script("etc/services.d/nginx/run", "exec sleep 1000", "#!/usr/bin/with-contenv sh")
    tree.script("etc/services.d/nginx/finish", "if { s6-test $# -ne 0 }\ns6-svscanctl -t /var/run/s6/services",
                "#!/usr/bin/execlineb -S0")  # fmt: skip
    tree.script("etc/services.d/nginx/log/run", "exec logutil-service /var/log/nginx", "#!/bin/sh")
    tree.file("etc/fix-attrs.d/01-data", "/data true abc,32768:32768 0644 0755\n")
    tree.script("etc/cont-finish.d/00-bye", "s6-echo bye")
    report, problems = tree.convert()
    assert tree.read("init/00-setup") == "#!/usr/bin/with-env sh\necho setting up\nmkdir -p /data\n"
    assert tree.read("services/nginx/finish") == "#!/usr/bin/execlineb -S0\nif { test $# -ne 0 }\nignity halt\n"
    assert "/etc/services.d/nginx/log/run:2: logutil-service is not in the image" in report
    assert [e for e in errors(problems) if "logutil-service" not in e] == []


def test_check_after_conversion_of_the_unported_tree_reports_it_in_one_pass(tree: Tree) -> None:
    """The issue's complaint: the check names the directories AND every script construct at once."""
    linuxserver(tree)
    tree.script("etc/services.d/legacy/finish", "s6-test $1 -eq 0 || /run/s6/basedir/bin/halt")
    problems = check.run(str(tree.root))
    text = "\n".join(map(str, problems))
    assert "/etc/s6-overlay/s6-rc.d/init-adduser/run:1: interpreter /usr/bin/with-contenv" in text
    assert "/etc/services.d/legacy/finish:2: calls s6-test, which the image lacks" in text
    assert "/etc/services.d/legacy/finish:2: uses /run/s6/basedir/bin/halt" in text
    assert errors(problems) == []  # Ignity does not run them: warnings, the boot goes on


# --- property: what the report says it converted passes the check ---------------------------------

NAMES = st.sampled_from(["a", "b", "c", "d", "web", "db"])
SHEBANGS = st.sampled_from(["#!/bin/sh", "#!/command/with-contenv bash", "#!/usr/bin/with-contenv sh"])
BODIES = st.sampled_from(
    [
        "true",
        "s6-test -d /x || exit 1",
        "/run/s6/basedir/bin/halt",
        'echo "$1" > /run/s6-linux-init-container-results/exitcode\n/run/s6/basedir/bin/halt',
        "s6-svscanctl -t /var/run/s6/services",
        "s6-echo hi; s6-sleep 1",
        "exec with-contenv sh -c true",
    ]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    inits=st.lists(st.tuples(NAMES, SHEBANGS, BODIES), max_size=3),
    services=st.lists(st.tuples(NAMES, SHEBANGS, BODIES), max_size=3),
    oneshots=st.lists(st.tuples(NAMES, st.lists(NAMES, max_size=2)), max_size=4),
    longruns=st.lists(st.tuples(NAMES, st.lists(NAMES, max_size=2)), max_size=3),
)
def test_converted_trees_pass_the_check(
    tmp_path_factory: pytest.TempPathFactory,
    inits: list[tuple[str, str, str]],
    services: list[tuple[str, str, str]],
    oneshots: list[tuple[str, list[str]]],
    longruns: list[tuple[str, list[str]]],
) -> None:
    tree = Tree(tmp_path_factory.mktemp("p") / "root")
    for name, shebang, body in inits:
        tree.script(f"etc/cont-init.d/10-{name}", body, shebang)
    for name, shebang, body in services:
        tree.script(f"etc/services.d/{name}/run", "exec sleep 100", shebang)
        tree.script(f"etc/services.d/{name}/finish", body, shebang)
    kinds = {}
    for name, _ in oneshots:
        kinds.setdefault(name, "oneshot")
    for name, _ in longruns:
        kinds.setdefault("l" + name, "longrun")
    every = dict(oneshots) | {"l" + n: ["l" + d for d in ds] for n, ds in longruns}
    for name, kind in kinds.items():
        deps = tuple(d for d in every[name] if d in kinds and d < name)  # no cycles
        if kind == "oneshot":
            deps = tuple(d for d in deps if kinds[d] == "oneshot")
            tree.rc(name, kind, deps, up="echo up\n")
        else:
            tree.rc(name, kind, deps, run="#!/usr/bin/with-contenv sh\nexec sleep 100\n")
    if kinds:
        tree.user(*kinds)
    plan, report = s6overlay.convert(str(tree.root), {})
    plan.write(str(tree.root), force=False)
    problems = check.run(str(tree.root))
    converted = {target.split(" ")[0].rstrip("/") for _, target, _ in report.converted}
    for p in problems:
        if p.severity == check.ERROR:
            assert not any(p.path == t or p.path.startswith(t + "/") for t in converted), (p, report.text())


def test_oneshot_line_calling_a_with_contenv_script_is_reported(tree: Tree) -> None:
    tree.script("etc/s6-overlay/scripts/init-db", "echo $DB", "#!/command/with-contenv bash")
    tree.rc("init-db", "oneshot", up="foreground { /etc/s6-overlay/scripts/init-db } true\n")
    tree.user("init-db")
    report, _ = tree.convert()
    assert "/etc/s6-overlay/s6-rc.d/init-db/up:1: calls /etc/s6-overlay/scripts/init-db, whose #! line" in report


def test_bad_root_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate_cli.main("s6-overlay", str(tmp_path / "nope"), None, dry_run=True, force=False) == 1
    assert (
        capsys.readouterr().err
        == f"ignity migrate: {tmp_path}/nope: no such directory: name the image's root directory with --root\n"
    )


def test_names_with_control_characters_become_no_file(tree: Tree):
    # A newline (or an escape) in a name would be a file name no tool lists on one line.
    tree.script("etc/cont-init.d/10-a\nb", "true")
    tree.script("etc/services.d/web\x1b[2J/run", "exec web")
    tree.rc("svc\nx", "longrun", run="#!/bin/sh\nexec svc\n")
    tree.rc("once\nx", "oneshot", up="/bin/true up\n")
    tree.user("svc\nx", "once\nx")
    plan, report = s6overlay.convert(str(tree.root), {})
    assert all(p.isprintable() for p in plan.files), list(plan.files)
    assert "/etc/ignity/init/90-rc-01-once_x" in plan.files
    text = report.text()
    assert "/etc/cont-init.d/10-a\\nb: a control character in its name: not converted — rename it" in text
    assert "/etc/services.d/web\\x1b[2J: a control character in its name: not converted — rename it" in text
    assert "/etc/s6-overlay/s6-rc.d/svc\\nx: a service name has no control characters — rename it" in text
    assert all(line.isprintable() for line in text.splitlines())
