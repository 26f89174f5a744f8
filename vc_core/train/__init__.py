"""Training-side code: corpus building, feature probes and (later) model training.

Nothing here is imported by the live path. Modules that need heavy or optional packages
(``torch``, TTS packages, ``ctranslate2``) import them inside functions, so importing
``vc_core.train`` itself costs nothing and needs nothing beyond numpy and scipy.
"""
