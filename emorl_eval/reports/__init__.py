"""Reports: tables (ablation), timing, figures (decompositions, traversals, stages), leakage and
the ``reports/README.md`` index. Every function returns DataFrames or paths; the CLI commands in
``emorl_eval/commands/`` only parse options and call them."""
