"""Developer tools, never shipped: the generated parts of the docs and the checkov scan."""
