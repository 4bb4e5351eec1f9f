"""The benchmark: throughput, latency and footprint, side by side with the designs users would
otherwise build, plus memory under hostile uploads. `bench/run` (or `python -m bench`) starts
everything it needs and writes results.md, results.json and a latency plot.

    bench/run                 # the full run (~15 min; installs the baselines' venvs once)
    bench/run --smoke         # a few seconds per scenario, this service only (CI)

Load comes from wrk (Debian's package) in a separate process, on 127.0.0.1 only, every run
bounded in time and in requests. Servers, ports and the Cassandra node come from the test
helpers (tests/utils.py, tests/cassandra_node.py), so the bench and the suite run them alike.
"""
