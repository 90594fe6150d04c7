"""Reporting: the analysis (:mod:`.report`) builds one model of the report (:mod:`.model`: typed
headings, paragraphs, lists, tables and figures), rendered twice: Markdown (``README.md``) and the
page (:mod:`.html`, a Jinja2 template in ``templates/``, its JS and CSS in ``www/``); plots
(:mod:`.plots`), text and Markdown tables (:mod:`.tables`) and the defects table
(:mod:`.defects`). Private: ``normbench report`` and ``python -m normbench.defects`` are its
front doors."""
