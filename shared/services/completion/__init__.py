"""Use cases: how a run that Slurm ran ends.

- run_end.py: what every completion shares: its dependencies (CompletionDeps), its reply, and how it learns how a
  run ended (Slurm's final state, then the run's manifest, read once, then the outcome), with the figures and links
  the manifest leads to
- single.py: a single job ends (the completion hook's end report, and the reconciler's repair)
- sweep.py: a run of a sweep reports or ends; the last one ends the sweep with the comparison table and the plot

The completion hook itself (authentication, which report goes where) is shared/services/complete.py; the
reconciler, shared/services/reconcile.py.
"""
