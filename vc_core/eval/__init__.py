"""Voice-quality evaluation (a dev tool; needs the ``eval`` extra): see :mod:`vc_core.eval.quality`.

Nothing heavy is imported here: the metric models load when :class:`~vc_core.eval.quality.EvalModels`
is built.
"""
