"""``python -m ballroom.stir``: the LightningCLI of :mod:`ballroom.stir.cli`."""

from ballroom.stir.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
