"""asv benchmarks for normbench backends (see asv.conf.json and the README)."""
