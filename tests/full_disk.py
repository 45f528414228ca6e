"""Run the brainsim command line on a disk that fills up during one write (for the fault tests).

    python full_disk.py MODULE.FUNCTION NAME_PART N brainsim ARGS...

The N-th call of the writer MODULE.FUNCTION (``numpy.savez``, ``torch.save``) whose target file's
name contains NAME_PART writes half its bytes and then raises ``OSError(ENOSPC)``, as a full disk
would; every other call writes normally.
"""
from __future__ import annotations

import errno
import importlib
import os
import sys
from pathlib import Path


def fill_disk_on_write(writer: str, name_part: str, nth: int) -> None:
    module_name, _, function = writer.rpartition(".")
    module = importlib.import_module(module_name)
    original = getattr(module, function)
    file_arg = {"numpy.savez": 0, "torch.save": 1}[writer]
    calls = [0]

    def write_until_full(*args, **kwargs):
        target = Path(args[file_arg])
        if name_part in target.name:
            calls[0] += 1
            if calls[0] == nth:
                original(*args, **kwargs)
                os.truncate(target, target.stat().st_size // 2)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return original(*args, **kwargs)

    setattr(module, function, write_until_full)


if __name__ == "__main__":
    writer, name_part, nth, command, *argv = sys.argv[1:]
    assert command == "brainsim", command
    fill_disk_on_write(writer, name_part, int(nth))
    from brainsim.cli.main import main

    sys.exit(main(argv))
