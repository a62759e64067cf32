"""``python -m ballroom.pdo3d``: the LightningCLI of :mod:`ballroom.pdo3d.cli`."""

from ballroom.pdo3d.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
