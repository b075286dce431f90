"""Design-space sweeps (OLC_SWEEP in config.json), one job per module:

- errors.py: the OLC_SWEEP key and how problems with it are reported (SweepError)
- objective.py: what "best" means (Objective, Constraint), read from OLC_SWEEP.objective, and whether a run's
  metrics meet it
- spec.py: which runs a sweep makes (parse_sweep -> SweepSpec) and which settings each flow can sweep
- run_settings.py: the design as one run of the sweep sees it
- judging.py: how the runs ended (RunResult), the best run, the Pareto front and what a plot of it shows, as data
- table.py: the comparison table (CSV and JSON)
- runs.py: a sweep job's runs over time (per-run states, slots, how the job ends)

Imports go one way: errors <- objective <- spec <- judging <- table, runs. design.py imports spec.py (a design
carries its SweepSpec) and spec.py imports nothing of design.py; run_settings.py is the one module here that
imports design.py. Everything is pure: no I/O, no clock. The picture of the Pareto chart is drawn outside the
domain (shared/adapters/pareto_plot.py, behind the ParetoPlotter port).
"""
