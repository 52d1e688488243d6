"""`python3 -m ignity` is the same as the `ignity` command."""

from ignity.cli import main

main()
