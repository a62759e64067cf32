"""``python -m ballroom.neurocoder``: the LightningCLI of :mod:`ballroom.neurocoder.cli`."""

from ballroom.neurocoder.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
