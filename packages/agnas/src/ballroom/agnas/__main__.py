"""``python -m ballroom.agnas``: the LightningCLI of :mod:`ballroom.agnas.cli`."""

from ballroom.agnas.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
