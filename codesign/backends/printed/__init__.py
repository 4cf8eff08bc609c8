"""Printed-electronics backend: bespoke combinational MLP circuits, synthesised with yosys."""
