"""Errors a user can cause, reported by the `mxdpu` command as one line and exit status 2.

This module imports nothing of the project, so every library (the tool flow, the verbs) can raise
these without depending on the command line.
"""

__all__ = ["UsageError", "ToolError"]


class UsageError(Exception):
    """Bad input from the user (a parameter, a file, a path): one line, exit status 2."""


class ToolError(UsageError):
    """A tool is missing or failed: one line, exit status 2."""
