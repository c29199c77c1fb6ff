"""``python -m emorl_eval`` forwards to the ``emorl-eval`` CLI."""

from cli import main

if __name__ == "__main__":
    main()
