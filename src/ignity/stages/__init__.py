"""The three stages of the container's life, in the order they run.

stage1: setup as PID 1, then exec into s6-svscan (forking stage 2 first).
stage2: start-up: env, init scripts, services, then exec into the CMD waiter.
stage3: shutdown as PID 1 (s6-svscan's finish): finalize, stop, kill, exit.
"""
