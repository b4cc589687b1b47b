"""The static learner player: assets, interface strings and the index.html renderer."""
