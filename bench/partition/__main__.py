"""``python -m bench.partition`` runs the default benchmark (see run.py)."""

from bench.partition.run import main

main()
