"""Signal classifiers: transformer fine-tuning, TF-IDF baseline, ONNX export and serving.

Submodules are imported on demand (``from trademl.models.text_classifier import ...``) so that
serving with :mod:`trademl.models.classifier_runtime` never pulls in torch or scikit-learn.
"""

import logging

# bitsandbytes warns at import, on every CPU without its optional `kernels` package (which it would
# fetch from a hub): the 4-bit CPU path falls back to its own kernel, so the notice only adds noise.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
