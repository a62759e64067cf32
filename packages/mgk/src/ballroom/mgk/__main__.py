"""``python -m ballroom.mgk``: the LightningCLI of :mod:`ballroom.mgk.cli`."""

from ballroom.mgk.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
