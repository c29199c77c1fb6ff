"""``python -m emorl_eval`` forwards to the ``emorl-eval`` CLI."""

from emorl_eval.cli import main

if __name__ == "__main__":
    main()
