"""Ignity: dead-simple process supervision for containers, built on s6."""

__version__ = "0.1.0"
