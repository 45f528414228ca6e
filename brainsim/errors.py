"""Errors that the command line reports as one line (exit code 2 for bad input)."""


class UserError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""

    exit_code = 2


class DeviceNotRunError(Exception):
    """A simulation was generated (e.g. a CUDA project) but could not be run here: exit code 3."""

    exit_code = 3
