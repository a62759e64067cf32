"""``python -m ballroom.expclr``: the LightningCLI of :mod:`ballroom.expclr.cli`."""

from ballroom.expclr.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
