"""The oracle soak (`make soak`): docs/operations.md, "The oracle soak"."""
