"""The bundle format: kinds registry, spec models, load, dump, files layout."""
