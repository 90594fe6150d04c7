"""Timing: a measurement's samples and the plan (:mod:`.bench`), the scheduler of fresh processes
(:mod:`.schedule`, :mod:`.paired`), when a row is sure (:mod:`.sequential`), contention
(:mod:`.contention`) and the bandwidth floor (:mod:`.floor`). The memory policy every worker
starts under is the runtime's (:mod:`normbench._runtime.memory`). Private: ``normbench bench``,
``ab`` and ``run`` are its front doors."""
