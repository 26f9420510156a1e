"""Face models: the rig format every avatar uses, the built-in head, FLAME (later)."""
