"""``python -m tiny_biomoe.pretrain --config X`` (also usable with ``torchrun --module``)."""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["pretrain", *sys.argv[1:]]))
