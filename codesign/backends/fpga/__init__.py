"""FPGA backend: hls4ml projects with graph-derived precisions, verified bit-accurately."""
