"""``python -m ballroom.rtd``: the LightningCLI of :mod:`ballroom.rtd.cli`."""

from ballroom.rtd.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
