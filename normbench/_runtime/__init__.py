"""The harness's runtime: loading plugins (:mod:`.pluginmanager`), finding them in a process of
their own (:mod:`.discovery`), the worker processes every backend runs in (:mod:`.worker`), the
memory policy they start under (:mod:`.memory`), time limits on calls into backends
(:mod:`.limits`) and progress lines for long jobs (:mod:`.progress`). Private: import what the
public API (``normbench``, ``normbench.functional``, ``normbench.hookspecs``) gives instead."""
