"""Engines: how ``transcript-coder code`` moves sessions through the stages.

============  =================================================================================
``local``     this process (the default): sessions stream in windows; with ``--jobs N`` a pool
              of N processes reads and segments the next window and a thread writes the
              previous one while the model codes the current one (:mod:`.local`)
``ray``       a Ray Data job on a local or remote cluster: the driver reads the inputs' bytes,
              an actor pool holding the models codes them, the driver writes every file
              (:mod:`.ray_engine`; ``pip install "transcript_coder[ray]"``)
============  =================================================================================

Both run the same per-session stage (:func:`.prepare.prepare_session`: read and segment) and the
same window stage (:func:`transcript_coder.coding.code_window`: predict and attach codes), so
they write the same bytes. Nothing here imports torch or ray at import time: the reading processes
stay light, and ray is imported only when ``--engine ray`` is asked for.
"""

from __future__ import annotations

#: The engines ``--engine`` accepts.
ENGINES = ("local", "ray")
#: Default units per window (``--window-units``): large enough that the model sees full,
#: length-sorted batches across sessions, small enough that a window's text, units and
#: probabilities stay a few megabytes.
DEFAULT_WINDOW_UNITS = 4096
#: Default limits on one session (``--max-input-mb``, ``--max-units``): far above any real session
#: (an hour of talk is 50-100 KB and a few hundred turns), low enough that one session cannot
#: exhaust memory (peak RSS at these limits is in the README).
DEFAULT_MAX_INPUT_MB = 8.0
DEFAULT_MAX_UNITS = 20_000
