"""Reporting: the analysis and Markdown (:mod:`.report`), the HTML page (:mod:`.html`, its JS and
CSS in ``www/``), plots (:mod:`.plots`), text and Markdown tables (:mod:`.tables`) and the
defects table (:mod:`.defects`). Private: ``normbench report`` and ``python -m normbench.defects``
are its front doors."""
