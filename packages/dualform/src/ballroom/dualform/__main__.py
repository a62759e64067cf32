"""``python -m ballroom.dualform``: the LightningCLI of :mod:`ballroom.dualform.cli`."""

from ballroom.dualform.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
