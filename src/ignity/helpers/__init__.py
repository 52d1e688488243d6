"""The small programs `ignity install` puts on PATH (with-env is execline, not here)."""
