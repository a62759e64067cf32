"""``python -m ballroom.sepgcnn``: the LightningCLI of :mod:`ballroom.sepgcnn.cli`."""

from ballroom.sepgcnn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
