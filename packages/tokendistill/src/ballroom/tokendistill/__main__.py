"""``python -m ballroom.tokendistill``: the LightningCLI of :mod:`ballroom.tokendistill.cli`."""

from ballroom.tokendistill.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
