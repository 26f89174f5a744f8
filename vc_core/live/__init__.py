"""Running the voice live: the controller every front end uses (see controller.py)."""
