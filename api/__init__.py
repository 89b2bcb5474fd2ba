"""The grid service: a FastAPI app over gridder plans (``api.main.create_app``)."""
