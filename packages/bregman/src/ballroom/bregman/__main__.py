"""``python -m ballroom.bregman``: the LightningCLI of :mod:`ballroom.bregman.cli`."""

from ballroom.bregman.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
