"""Signal classifiers: transformer fine-tuning, TF-IDF baseline, ONNX export and serving.

Submodules are imported on demand (``from trademl.models.text_classifier import ...``) so that
serving with :mod:`trademl.models.classifier_runtime` never pulls in torch or scikit-learn.
"""
