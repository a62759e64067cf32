"""``python -m ballroom.tmplname``: the LightningCLI of :mod:`ballroom.tmplname.cli`."""

from ballroom.tmplname.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
