"""Run the ``emorl-eval`` command line from a source checkout: ``python cli.py --help``.

The CLI itself is :mod:`emorl_eval.cli` (installed as the ``emorl-eval`` console script); this file
only launches it, so that installing emorl-eval places no top-level ``cli`` module in site-packages.
"""

from emorl_eval.cli import main

if __name__ == "__main__":
    main()
