"""Design-space exploration: sweeps over training and hardware settings, Pareto fronts."""
