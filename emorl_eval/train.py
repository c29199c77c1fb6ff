r"""``python -m emorl_eval.train ARGS`` = ``emorl-eval train ARGS``; the form to launch under torchrun:

    torchrun --nproc_per_node=2 -m emorl_eval.train --model emorl --preset tetrominoes \
        --data data/tetrominoes.h5 --steps 200000 --seed 1 --out runs/tetro_ddp
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from emorl_eval.cli import main as cli_main

    cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
