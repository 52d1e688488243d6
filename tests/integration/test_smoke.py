from tests.tree import Tree


def test_cmd_exit_status(boot, tree: Tree):
    tree.env("10-a", "GREETING=hello\n")
    tree.init("10-hi", 'echo "init says $GREETING"', shebang="#!/usr/bin/with-env sh")
    tree.service("svc", "echo svc up; exec sleep 100")
    tree.finalize("10-bye", "echo finalize ran")
    c = boot("sh", "-c", "echo cmd $GREETING; exit 3")
    code = c.wait()
    print(c.output)
    assert code == 3
