"""``python -m ballroom.lsbd``: the LightningCLI of :mod:`ballroom.lsbd.cli`."""

from ballroom.lsbd.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
