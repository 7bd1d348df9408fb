from trademl_assets.deploy.assets import deployed_models

__all__ = ["deployed_models"]
