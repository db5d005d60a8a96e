"""fate-builder's benchmark: one bake against FATE-Builder's sequential build.sh (`make bench`).

Not a test: it measures on a real engine and writes benchmarks/results/. See benchmarks/README.md.
"""
