"""Model images: names, the content-addressed store, FROM resolution and the builder."""
