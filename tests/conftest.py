import os

# Never reach a hub; tests run air-gapped like a desk's build box.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest_plugins = ["tests.conftest_demo"]
