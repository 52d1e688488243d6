"""Issues #11 and #12 on Podman: a stop at once after start, a shared PID namespace, noexec."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.images import Images
from tests.e2e.podman import Attached, Podman
from tests.tree import Tree


def test_podman_stop_right_after_run_is_honoured(images: Images, run: Callable[..., Attached], tree: Tree):
    """A pod deleted while starting: the stop reaches Ignity whatever it was doing, finalize runs once."""
    tree.service("svc", "exec sleep 1000")
    tree.finalize("10-bye", "echo finalize ran")
    image = images.build(tree.root)
    for _ in range(3):
        c = run(image, "sh", "-c", "echo cmd started; exec sleep 1000")
        # As soon as its PID 1 runs /init (seen from the host): the stop may land in any stage of
        # the boot. Before that exec, PID 1 is the runtime's own init, which no init can help.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pid = c.podman("inspect", "-f", "{{.State.Pid}}", c.name, check=False).stdout.strip()
            try:
                if pid not in ("", "0") and Path(f"/proc/{pid}/cmdline").read_bytes().startswith(
                    (b"/bin/sh\0/init\0", b"/usr/bin/s6-svscan\0")
                ):
                    break
            except OSError:
                pass
        took = c.stop(grace=10)
        assert c.wait() in (0, 143), c.output
        assert took < 5, f"podman stop took {took:.1f} s: the stop was lost and podman had to SIGKILL"
        assert c.lines.count("finalize ran") == 1, c.output


def test_stopping_ignity_in_a_shared_pid_pod_leaves_the_others_running(podman: Podman, images: Images, tree: Tree):
    """`podman pod create --share pid` (Kubernetes' shareProcessNamespace): Ignity is not PID 1,
    the infra process is; stopping Ignity's container stops Ignity's processes only."""
    tree.service("svc", "exec sleep 1000")
    tree.finalize("10-bye", "echo finalize ran")
    image = images.build(tree.root)
    pod = podman.unique("ignity-e2e-pod")
    podman("pod", "create", "--name", pod, "--share", "pid,ipc,uts", "--network", "none")
    try:
        sidecar = podman.unique("ignity-e2e-sidecar")
        podman("run", "-d", "--pod", pod, "--name", sidecar, images.base, "sleep", "1000")
        app = podman.unique("ignity-e2e-app")
        podman("run", "-d", "--pod", pod, "--name", app, image, "sh", "-c", "echo app ready; exec sleep 1000")
        logs = podman.follow_logs(app)
        try:
            logs.wait_for("app ready")
            assert any("not PID 1" in line for line in logs.lines), logs.output
            started = time.monotonic()
            podman("stop", "-t", "10", app)
            took = time.monotonic() - started
            logs.wait(timeout=30)
        finally:
            logs.cleanup()
        assert "finalize ran" in logs.lines, logs.output
        assert took < 5, f"podman stop took {took:.1f} s"
        state = podman("inspect", "-f", "{{.State.Status}}", sidecar).stdout.strip()
        assert state == "running", f"the sidecar is {state}: Ignity's stop reached it"
        infra = podman("pod", "inspect", "-f", "{{.InfraContainerID}}", pod).stdout.strip()
        assert podman("inspect", "-f", "{{.State.Status}}", infra).stdout.strip() == "running"
        exit_code = podman("inspect", "-f", "{{.State.ExitCode}}", app).stdout.strip()
        assert exit_code == "143", exit_code
    finally:
        podman("pod", "rm", "-f", "-t", "0", pod, check=False)


def test_podman_init_runs_ignity_under_catatonit(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.service("svc", "echo svc up; exec sleep 1000", finish="#!/bin/sh\necho svc finish\n")
    tree.finalize("10-bye", "echo finalize ran")
    c = run(images.build(tree.root), "sh", "-c", "echo ready; exec sleep 1000", options=["--init"])
    c.wait_for("ready")
    assert any("not PID 1" in line for line in c.lines), c.output
    c.stop(grace=10)
    assert c.wait() == 143, c.output
    assert "svc finish" in c.lines and "finalize ran" in c.lines, c.output


def test_a_noexec_tmpfs_is_one_line_with_the_options(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.service("svc", "exec sleep 1000")
    c = run(images.build(tree.root), "true", options=["--tmpfs", "/run/ignity:rw,noexec,mode=0755"])
    assert c.wait() == 1, c.output
    assert any("noexec" in line and "--tmpfs /run/ignity:rw,exec" in line for line in c.lines), c.output


def test_kube_play_with_share_process_namespace(podman: Podman, images: Images, tree: Tree, tmp_path: Path):
    """A Kubernetes manifest with shareProcessNamespace: true, played by Podman: stopping the
    Ignity container leaves the sidecar (and the pod's infra) running."""
    tree.service("svc", "exec sleep 1000")
    tree.finalize("10-bye", "echo finalize ran")
    image = images.build(tree.root)
    pod = podman.unique("ignity-kube")
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        f"""apiVersion: v1
kind: Pod
metadata:
  name: {pod}
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 10
  containers:
    - name: app
      image: {image}
      command: ["/init"]
      args: ["sh", "-c", "echo app ready; exec sleep 1000"]
    - name: sidecar
      image: {images.base}
      command: ["/bin/sleep", "1000"]
"""
    )
    podman("kube", "play", "--network", "none", str(manifest))
    try:
        app, sidecar = f"{pod}-app", f"{pod}-sidecar"
        logs = podman.follow_logs(app)
        try:
            logs.wait_for("app ready")
            assert any("not PID 1" in line for line in logs.lines), logs.output
            podman("stop", "-t", "10", app)
            logs.wait(timeout=30)
        finally:
            logs.cleanup()
        assert "finalize ran" in logs.lines, logs.output
        assert podman("inspect", "-f", "{{.State.Status}}", sidecar).stdout.strip() == "running"
        # The sidecar's own process is still there (seen from the host).
        host_pid = podman("inspect", "-f", "{{.State.Pid}}", sidecar).stdout.strip()
        assert b"sleep" in Path(f"/proc/{host_pid}/cmdline").read_bytes()
    finally:
        podman("kube", "down", str(manifest), check=False)
