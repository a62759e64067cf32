"""``python -m ballroom.flowformer``: the LightningCLI of :mod:`ballroom.flowformer.cli`."""

from ballroom.flowformer.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
