"""Results: bench files (:mod:`.benchfile`), run headers (:mod:`.runinfo`), files that survive
anything (:mod:`.output`), timing statistics (:mod:`.stats`) and ratios between runs
(:mod:`.compare`). The records they hold are public (:mod:`normbench.records`); these modules
are private."""
