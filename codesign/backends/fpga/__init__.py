"""FPGA backend: hls4ml projects with graph-derived precisions, verified bit-accurately, and an
analytical resource / latency / power estimate that needs no vendor tools."""
