"""fastmlp's asv benchmark suite; the data builders in common.py are shared with tests/benchmarks/."""
