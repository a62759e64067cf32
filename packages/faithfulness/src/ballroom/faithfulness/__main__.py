"""``python -m ballroom.faithfulness``: the LightningCLI of :mod:`ballroom.faithfulness.cli`."""

from ballroom.faithfulness.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
