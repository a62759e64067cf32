"""``python -m ballroom.pcn``: the LightningCLI of :mod:`ballroom.pcn.cli`."""

from ballroom.pcn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
